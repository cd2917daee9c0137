import type { UsageItem } from '@genz/contracts';
import type { Db } from '@genz/db';
import { quotaUsage, writeAuditEvent } from '@genz/db';
import { settings, users } from '@genz/db/schema';
import { eq } from 'drizzle-orm';
import type { AppConfig } from '../../config/index.ts';
import type { Actor } from '../../http/actor.ts';
import { DomainError } from '../../http/errors.ts';
import {
  type Charge,
  type ChargeEngine,
  type ChargeResult,
  type ChargeStore,
  dayWindow,
  type ItemResult,
  monthWindow,
  type SlotRequest,
  userHashTag,
} from './charges.ts';
import { type ConcurrencyLimiter, concurrencyRedisKey } from './concurrency.ts';

type Limits = AppConfig['limits'];
export type PlanLimits = Limits['defaults'];
/** Admin overrides of one user: each key given replaces the plan's (null: no limit). */
export type LimitOverrides = Partial<PlanLimits>;

/**
 * The concurrency-cap key of a user's generations; chats (modules/chats) and /v1 share it, so they share the cap.
 * It carries the user's hash tag, as the user's limit keys do, so one script can charge both (`admit`).
 */
export const generationsKey = (userId: string) => `chat-gen:${userHashTag(userId)}:${userId}`;

const MICRO = 1_000_000;
const settingKey = (userId: string) => `limits.user.${userId}`;

export interface ReservationInput {
  /** Estimated prompt tokens. */
  promptTokens: number;
  /** The request's completion limit, if it set one, and the parameter name to blame for a bad one. */
  maxTokens: number | undefined;
  maxTokensParam: string;
  /** Largest context window among the alias' deployments (a max_tokens above it is refused). */
  contextWindow: number;
  /** Highest USD price per token among the alias' deployments (the reservation assumes the dearest). */
  pricePerInputToken: number;
  pricePerOutputToken: number;
  /** Completion tokens to reserve instead of the max_tokens rule (0 for embeddings). */
  completionTokens?: number;
}

export interface ActualUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** A token (and cost) reservation: charged before the call, reconciled once with what the call really used. */
export interface Reservation {
  readonly tokens: number;
  readonly costUsd: number;
  readonly store: ChargeStore;
  /** Reconciles with the real usage (undefined: unknown, the reservation stays charged). Idempotent. */
  settle(actual: ActualUsage | undefined): Promise<void>;
  /** Refunds everything (the call never reached a model). Idempotent. */
  release(): Promise<void>;
}

/**
 * One admitted model call (`admit`): its request rates (if they were deferred to it), token and cost reservation and
 * generation slot were all taken in one Redis call; `settle` and `release` reconcile and free them in one more.
 */
export interface Admission extends Reservation {
  /** RateLimit-* of the tightest request rate charged here (empty when none was). */
  readonly headers: Record<string, string>;
  /** Frees the generation slot only (idempotent; a later settle or release then only reconciles). */
  freeSlot(): Promise<void>;
}

export interface AdmitOptions {
  /** Charge the request rates (user, API key) here too: the request hook deferred them to this call. */
  requestRates: boolean;
  /** Take a slot of the simultaneous-generations cap under this lease id (renewed until freed). */
  generation?: { leaseId: string; leaseMs: number };
}

export type DecisionOutcome = 'allowed' | 'limited' | 'failed_closed';

export interface LimitsServiceDeps {
  config: AppConfig;
  db: Db;
  engine: ChargeEngine;
  concurrency: ConcurrencyLimiter;
  now?: () => number;
  onDecision?: (policy: string, outcome: DecisionOutcome) => void;
}

/**
 * The charge engine's `quotaSeed`: a quota counter's durable use in its window, from usage_events (tokens as input
 * + output, cost in micro-USD like the charges). The charges of one call share their tag, the user; `key_` policies
 * count only their API key's calls.
 */
export function usageQuotaSeed(db: Db) {
  return async (charges: Charge[]): Promise<number[]> => {
    const userId = charges[0]?.tag;
    if (!userId) return [];
    const windows = charges.map((c) => ({
      from: new Date(c.spec.kind === 'quota' ? c.spec.windowStart : 0),
      to: new Date(c.spec.kind === 'quota' ? c.spec.windowEnd : 0),
      measure: c.unit === 'cost' ? ('cost' as const) : ('tokens' as const),
      ...(c.policy.startsWith('key_') ? { apiKeyId: c.subject } : {}),
    }));
    const values = await quotaUsage(db, userId, windows);
    return values.map((v, i) => (charges[i]?.unit === 'cost' ? Math.ceil(v * MICRO) : v));
  };
}

/** RateLimit-* and Retry-After of one decision (whole seconds; Retry-After rounded up, so never early). */
export function limitHeaders(item: ItemResult, refused: boolean, fallbackRetryMs = 1000): Record<string, string> {
  const headers: Record<string, string> = {
    'ratelimit-limit': String(Math.floor(item.limit)),
    'ratelimit-remaining': String(Math.max(0, Math.floor(item.remaining))),
    'ratelimit-reset': String(Math.ceil(item.resetMs / 1000)),
  };
  if (refused) {
    const ms = Number.isFinite(item.retryAfterMs) ? item.retryAfterMs || fallbackRetryMs : 3_600_000;
    headers['retry-after'] = String(Math.max(1, Math.ceil(ms / 1000)));
  }
  return headers;
}

/** The item an admitted response advertises in RateLimit-*: the one with the least room left. */
export function tightest(items: ItemResult[]): ItemResult | undefined {
  let best: ItemResult | undefined;
  for (const i of items) {
    if (i.limit <= 0) continue;
    if (!best || i.remaining / i.limit < best.remaining / best.limit) best = i;
  }
  return best;
}

/**
 * Every per-plan limit (ARCHITECTURE.md §12: one owner): resolves a user's limits (plan over defaults, then admin
 * overrides), checks request rates, reserves and reconciles tokens and cost, caps simultaneous generations, and
 * reports usage. Knows nothing of HTTP beyond the DomainErrors (429/503 with their headers) it throws.
 */
export function createLimitsService(deps: LimitsServiceDeps) {
  const { config, db, engine, concurrency } = deps;
  const limits = config.limits;
  const now = deps.now ?? Date.now;
  /** Per user: the admin overrides and, per plan, the merged limits (computed once per entry, not per call). */
  const overrideCache = new Map<
    string,
    { value: LimitOverrides | null; exp: number; plan?: string; merged?: PlanLimits }
  >();
  const planCache = new Map<string, PlanLimits>();

  async function overridesOf(userId: string): Promise<LimitOverrides | null> {
    const cached = overrideCache.get(userId);
    if (cached && cached.exp > now()) return cached.value;
    return (await load(userId)).value;
  }

  async function load(userId: string) {
    const [row] = await db
      .select({ value: settings.value })
      .from(settings)
      .where(eq(settings.key, settingKey(userId)))
      .limit(1);
    const value = (row?.value as LimitOverrides | undefined) ?? null;
    const entry = { value, exp: now() + limits.overrideCacheTtlMs };
    overrideCache.delete(userId);
    overrideCache.set(userId, entry);
    if (overrideCache.size > limits.memoryMaxKeys) {
      for (const k of overrideCache.keys())
        if (overrideCache.size > limits.memoryMaxKeys * 0.9) overrideCache.delete(k);
    }
    return entry;
  }

  /** Plan over defaults, once per configured plan (an unknown plan gets the defaults); frozen, as they are shared. */
  const defaultLimits = Object.freeze({ ...limits.defaults }) as PlanLimits;
  function planLimits(plan: string): PlanLimits {
    if (!Object.hasOwn(limits.plans, plan)) return defaultLimits;
    let l = planCache.get(plan);
    if (!l) {
      l = Object.freeze({ ...limits.defaults, ...(limits.plans[plan] ?? {}) }) as PlanLimits;
      planCache.set(plan, l);
    }
    return l;
  }

  /**
   * A user's limits: plan over defaults, then admin overrides. A request asks three times (request rate, token
   * reservation, generation cap): the merged object is kept on the cache entry, so the later asks are a lookup
   * with no await (`effectiveNow`) and no object spread.
   */
  function effectiveNow(userId: string, plan: string): PlanLimits | undefined {
    const cached = overrideCache.get(userId);
    if (!cached || cached.exp <= now()) return undefined;
    if (cached.plan !== plan || !cached.merged) {
      cached.plan = plan;
      cached.merged = cached.value
        ? (Object.freeze({ ...planLimits(plan), ...cached.value }) as PlanLimits)
        : planLimits(plan);
    }
    return cached.merged;
  }

  async function effective(userId: string, plan: string): Promise<PlanLimits> {
    const known = effectiveNow(userId, plan);
    if (known) return known;
    await load(userId);
    return effectiveNow(userId, plan) ?? planLimits(plan);
  }

  function decide(result: ChargeResult, charges: Charge[]) {
    if (!deps.onDecision) return;
    if (result.allowed) for (const c of charges) deps.onDecision(c.policy, 'allowed');
    else {
      const c = charges[result.refused];
      if (c) deps.onDecision(c.policy, result.failedClosed ? 'failed_closed' : 'limited');
    }
  }

  /** Throws the 429 (or 503 for a fail-closed outage) a refused charge deserves. */
  function refusal(result: ChargeResult, charges: Charge[]): DomainError {
    const item = result.items[result.refused];
    const charge = charges[result.refused];
    if (result.failedClosed || !item || !charge) {
      return new DomainError('unavailable', 'Limits cannot be checked right now; try again shortly.', {
        headers: { 'retry-after': String(Math.max(1, Math.ceil(limits.redisBreakerMs / 1000))) },
      });
    }
    const headers = limitHeaders(item, true);
    if (charge.spec.kind === 'quota') {
      const what = charge.unit === 'cost' ? 'cost budget' : 'token quota';
      const period = charge.policy.endsWith('_day') ? 'day' : 'month';
      return new DomainError(
        'quota_exceeded',
        `The ${charge.policy.startsWith('key_') ? "API key's" : 'your'} ${what} for this ${period} is used up; it resets in ${headers['retry-after']} s.`,
        { headers },
      );
    }
    if (!Number.isFinite(item.retryAfterMs)) {
      return new DomainError(
        'rate_limited',
        `This request needs more ${charge.unit} at once than the ${charge.policy} limit allows (${item.limit}); lower max_tokens or shorten the prompt.`,
        { headers },
      );
    }
    return new DomainError('rate_limited', `Too many ${charge.unit}: the ${charge.policy} limit is reached.`, {
      headers,
    });
  }

  function generationsRefusal(cap: number): DomainError {
    deps.onDecision?.('user_generations', 'limited');
    return new DomainError(
      'rate_limited',
      `At most ${cap} replies may be generating at once; wait for one to finish.`,
      {
        headers: {
          'retry-after': '1',
          'ratelimit-limit': String(cap),
          'ratelimit-remaining': '0',
          'ratelimit-reset': '1',
        },
      },
    );
  }

  /**
   * The held generation leases of one lease time, renewed together by one timer (a timer per generation was a
   * visible share of a /v1 request's CPU). A lease is renewed at most `every` after it was taken, and then every
   * `every`, as its own timer did; the timer stops when no lease of that time is held.
   */
  const renewers = new Map<number, { timer: NodeJS.Timeout; leases: Set<{ key: string; leaseId: string }> }>();

  /** Keeps a held generation lease alive until `stop` (a process that dies stops renewing: the lease lapses). */
  function renewing(key: string, leaseId: string, leaseMs: number) {
    let renewer = renewers.get(leaseMs);
    if (!renewer) {
      const leases = new Set<{ key: string; leaseId: string }>();
      const timer = setInterval(
        () => {
          for (const l of leases) void concurrency.renew(l.key, l.leaseId, leaseMs).catch(() => {});
        },
        Math.max(100, Math.floor(leaseMs / 3)),
      );
      timer.unref();
      renewer = { timer, leases };
      renewers.set(leaseMs, renewer);
    }
    const held = renewer;
    const lease = { key, leaseId };
    held.leases.add(lease);
    return () => {
      if (!held.leases.delete(lease) || held.leases.size > 0) return;
      clearInterval(held.timer);
      if (renewers.get(leaseMs) === held) renewers.delete(leaseMs);
    };
  }

  /** max_tokens checks and the reservation's size (tokens, micro-USD) of a model call. */
  function reservationSize(input: ReservationInput) {
    const ceiling = Math.min(limits.maxTokensCeiling, input.contextWindow);
    if (input.maxTokens !== undefined && (!Number.isInteger(input.maxTokens) || input.maxTokens < 1)) {
      throw new DomainError('validation_failed', `${input.maxTokensParam} must be a positive integer`, {
        param: input.maxTokensParam,
      });
    }
    if (input.maxTokens !== undefined && input.maxTokens > ceiling) {
      throw new DomainError(
        'validation_failed',
        `${input.maxTokensParam} must be at most ${ceiling} for this model (got ${input.maxTokens})`,
        { param: input.maxTokensParam },
      );
    }
    const completion =
      input.completionTokens ??
      Math.min(input.maxTokens ?? limits.defaultCompletionTokens, limits.reservationMaxCompletionTokens);
    const prompt = Math.max(0, Math.ceil(input.promptTokens));
    const tokens = prompt + completion;
    const costUsd = prompt * input.pricePerInputToken + completion * input.pricePerOutputToken;
    return { tokens, costUsd, costMicro: Math.ceil(costUsd * MICRO) };
  }

  function requestCharges(actor: Actor, l: PlanLimits): Charge[] {
    const charges: Charge[] = [];
    const tag = actor.userId;
    if (l.requests) {
      charges.push({
        policy: 'user_rpm',
        cls: 'requests',
        unit: 'requests',
        subject: actor.userId,
        tag,
        spec: { kind: 'rate', ...l.requests },
        cost: 1,
      });
    }
    if (actor.apiKeyId && l.apiKeyRequests) {
      charges.push({
        policy: 'key_rpm',
        cls: 'requests',
        unit: 'requests',
        subject: actor.apiKeyId,
        tag,
        spec: { kind: 'rate', ...l.apiKeyRequests },
        cost: 1,
      });
    }
    return charges;
  }

  function tokenCharges(actor: Actor, l: PlanLimits, tokens: number, costMicro: number, at: number): Charge[] {
    const tag = actor.userId;
    const charges: Charge[] = [];
    const day = dayWindow(at);
    const month = monthWindow(at);
    const add = (
      policy: string,
      subject: string,
      cls: Charge['cls'],
      unit: Charge['unit'],
      spec: Charge['spec'],
      cost: number,
    ) => {
      charges.push({ policy, cls, unit, subject, tag, spec, cost });
    };
    const keyId = actor.apiKeyId;
    if (l.tokens) add('user_tpm', actor.userId, 'tokens', 'tokens', { kind: 'rate', ...l.tokens }, tokens);
    if (keyId && l.apiKeyTokens) add('key_tpm', keyId, 'tokens', 'tokens', { kind: 'rate', ...l.apiKeyTokens }, tokens);
    if (l.tokensPerDay)
      add(
        'user_tokens_day',
        actor.userId,
        'quotas',
        'tokens',
        { kind: 'quota', limit: l.tokensPerDay, ...day },
        tokens,
      );
    if (l.tokensPerMonth) {
      const spec = { kind: 'quota' as const, limit: l.tokensPerMonth, ...month };
      add('user_tokens_month', actor.userId, 'quotas', 'tokens', spec, tokens);
    }
    if (keyId && l.apiKeyTokensPerDay) {
      add('key_tokens_day', keyId, 'quotas', 'tokens', { kind: 'quota', limit: l.apiKeyTokensPerDay, ...day }, tokens);
    }
    if (keyId && l.apiKeyTokensPerMonth) {
      const spec = { kind: 'quota' as const, limit: l.apiKeyTokensPerMonth, ...month };
      add('key_tokens_month', keyId, 'quotas', 'tokens', spec, tokens);
    }
    if (l.costPerMonthUsd && costMicro > 0) {
      const spec = { kind: 'quota' as const, limit: Math.round(l.costPerMonthUsd * MICRO), ...month };
      add('user_cost_month', actor.userId, 'quotas', 'cost', spec, costMicro);
    }
    return charges;
  }

  return {
    effective,
    planLimits,
    /** A generation slot lives this long unless renewed (a dead process frees it by itself), as chats does. */
    generationLeaseMs: config.chats.staleAfterMs,

    /**
     * Request rates of an authenticated request (per user, per API key) in one atomic charge. Returns the
     * RateLimit-* headers for the response; throws 429 (or 503 when a fail-closed limit cannot be checked).
     */
    async checkRequest(actor: Actor): Promise<Record<string, string>> {
      const l = effectiveNow(actor.userId, actor.plan) ?? (await effective(actor.userId, actor.plan));
      const charges = requestCharges(actor, l);
      const result = await engine.charge(charges);
      decide(result, charges);
      if (!result.allowed) throw refusal(result, charges);
      const item = tightest(result.items);
      return item ? limitHeaders(item, false) : {};
    },

    /**
     * Reserves the prompt estimate plus the (capped) completion budget against every token limit and the cost
     * budget, all or nothing. A burst of concurrent calls can overshoot a limit by at most what the calls in
     * flight actually use beyond their reservations. /v1 calls it; chats can call it the same way.
     */
    async reserve(actor: Actor, input: ReservationInput): Promise<Reservation> {
      const { tokens, costUsd, costMicro } = reservationSize(input);
      const l = effectiveNow(actor.userId, actor.plan) ?? (await effective(actor.userId, actor.plan));
      const charges = tokenCharges(actor, l, tokens, costMicro, now());
      const result = await engine.charge(charges);
      decide(result, charges);
      if (!result.allowed) throw refusal(result, charges);
      let settled = false;
      const reconcile = async (actualTokens: number, actualMicro: number) => {
        if (settled) return;
        settled = true;
        const deltas = charges.map((c) => (c.unit === 'cost' ? actualMicro - costMicro : actualTokens - tokens));
        await engine.adjust(charges, deltas, result.store);
      };
      return {
        tokens,
        costUsd,
        store: result.store,
        async settle(actual) {
          if (!actual) {
            settled = true;
            return;
          }
          await reconcile(actual.inputTokens + actual.outputTokens, Math.ceil(actual.costUsd * MICRO));
        },
        release: () => reconcile(0, 0),
      };
    },

    /** Simultaneous generations: the cap of the user's plan (or override), or null when unlimited. */
    async generationsCap(actor: Pick<Actor, 'userId' | 'plan'>): Promise<number | null> {
      return (effectiveNow(actor.userId, actor.plan) ?? (await effective(actor.userId, actor.plan)))
        .concurrentGenerations;
    },

    /** Takes a generation slot or throws 429 with Retry-After. Returns the release function. */
    async acquireGeneration(actor: Actor, leaseId: string, leaseMs: number): Promise<() => Promise<void>> {
      const cap = (effectiveNow(actor.userId, actor.plan) ?? (await effective(actor.userId, actor.plan)))
        .concurrentGenerations;
      if (cap === null) return async () => {};
      const key = generationsKey(actor.userId);
      if (!(await concurrency.acquire(key, leaseId, cap, leaseMs))) throw generationsRefusal(cap);
      deps.onDecision?.('user_generations', 'allowed');
      const stop = renewing(key, leaseId, leaseMs);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        stop();
        await concurrency.release(key, leaseId).catch(() => {});
      };
    },

    /**
     * A model call's whole admission in one Redis call (ADR 060): the request rates when the request hook deferred
     * them (`requestRates`), the token and cost reservation, and a generation slot, all or nothing. Throws the 429
     * (or 503, 400 for a bad max_tokens) of the first limit that refuses, request rates first. Without Redis (or
     * while it fails) the same decisions are made on the local share, the slot by the concurrency limiter.
     */
    async admit(actor: Actor, input: ReservationInput, opts: AdmitOptions): Promise<Admission> {
      const { tokens, costUsd, costMicro } = reservationSize(input);
      const l = effectiveNow(actor.userId, actor.plan) ?? (await effective(actor.userId, actor.plan));
      const rates = opts.requestRates ? requestCharges(actor, l) : [];
      const reserved = tokenCharges(actor, l, tokens, costMicro, now());
      const charges = rates.length > 0 ? [...rates, ...reserved] : reserved;
      const cap = opts.generation ? l.concurrentGenerations : null;
      const slotKey = generationsKey(actor.userId);
      const lease = opts.generation;
      const slot =
        cap !== null && lease
          ? { key: concurrencyRedisKey(slotKey), leaseId: lease.leaseId, max: cap, leaseMs: lease.leaseMs }
          : undefined;
      const result = await engine.charge(charges, slot);
      if (result.slot === 'full' && cap !== null) throw generationsRefusal(cap);
      decide(result, charges);
      if (!result.allowed) throw refusal(result, charges);
      let slotHeld = slot !== undefined;
      let slotInRedis = result.slot === 'taken';
      if (result.slot === 'local' && slot && cap !== null) {
        // Decided without Redis: the slot comes from the concurrency limiter's local share (or its fail mode).
        if (!(await concurrency.acquire(slotKey, slot.leaseId, cap, slot.leaseMs))) {
          await engine.adjust(
            charges,
            charges.map((c) => -c.cost),
            result.store,
          );
          throw generationsRefusal(cap);
        }
        slotInRedis = false;
      }
      if (slot) deps.onDecision?.('user_generations', 'allowed');
      const stopRenew = slot ? renewing(slotKey, slot.leaseId, slot.leaseMs) : () => {};

      /** Takes the slot out of our hands; returns how to free it with the next Redis call (if it is in Redis). */
      const takeSlot = (): Pick<SlotRequest, 'key' | 'leaseId'> | undefined => {
        if (!slot || !slotHeld) return undefined;
        slotHeld = false;
        stopRenew();
        if (slotInRedis && result.store === 'redis') return { key: slot.key, leaseId: slot.leaseId };
        // Taken locally (or the Redis call that would free it is not ours to make): the limiter frees it everywhere.
        void concurrency.release(slotKey, slot.leaseId).catch(() => {});
        return undefined;
      };
      let settled = false;
      const finish = async (actualTokens: number | undefined, actualMicro: number) => {
        const release = takeSlot();
        // Reconcile only the reservation: the request rates stay charged.
        const deltas =
          settled || actualTokens === undefined
            ? []
            : charges.map((c, i) =>
                i < rates.length ? 0 : c.unit === 'cost' ? actualMicro - costMicro : actualTokens - tokens,
              );
        settled = true;
        if (deltas.length === 0 && !release) return;
        await engine.adjust(charges, deltas, result.store, release);
      };
      const headers = (() => {
        if (rates.length === 0) return {};
        const item = tightest(result.items.slice(0, rates.length));
        return item ? limitHeaders(item, false) : {};
      })();
      return {
        tokens,
        costUsd,
        store: result.store,
        headers,
        async settle(actual) {
          if (!actual) return finish(undefined, 0);
          return finish(actual.inputTokens + actual.outputTokens, Math.ceil(actual.costUsd * MICRO));
        },
        release: () => finish(0, 0),
        async freeSlot() {
          const release = takeSlot();
          if (release) await engine.adjust([], [], 'redis', release);
        },
      };
    },

    /** GET /api/me/usage: every limit of the user (and of the calling API key) with its current use. */
    async usage(actor: Actor): Promise<{ plan: string; overridden: boolean; store: ChargeStore; items: UsageItem[] }> {
      const l = await effective(actor.userId, actor.plan);
      const at = now();
      const charges = [...requestCharges(actor, l), ...tokenCharges(actor, l, 0, 1, at)];
      const { items, store } = await engine.peek(charges);
      const out: UsageItem[] = charges.map((c, i) => {
        const item = items[i] ?? { limit: 0, remaining: 0, used: 0, resetMs: 0 };
        const scale = c.unit === 'cost' ? MICRO : 1;
        const used = c.spec.kind === 'quota' ? item.used : item.limit - item.remaining;
        return {
          policy: c.policy,
          scope: c.policy.startsWith('key_') ? 'api_key' : 'user',
          unit: c.unit === 'cost' ? 'usd' : c.unit,
          kind: c.spec.kind,
          limit: item.limit / scale,
          used: Math.max(0, used) / scale,
          remaining: item.remaining / scale,
          resetAt: new Date(at + item.resetMs).toISOString(),
        };
      });
      const generations = l.concurrentGenerations;
      if (generations !== null) {
        const live = await concurrency.count(generationsKey(actor.userId));
        out.push({
          policy: 'user_generations',
          scope: 'user',
          unit: 'requests',
          kind: 'rate',
          limit: generations,
          used: live,
          remaining: Math.max(0, generations - live),
          resetAt: new Date(at).toISOString(),
        });
      }
      return { plan: actor.plan, overridden: (await overridesOf(actor.userId)) !== null, store, items: out };
    },

    // ---------- admin ----------

    async getOverrides(userId: string) {
      const [user] = await db.select({ plan: users.plan }).from(users).where(eq(users.id, userId)).limit(1);
      if (!user) throw new DomainError('not_found', 'User not found');
      overrideCache.delete(userId);
      const overrides = await overridesOf(userId);
      return { userId, plan: user.plan, overrides: overrides ?? {}, effective: await effective(userId, user.plan) };
    },

    async setOverrides(admin: Actor, userId: string, overrides: LimitOverrides | null, ip: string | null) {
      await db.transaction(async (tx) => {
        const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).limit(1);
        if (!user) throw new DomainError('not_found', 'User not found');
        if (overrides === null || Object.keys(overrides).length === 0) {
          await tx.delete(settings).where(eq(settings.key, settingKey(userId)));
        } else {
          await tx
            .insert(settings)
            .values({ key: settingKey(userId), value: overrides, updatedBy: admin.userId })
            .onConflictDoUpdate({
              target: settings.key,
              set: { value: overrides, updatedBy: admin.userId, updatedAt: new Date() },
            });
        }
        await writeAuditEvent(tx as unknown as Db, {
          event: 'user.limits_changed',
          actorUserId: admin.userId,
          targetType: 'user',
          targetId: userId,
          ip,
          data: { overrides: overrides ?? {} },
        });
      });
      overrideCache.delete(userId);
      return this.getOverrides(userId);
    },
  };
}

export type LimitsService = ReturnType<typeof createLimitsService>;
