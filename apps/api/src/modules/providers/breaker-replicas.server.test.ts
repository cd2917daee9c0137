import { testRedisPrefix } from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { type FakeUpstream, fakeDeployment, postV1, startFakeUpstream } from './testing/index.ts';

const BOUND_MS = 3000;
const RATE_INTERVAL_MS = 200; // 5 requests/s

describe('breaker state shared through Redis', () => {
  let dead: FakeUpstream;
  let healthy: FakeUpstream;
  let r1: TestApp;
  let r2: TestApp;

  beforeAll(async () => {
    dead = await startFakeUpstream();
    healthy = await startFakeUpstream();
    const keyPrefix = testRedisPrefix();
    // A fresh object per app: loadConfig freezes what it is given.
    const overrides = () => ({
      'providers.deployments': [
        fakeDeployment('dead', 'openai', dead.baseUrl),
        fakeDeployment('healthy', 'openai', healthy.baseUrl),
      ],
      'providers.aliases': { smart: { deployments: ['dead', 'healthy'] } },
      'providers.routing': { breakerFailureThreshold: 3, breakerOpenMs: 20_000, stateSyncMs: 500 },
    });
    r1 = await buildTestApp(overrides(), { redis: true, keyPrefix });
    r2 = await buildTestApp(overrides(), { redis: true, keyPrefix });
  });
  afterAll(async () => {
    await r1.close();
    await r2.close();
    await dead.close();
    await healthy.close();
  });

  const ask = (t: TestApp) =>
    postV1(t.app, { model: 'smart', messages: [{ role: 'user', content: 'Hi' }], stream: true });

  it('a dead provider is routed around within 3 s at 5 req/s, including by a replica that saw none of the failures', async () => {
    // Both replicas prefer `dead` while it is healthy.
    const first = await ask(r1);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['x-genz-deployment']).toBe('dead');
    expect((await ask(r2)).headers['x-genz-deployment']).toBe('dead');

    dead.failAll({ kind: 'reset-before' });
    const outage = Date.now();
    let routedAroundAt: number | undefined;
    while (Date.now() - outage < BOUND_MS) {
      const before = dead.requests.length;
      const res = await ask(r1);
      expect(res.statusCode).toBe(200); // every request is still answered (failover), none fails
      expect(res.headers['x-genz-deployment']).toBe('healthy');
      if (dead.requests.length === before && routedAroundAt === undefined) routedAroundAt = Date.now();
      await new Promise((r) => setTimeout(r, RATE_INTERVAL_MS));
    }
    expect(routedAroundAt).toBeDefined();
    expect((routedAroundAt ?? Number.POSITIVE_INFINITY) - outage).toBeLessThan(BOUND_MS);

    // r2 served no request during the outage: its first one must already skip `dead` (state came from Redis).
    const before = dead.requests.length;
    for (let i = 0; i < 5; i++) {
      const res = await ask(r2);
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-genz-deployment']).toBe('healthy');
    }
    expect(dead.requests.length).toBe(before);
    expect(r2.app.providers.circuitState('dead')).toBe('open');
  });
});
