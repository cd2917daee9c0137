import { testRedisPrefix } from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../test/app.ts';
import { waitFor } from '../test/net.ts';

/** Two replicas sharing one Redis: L2 is shared, and a change on one evicts the key from the other's L1. */
describe('cache across replicas', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const keyPrefix = testRedisPrefix();
    a = await buildTestApp({}, { redis: true, keyPrefix });
    b = await buildTestApp({}, { redis: true, keyPrefix });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('serves a value written by one replica from the shared L2 on the other', async () => {
    await a.app.cache.set({ key: 'shared', value: { n: 1 } });
    // getOrSet is the path services use (bentocache's plain get() labels an L2 hit as l1).
    const factory = () => {
      throw new Error('must come from L2, not the factory');
    };
    expect(await b.app.cache.getOrSet({ key: 'shared', factory })).toEqual({ n: 1 });
    const metrics = await b.app.metrics.registry.getSingleMetricAsString('cache_requests_total');
    expect(metrics).toMatch(/cache_requests_total\{tier="l2",result="hit"\} 1/);
    expect(metrics).toMatch(/cache_requests_total\{tier="l1",result="miss"\} 1/);
  });

  it('evicts a deleted or overwritten key from every replica L1 within a bounded time', async () => {
    await a.app.cache.set({ key: 'evict', value: 'v1' });
    expect(await b.app.cache.get({ key: 'evict' })).toBe('v1'); // now also in b's L1
    await a.app.cache.set({ key: 'evict', value: 'v2' });
    await waitFor(
      async () => ((await b.app.cache.get({ key: 'evict' })) === 'v2' ? true : undefined),
      2000,
      'bus update',
    );
    await a.app.cache.delete({ key: 'evict' });
    await waitFor(
      async () => ((await b.app.cache.get({ key: 'evict' })) === undefined ? true : undefined),
      2000,
      'bus delete',
    );
  });
});
