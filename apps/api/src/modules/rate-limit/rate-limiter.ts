import type { Redis } from 'ioredis';
import type { RedisClient } from '../../infra/redis.ts';
import { createRedisBreaker, type RedisBreaker } from './breaker.ts';
import { type FailMode, sha256Id } from './charges.ts';
import { GCRA_LUA, gcraStep, type RateDecision, type RatePolicy } from './gcra.ts';

export type LimiterStore = 'redis' | 'memory' | 'none';

export interface RateLimiter {
  /** One admission decision for `key` under `policy` (cost defaults to 1). Never throws, never waits past the budget. */
  limit(
    key: string,
    policy: RatePolicy,
    cost?: number,
  ): Promise<RateDecision & { store: LimiterStore; failedClosed?: boolean }>;
  /** True while decisions are made in memory because Redis failed (or is not configured). */
  usingFallback(): boolean;
  /** Forget a key (e.g. a successful log-in clears that account's failure budget). */
  reset(key: string, policy: RatePolicy): Promise<void>;
}

export interface RateLimiterOptions {
  redis: RedisClient | null;
  /** Counters kept in memory (fallback and Redis-less mode). */
  memoryMaxKeys: number;
  /** After a Redis failure, count in memory this long before trying Redis again. */
  breakerMs: number;
  now?: () => number;
  onFallbackChange?: (fallback: boolean, reason?: string) => void;
  /** Share one breaker with the other limit stores (the module does); otherwise one is made from breakerMs. */
  breaker?: RedisBreaker;
  /** Replicas sharing Redis: during an outage each enforces rate ÷ replicas (ADR 060). Default 1. */
  replicas?: number;
  /** During an outage: `local` (default) counts the local share, `open` admits, `closed` refuses. */
  failMode?: FailMode;
}

type GcraCommand = (key: string, t: string, tau: string, cost: string) => Promise<[number, string, string, string]>;

/**
 * The limiter core every limit in GenZ AI goes through (ARCHITECTURE.md §12: one owner). GCRA in a Redis Lua script
 * when Redis is configured, so a limit is global across replicas; an in-memory GCRA when it is not, or while Redis
 * is failing (a small breaker stops every request from paying the command timeout during an outage). The Redis
 * client has no offline queue and a command timeout (infra/redis.ts), so a call never hangs.
 */
export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  const now = opts.now ?? Date.now;
  const memory = new Map<string, number>();
  const redis = opts.redis;
  const share = redis ? (opts.replicas ?? 1) : 1;
  const failMode: FailMode = redis ? (opts.failMode ?? 'local') : 'local';
  const breaker =
    opts.breaker ??
    createRedisBreaker({
      openMs: opts.breakerMs,
      now,
      ...(opts.onFallbackChange ? { onChange: opts.onFallbackChange } : {}),
    });

  if (redis && !('gcra' in redis)) {
    (redis as Redis).defineCommand('gcra', { numberOfKeys: 1, lua: GCRA_LUA });
  }

  const storageKey = (key: string, policy: RatePolicy) =>
    // Hashed: keys may hold an email address, and Redis keys should not; also bounds their length.
    `rl:${policy.name}:${sha256Id(key).slice(0, 27)}`;

  function limitInMemory(k: string, policy: RatePolicy, cost: number): RateDecision {
    const at = now();
    const local =
      share === 1
        ? policy
        : { ...policy, rate: policy.rate / share, burst: Math.max(1, Math.ceil(policy.burst / share)) };
    const { decision, newTat } = gcraStep(memory.get(k), at, local, cost);
    if (newTat !== undefined) {
      memory.delete(k); // re-insert: Map order doubles as least-recently-written order for eviction
      memory.set(k, newTat);
      if (memory.size > opts.memoryMaxKeys) evict(at);
    }
    return { ...decision, limit: policy.burst };
  }

  function evict(at: number) {
    for (const [k, tat] of memory) if (tat <= at) memory.delete(k);
    // Still over the bound: drop the least recently written (forgetting a key can only admit more, never block).
    for (const k of memory.keys()) {
      if (memory.size <= opts.memoryMaxKeys * 0.9) break;
      memory.delete(k);
    }
  }

  return {
    async limit(key, policy, cost = 1) {
      const k = storageKey(key, policy);
      const ticket = redis ? breaker.ticket() : 'open';
      if (redis && ticket !== 'open') {
        try {
          const t = policy.periodMs / policy.rate;
          const gcra = (redis as unknown as { gcra: GcraCommand }).gcra.bind(redis);
          const [allowed, remaining, resetMs, retryAfterMs] = await gcra(
            k,
            String(t),
            String(t * policy.burst),
            String(cost),
          );
          breaker.success();
          const retry = Number(retryAfterMs);
          return {
            allowed: allowed === 1,
            limit: policy.burst,
            remaining: Number(remaining),
            resetMs: Number(resetMs),
            retryAfterMs: allowed === 1 ? 0 : cost > policy.burst ? Number.POSITIVE_INFINITY : retry,
            store: 'redis',
          };
        } catch (err) {
          breaker.failure((err as Error).message);
        }
      }
      if (failMode === 'open') {
        return {
          allowed: true,
          limit: policy.burst,
          remaining: policy.burst,
          resetMs: 0,
          retryAfterMs: 0,
          store: 'none',
        };
      }
      if (failMode === 'closed') {
        return {
          allowed: false,
          limit: policy.burst,
          remaining: 0,
          resetMs: 0,
          retryAfterMs: opts.breakerMs,
          store: 'none',
          failedClosed: true,
        };
      }
      return { ...limitInMemory(k, policy, cost), store: 'memory' };
    },
    usingFallback: () => redis === null || breaker.isOpen(),
    async reset(key, policy) {
      const k = storageKey(key, policy);
      memory.delete(k);
      if (redis && !breaker.isOpen()) await redis.del(k).catch(() => {});
    },
  };
}
