/**
 * GCRA (generic cell rate algorithm, ADR 020). A key's whole state is one number, its theoretical arrival time
 * (TAT): the moment the bucket would be empty again. A request of `cost` moves TAT forward by cost × T (T = the
 * emission interval, periodMs / rate) and is admitted when the new TAT is at most `burst × T` ahead of now. There
 * are no windows, so there is no edge where two windows' allowances add up.
 */

/** A named limit. `name` is a metrics label: keep the set of names small and fixed. */
export interface RatePolicy {
  name: string;
  /** Requests (or cost units) per period, sustained. */
  rate: number;
  periodMs: number;
  /** Admitted back to back from an idle key; the most `remaining` can be. */
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  /** The policy's burst: what RateLimit-Limit reports. */
  limit: number;
  /** Requests that would still be admitted right now. */
  remaining: number;
  /** Until the key is back to a full burst. */
  resetMs: number;
  /** 0 when allowed; otherwise how long until this request would be admitted (Infinity if cost > burst). */
  retryAfterMs: number;
}

export function emissionIntervalMs(policy: RatePolicy): number {
  return policy.periodMs / policy.rate;
}

/** One GCRA step on a stored TAT (undefined = idle key). Returns the decision and the TAT to store (if admitted). */
export function gcraStep(
  tat: number | undefined,
  now: number,
  policy: RatePolicy,
  cost = 1,
): { decision: RateDecision; newTat: number | undefined } {
  const t = emissionIntervalMs(policy);
  const tau = t * policy.burst;
  const base = tat === undefined || tat < now ? now : tat;
  const newTat = base + t * cost;
  const allowAt = newTat - tau;
  if (allowAt > now) {
    return {
      decision: {
        allowed: false,
        limit: policy.burst,
        remaining: 0,
        resetMs: Math.max(0, base - now),
        retryAfterMs: cost > policy.burst ? Number.POSITIVE_INFINITY : allowAt - now,
      },
      newTat: undefined,
    };
  }
  return {
    decision: {
      allowed: true,
      limit: policy.burst,
      remaining: Math.floor((now - allowAt) / t),
      resetMs: newTat - now,
      retryAfterMs: 0,
    },
    newTat,
  };
}

/**
 * The same step, atomically in Redis, on the server's clock (TIME) so replicas with skewed clocks agree.
 * Numbers go back as strings: Redis truncates Lua numbers to integers in replies.
 * KEYS[1] = key; ARGV = emission interval ms, tolerance ms (burst × T), cost.
 */
export const GCRA_LUA = `
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + t * cost
local allow_at = new_tat - tau
if allow_at > now then
  return {0, '0', tostring(tat - now), tostring(allow_at - now)}
end
local ttl = math.ceil(new_tat - now)
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl)
return {1, tostring(math.floor((now - allow_at) / t)), tostring(new_tat - now), '0'}
`;
