import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createScratchDatabase,
  prepareServerTemplate,
  testBackend,
  testRedisPrefix,
  testRedisUrl,
} from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../test/net.ts';
import { type CollectedSpan, descendantsOf, startOtlpCollector } from './tracing.testing.ts';

const serverEntry = new URL('../server.ts', import.meta.url).pathname;
const SERVER = 2;
const CLIENT = 3;

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

const isDbSpan = (s: CollectedSpan) =>
  s.kind === CLIENT && (s.attributes['db.system.name'] === 'postgresql' || s.attributes['db.system'] === 'postgresql');
const isRedisSpan = (s: CollectedSpan) =>
  s.kind === CLIENT && (s.attributes['db.system.name'] === 'redis' || s.attributes['db.system'] === 'redis');

/**
 * The request whose trace is asserted. Issue 8 asks for "the span tree of one chat request"; chats do not exist yet,
 * so this is the deepest path the API has today: GET /readyz pings the database (and Redis on the server backend).
 * When the chats module lands, swap in `POST /api/chats/:id/messages` (signed in, a fake OpenAI-wire upstream on
 * 127.0.0.1 as the deployment) and add expectations for the service span (`withSpan('chats.sendMessage', ...)`)
 * and the provider's undici CLIENT span; the collector, the process handling and the tree walk stay as they are.
 */
const scenario = {
  method: 'GET',
  path: '/readyz',
  route: '/readyz',
  expectedStatus: 200,
  descendants: [
    { what: 'a database span', match: isDbSpan },
    ...(testBackend() === 'server' ? [{ what: 'a Redis span', match: isRedisSpan }] : []),
  ],
};

describe('tracing (OTLP) through the real server process', () => {
  let collector: Awaited<ReturnType<typeof startOtlpCollector>>;
  let child: ChildProcess | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  let output = '';
  let exitCode: number | null = null;
  const requestId = `trace-test-${randomUUID()}`;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    const port = await freePort();
    const backendEnv: Record<string, string> = {};
    if (testBackend() === 'server') {
      const db = await createScratchDatabase(await prepareServerTemplate());
      dropDb = db.drop;
      Object.assign(backendEnv, {
        DATABASE_URL: db.url,
        REDIS_URL: testRedisUrl,
        REDIS_KEY_PREFIX: testRedisPrefix(),
      });
    }
    child = spawn(process.execPath, [serverEntry], {
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'info',
        PORT: String(port),
        DATA_DIR: mkdtempSync(join(tmpdir(), 'genz-trace-')),
        AUTH_SECRETS: `test:${'s'.repeat(40)}`,
        SHUTDOWN_DRAIN_DELAY_MS: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
        OTEL_SERVICE_NAME: 'genz-api-test',
        // Longer than the test: spans can only arrive through the flush on SIGTERM, which this proves.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
        ...backendEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (c) => {
      output += c;
    });
    child.stderr?.on('data', (c) => {
      output += c;
    });
    const exited = new Promise<void>((resolve) =>
      child?.on('exit', (code) => {
        exitCode = code;
        resolve();
      }),
    );
    await waitFor(async () => ((await get(port, '/readyz')) === 200 ? true : undefined), 45_000, 'readiness');

    expect(await get(port, scenario.path, { 'x-request-id': requestId })).toBe(scenario.expectedStatus);
    expect(await get(port, '/livez')).toBe(200);
    child.kill('SIGTERM');
    await exited;
  }, 90_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await collector?.close();
    await dropDb?.();
  });

  it('flushes the batched spans to the collector as OTLP JSON on shutdown, then exits 0', () => {
    expect(exitCode, output).toBe(0);
    expect(collector.spans.length, output).toBeGreaterThan(0);
    expect(collector.contentTypes.every((t) => t.startsWith('application/json'))).toBe(true);
    expect(new Set(collector.spans.map((s) => s.serviceName))).toEqual(new Set(['genz-api-test']));
  });

  it('makes the HTTP server span the root, named by route template and carrying the request id', () => {
    const root = collector.spans.find((s) => s.kind === SERVER && s.attributes['genz.request_id'] === requestId);
    expect(root, JSON.stringify(collector.spans.slice(0, 20))).toBeDefined();
    if (!root) return;
    expect(root.parentSpanId).toBeUndefined();
    expect(root.attributes['http.route']).toBe(scenario.route);
    expect(root.name).toBe(`${scenario.method} ${scenario.route}`);
    expect(root.attributes['http.response.status_code'] ?? root.attributes['http.status_code']).toBe(
      scenario.expectedStatus,
    );
  });

  it('puts the work the request caused below that root, in the same trace', () => {
    const root = collector.spans.find((s) => s.kind === SERVER && s.attributes['genz.request_id'] === requestId);
    if (!root) throw new Error('no root span');
    const below = descendantsOf(root, collector.spans);
    for (const expected of scenario.descendants) {
      const span = below.find(expected.match);
      expect(span, `${expected.what} under ${root.name}: ${below.map((s) => s.name).join(', ')}`).toBeDefined();
      expect(span?.traceId).toBe(root.traceId);
    }
    // Fastify's request span sits between the server span and the handler's work.
    expect(below.some((s) => s.name === 'request')).toBe(true);
  });

  it('never traces liveness probes', () => {
    const mentionsLivez = (s: CollectedSpan) =>
      s.attributes['http.route'] === '/livez' || s.attributes['url.path'] === '/livez' || s.name.includes('/livez');
    expect(collector.spans.some(mentionsLivez)).toBe(false);
  });
});
