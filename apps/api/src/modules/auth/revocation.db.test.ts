import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp } from '../../app.ts';
import { buildTestApp, type TestApp, testBackend } from '../../test/app.ts';
import { waitFor } from '../../test/net.ts';
import { createTestApiKey, createTestUser } from '../../test/users.ts';

/**
 * Two replicas on one database (and, on the server backend, one Redis): a session revoked on A stops working on B
 * within the configured bound — immediately through Redis, within revocationPollMs through the database poll.
 */
const POLL_MS = 300;
let a: TestApp;
let b: Awaited<ReturnType<typeof buildApp>>;

beforeAll(async () => {
  a = await buildTestApp({ 'auth.revocationPollMs': POLL_MS, 'auth.apiKeyCacheTtlMs': 60_000 });
  b = await buildApp({ config: a.config, db: a.app.db });
  await b.ready();
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

it(`revocation on one replica reaches the other within ${POLL_MS} ms + margin (${testBackend})`, async () => {
  const u = await createTestUser(a.app);
  expect((await b.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(200);
  const revokedAt = Date.now();
  const res = await a.app.inject({ method: 'DELETE', url: '/api/me/sessions', headers: u.headers });
  expect(res.statusCode).toBe(200);
  await a.app.inject({ method: 'POST', url: '/api/auth/logout', headers: u.headers, payload: {} });
  await waitFor(
    async () => ((await b.inject({ url: '/api/me', headers: u.headers })).statusCode === 401 ? true : undefined),
    POLL_MS + 1000,
    'replica B to refuse the revoked session',
  );
  expect(Date.now() - revokedAt).toBeLessThan(POLL_MS + 1000);
});

it('a revoked API key stops working on the other replica (cache evicted through the bus, or at its TTL)', async () => {
  const u = await createTestUser(a.app);
  const key = await createTestApiKey(a.app, u, ['read']);
  expect((await b.inject({ url: '/api/me', headers: key.headers })).statusCode).toBe(200); // now cached on B
  await a.app.inject({ method: 'DELETE', url: `/api/me/api-keys/${key.id}`, headers: u.headers });
  if (testBackend === 'server') {
    await waitFor(
      async () => ((await b.inject({ url: '/api/me', headers: key.headers })).statusCode === 401 ? true : undefined),
      2000,
      'replica B to refuse the revoked key',
    );
  } else {
    // Without Redis there is no bus between processes: B's cached entry lives out apiKeyCacheTtlMs (documented).
    expect([200, 401]).toContain((await b.inject({ url: '/api/me', headers: key.headers })).statusCode);
  }
});
