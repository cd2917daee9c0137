import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb } from '@genz/db';
import {
  createScratchDatabase,
  prepareServerTemplate,
  testBackend,
  testRedisPrefix,
  testRedisUrl,
} from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseSse } from '../modules/chats/chats.testing.ts';
import { type FakeUpstream, fakeDeployment, startFakeUpstream } from '../modules/providers/testing/index.ts';
import { httpCall } from '../test/net.ts';
import { type ApiProcess, startApiProcess, withSetupApp } from '../test/process.ts';
import { createTestUser, type TestUser } from '../test/users.ts';
import { type CollectedSpan, descendantsOf, startOtlpCollector } from './tracing.testing.ts';

/**
 * The span tree of one chat request (issue 8): a real `server.ts` process with OTEL_EXPORTER_OTLP_ENDPOINT set to an
 * in-process OTLP/HTTP collector (tracing.testing.ts keeps every exported span in memory), a signed-in user, and an
 * OpenAI-wire fake upstream on 127.0.0.1 as the only deployment. `POST /api/conversations/:id/messages` streams the
 * reply; the process is then stopped, and the spans it exported on SIGTERM must read
 * HTTP server span -> chats.sendMessage -> DB statements and router.attempt -> the provider's HTTP client call.
 * Runs on both backends: PGlite (the embedded database gets its own spans) and PostgreSQL + Redis.
 */
const SERVER = 2;
const CLIENT = 3;
const INTERNAL = 1;
const AUTH_SECRETS = `trace:${'s'.repeat(40)}`;
const ROUTE = '/api/conversations/:id/messages';

const isDbSpan = (s: CollectedSpan) =>
  s.kind === CLIENT && (s.attributes['db.system.name'] === 'postgresql' || s.attributes['db.system'] === 'postgresql');
const isRedisSpan = (s: CollectedSpan) =>
  s.kind === CLIENT && (s.attributes['db.system.name'] === 'redis' || s.attributes['db.system'] === 'redis');

describe('tracing (OTLP): the span tree of one chat message, through the real server process', () => {
  let collector: Awaited<ReturnType<typeof startOtlpCollector>>;
  let fake: FakeUpstream;
  let proc: ApiProcess | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  let exitCode: number | null = null;
  let events: ReturnType<typeof parseSse> = [];
  const requestId = `trace-test-${Date.now().toString(36)}`;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    fake = await startFakeUpstream({ vendor: 'openai' });
    const dataDir = mkdtempSync(join(tmpdir(), 'genz-trace-'));
    const server = testBackend() === 'server';
    const backendEnv: Record<string, string> = {};
    let url: string | undefined;
    if (server) {
      const scratch = await createScratchDatabase(await prepareServerTemplate());
      dropDb = scratch.drop;
      url = scratch.url;
      Object.assign(backendEnv, { DATABASE_URL: url, REDIS_URL: testRedisUrl, REDIS_KEY_PREFIX: testRedisPrefix() });
    }
    // The user is made before the process starts, on the database it will open (PGlite: the same data dir).
    const db = await createDb({ ...(url ? { url } : {}), poolSize: 1, dataDir });
    let user: TestUser;
    try {
      await db.migrate();
      user = await withSetupApp(
        {
          db,
          authSecrets: AUTH_SECRETS,
          redisUrl: server ? testRedisUrl : '',
          keyPrefix: backendEnv.REDIS_KEY_PREFIX ?? 'genz:',
        },
        (app) => createTestUser(app),
      );
    } finally {
      await db.close();
    }
    const configFile = join(dataDir, 'genz.yaml');
    writeFileSync(
      configFile,
      stringify({
        providers: {
          deployments: [fakeDeployment('up', 'openai', fake.baseUrl)],
          aliases: { smart: { deployments: ['up'] } },
          routing: { maxAttempts: 1 },
        },
      }),
    );
    proc = await startApiProcess({
      LOG_LEVEL: 'warn',
      DATA_DIR: dataDir,
      GENZ_CONFIG: configFile,
      AUTH_SECRETS,
      SHUTDOWN_DRAIN_DELAY_MS: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_SERVICE_NAME: 'genz-api-test',
      // Longer than the test: spans can only arrive through the flush on SIGTERM, which this proves.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      ...backendEnv,
    });
    const exited = new Promise<void>((resolve) =>
      proc?.child.on('exit', (code) => {
        exitCode = code;
        resolve();
      }),
    );

    const created = await httpCall(proc.port, 'POST', '/api/conversations', user.headers, {
      settings: { model: 'smart' },
    });
    expect(created.status, created.text).toBe(201);
    const { id } = JSON.parse(created.text) as { id: string };
    const sent = await httpCall(
      proc.port,
      'POST',
      `/api/conversations/${id}/messages`,
      { ...user.headers, 'x-request-id': requestId },
      { content: 'hello trace' },
    );
    expect(sent.status, sent.text).toBe(200);
    events = parseSse(sent.text);
    expect((await httpCall(proc.port, 'GET', '/livez', {})).status).toBe(200);
    proc.child.kill('SIGTERM');
    await exited;
  }, 120_000);

  afterAll(async () => {
    proc?.child.kill('SIGKILL');
    await collector?.close();
    await fake?.close();
    await dropDb?.();
  });

  const root = () => {
    const span = collector.spans.find((s) => s.kind === SERVER && s.attributes['genz.request_id'] === requestId);
    if (!span) throw new Error(`no server span with the request id: ${collector.spans.map((s) => s.name).join(', ')}`);
    return span;
  };
  const one = (spans: CollectedSpan[], what: string, match: (s: CollectedSpan) => boolean) => {
    const span = spans.find(match);
    if (!span) throw new Error(`no ${what} among: ${spans.map((s) => s.name).join(', ')}`);
    return span;
  };

  it('answered the message from the upstream, then flushed the spans as OTLP JSON on shutdown and exited 0', () => {
    expect(exitCode, proc?.output()).toBe(0);
    expect(events.at(-1)?.event).toBe('done');
    expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({ status: 'complete' });
    expect(fake.requests).toHaveLength(1);
    expect(collector.spans.length).toBeGreaterThan(0);
    expect(collector.contentTypes.every((t) => t.startsWith('application/json'))).toBe(true);
    expect(new Set(collector.spans.map((s) => s.serviceName))).toEqual(new Set(['genz-api-test']));
  });

  it('makes the HTTP server span the root, named by route template and carrying the request id', () => {
    const r = root();
    expect(r.parentSpanId).toBeUndefined();
    expect(r.attributes['http.route']).toBe(ROUTE);
    expect(r.name).toBe(`POST ${ROUTE}`);
    expect(r.attributes['http.response.status_code'] ?? r.attributes['http.status_code']).toBe(200);
    // Fastify's request span sits between the server span and the handler's work.
    expect(descendantsOf(r, collector.spans).some((s) => s.name === 'request')).toBe(true);
  });

  it('reads HTTP -> chats.sendMessage -> router.attempt -> the provider call, with the DB work below the service', () => {
    const r = root();
    const below = descendantsOf(r, collector.spans);
    const service = one(below, 'chats.sendMessage span', (s) => s.name === 'chats.sendMessage');
    expect(service.kind).toBe(INTERNAL);
    const underService = descendantsOf(service, collector.spans);

    // The message and the generation are written inside the service span.
    const db = underService.filter(isDbSpan);
    expect(db.length, underService.map((s) => s.name).join(', ')).toBeGreaterThan(0);
    if (testBackend() === 'server') {
      expect(
        db.some((s) => /insert/i.test(String(s.attributes['db.query.text'] ?? s.attributes['db.statement'] ?? s.name))),
      ).toBe(true);
      expect(underService.some(isRedisSpan), 'Redis (stream buffer, limits) under the service').toBe(true);
    }

    const attempt = one(underService, 'router.attempt span', (s) => s.name === 'router.attempt');
    expect(attempt.attributes).toMatchObject({
      'genz.alias': 'smart',
      'genz.deployment': 'up',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
    });
    const port = new URL(fake.url).port;
    const upstream = one(
      descendantsOf(attempt, collector.spans),
      'provider HTTP client span',
      (s) => s.kind === CLIENT && String(s.attributes['url.full'] ?? '').includes(`127.0.0.1:${port}/`),
    );
    expect(upstream.attributes['http.request.method']).toBe('POST');
    expect(String(upstream.attributes['url.full'])).toMatch(/\/v1\/chat\/completions$/);
    expect(upstream.attributes['http.response.status_code']).toBe(200);
    // One trace from the client's request down to the provider.
    for (const s of [service, attempt, upstream, ...db]) expect(s.traceId).toBe(r.traceId);
  });

  it('sends no provider key, prompt or query string in span attributes', () => {
    const text = JSON.stringify(collector.spans.map((s) => s.attributes));
    expect(text).not.toContain('sk-fake-upstream-key');
    expect(text).not.toContain('hello trace');
  });

  it('never traces liveness probes', () => {
    const mentionsLivez = (s: CollectedSpan) =>
      s.attributes['http.route'] === '/livez' || s.attributes['url.path'] === '/livez' || s.name.includes('/livez');
    expect(collector.spans.some(mentionsLivez)).toBe(false);
  });
});
