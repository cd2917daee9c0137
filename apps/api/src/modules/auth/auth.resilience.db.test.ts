import { createTestDb, type TestDb } from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { freePort } from '../../test/net.ts';
import { createTestUser } from '../../test/users.ts';

// One database for the apps of this file (they differ only in their settings), not one booted per app.
let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db?.dispose());

const apps: TestApp[] = [];
afterAll(async () => {
  for (const a of apps) await a.close();
});

describe('client IPs for throttling', () => {
  it('a forged X-Forwarded-For from an untrusted peer buys no extra log-in attempts', async () => {
    const t = await buildTestApp(
      {
        'server.trustProxy': 'false',
        'limits.auth.loginPerIp': { rate: 3, periodMs: 60_000, burst: 3 },
      },
      { db },
    );
    apps.push(t);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        headers: { 'x-forwarded-for': `203.0.113.${i}` },
        payload: { email: `nobody${i}@example.com`, password: 'whatever password' },
      });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });
});

describe('Redis unreachable', () => {
  it('fail open (default): sign-in, sessions and limits keep working from process memory', async () => {
    const t = await buildTestApp(
      { 'redis.url': `redis://127.0.0.1:${await freePort()}`, 'redis.commandTimeoutMs': 100 },
      { redis: false, db },
    );
    apps.push(t);
    const u = await createTestUser(t.app);
    expect((await t.app.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(200);
    await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: u.headers, payload: {} });
    // The revocation is still honoured: this replica's own list answers while Redis cannot.
    expect((await t.app.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(401);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: u.email, password: u.password },
    });
    expect(login.statusCode).toBe(200);
  });

  it('fail closed: requests with a session answer 503 with Retry-After instead of trusting a stale list', async () => {
    const t = await buildTestApp(
      {
        'redis.url': `redis://127.0.0.1:${await freePort()}`,
        'redis.commandTimeoutMs': 100,
        'auth.revocationFailMode': 'closed',
      },
      { redis: false, db },
    );
    apps.push(t);
    const u = await createTestUser(t.app);
    const res = await t.app.inject({ url: '/api/me', headers: u.headers });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
  });
});
