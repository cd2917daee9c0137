import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../api/src/test/app.ts';
import { run } from './main.ts';

describe('genz CLI', () => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    t = await buildTestApp();
    url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  it('reports readiness of a running API over HTTP', async () => {
    const lines: string[] = [];
    expect(await run(['status', '--url', url], (l) => lines.push(l))).toBe(0);
    expect(lines[0]).toBe(`${url}: ok`);
    expect(lines).toContain('  database: ok');
  });

  it('exits non-zero when the API is unreachable or the command is unknown', async () => {
    const lines: string[] = [];
    expect(await run(['status', '--url', 'http://127.0.0.1:1'], (l) => lines.push(l))).toBe(1);
    expect(lines[0]).toMatch(/unreachable/);
    expect(await run(['frobnicate'], (l) => lines.push(l))).toBe(2);
  });
});
