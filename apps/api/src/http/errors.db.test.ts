import { createTestDb, type TestDb } from '@genz/db/testing';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../test/app.ts';
import { DomainError } from './errors.ts';

// One database for the apps of this file (they differ only in their settings), not one booted per app.
let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db?.dispose());

/** The error contract every later module relies on (ARCHITECTURE.md §10, §12). */
describe('error handling', () => {
  let t: TestApp;
  beforeAll(async () => {
    const Body = Type.Object(
      { name: Type.String({ minLength: 1, maxLength: 10 }), n: Type.Integer() },
      { additionalProperties: false },
    );
    // These routes stand in for a module's routes.
    t = await buildTestApp(
      { 'server.bodyLimitBytes': 2048 },
      {
        db,
        routes(app) {
          app.post(
            '/api/echo',
            { config: { auth: 'public' }, schema: { body: Body } },
            async (request) => request.body,
          );
          app.post('/v1/echo', { config: { auth: 'public' }, schema: { body: Body } }, async (request) => request.body);
          app.get('/api/boom', { config: { auth: 'public' } }, async () => {
            throw new Error('db password=hunter2 leaked in a driver message');
          });
          app.get('/api/limited', { config: { auth: 'public' } }, async () => {
            throw new DomainError('rate_limited', 'Slow down', { headers: { 'retry-after': '7' } });
          });
        },
      },
    );
  });
  afterAll(() => t.close());

  it('answers an unknown route with 404 problem+json and a request id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/nope?token=secret' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({ type: '/problems/route_not_found', status: 404, code: 'route_not_found' });
    expect(body.detail).toBe('No route GET /api/nope');
    expect(body.requestId).toBe(res.headers['x-request-id']);
  });

  it('answers an unknown /v1 route with the OpenAI envelope', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/nope', payload: {} });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: { message: 'No route POST /v1/nope', type: 'invalid_request_error', param: null, code: 'unknown_url' },
    });
  });

  it('keeps a well-formed upstream X-Request-Id and replaces a malformed one', async () => {
    const kept = await t.app.inject({ url: '/livez', headers: { 'x-request-id': 'edge-1234567890' } });
    expect(kept.headers['x-request-id']).toBe('edge-1234567890');
    const replaced = await t.app.inject({ url: '/livez', headers: { 'x-request-id': 'bad id' } });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('rejects malformed JSON with 400 bad_request', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'bad_request' });
  });

  it('names the offending field of a schema violation', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/echo', payload: { name: 'ok', n: 'x' } });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('validation_failed');
    expect(body.errors[0].path).toBe('body.n');
    expect(body.detail).toContain('body.n');
  });

  it('names a missing field, and rejects unknown fields instead of dropping them', async () => {
    const missing = await t.app.inject({ method: 'POST', url: '/api/echo', payload: { n: 1 } });
    expect(missing.json().errors[0].path).toBe('body.name');
    const extra = await t.app.inject({ method: 'POST', url: '/api/echo', payload: { name: 'a', n: 1, admin: true } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().errors[0]).toEqual({ path: 'body.admin', message: 'is not allowed' });
  });

  it('names the parameter in the OpenAI envelope on /v1', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/echo', payload: { name: 'a', n: 1.5 } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ type: 'invalid_request_error', param: 'n', code: 'validation_failed' });
  });

  it('answers an oversized body with 413 and a wrong content type with 415', async () => {
    const big = await t.app.inject({ method: 'POST', url: '/api/echo', payload: { name: 'x'.repeat(4000), n: 1 } });
    expect(big.statusCode).toBe(413);
    expect(big.json().code).toBe('payload_too_large');
    const xml = await t.app.inject({
      method: 'POST',
      url: '/api/echo',
      headers: { 'content-type': 'application/xml' },
      payload: '<a/>',
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.json().code).toBe('unsupported_media_type');
  });

  it('turns an unexpected error into a 500 that reveals nothing, and logs the cause', async () => {
    const res = await t.app.inject({ url: '/api/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json().code).toBe('internal');
    expect(res.body).not.toContain('hunter2');
    expect(t.logs.some((line) => line.includes('request failed'))).toBe(true);
  });

  it('passes a domain error status and headers through', async () => {
    const res = await t.app.inject({ url: '/api/limited' });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.json()).toMatchObject({ code: 'rate_limited', detail: 'Slow down', type: '/problems/rate_limited' });
  });

  it('never logs a credential header or a query-string token', async () => {
    await t.app.inject({
      url: '/api/nope?token=mail-link-token-123',
      headers: { authorization: 'Bearer gz_supersecretkey', cookie: 'session=cookie-secret' },
    });
    const all = t.logs.join('\n');
    expect(all).not.toContain('gz_supersecretkey');
    expect(all).not.toContain('cookie-secret');
    expect(all).not.toContain('mail-link-token-123');
  });
});

describe('type coercion', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(
      {},
      {
        db,
        routes(app) {
          const Q = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100 }) });
          const B = Type.Object({ n: Type.Number(), parts: Type.Union([Type.String(), Type.Array(Type.String())]) });
          app.get('/api/coerce', { config: { auth: 'public' }, schema: { querystring: Q } }, async (r) => r.query);
          app.post('/api/coerce', { config: { auth: 'public' }, schema: { body: B } }, async (r) => r.body);
        },
      },
    );
  });
  afterAll(() => t.close());

  it('coerces query strings, which arrive as text', async () => {
    const res = await t.app.inject({ url: '/api/coerce?limit=20' });
    expect(res.json()).toEqual({ limit: 20 });
  });

  it('never coerces JSON bodies: a string number is a 400, and a one-item array stays an array', async () => {
    const bad = await t.app.inject({ method: 'POST', url: '/api/coerce', payload: { n: '0.5', parts: 'x' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toBe('body.n');
    const ok = await t.app.inject({ method: 'POST', url: '/api/coerce', payload: { n: 0.5, parts: ['only'] } });
    expect(ok.json()).toEqual({ n: 0.5, parts: ['only'] });
  });
});
