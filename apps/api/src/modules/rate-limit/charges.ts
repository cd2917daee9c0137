import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { memoize } from '../../infra/memo.ts';
import type { RedisClient } from '../../infra/redis.ts';
import type { RedisBreaker } from './breaker.ts';
import { gcraStep } from './gcra.ts';

/**
 * Atomic multi-limit charges (ADR 060): one request is checked against several limits at once (a user's and a key's
 * request rate; or a reservation's tokens per minute, per day, per month and its cost) and is admitted only if every
 * one has room, in which case every one is charged. In Redis that is one Lua script on keys sharing one hash tag
 * (the user), so it is atomic and global and works on a cluster; in memory it is the same arithmetic.
 *
 * Two kinds of limit:
 * - `rate`: GCRA (ADR 020): `rate` per `periodMs` sustained, `burst` at once, no window edges.
 * - `quota`: a calendar window (UTC day or month): `used + cost ≤ limit`, reset when the window ends. Budgets
 *   people read on a bill ("5 M tokens this month") are calendar quotas, not sliding rates.
 *
 * Charges can be adjusted afterwards (a token reservation reconciled with the real usage).
 */
export type LimitClass = 'requests' | 'tokens' | 'quotas';
export type ChargeUnit = 'requests' | 'tokens' | 'cost';

export interface RateSpec {
  kind: 'rate';
  rate: number;
  periodMs: number;
  burst: number;
}

export interface QuotaSpec {
  kind: 'quota';
  limit: number;
  /** Calendar window, e.g. `d20250614` or `m202506`; part of the key. */
  windowId: string;
  /** Epoch ms the window starts (where re-seeding from the durable usage record begins). */
  windowStart: number;
  /** Epoch ms the window ends (reset, Retry-After and key expiry). */
  windowEnd: number;
}

export interface Charge {
  /** Metrics label and key part: a small fixed set (`user_rpm`, `key_tpm`, `user_cost_month` ...). */
  policy: string;
  cls: LimitClass;
  unit: ChargeUnit;
  /** Who is limited (user id, key id, IP); hashed into the key. */
  subject: string;
  /** Hash-slot tag: charges made together must share it (the user id). */
  tag: string;
  spec: RateSpec | QuotaSpec;
  cost: number;
}

export interface ItemResult {
  allowed: boolean;
  /** RateLimit-Limit: the burst of a rate, the limit of a quota. */
  limit: number;
  remaining: number;
  /** Until a rate is back to a full burst / a quota window ends. */
  resetMs: number;
  /** 0 when allowed; otherwise when this charge would fit (Infinity: never, cost above the burst). */
  retryAfterMs: number;
  /** Quotas: units used in the window after this charge (or before it, if refused). */
  used: number;
}

export type ChargeStore = 'redis' | 'memory' | 'none';

export interface ChargeResult {
  allowed: boolean;
  /** Where the decision was made (`none`: every limit was skipped, fail-open). */
  store: ChargeStore;
  items: ItemResult[];
  /** Index of the first refusing charge, -1 when admitted. */
  refused: number;
  /** Refused because a `closed` limit class could not reach Redis (503, not 429). */
  failedClosed: boolean;
}

export type FailMode = 'local' | 'open' | 'closed';

/** A generation slot taken together with a charge (a lease in the sorted set concurrency.ts keeps under `key`). */
export interface SlotRequest {
  /** The Redis key of the slot's sorted set (`concurrencyRedisKey`); must carry the charges' hash tag. */
  key: string;
  leaseId: string;
  max: number;
  leaseMs: number;
}

export interface ChargeEngine {
  /**
   * Checks and charges `charges` all or nothing; with `slot`, also takes that generation slot in the same atomic
   * Redis call. `slot` in the result: `taken`, `full` (refused: nothing charged), or `local` when the decision was
   * made without Redis; the caller then takes the slot from the concurrency limiter's local share.
   */
  charge(charges: Charge[], slot?: SlotRequest): Promise<ChargeResult & { slot?: 'taken' | 'full' | 'local' }>;
  /**
   * Adds `deltas[i]` (may be negative) to charges made earlier in `store`; best effort, never throws. With `release`
   * (store `redis`), also frees that slot lease in the same call.
   */
  adjust(
    charges: Charge[],
    deltas: number[],
    store: ChargeStore,
    release?: Pick<SlotRequest, 'key' | 'leaseId'>,
  ): Promise<void>;
  /** Current state without charging (cost 0), e.g. for GET /api/me/usage. */
  peek(charges: Charge[]): Promise<{ items: ItemResult[]; store: ChargeStore }>;
  usingFallback(): boolean;
}

export interface ChargeEngineOptions {
  redis: RedisClient | null;
  breaker: RedisBreaker;
  memoryMaxKeys: number;
  /** Replicas sharing Redis: in fallback each enforces limit ÷ replicas. */
  replicas: number;
  failModes: Record<LimitClass, FailMode>;
  /**
   * The durable use of each quota charge in its window (the sum of usage_events). A quota counter that Redis no
   * longer has (restart, flush, eviction), or that a restarted process never had in memory, starts from it instead
   * of zero; asked once per counter and window. Without it a missing counter starts at zero.
   */
  quotaSeed?: (charges: Charge[]) => Promise<number[]>;
  now?: () => number;
}

const QUOTA_SLACK_MS = 3_600_000;

// ARGV[1] = n, the number of charge keys; then per key: kind, a, b, cost, seed. A quota's seed says what a missing
// counter means: '?' (ask: the script charges nothing and answers {2, indexes of the missing counters}), '' (zero),
// or a number (the durable use, written even when the charge is refused so it is asked once).
// With a generation slot (#KEYS = n + 1): KEYS[n + 1] is the slot's sorted set (leases scored by expiry, as
// concurrency.ts keeps it) and ARGV after the charges are lease id, max, lease ms, the caller's clock (the clock
// concurrency.ts renews and counts with). The slot is taken only if every charge fits, and the charges are made only
// if the slot is free: one request's whole admission in one atomic call.
const CHARGE_LUA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local n = tonumber(ARGV[1])
local missing = {}
for i = 1, n do
  if ARGV[(i - 1) * 5 + 6] == '?' and redis.call('EXISTS', KEYS[i]) == 0 then missing[#missing + 1] = i end
end
if #missing > 0 then return {2, missing} end
local out = {}
local apply = {}
local seeded = {}
local ok = 1
for i = 1, n do
  local o = (i - 1) * 5 + 1
  local kind = ARGV[o + 1]
  local a = tonumber(ARGV[o + 2])
  local b = tonumber(ARGV[o + 3])
  local cost = tonumber(ARGV[o + 4])
  local cur = tonumber(redis.call('GET', KEYS[i]))
  if kind == 'r' then
    local tat = cur
    if tat == nil or tat < now then tat = now end
    local new_tat = tat + a * cost
    local allow_at = new_tat - b
    if allow_at > now then
      ok = 0
      out[i] = {0, '0', tostring(tat - now), tostring(allow_at - now), '0'}
    else
      apply[i] = new_tat
      out[i] = {1, tostring(math.floor((now - allow_at) / a)), tostring(new_tat - now), '0', '0'}
    end
  else
    local used = cur
    if used == nil then
      used = tonumber(ARGV[o + 5]) or 0
      if ARGV[o + 5] ~= '' then seeded[i] = used end
    end
    if used + cost > a then
      ok = 0
      out[i] = {0, tostring(math.max(0, a - used)), '0', '0', tostring(used)}
    else
      apply[i] = used + cost
      out[i] = {1, tostring(a - used - cost), '0', '0', tostring(used + cost)}
    end
  end
end
local slot = -1
if #KEYS > n and ok == 1 then
  local s = n * 5 + 2
  local key = KEYS[n + 1]
  local lease = ARGV[s]
  local lease_ms = tonumber(ARGV[s + 2])
  local at = tonumber(ARGV[s + 3])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', at)
  if redis.call('ZSCORE', key, lease) or redis.call('ZCARD', key) < tonumber(ARGV[s + 1]) then
    redis.call('ZADD', key, at + lease_ms, lease)
    redis.call('PEXPIRE', key, lease_ms * 2)
    slot = 1
  else
    slot = 0
    ok = 0
  end
end
for i = 1, n do
  local o = (i - 1) * 5 + 1
  if ok == 1 and ARGV[o + 1] == 'r' then
    local ttl = math.ceil(apply[i] - now)
    if ttl < 1 then ttl = 1 end
    redis.call('SET', KEYS[i], tostring(apply[i]), 'PX', ttl)
  elseif ok == 1 and ARGV[o + 1] == 'q' and tonumber(ARGV[o + 4]) > 0 then
    redis.call('SET', KEYS[i], tostring(apply[i]), 'PX', tonumber(ARGV[o + 3]))
  elseif seeded[i] ~= nil then
    redis.call('SET', KEYS[i], tostring(seeded[i]), 'PX', tonumber(ARGV[o + 3]))
  end
end
return {ok, out, slot}
`;

// ARGV[1] = n, the number of adjusted keys; then per key: kind, a, b, delta. With #KEYS = n + 1, KEYS[n + 1] is a
// generation slot whose lease ARGV[n * 4 + 2] is released in the same call (a reconcile and its release: one trip).
const ADJUST_LUA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local n = tonumber(ARGV[1])
for i = 1, n do
  local o = (i - 1) * 4 + 1
  local kind = ARGV[o + 1]
  local a = tonumber(ARGV[o + 2])
  local b = tonumber(ARGV[o + 3])
  local delta = tonumber(ARGV[o + 4])
  local cur = tonumber(redis.call('GET', KEYS[i]))
  if kind == 'r' then
    if delta > 0 then
      local tat = cur
      if tat == nil or tat < now then tat = now end
      local nt = tat + a * delta
      redis.call('SET', KEYS[i], tostring(nt), 'PX', math.max(1, math.ceil(nt - now)))
    elseif cur ~= nil then
      local nt = cur + a * delta
      if nt <= now then redis.call('DEL', KEYS[i])
      else redis.call('SET', KEYS[i], tostring(nt), 'PX', math.max(1, math.ceil(nt - now))) end
    end
  else
    -- A counter Redis lost is not recreated from one delta: the next charge re-seeds it from the durable record.
    if cur ~= nil then redis.call('SET', KEYS[i], tostring(math.max(0, cur + delta)), 'PX', b) end
  end
end
if #KEYS > n then redis.call('ZREM', KEYS[n + 1], ARGV[n * 4 + 2]) end
return 1
`;

const PEEK_LUA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local out = {tostring(now)}
for i = 1, #KEYS do
  out[i + 1] = redis.call('GET', KEYS[i]) or ''
end
return out
`;

type LuaCommand<R> = (...args: string[]) => Promise<R>;
interface LimitCommands {
  limitsCharge: LuaCommand<[1 | 0, [number, string, string, string, string][], 1 | 0 | -1] | [2, number[]]>;
  limitsAdjust: LuaCommand<number>;
  limitsPeek: LuaCommand<string[]>;
}

/** SHA-256 in base64url, remembered per input: every request hashes the same few user and key ids. */
export const sha256Id = memoize((s) => createHash('sha256').update(s).digest('base64url'));
const digest = (s: string, n: number) => sha256Id(s).slice(0, n);

/** The Redis Cluster hash tag of a user's limit keys: every key one admission touches carries it (one slot). */
export const userHashTag = (userId: string) => `{${digest(userId, 16)}}`;

/** The Redis (and memory) key of a charge: `lim:{tag}:policy:subject[:window]`, ids hashed. */
export function chargeKey(c: Charge): string {
  const window = c.spec.kind === 'quota' ? `:${c.spec.windowId}` : '';
  return `lim:${userHashTag(c.tag)}:${c.policy}:${digest(c.subject, 22)}${window}`;
}

type Window = { windowId: string; windowStart: number; windowEnd: number };

/** The window holding `at`, computed once per window: every reservation asks for the current day and month. */
function lastWindow(compute: (at: number) => Window): (at: number) => Window {
  let last: Window | undefined;
  return (at) => {
    if (last === undefined || at < last.windowStart || at >= last.windowEnd) last = compute(at);
    return last;
  };
}

/** Calendar windows in UTC. */
export const dayWindow = lastWindow((at) => {
  const d = new Date(at);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return {
    windowId: `d${new Date(start).toISOString().slice(0, 10).replaceAll('-', '')}`,
    windowStart: start,
    windowEnd: start + 86_400_000,
  };
});

export const monthWindow = lastWindow((at) => {
  const d = new Date(at);
  return {
    windowId: `m${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`,
    windowStart: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
    windowEnd: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
});

function specArgs(spec: RateSpec | QuotaSpec, at: number): [string, string, string] {
  if (spec.kind === 'rate') {
    const t = spec.periodMs / spec.rate;
    return ['r', String(t), String(t * spec.burst)];
  }
  return ['q', String(spec.limit), String(Math.max(1, spec.windowEnd - at + QUOTA_SLACK_MS))];
}

export function createChargeEngine(opts: ChargeEngineOptions): ChargeEngine {
  const now = opts.now ?? Date.now;
  const redis = opts.redis;
  const breaker = opts.breaker;
  /** Memory state: a GCRA TAT or a quota's used count, with its expiry. */
  const memory = new Map<string, { v: number; exp: number }>();
  /** The last quota use Redis reported per key: the fallback starts from it instead of from zero. */
  const known = new Map<string, number>();

  if (redis && !('limitsCharge' in redis)) {
    const r = redis as Redis;
    r.defineCommand('limitsCharge', { lua: CHARGE_LUA });
    r.defineCommand('limitsAdjust', { lua: ADJUST_LUA });
    r.defineCommand('limitsPeek', { lua: PEEK_LUA });
  }
  const commands = redis as unknown as LimitCommands | null;

  /**
   * Each charge's key, built once per subject, policy and window and then handed out as the same string: every
   * admission charges the same few keys several times (seed check, charge, reconcile), and a key built afresh is
   * concatenated and hashed again for each map lookup. Bounded like the memory state; a forgotten entry is rebuilt.
   */
  const keyCache = new Map<string, Map<string, { tag: string; windowId: string; key: string }>>();
  function keyOf(c: Charge): string {
    const windowId = c.spec.kind === 'quota' ? c.spec.windowId : '';
    let bySubject = keyCache.get(c.subject);
    if (!bySubject) {
      if (keyCache.size >= opts.memoryMaxKeys) keyCache.delete(keyCache.keys().next().value as string);
      bySubject = new Map();
      keyCache.set(c.subject, bySubject);
    }
    const known = bySubject.get(c.policy);
    if (known && known.tag === c.tag && known.windowId === windowId) return known.key;
    const key = chargeKey(c);
    bySubject.set(c.policy, { tag: c.tag, windowId, key });
    return key;
  }

  function remember(map: Map<string, number>, key: string, value: number) {
    map.delete(key);
    map.set(key, value);
    if (map.size > opts.memoryMaxKeys)
      for (const k of map.keys()) if (map.size > opts.memoryMaxKeys * 0.9) map.delete(k);
  }

  function store(key: string, v: number, exp: number) {
    memory.delete(key);
    memory.set(key, { v, exp });
    if (memory.size > opts.memoryMaxKeys) {
      const at = now();
      for (const [k, e] of memory) if (e.exp <= at) memory.delete(k);
      // Forgetting a key can only admit more, never block someone wrongly.
      for (const k of memory.keys()) {
        if (memory.size <= opts.memoryMaxKeys * 0.9) break;
        memory.delete(k);
      }
    }
  }

  /** The spec a replica enforces alone: all of it without Redis, its share during a Redis outage. */
  function localSpec(c: Charge, key: string): RateSpec | QuotaSpec {
    const share = redis ? opts.replicas : 1;
    if (share === 1) return c.spec;
    if (c.spec.kind === 'rate') {
      return { ...c.spec, rate: c.spec.rate / share, burst: Math.max(1, Math.ceil(c.spec.burst / share)) };
    }
    const base = known.get(key) ?? 0;
    return { ...c.spec, limit: base + Math.max(0, c.spec.limit - base) / share };
  }

  function memoryRead(key: string, at: number): number | undefined {
    const e = memory.get(key);
    if (!e) return undefined;
    if (e.exp <= at) {
      memory.delete(key);
      return undefined;
    }
    return e.v;
  }

  function chargeMemory(charges: Charge[], at: number, zeroCost = false): ItemResult[] & { ok?: boolean } {
    const results: ItemResult[] = [];
    const writes: [string, number, number][] = [];
    let ok = true;
    for (const c of charges) {
      const key = keyOf(c);
      const spec = localSpec(c, key);
      const cost = zeroCost ? 0 : c.cost;
      if (spec.kind === 'rate') {
        const { decision, newTat } = gcraStep(memoryRead(key, at), at, { name: c.policy, ...spec }, cost);
        results.push({ ...decision, limit: c.spec.kind === 'rate' ? c.spec.burst : spec.burst, used: 0 });
        if (newTat === undefined) ok = false;
        else writes.push([key, newTat, newTat]);
      } else {
        const stored = memoryRead(key, at);
        const used = stored ?? (redis ? (known.get(key) ?? 0) : 0);
        const fits = used + cost <= spec.limit;
        const resetMs = Math.max(0, spec.windowEnd - at);
        results.push({
          allowed: fits,
          limit: c.spec.kind === 'quota' ? c.spec.limit : spec.limit,
          remaining: Math.max(0, Math.floor(spec.limit - used - (fits ? cost : 0))),
          resetMs,
          retryAfterMs: fits ? 0 : resetMs,
          used: fits ? used + cost : used,
        });
        if (!fits) ok = false;
        else if (cost > 0) writes.push([key, used + cost, spec.windowEnd + QUOTA_SLACK_MS]);
      }
    }
    if (ok && !zeroCost) for (const [k, v, exp] of writes) store(k, v, exp);
    return Object.assign(results, { ok });
  }

  /** What a missing quota counter means to the charge script: ask ('?') when seeding is on, else zero. */
  const askOrZero = (charges: Charge[]) => charges.map((c) => (opts.quotaSeed && c.spec.kind === 'quota' ? '?' : ''));

  /** The durable use of the charges at `indexes`, as the script's seed arguments (the others: zero). */
  async function seedArgs(charges: Charge[], indexes: number[]): Promise<string[]> {
    const seeds = charges.map(() => '');
    const values = opts.quotaSeed ? await opts.quotaSeed(indexes.map((i) => charges[i] as Charge)) : [];
    indexes.forEach((i, j) => {
      seeds[i] = String(values[j] ?? 0);
    });
    return seeds;
  }

  async function chargeRedis(
    charges: Charge[],
    at: number,
    seeds: string[],
    slot?: SlotRequest,
  ): Promise<{ missing: number[] } | { ok: boolean; items: ItemResult[]; slot: -1 | 0 | 1 }> {
    if (!commands) throw new Error('no redis');
    const keys = charges.map(keyOf);
    const args: string[] = [String(keys.length)];
    charges.forEach((c, i) => {
      args.push(...specArgs(c.spec, at), String(c.cost), seeds[i] ?? '');
    });
    if (slot) {
      keys.push(slot.key);
      args.push(slot.leaseId, String(slot.max), String(slot.leaseMs), String(at));
    }
    const reply = await commands.limitsCharge(String(keys.length), ...keys, ...args);
    if (reply[0] === 2) return { missing: reply[1].map((i) => i - 1) };
    const [ok, out, slotState] = reply;
    const items = charges.map((c, i): ItemResult => {
      const row = out[i] ?? [0, '0', '0', '0', '0'];
      const allowed = row[0] === 1;
      if (c.spec.kind === 'rate') {
        return {
          allowed,
          limit: c.spec.burst,
          remaining: Number(row[1]),
          resetMs: Number(row[2]),
          retryAfterMs: allowed ? 0 : c.cost > c.spec.burst ? Number.POSITIVE_INFINITY : Number(row[3]),
          used: 0,
        };
      }
      const used = Number(row[4]);
      remember(known, keys[i] ?? '', used);
      const resetMs = Math.max(0, c.spec.windowEnd - at);
      return {
        allowed,
        limit: c.spec.limit,
        remaining: Math.max(0, Math.floor(Number(row[1]))),
        resetMs,
        // A quota answers "when it resets" even for a charge larger than the whole quota (as the memory path does).
        retryAfterMs: allowed ? 0 : resetMs,
        used,
      };
    });
    return { ok: ok === 1, items, slot: slotState };
  }

  /** Runs `fn` on Redis when the breaker lets it, reporting the outcome; undefined means "use the fallback". */
  async function viaRedis<T>(fn: () => Promise<T>): Promise<T | undefined> {
    if (!redis) return undefined;
    const ticket = breaker.ticket();
    if (ticket === 'open') return undefined;
    try {
      const value = await fn();
      breaker.success();
      return value;
    } catch (err) {
      breaker.failure((err as Error).message);
      return undefined;
    }
  }

  /**
   * Counters this process must seed before counting locally: quotas it has never seen (no memory entry; in a Redis
   * outage, no use Redis ever reported). Seeds them from the durable record, once (a concurrent first use may win).
   */
  async function seedLocal(charges: Charge[], at: number): Promise<void> {
    if (!opts.quotaSeed) return;
    const need = charges.filter((c) => {
      const key = keyOf(c);
      return c.spec.kind === 'quota' && memoryRead(key, at) === undefined && !(redis && known.has(key));
    });
    if (need.length === 0) return;
    const values = await opts.quotaSeed(need);
    need.forEach((c, i) => {
      const key = keyOf(c);
      const v = values[i] ?? 0;
      if (redis) {
        if (!known.has(key)) remember(known, key, v);
      } else if (memoryRead(key, at) === undefined && c.spec.kind === 'quota') {
        store(key, v, c.spec.windowEnd + QUOTA_SLACK_MS);
      }
    });
  }

  const skipped = (): ItemResult => ({
    allowed: true,
    limit: 0,
    remaining: 0,
    resetMs: 0,
    retryAfterMs: 0,
    used: 0,
  });

  return {
    async charge(charges, slot) {
      if (charges.length === 0 && !slot)
        return { allowed: true, store: 'none', items: [], refused: -1, failedClosed: false };
      const at = now();
      let remote = await viaRedis(() => chargeRedis(charges, at, askOrZero(charges), slot));
      if (remote && 'missing' in remote) {
        // Redis lost quota counters: seed them from the durable record (outside the breaker: a database error is
        // not a Redis failure), then charge again with the seeds, which the script writes only if still missing.
        const seeds = await seedArgs(charges, remote.missing);
        remote = await viaRedis(() => chargeRedis(charges, at, seeds, slot));
      }
      if (remote && !('missing' in remote)) {
        const refused = remote.items.findIndex((r) => !r.allowed);
        const slotState = slot ? (remote.slot === 1 ? 'taken' : remote.slot === 0 ? 'full' : undefined) : undefined;
        return {
          allowed: remote.ok,
          store: 'redis',
          items: remote.items,
          refused,
          failedClosed: false,
          ...(slotState ? { slot: slotState } : {}),
        };
      }
      // Fallback (or no Redis at all): each class follows its fail mode.
      const modes = charges.map((c) => (redis ? opts.failModes[c.cls] : 'local'));
      const closed = modes.indexOf('closed');
      if (closed >= 0) {
        const items = charges.map(skipped);
        return { allowed: false, store: 'memory', items, refused: closed, failedClosed: true };
      }
      const local = charges.filter((_, i) => modes[i] === 'local');
      await seedLocal(local, at);
      const localResults = chargeMemory(local, at);
      let j = 0;
      const items = charges.map((_, i) => (modes[i] === 'local' ? (localResults[j++] ?? skipped()) : skipped()));
      const refused = items.findIndex((r) => !r.allowed);
      return {
        allowed: refused < 0,
        store: local.length > 0 ? 'memory' : 'none',
        items,
        refused,
        failedClosed: false,
        ...(slot ? { slot: 'local' as const } : {}),
      };
    },

    async adjust(charges, deltas, where, release) {
      const pairs = charges.map((c, i) => ({ c, d: deltas[i] ?? 0 })).filter((p) => p.d !== 0);
      if (where === 'redis') {
        if (!commands || (pairs.length === 0 && !release)) return;
        const at = now();
        const keys = pairs.map((p) => keyOf(p.c));
        const args: string[] = [String(keys.length)];
        for (const p of pairs) args.push(...specArgs(p.c.spec, at), String(p.d));
        if (release) {
          keys.push(release.key);
          args.push(release.leaseId);
        }
        // A failed reconcile leaves the reservation charged: the error is on the user's side of safe. A failed
        // release leaves the lease to lapse after its lease time, as a dead process' would.
        await viaRedis(() => commands.limitsAdjust(String(keys.length), ...keys, ...args));
        return;
      }
      if (pairs.length === 0 || where === 'none') return;
      const at = now();
      for (const { c, d } of pairs) {
        const key = keyOf(c);
        const spec = localSpec(c, key);
        const cur = memoryRead(key, at);
        if (spec.kind === 'rate') {
          const t = spec.periodMs / spec.rate;
          const base = d > 0 ? Math.max(cur ?? at, at) : cur;
          if (base === undefined) continue;
          const next = base + t * d;
          if (next <= at) memory.delete(key);
          else store(key, next, next);
        } else {
          if (cur === undefined && d < 0) continue;
          store(key, Math.max(0, (cur ?? 0) + d), spec.windowEnd + QUOTA_SLACK_MS);
        }
      }
    },

    async peek(charges) {
      if (charges.length === 0) return { items: [], store: 'none' };
      const at = now();
      const remote = commands
        ? await viaRedis(async () => {
            const keys = charges.map(keyOf);
            return commands.limitsPeek(String(keys.length), ...keys);
          })
        : undefined;
      if (!remote) {
        await seedLocal(charges, at);
        return { items: chargeMemory(charges, at, true), store: 'memory' };
      }
      const redisNow = Number(remote[0]);
      // Quota counters Redis lost are seeded here too, so usage reads right before the next charge.
      const lost = opts.quotaSeed
        ? charges.flatMap((c, i) => (c.spec.kind === 'quota' && remote[i + 1] === '' ? [i] : []))
        : [];
      if (lost.length > 0) {
        const lostCharges = lost.map((i) => ({ ...(charges[i] as Charge), cost: 0 }));
        const seeds = await seedArgs(
          lostCharges,
          lostCharges.map((_, j) => j),
        );
        const seeded = await viaRedis(() => chargeRedis(lostCharges, at, seeds));
        if (seeded && !('missing' in seeded)) {
          for (const [j, i] of lost.entries()) remote[i + 1] = String(seeded.items[j]?.used ?? '');
        }
      }
      const items = charges.map((c, i): ItemResult => {
        const raw = remote[i + 1];
        const v = raw === undefined || raw === '' ? undefined : Number(raw);
        if (c.spec.kind === 'rate') {
          const t = c.spec.periodMs / c.spec.rate;
          const tat = v === undefined || v < redisNow ? redisNow : v;
          const remaining = Math.max(0, Math.min(c.spec.burst, Math.floor((redisNow - (tat - t * c.spec.burst)) / t)));
          return { allowed: true, limit: c.spec.burst, remaining, resetMs: tat - redisNow, retryAfterMs: 0, used: 0 };
        }
        const used = v ?? 0;
        return {
          allowed: used < c.spec.limit,
          limit: c.spec.limit,
          remaining: Math.max(0, Math.floor(c.spec.limit - used)),
          resetMs: Math.max(0, c.spec.windowEnd - at),
          retryAfterMs: 0,
          used,
        };
      });
      return { items, store: 'redis' };
    },

    usingFallback: () => redis === null || breaker.isOpen(),
  };
}
