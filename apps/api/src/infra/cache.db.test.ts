import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../test/app.ts';

describe('cache', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('runs the factory once for concurrent misses of one key (stampede protection)', async () => {
    let calls = 0;
    const factory = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 100));
      return { value: 42 };
    };
    const results = await Promise.all(
      Array.from({ length: 50 }, () => t.app.cache.getOrSet({ key: 'stampede', factory, ttl: '1m' })),
    );
    expect(calls).toBe(1);
    expect(results.every((r) => r.value === 42)).toBe(true);
  });

  it('expires entries by TTL and counts hits and misses per tier', async () => {
    await t.app.cache.set({ key: 'short', value: 'v', ttl: 50 });
    expect(await t.app.cache.get({ key: 'short' })).toBe('v');
    await new Promise((r) => setTimeout(r, 120));
    expect(await t.app.cache.get({ key: 'short' })).toBeUndefined();
    const metrics = await t.app.metrics.registry.getSingleMetricAsString('cache_requests_total');
    expect(metrics).toMatch(/cache_requests_total\{tier="l1",result="hit"\} [1-9]/);
    expect(metrics).toMatch(/cache_requests_total\{tier="l1",result="miss"\} [1-9]/);
  });
});
