import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';
import type { AppConfig } from '../../config/index.ts';
import { DomainError } from '../../http/errors.ts';
import { createRedisBreaker } from './breaker.ts';
import { createChargeEngine } from './charges.ts';
import { createConcurrencyLimiter } from './concurrency.ts';
import type { RateDecision, RatePolicy } from './gcra.ts';
import limitsRoutes from './limits.routes.ts';
import { createLimitsService, type DecisionOutcome, type LimitsService, usageQuotaSeed } from './limits.service.ts';
import { createRateLimiter, type RateLimiter } from './rate-limiter.ts';

export type { RateDecision, RatePolicy } from './gcra.ts';
export {
  generationsKey,
  type LimitsService,
  limitHeaders,
  type Reservation,
  type ReservationInput,
} from './limits.service.ts';
export { createRateLimiter, type RateLimiter } from './rate-limiter.ts';

export interface RateLimitApi extends RateLimiter {
  /**
   * Admit or throw 429 `rate_limited` with Retry-After and RateLimit-* headers. With `reply`, an admitted request
   * carries the RateLimit-* headers too.
   */
  enforce(key: string, policy: RatePolicy, options?: { cost?: number; reply?: FastifyReply }): Promise<RateDecision>;
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimit: RateLimitApi;
    /** Per-plan limits: request rates, token reservations, quotas, cost budget, generation cap, usage. */
    limits: LimitsService;
  }
}

const OUTCOMES: readonly DecisionOutcome[] = ['allowed', 'limited', 'failed_closed'];

/** RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers) in whole seconds, plus Retry-After on a refusal. */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'ratelimit-limit': String(decision.limit),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(Math.ceil(decision.resetMs / 1000)),
  };
  if (!decision.allowed) {
    const seconds = Number.isFinite(decision.retryAfterMs)
      ? Math.max(1, Math.ceil(decision.retryAfterMs / 1000))
      : 3600;
    headers['retry-after'] = String(seconds);
  }
  return headers;
}

export function rateLimitedError(decision: RateDecision, detail = 'Too many requests; try again later.'): DomainError {
  return new DomainError('rate_limited', detail, { headers: rateLimitHeaders(decision) });
}

/** Converts a config policy section (rate, periodMs, burst) into a named policy. */
export const policy = (name: string, p: { rate: number; periodMs: number; burst: number }): RatePolicy => ({
  name,
  rate: p.rate,
  periodMs: p.periodMs,
  burst: p.burst,
});

/**
 * `app.rateLimit`: the one limiter (ARCHITECTURE.md §12). Accounts uses it for auth throttles; the limits module
 * extends this plugin (per-plan RPM/TPM, quotas, concurrency) rather than adding a second limiter.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    /**
     * Decisions not yet added to the counter, per policy: a /v1 request makes seven (its rates, reservation and
     * slot), and a labelled `inc` hashes its labels every time. Plain numbers here, added when the counter is read
     * (a scrape, `get()`); policy names come from code and configuration, so the map stays small.
     */
    const pending = new Map<string, Record<DecisionOutcome, number>>();
    const decided = (policyName: string, outcome: DecisionOutcome) => {
      let t = pending.get(policyName);
      if (!t) {
        t = { allowed: 0, limited: 0, failed_closed: 0 };
        pending.set(policyName, t);
      }
      t[outcome]++;
    };
    new Counter({
      name: 'genz_ratelimit_decisions_total',
      help: 'Rate-limit decisions by policy and outcome (allowed | limited | failed_closed)',
      labelNames: ['policy', 'outcome'] as const,
      registers: [app.metrics.registry],
      collect() {
        for (const [policyName, t] of pending) {
          for (const outcome of OUTCOMES) {
            if (t[outcome] === 0) continue;
            this.inc({ policy: policyName, outcome }, t[outcome]);
            t[outcome] = 0;
          }
        }
      },
    });
    const fallbackGauge = new Gauge({
      name: 'genz_ratelimit_redis_fallback',
      help: '1 while limits are counted in process memory because Redis is failing or absent',
      registers: [app.metrics.registry],
    });
    const limits = opts.config.limits;
    // One breaker for every limit store: one Redis outage, one fallback state, one recovery (ADR 060).
    const breaker = createRedisBreaker({
      openMs: limits.redisBreakerMs,
      onChange(fallback, reason) {
        fallbackGauge.set(fallback ? 1 : 0);
        if (fallback) app.log.warn({ reason }, 'limits: Redis failed; counting the local share in memory');
        else app.log.info('limits: back on Redis (global counting)');
      },
    });
    const limiter = createRateLimiter({
      redis: app.redis,
      memoryMaxKeys: limits.memoryMaxKeys,
      breakerMs: limits.redisBreakerMs,
      breaker,
      replicas: limits.replicas,
      failMode: limits.fallback.requests,
    });
    fallbackGauge.set(limiter.usingFallback() ? 1 : 0);
    const engine = createChargeEngine({
      redis: app.redis,
      breaker,
      memoryMaxKeys: limits.memoryMaxKeys,
      replicas: limits.replicas,
      failModes: limits.fallback,
      // Quota counters Redis loses (restart, flush) or a restarted process never had come back from usage_events.
      quotaSeed: usageQuotaSeed(app.db.db),
    });
    const concurrency = createConcurrencyLimiter({
      redis: app.redis,
      breaker,
      replicas: limits.replicas,
      failMode: limits.fallback.concurrency,
    });
    const service = createLimitsService({
      config: opts.config,
      db: app.db.db,
      engine,
      concurrency,
      onDecision: decided,
    });
    app.decorate('limits', service);

    const api: RateLimitApi = {
      ...limiter,
      async limit(key, p, cost) {
        const d = await limiter.limit(key, p, cost);
        decided(p.name, d.allowed ? 'allowed' : 'limited');
        return d;
      },
      async enforce(key, p, options = {}) {
        const d = await api.limit(key, p, options.cost);
        if (d.failedClosed) {
          throw new DomainError('unavailable', 'Limits cannot be checked right now; try again shortly.', {
            headers: { 'retry-after': String(Math.max(1, Math.ceil(opts.config.limits.redisBreakerMs / 1000))) },
          });
        }
        if (!d.allowed) throw rateLimitedError(d);
        options.reply?.headers(rateLimitHeaders(d));
        return d;
      },
    };
    app.decorate('rateLimit', api);
    await app.register(limitsRoutes, { limits: service });
  },
  { name: 'rate-limit', dependencies: ['redis', 'metrics', 'db'] },
);
