import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../http/errors.ts';
import { buildTestApp, type TestApp } from '../test/app.ts';

/** A fake Sentry ingestion endpoint: records every envelope POSTed to /api/<project>/envelope/, as text. */
async function startFakeSentry() {
  const envelopes: { path: string; body: string }[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
    });
  const server = createServer(async (req, res) => {
    const raw = await read(req);
    const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
    envelopes.push({ path: req.url ?? '', body: body.toString('utf8') });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    dsn: `http://publickey@127.0.0.1:${port}/1`,
    envelopes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Items of type `event` across all envelopes (an envelope is newline-delimited JSON: header, then item pairs). */
function eventsIn(envelopes: { body: string }[]): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (const { body } of envelopes) {
    const lines = body.split('\n').filter((l) => l.trim() !== '');
    for (let i = 1; i + 1 < lines.length; i += 2) {
      const header = JSON.parse(lines[i] ?? '{}') as { type?: string };
      if (header.type === 'event') events.push(JSON.parse(lines[i + 1] ?? '{}') as Record<string, unknown>);
    }
  }
  return events;
}

const secrets = {
  authorization: 'Bearer sk-live-authorization-secret',
  cookie: 'genz_session=cookie-secret-value',
  'x-api-key': 'gz_api-key-secret-value',
};

describe('Sentry (SENTRY_DSN set)', () => {
  let sentry: Awaited<ReturnType<typeof startFakeSentry>>;
  let t: TestApp;

  beforeAll(async () => {
    sentry = await startFakeSentry();
    t = await buildTestApp(
      { 'sentry.dsn': sentry.dsn, 'sentry.environment': 'test', 'sentry.release': 'genz@test' },
      {
        routes(app) {
          app.get('/test/boom', { config: { auth: 'public' } }, async () => {
            throw new Error('database exploded', { cause: new Error('connection reset') });
          });
          app.get('/test/bad', { config: { auth: 'public' } }, async () => {
            throw new DomainError('bad_request', 'the client sent nonsense');
          });
        },
      },
    );
    const headers = { ...secrets, 'user-agent': 'sentry-test', 'x-request-id': 'sentry-test-request-1' };
    expect((await t.app.inject({ url: '/test/boom?token=query-secret', headers })).statusCode).toBe(500);
    expect((await t.app.inject({ url: '/test/bad', headers })).statusCode).toBe(400);
    expect((await t.app.inject({ url: '/test/missing', headers })).statusCode).toBe(404);
    // Closing the app closes the Sentry client, which sends what is queued.
    await t.close();
  });

  afterAll(async () => {
    await sentry?.close();
  });

  it('reports a 500 as one event envelope, and no 4xx', () => {
    expect(sentry.envelopes.every((e) => e.path.startsWith('/api/1/envelope/'))).toBe(true);
    const events = eventsIn(sentry.envelopes);
    expect(events).toHaveLength(1);
    const event = events[0] as {
      exception?: { values?: { value?: string }[] };
      tags?: Record<string, string>;
      environment?: string;
      release?: string;
      request?: { url?: string; method?: string; headers?: Record<string, string> };
    };
    const messages = (event.exception?.values ?? []).map((v) => v.value);
    expect(messages).toContain('database exploded');
    expect(messages).toContain('connection reset');
    expect(event.tags).toMatchObject({ request_id: 'sentry-test-request-1', route: '/test/boom' });
    expect(event.environment).toBe('test');
    expect(event.release).toBe('genz@test');
    expect(event.request).toMatchObject({ method: 'GET', url: '/test/boom' });
    expect(event.request?.headers?.['user-agent']).toBe('sentry-test');
  });

  it('scrubs credentials: no header secret or query token reaches Sentry', () => {
    const raw = sentry.envelopes.map((e) => e.body).join('\n');
    for (const value of Object.values(secrets)) expect(raw).not.toContain(value.split(' ').at(-1));
    expect(raw).not.toContain('query-secret');
    const event = eventsIn(sentry.envelopes)[0] as { request?: { headers?: Record<string, string> } };
    expect(event.request?.headers).toMatchObject({
      authorization: '[redacted]',
      cookie: '[redacted]',
      'x-api-key': '[redacted]',
    });
  });
});
