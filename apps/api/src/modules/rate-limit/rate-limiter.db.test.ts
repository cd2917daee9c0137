import { testRedisPrefix } from '@genz/db/testing';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../test/net.ts';
import { testRedisClients } from '../../test/redis.ts';
import type { RatePolicy } from './gcra.ts';
import { createRateLimiter } from './rate-limiter.ts';

const policy: RatePolicy = { name: 'test', rate: 5, periodMs: 60_000, burst: 5 };
const clients = testRedisClients();

describe('rate limiter (memory)', () => {
  it('limits per key and resets a key', async () => {
    const limiter = createRateLimiter({ redis: null, memoryMaxKeys: 1000, breakerMs: 1000 });
    const results = [];
    for (let i = 0; i < 7; i++) results.push((await limiter.limit('a', policy)).allowed);
    expect(results).toEqual([true, true, true, true, true, false, false]);
    expect((await limiter.limit('b', policy)).allowed).toBe(true);
    await limiter.reset('a', policy);
    expect((await limiter.limit('a', policy)).allowed).toBe(true);
    expect(limiter.usingFallback()).toBe(true);
  });

  it('keeps memory bounded', async () => {
    const limiter = createRateLimiter({ redis: null, memoryMaxKeys: 1000, breakerMs: 1000 });
    for (let i = 0; i < 5000; i++) await limiter.limit(`k${i}`, policy);
    // The newest keys are still counted.
    for (let i = 0; i < 5; i++) await limiter.limit('k4999', policy);
    expect((await limiter.limit('k4999', policy)).allowed).toBe(false);
  });
});

describe('rate limiter with Redis unreachable', () => {
  it('falls back to memory at once when Redis is unreachable, and never waits past the budget', async () => {
    const deadPort = await freePort();
    const redis = clients.failFast(`redis://127.0.0.1:${deadPort}`, testRedisPrefix());
    const changes: boolean[] = [];
    const limiter = createRateLimiter({
      redis,
      memoryMaxKeys: 1000,
      breakerMs: 60_000,
      onFallbackChange: (f) => changes.push(f),
    });
    const started = performance.now();
    const d = await limiter.limit('x', policy);
    expect(performance.now() - started).toBeLessThan(200 + 500);
    expect(d).toMatchObject({ allowed: true, store: 'memory' });
    expect(changes).toEqual([true]);
    for (let i = 0; i < 4; i++) await limiter.limit('x', policy);
    expect((await limiter.limit('x', policy)).allowed).toBe(false); // still enforced locally
  });
});
