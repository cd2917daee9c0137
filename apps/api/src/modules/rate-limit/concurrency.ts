import type { Redis } from 'ioredis';
import type { RedisClient } from '../../infra/redis.ts';
import type { RedisBreaker } from './breaker.ts';
import type { FailMode } from './charges.ts';

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
  /** Live leases of `key` (for usage reports). */
  count(key: string): Promise<number>;
}

/**
 * The Redis key of a concurrency key's leases. The charge engine takes a generation slot in this same set, in the
 * same script as the request's charges (charges.ts, `CHARGE_LUA`), so the two must agree on it.
 */
export const concurrencyRedisKey = (key: string) => `cc:${key}`;

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

/** How often an acquire below the cap also drops expired leases of its key (see leasesOf). */
const SWEEP_EVERY_MS = 1000;

type AcquireCommand = (key: string, now: string, lease: string, max: string, leaseMs: string) => Promise<number>;

export function createConcurrencyLimiter(opts: {
  redis: RedisClient | null;
  now?: () => number;
  onRedisError?: (err: unknown) => void;
  /** Shared with the other limit stores: while open, no Redis call is tried (ADR 060). */
  breaker?: RedisBreaker;
  /** During an outage each replica allows ceil(max ÷ replicas). Default 1. */
  replicas?: number;
  /** During an outage: `local` (default) counts the local share, `open` admits, `closed` refuses. */
  failMode?: FailMode;
}): ConcurrencyLimiter {
  const now = opts.now ?? Date.now;
  const memory = new Map<string, Map<string, number>>();
  const redis = opts.redis;
  if (redis && !('concurrencyAcquire' in redis)) {
    (redis as Redis).defineCommand('concurrencyAcquire', { numberOfKeys: 1, lua: ACQUIRE_LUA });
  }
  const redisKey = concurrencyRedisKey;

  /**
   * The leases of `key`, created on demand. Expired leases are swept only when `sweep` is asked for (before a refusal
   * or a count): sweeping on every acquire walked every live lease, quadratic in the slots held (2,000 concurrent
   * streams of one user made 2,000 × 2,000 steps per wave). Released leases leave at once; leases of holders that
   * never released also leave at the next acquire after SWEEP_EVERY_MS, so memory stays bounded by the live leases.
   */
  let nextSweepAt = 0;
  function leasesOf(key: string, sweep: boolean): Map<string, number> {
    let leases = memory.get(key);
    if (!leases) {
      leases = new Map();
      memory.set(key, leases);
      return leases;
    }
    const t = now();
    if (sweep || t >= nextSweepAt) {
      nextSweepAt = t + SWEEP_EVERY_MS;
      for (const [id, until] of leases) if (until <= t) leases.delete(id);
    }
    return leases;
  }

  const share = opts.redis ? (opts.replicas ?? 1) : 1;
  const failMode = opts.redis ? (opts.failMode ?? 'local') : 'local';
  const memoryApi: ConcurrencyLimiter = {
    async acquire(key, leaseId, fullMax, leaseMs) {
      if (failMode === 'open') return true;
      if (failMode === 'closed') return false;
      const max = Math.max(1, Math.ceil(fullMax / share));
      let leases = leasesOf(key, false);
      if (!leases.has(leaseId) && leases.size >= max) leases = leasesOf(key, true);
      if (!leases.has(leaseId) && leases.size >= max) return false;
      leases.set(leaseId, now() + leaseMs);
      return true;
    },
    async renew(key, leaseId, leaseMs) {
      const leases = memory.get(key);
      const until = leases?.get(leaseId);
      if (leases && until !== undefined && until > now()) leases.set(leaseId, now() + leaseMs);
    },
    async release(key, leaseId) {
      const leases = memory.get(key);
      leases?.delete(leaseId);
      if (leases?.size === 0) memory.delete(key);
    },
    async count(key) {
      return memory.has(key) ? leasesOf(key, true).size : 0;
    },
  };
  if (!redis) return memoryApi;

  const acquireCmd = (redis as unknown as { concurrencyAcquire: AcquireCommand }).concurrencyAcquire.bind(redis);
  const breaker = opts.breaker;
  /** Runs a Redis call unless the breaker is open; false when it was skipped or failed. */
  async function attempt(fn: () => Promise<void>): Promise<boolean> {
    const ticket = breaker?.ticket() ?? 'closed';
    if (ticket === 'open') return false;
    try {
      await fn();
      breaker?.success();
      return true;
    } catch (err) {
      breaker?.failure((err as Error).message);
      opts.onRedisError?.(err);
      return false;
    }
  }
  return {
    async acquire(key, leaseId, max, leaseMs) {
      let admitted = false;
      const ok = await attempt(async () => {
        admitted = (await acquireCmd(redisKey(key), String(now()), leaseId, String(max), String(leaseMs))) === 1;
      });
      return ok ? admitted : memoryApi.acquire(key, leaseId, max, leaseMs);
    },
    async renew(key, leaseId, leaseMs) {
      await attempt(async () => {
        await redis.zadd(redisKey(key), 'XX', now() + leaseMs, leaseId);
        await redis.pexpire(redisKey(key), leaseMs * 2);
      });
      await memoryApi.renew(key, leaseId, leaseMs);
    },
    async release(key, leaseId) {
      await memoryApi.release(key, leaseId);
      await attempt(async () => {
        await redis.zrem(redisKey(key), leaseId);
      });
    },
    async count(key) {
      let n = 0;
      const ok = await attempt(async () => {
        n = await redis.zcount(redisKey(key), String(now()), '+inf');
      });
      return ok ? n : memoryApi.count(key);
    },
  };
}
