import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Actor } from '../http/actor.ts';
import { buildTestApp, type TestApp } from '../test/app.ts';
import { userIdHash } from './logger.ts';
import { withSpan } from './tracing.ts';

const userId = '0197a0b4-1c2d-7e3f-8a9b-0c1d2e3f4a5b';
const actor: Actor = { userId, role: 'user', plan: 'free', scopes: [], via: 'session' };

type Line = Record<string, unknown>;

describe('request logs', () => {
  let t: TestApp;
  let lines: Line[];

  beforeAll(async () => {
    // A real tracer provider in this process, so the logger's trace-id mixin has a span to read.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new TracerProvider());
    t = await buildTestApp(
      // Tracing "configured": only the logger reads this here (no SDK or exporter starts in buildApp).
      { 'tracing.otlpEndpoint': 'http://127.0.0.1:9/unused' },
      {
        routes(app) {
          // Stands in for the auth hook (modules/auth): it sets request.actor before handlers run.
          app.addHook('onRequest', async (request) => {
            if (request.headers['x-test-signed-in'] === 'yes') request.actor = actor;
          });
          app.post('/test/items/:id', { config: { auth: 'public' } }, async (request) =>
            withSpan('items.update', {}, async () => {
              request.log.info({ password: 'hunter2', apiKey: 'sk-live-123', userId: 'careless' }, 'handler ran');
              return { ok: true };
            }),
          );
        },
      },
    );
    const signedIn = await t.app.inject({
      method: 'POST',
      url: '/test/items/42?token=one-time-token',
      headers: { 'x-test-signed-in': 'yes', 'x-request-id': 'log-test-signed-in', authorization: 'Bearer secret-jwt' },
      payload: { secret: 'body-secret' },
    });
    expect(signedIn.statusCode).toBe(200);
    const anonymous = await t.app.inject({
      method: 'POST',
      url: '/test/items/43',
      headers: { 'x-request-id': 'log-test-anonymous' },
      payload: {},
    });
    expect(anonymous.statusCode).toBe(200);
    lines = t.logs.map((l) => JSON.parse(l) as Line);
  });

  afterAll(async () => {
    await t?.close();
  });

  const ofRequest = (id: string) => lines.filter((l) => l.requestId === id);

  it('carries the request id, the route template and the hashed user id on the lines after authentication', () => {
    const mine = ofRequest('log-test-signed-in');
    const handler = mine.find((l) => l.msg === 'handler ran');
    const completed = mine.find((l) => l.msg === 'request completed');
    for (const line of [handler, completed]) {
      expect(line).toMatchObject({ route: '/test/items/:id', userIdHash: userIdHash(userId) });
    }
    expect(mine.find((l) => l.msg === 'incoming request')).toMatchObject({
      req: { method: 'POST', path: '/test/items/42', route: '/test/items/:id' },
    });
  });

  it('adds the trace and span ids inside a sampled span when tracing is configured', () => {
    const handler = ofRequest('log-test-signed-in').find((l) => l.msg === 'handler ran');
    expect(handler?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(handler?.spanId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('binds no user to anonymous requests, and never writes the raw user id or a secret', () => {
    for (const line of ofRequest('log-test-anonymous')) expect(line).not.toHaveProperty('userIdHash');
    expect(ofRequest('log-test-anonymous').find((l) => l.msg === 'request completed')).toMatchObject({
      route: '/test/items/:id',
    });
    const raw = t.logs.join('\n');
    for (const secret of [userId, 'hunter2', 'sk-live-123', 'one-time-token', 'secret-jwt', 'body-secret']) {
      expect(raw).not.toContain(secret);
    }
  });

  it('hashes user ids as the documented shell recipe does: 16 hex of sha256("genz:user:" + id)', () => {
    const expected = createHash('sha256').update(`genz:user:${userId}`).digest('hex').slice(0, 16);
    expect(userIdHash(userId)).toBe(expected);
    expect(userIdHash(userId)).toMatch(/^[0-9a-f]{16}$/);
    expect(userIdHash('another-user')).not.toBe(expected);
  });

  describe('shipping configs (deploy/logging)', () => {
    const dir = new URL('../../../../deploy/logging/', import.meta.url);
    const realKeys = () => new Set(lines.flatMap((l) => Object.keys(l)));

    it('filebeat.yml parses and only moves fields the API really writes', () => {
      const config = parseYaml(readFileSync(new URL('filebeat.yml', dir), 'utf8')) as {
        'filebeat.inputs': { type: string; parsers: Record<string, { target?: string }>[]; processors: unknown[] }[];
        'output.elasticsearch': { hosts: string[] };
      };
      const input = config['filebeat.inputs'][0];
      expect(input?.type).toBe('filestream');
      expect(input?.parsers.some((p) => p.ndjson?.target === 'genz')).toBe(true);
      expect(config['output.elasticsearch'].hosts).toHaveLength(1);
      const referenced = [...JSON.stringify(input?.processors).matchAll(/genz\.([A-Za-z]+)/g)].map((m) => m[1]);
      expect(referenced.length).toBeGreaterThan(5);
      const keys = realKeys();
      for (const field of referenced) expect(keys, `genz.${field}`).toContain(field);
    });

    it('promtail.yaml parses, keeps ids out of labels and extracts only real fields', () => {
      const config = parseYaml(readFileSync(new URL('promtail.yaml', dir), 'utf8')) as {
        scrape_configs: { job_name: string; pipeline_stages: Record<string, Record<string, unknown> | null>[] }[];
      };
      const job = config.scrape_configs.find((j) => j.job_name === 'genz-api');
      const stages = job?.pipeline_stages ?? [];
      const json = stages.find((s) => s.json)?.json as { expressions: Record<string, string> } | undefined;
      const keys = realKeys();
      for (const field of Object.values(json?.expressions ?? {})) expect(keys, field).toContain(field);
      const labels = Object.keys(stages.find((s) => s.labels)?.labels ?? {});
      expect(labels).toEqual(['level']);
      expect(Object.keys(stages.find((s) => s.structured_metadata)?.structured_metadata ?? {})).toContain('requestId');
    });
  });
});
