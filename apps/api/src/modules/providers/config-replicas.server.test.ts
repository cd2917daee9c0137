import { testRedisPrefix } from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestUser } from '../../test/users.ts';
import { type FakeUpstream, fakeDeployment, postV1, startFakeUpstream } from './testing/index.ts';

const BOUND_MS = 2000;
const MARGIN_MS = 500;

describe('an admin change reaches every replica through Redis', () => {
  let a: FakeUpstream;
  let b: FakeUpstream;
  let r1: TestApp;
  let r2: TestApp;

  beforeAll(async () => {
    a = await startFakeUpstream();
    b = await startFakeUpstream();
    const keyPrefix = testRedisPrefix();
    // A fresh object per app: loadConfig freezes what it is given. A long poll proves pub/sub carries the change.
    const overrides = () => ({
      encryptionKey: 'replica-test-encryption-key-0123456789abcdef',
      'providers.deployments': [fakeDeployment('a', 'openai', a.baseUrl), fakeDeployment('b', 'openai', b.baseUrl)],
      'providers.aliases': { smart: { deployments: ['a'] } },
      'providers.reload': { pollMs: 60_000 },
    });
    r1 = await buildTestApp(overrides(), { redis: true, keyPrefix });
    // The second replica shares the first one's database and Redis, as replicas do.
    r2 = await buildTestApp(overrides(), { redis: true, keyPrefix, db: r1.db });
  });
  afterAll(async () => {
    await r2.close();
    await r1.close();
    await a.close();
    await b.close();
  });

  const ask = (t: TestApp) => postV1(t.app, { model: 'smart', messages: [{ role: 'user', content: 'Hi' }] });

  it('the second replica routes with the new configuration within 2 s', async () => {
    expect((await ask(r2)).headers['x-genz-deployment']).toBe('a');
    const admin = await createTestUser(r1.app, { role: 'admin' });
    const res = await r1.app.inject({
      method: 'PUT',
      url: '/api/admin/config',
      headers: { ...admin.headers, 'if-match': '"0"' },
      payload: { aliases: { smart: { deployments: ['b'] } } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const changed = Date.now();
    expect((await ask(r1)).headers['x-genz-deployment']).toBe('b');
    let seenAt: number | undefined;
    while (Date.now() - changed < BOUND_MS + MARGIN_MS) {
      if ((await ask(r2)).headers['x-genz-deployment'] === 'b') {
        seenAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seenAt).toBeDefined();
    expect((seenAt ?? Number.POSITIVE_INFINITY) - changed).toBeLessThan(BOUND_MS + MARGIN_MS);
    expect(r2.app.providersConfig.version).toBe(1);
  });

  it('a replica started later boots with the admin layer', async () => {
    const r3 = await buildTestApp(
      {
        encryptionKey: 'replica-test-encryption-key-0123456789abcdef',
        'providers.deployments': [fakeDeployment('a', 'openai', a.baseUrl), fakeDeployment('b', 'openai', b.baseUrl)],
        'providers.aliases': { smart: { deployments: ['a'] } },
      },
      { redis: true, db: r1.db },
    );
    try {
      const started = Date.now();
      while (r3.app.providersConfig.version !== 1 && Date.now() - started < BOUND_MS) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect((await ask(r3)).headers['x-genz-deployment']).toBe('b');
    } finally {
      await r3.close();
    }
  });
});
