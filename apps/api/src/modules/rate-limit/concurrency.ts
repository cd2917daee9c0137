import type { Redis } from 'ioredis';
import type { RedisClient } from '../../infra/redis.ts';

/**
 * A concurrency cap ("at most N at once per key") with leases: every holder must renew its lease before it expires,
 * so a holder whose process died frees its slot by itself after `leaseMs`. In Redis (a sorted set of lease ids
 * scored by expiry, trimmed and counted in one Lua call) the cap is global across replicas; without Redis, or while
 * it fails, it is counted per process (the same fallback as the rate limiter: a dependency outage loosens the cap
 * rather than refusing users).
 */
export interface ConcurrencyLimiter {
  /** Takes a slot; false when `max` leases are live. */
  acquire(key: string, leaseId: string, max: number, leaseMs: number): Promise<boolean>;
  /** Extends a held lease (a no-op when it expired). */
  renew(key: string, leaseId: string, leaseMs: number): Promise<void>;
  release(key: string, leaseId: string): Promise<void>;
}

const ACQUIRE_LUA = `
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) * 2)
return 1
`;

type AcquireCommand = (key: string, now: string, lease: string, max: string, leaseMs: string) => Promise<number>;

export function createConcurrencyLimiter(opts: {
  redis: RedisClient | null;
  now?: () => number;
  onRedisError?: (err: unknown) => void;
}): ConcurrencyLimiter {
  const now = opts.now ?? Date.now;
  const memory = new Map<string, Map<string, number>>();
  const redis = opts.redis;
  if (redis && !('concurrencyAcquire' in redis)) {
    (redis as Redis).defineCommand('concurrencyAcquire', { numberOfKeys: 1, lua: ACQUIRE_LUA });
  }
  const redisKey = (key: string) => `cc:${key}`;

  function live(key: string): Map<string, number> {
    let leases = memory.get(key);
    if (!leases) {
      leases = new Map();
      memory.set(key, leases);
    }
    const t = now();
    for (const [id, until] of leases) if (until <= t) leases.delete(id);
    return leases;
  }

  const memoryApi: ConcurrencyLimiter = {
    async acquire(key, leaseId, max, leaseMs) {
      const leases = live(key);
      if (!leases.has(leaseId) && leases.size >= max) return false;
      leases.set(leaseId, now() + leaseMs);
      return true;
    },
    async renew(key, leaseId, leaseMs) {
      const leases = live(key);
      if (leases.has(leaseId)) leases.set(leaseId, now() + leaseMs);
    },
    async release(key, leaseId) {
      const leases = memory.get(key);
      leases?.delete(leaseId);
      if (leases?.size === 0) memory.delete(key);
    },
  };
  if (!redis) return memoryApi;

  const acquireCmd = (redis as unknown as { concurrencyAcquire: AcquireCommand }).concurrencyAcquire.bind(redis);
  return {
    async acquire(key, leaseId, max, leaseMs) {
      try {
        return (await acquireCmd(redisKey(key), String(now()), leaseId, String(max), String(leaseMs))) === 1;
      } catch (err) {
        opts.onRedisError?.(err);
        return memoryApi.acquire(key, leaseId, max, leaseMs);
      }
    },
    async renew(key, leaseId, leaseMs) {
      try {
        await redis.zadd(redisKey(key), 'XX', now() + leaseMs, leaseId);
        await redis.pexpire(redisKey(key), leaseMs * 2);
      } catch (err) {
        opts.onRedisError?.(err);
      }
      await memoryApi.renew(key, leaseId, leaseMs);
    },
    async release(key, leaseId) {
      await memoryApi.release(key, leaseId);
      try {
        await redis.zrem(redisKey(key), leaseId);
      } catch (err) {
        opts.onRedisError?.(err);
      }
    },
  };
}
