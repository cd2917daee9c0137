import { testRedisPrefix } from '@genz/db/testing';
import { describe, expect, it } from 'vitest';
import { testBackend } from '../../test/app.ts';
import { testRedisClients } from '../../test/redis.ts';
import { type ConcurrencyLimiter, createConcurrencyLimiter } from './concurrency.ts';

const clients = testRedisClients();

function limiters(): [string, (now: () => number) => ConcurrencyLimiter][] {
  const list: [string, (now: () => number) => ConcurrencyLimiter][] = [
    ['memory', (now) => createConcurrencyLimiter({ redis: null, now })],
  ];
  if (testBackend === 'server') {
    list.push([
      'redis',
      (now) => {
        return createConcurrencyLimiter({ redis: clients.shared({ keyPrefix: testRedisPrefix() }), now });
      },
    ]);
  }
  return list;
}

describe.each(limiters())('%s concurrency limiter', (_name, make) => {
  it('admits up to max live leases per key, frees on release and on lease expiry', async () => {
    let clock = 1_000_000;
    const l = make(() => clock);
    expect(await l.acquire('u1', 'a', 2, 1000)).toBe(true);
    expect(await l.acquire('u1', 'b', 2, 1000)).toBe(true);
    expect(await l.acquire('u1', 'c', 2, 1000)).toBe(false);
    expect(await l.acquire('u2', 'c', 2, 1000)).toBe(true); // another key
    expect(await l.acquire('u1', 'a', 2, 1000)).toBe(true); // re-acquiring a held lease is a renewal
    await l.release('u1', 'a');
    expect(await l.acquire('u1', 'c', 2, 1000)).toBe(true);
    // 'b' and 'c' renewed or not: only renewed leases survive their expiry.
    clock += 800;
    await l.renew('u1', 'c', 1000);
    clock += 400; // 'b' expired, 'c' lives until +1800
    expect(await l.acquire('u1', 'd', 2, 1000)).toBe(true);
    expect(await l.acquire('u1', 'e', 2, 1000)).toBe(false);
  });
});
