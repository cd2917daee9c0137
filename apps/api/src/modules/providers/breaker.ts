import type { RedisClient } from '../../infra/redis.ts';

export type CircuitState = 'closed' | 'half_open' | 'open';

/** The shared record of one deployment's breaker. `open` past `openUntil` reads as half-open. */
export interface BreakerRecord {
  state: 'closed' | 'open';
  failures: number;
  openUntil: number;
  /** When a half-open probe last closed it: traffic ramps up from here. */
  closedAt: number;
  /** Counts every transition, so a sync that read the store before a local transition cannot undo it. */
  version: number;
}

export interface BreakerPolicy {
  failureThreshold: number;
  openMs: number;
}

/** Where breaker records live: this process (no Redis) or a Redis hash every replica reads. */
export interface BreakerStore {
  record(id: string, outcome: 'fail' | 'ok', policy: BreakerPolicy): Promise<BreakerRecord>;
  all(): Promise<Map<string, BreakerRecord>>;
}

const fresh = (): BreakerRecord => ({ state: 'closed', failures: 0, openUntil: 0, closedAt: 0, version: 0 });

/** The transition function, shared by the memory store and (as Lua) the Redis store. */
export function transition(
  s: BreakerRecord,
  outcome: 'fail' | 'ok',
  now: number,
  policy: BreakerPolicy,
): BreakerRecord {
  const next = { ...s, version: (s.version ?? 0) + 1 };
  if (outcome === 'fail') {
    next.failures += 1;
    if (next.state === 'closed') {
      if (next.failures >= policy.failureThreshold) {
        next.state = 'open';
        next.openUntil = now + policy.openMs;
      }
    } else if (now >= next.openUntil) {
      next.openUntil = now + policy.openMs; // a failed half-open probe re-opens
    }
  } else if (next.state === 'open') {
    if (now >= next.openUntil) {
      next.state = 'closed';
      next.failures = 0;
      next.closedAt = now;
    } // a late success from before the breaker opened does not close it
  } else {
    next.failures = 0;
  }
  return next;
}

export function memoryBreakerStore(clock: () => number = Date.now): BreakerStore {
  const records = new Map<string, BreakerRecord>();
  return {
    async record(id, outcome, policy) {
      const next = transition(records.get(id) ?? fresh(), outcome, clock(), policy);
      records.set(id, next);
      return next;
    },
    async all() {
      return new Map(records);
    },
  };
}

const LUA = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local s
if raw then s = cjson.decode(raw) else s = { state = 'closed', failures = 0, openUntil = 0, closedAt = 0, version = 0 } end
s.version = (s.version or 0) + 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local threshold = tonumber(ARGV[3])
local openMs = tonumber(ARGV[4])
if ARGV[2] == 'fail' then
  s.failures = s.failures + 1
  if s.state == 'closed' then
    if s.failures >= threshold then s.state = 'open'; s.openUntil = now + openMs end
  elseif now >= s.openUntil then
    s.openUntil = now + openMs
  end
elseif s.state == 'open' then
  if now >= s.openUntil then s.state = 'closed'; s.failures = 0; s.closedAt = now end
else
  s.failures = 0
end
raw = cjson.encode(s)
redis.call('HSET', KEYS[1], ARGV[1], raw)
redis.call('PEXPIRE', KEYS[1], 86400000)
return raw
`;

/**
 * Breaker records in one Redis hash, changed atomically by a Lua script timed by the Redis clock, so every replica
 * sees a deployment opened by failures it never saw itself (ARCHITECTURE §2: shared state lives in Redis).
 */
export function redisBreakerStore(redis: RedisClient, key = 'providers:breakers'): BreakerStore {
  return {
    async record(id, outcome, policy) {
      const raw = (await redis.eval(LUA, 1, key, id, outcome, policy.failureThreshold, policy.openMs)) as string;
      return JSON.parse(raw) as BreakerRecord;
    },
    async all() {
      const hash = await redis.hgetall(key);
      return new Map(Object.entries(hash).map(([id, raw]) => [id, JSON.parse(raw) as BreakerRecord]));
    },
  };
}

/**
 * This replica's view of every breaker: read on the hot path without I/O, refreshed from the store every
 * `syncMs` and immediately after a local transition. Half-open admits a bounded number of local probes.
 */
export class Breakers {
  private readonly view = new Map<string, BreakerRecord>();
  private readonly probes = new Map<string, number>();
  private readonly store: BreakerStore;
  private readonly fallback: BreakerStore;
  private readonly policy: BreakerPolicy;
  private readonly halfOpenProbes: number;
  private readonly rampUpMs: number;
  private readonly clock: () => number;
  onChange: ((id: string, state: CircuitState) => void) | undefined;
  onStoreError: ((err: unknown) => void) | undefined;

  constructor(options: {
    store: BreakerStore;
    policy: BreakerPolicy;
    halfOpenProbes: number;
    rampUpMs: number;
    clock?: () => number;
  }) {
    this.store = options.store;
    this.fallback = memoryBreakerStore(options.clock);
    this.policy = options.policy;
    this.halfOpenProbes = options.halfOpenProbes;
    this.rampUpMs = options.rampUpMs;
    this.clock = options.clock ?? Date.now;
  }

  state(id: string, now = this.clock()): CircuitState {
    const r = this.view.get(id);
    if (!r || r.state === 'closed') return 'closed';
    return now >= r.openUntil ? 'half_open' : 'open';
  }

  /** Until when an open breaker stays shut (for Retry-After), or 0. */
  openUntil(id: string): number {
    const r = this.view.get(id);
    return r?.state === 'open' ? r.openUntil : 0;
  }

  /** May a request go to this deployment now? Half-open lets `halfOpenProbes` through at a time. */
  admit(id: string): { ok: boolean; probe: boolean } {
    const state = this.state(id);
    if (state === 'closed') return { ok: true, probe: false };
    if (state === 'open') return { ok: false, probe: false };
    const inFlight = this.probes.get(id) ?? 0;
    if (inFlight >= this.halfOpenProbes) return { ok: false, probe: false };
    this.probes.set(id, inFlight + 1);
    return { ok: true, probe: true };
  }

  releaseProbe(id: string): void {
    const n = this.probes.get(id) ?? 0;
    if (n <= 1) this.probes.delete(id);
    else this.probes.set(id, n - 1);
  }

  /** 0.1 -> 1 over rampUpMs after a recovery, so a recovered deployment is eased back into traffic. */
  ramp(id: string, now = this.clock()): number {
    const r = this.view.get(id);
    if (!r || r.closedAt === 0 || r.state !== 'closed' || this.rampUpMs === 0) return 1;
    const elapsed = now - r.closedAt;
    return elapsed >= this.rampUpMs ? 1 : 0.1 + (0.9 * elapsed) / this.rampUpMs;
  }

  async recordFailure(id: string): Promise<void> {
    await this.apply(id, 'fail');
  }

  async recordSuccess(id: string): Promise<void> {
    const r = this.view.get(id);
    if (!r || (r.state === 'closed' && r.failures === 0)) return; // the common case costs no I/O
    await this.apply(id, 'ok');
  }

  private async apply(id: string, outcome: 'fail' | 'ok'): Promise<void> {
    const before = this.state(id);
    let next: BreakerRecord;
    try {
      next = await this.store.record(id, outcome, this.policy);
    } catch (err) {
      this.onStoreError?.(err);
      next = await this.fallback.record(id, outcome, this.policy);
    }
    this.view.set(id, next);
    const after = this.state(id);
    if (after !== before) this.onChange?.(id, after);
  }

  async sync(): Promise<void> {
    const all = await this.store.all();
    for (const [id, record] of all) {
      const current = this.view.get(id);
      if (current && (record.version ?? 0) < current.version) continue; // read before our own newer transition
      const before = this.state(id);
      this.view.set(id, record);
      const after = this.state(id);
      if (after !== before) this.onChange?.(id, after);
    }
  }
}
