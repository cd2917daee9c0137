import { testRedisPrefix, testRedisUrl } from '@genz/db/testing';
import { describe, expect, it } from 'vitest';
import { waitReady } from '../../infra/redis.ts';
import { testRedisClients } from '../../test/redis.ts';
import type { RatePolicy } from './gcra.ts';
import { createRateLimiter } from './rate-limiter.ts';

const clients = testRedisClients();

/** Needs the shared Redis: runs in the server project only. */
describe('rate limiter (Redis)', () => {
  it('is global: two replicas share one budget exactly, under concurrency', async () => {
    const prefix = testRedisPrefix();
    const [ra, rb] = [clients.failFast(testRedisUrl, prefix), clients.failFast(testRedisUrl, prefix)];
    await Promise.all([waitReady(ra), waitReady(rb)]);
    const a = createRateLimiter({ redis: ra, memoryMaxKeys: 1000, breakerMs: 1000 });
    const b = createRateLimiter({ redis: rb, memoryMaxKeys: 1000, breakerMs: 1000 });
    const p: RatePolicy = { name: 'global', rate: 50, periodMs: 3_600_000, burst: 50 };
    const all = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).limit('user-1', p)));
    expect(all.filter((d) => d.allowed)).toHaveLength(50);
    expect(all.every((d) => d.store === 'redis')).toBe(true);
    const refused = all.find((d) => !d.allowed);
    expect(refused?.retryAfterMs).toBeGreaterThan(0);
    expect(refused?.retryAfterMs).toBeLessThanOrEqual(72_000);
  });
});
