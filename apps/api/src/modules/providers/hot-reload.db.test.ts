import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { type FakeUpstream, postV1, startFakeUpstream } from './testing/index.ts';

const DEBOUNCE_MS = 100;
const MARGIN_MS = 1500;

const yaml = (target: string, a: FakeUpstream, b: FakeUpstream, extra = '') => `
providers:
  reload: { debounceMs: ${DEBOUNCE_MS} }
  deployments:
    - { id: a, provider: openai, model: gpt-4o-mini, baseUrl: ${a.baseUrl}, apiKey: sk-a }
    - { id: b, provider: openai, model: gpt-4o-mini, baseUrl: ${b.baseUrl}, apiKey: sk-b }
  aliases:
    smart: { deployments: [${target}] }
${extra}`;

async function until(check: () => Promise<boolean>, boundMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < boundMs) {
    if (await check()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`not within ${boundMs} ms`);
}

describe('hot reload of genz.yaml', () => {
  let dir: string;
  let file: string;
  let a: FakeUpstream;
  let b: FakeUpstream;
  let t: TestApp;

  beforeAll(async () => {
    a = await startFakeUpstream({ chunkDelayMs: 0 });
    b = await startFakeUpstream();
    dir = mkdtempSync(join(tmpdir(), 'genz-reload-'));
    file = join(dir, 'genz.yaml');
    writeFileSync(file, yaml('a', a, b));
    t = await buildTestApp({}, { configFile: file });
  });
  afterAll(async () => {
    await t.close();
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ask = (stream = false) =>
    postV1(t.app, { model: 'smart', stream, messages: [{ role: 'user', content: 'Hi' }] });

  it('applies a changed file within the debounce bound, without dropping a stream in flight', async () => {
    expect((await ask()).headers['x-genz-deployment']).toBe('a');
    // A slow stream on `a` is committed before the change and must finish cleanly after it.
    a.chunkDelayMs = 60;
    const inFlight = ask(true);
    await until(async () => a.requests.length >= 2, 2000);
    writeFileSync(file, yaml('b', a, b));
    const took = await until(async () => (await ask()).headers['x-genz-deployment'] === 'b', DEBOUNCE_MS + MARGIN_MS);
    expect(took).toBeLessThan(DEBOUNCE_MS + MARGIN_MS);
    const res = await inFlight;
    a.chunkDelayMs = 0;
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-genz-deployment']).toBe('a');
    expect(res.body.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(res.body).not.toContain('"error"');
  });

  it('keeps the old configuration on a bad file and logs the key', async () => {
    const logsBefore = t.logs.length;
    writeFileSync(file, yaml('nope', a, b));
    await until(
      async () => t.logs.slice(logsBefore).some((l) => l.includes('genz.yaml reload refused')),
      DEBOUNCE_MS + MARGIN_MS,
    );
    const line = t.logs.slice(logsBefore).find((l) => l.includes('genz.yaml reload refused')) ?? '';
    expect(line).toContain('providers.aliases.smart.deployments: unknown deployment nope');
    expect((await ask()).headers['x-genz-deployment']).toBe('b');

    const before = t.logs.length;
    writeFileSync(file, `${yaml('a', a, b)}\n  typo: 1\n`);
    await until(async () => t.logs.slice(before).some((l) => l.includes('reload refused')), DEBOUNCE_MS + MARGIN_MS);
    expect(t.logs.slice(before).join('\n')).toContain('unknown key providers.typo');
    expect((await ask()).headers['x-genz-deployment']).toBe('b');

    writeFileSync(file, yaml('a', a, b));
    await until(async () => (await ask()).headers['x-genz-deployment'] === 'a', DEBOUNCE_MS + MARGIN_MS);
  });
});
