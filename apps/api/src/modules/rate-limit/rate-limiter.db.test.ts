import { testRedisPrefix, testRedisUrl } from '@genz/db/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { waitReady } from '../../infra/redis.ts';
import { testBackend } from '../../test/app.ts';
import { freePort } from '../../test/net.ts';
import type { RatePolicy } from './gcra.ts';
import { createRateLimiter } from './rate-limiter.ts';

const policy: RatePolicy = { name: 'test', rate: 5, periodMs: 60_000, burst: 5 };
const clients: Redis[] = [];
afterAll(() => {
  for (const c of clients) c.disconnect();
});

function client(url: string, prefix: string) {
  const c = new Redis(url, {
    keyPrefix: prefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 200,
    retryStrategy: () => 500,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

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

describe.runIf(testBackend === 'server')('rate limiter (Redis)', () => {
  it('is global: two replicas share one budget exactly, under concurrency', async () => {
    const prefix = testRedisPrefix();
    const [ra, rb] = [client(testRedisUrl, prefix), client(testRedisUrl, prefix)];
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

  it('falls back to memory at once when Redis is unreachable, and never waits past the budget', async () => {
    const deadPort = await freePort();
    const redis = client(`redis://127.0.0.1:${deadPort}`, testRedisPrefix());
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
