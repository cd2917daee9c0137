import { testRedisPrefix } from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { waitFor } from '../../test/net.ts';
import { createTestApiKey, createTestUser } from '../../test/users.ts';

/**
 * Each process keeps the API key and user entries it read in front of the shared cache (auth.service.ts). A key
 * revoked on one replica must stop working on another through the cache's Redis bus, long before any TTL: both
 * caches and the in-process entries are given TTLs far beyond how long this test waits.
 */
describe('a revoked API key stops working on another replica', () => {
  let r1: TestApp;
  let r2: TestApp;
  const overrides = () => ({
    'auth.apiKeyCacheTtlMs': 600_000,
    'auth.userCacheTtlMs': 600_000,
    'auth.revocationPollMs': 600_000,
  });

  beforeAll(async () => {
    const keyPrefix = testRedisPrefix();
    r1 = await buildTestApp(overrides(), { redis: true, keyPrefix });
    r2 = await buildTestApp(overrides(), { redis: true, keyPrefix, db: r1.db });
  });
  afterAll(async () => {
    await r2.close();
    await r1.close();
  });

  const models = (t: TestApp, authorization: string) =>
    t.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization } });

  it('revoked on one replica: refused on the other once the eviction arrives (not after a TTL)', async () => {
    const user = await createTestUser(r1.app);
    const key = await createTestApiKey(r1.app, user);
    // Both requests on r2 read the key and the user, so r2 holds them in process.
    expect((await models(r2, key.headers.authorization)).statusCode).toBe(200);
    expect((await models(r2, key.headers.authorization)).statusCode).toBe(200);

    await r1.app.accounts.revokeApiKey(
      { userId: user.id, role: user.role, plan: 'free', scopes: ['inference'], via: 'session' },
      key.id,
      { ip: '127.0.0.1' },
    );
    expect((await models(r1, key.headers.authorization)).statusCode).toBe(401);
    await waitFor(
      async () => ((await models(r2, key.headers.authorization)).statusCode === 401 ? true : undefined),
      10_000,
      'the other replica to refuse the revoked key',
    );
  });

  it('a disabled user: their key is refused on the other replica too', async () => {
    const user = await createTestUser(r1.app);
    const key = await createTestApiKey(r1.app, user);
    expect((await models(r2, key.headers.authorization)).statusCode).toBe(200);
    const admin = await createTestUser(r1.app, { role: 'admin' });
    await r1.app.accounts.updateUser(
      { userId: admin.id, role: 'admin', plan: 'free', scopes: ['admin'], via: 'session' },
      user.id,
      { status: 'disabled' },
      { ip: '127.0.0.1' },
    );
    await waitFor(
      async () => ((await models(r2, key.headers.authorization)).statusCode === 401 ? true : undefined),
      10_000,
      'the other replica to refuse the disabled user',
    );
  });
});
