import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';
import type { AppConfig } from '../../config/index.ts';
import { DomainError } from '../../http/errors.ts';
import type { RateDecision, RatePolicy } from './gcra.ts';
import { createRateLimiter, type RateLimiter } from './rate-limiter.ts';

export type { RateDecision, RatePolicy } from './gcra.ts';
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
  }
}

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
    const decisions = new Counter({
      name: 'genz_ratelimit_decisions_total',
      help: 'Rate-limit decisions by policy and outcome (allowed | limited)',
      labelNames: ['policy', 'outcome'] as const,
      registers: [app.metrics.registry],
    });
    const fallbackGauge = new Gauge({
      name: 'genz_ratelimit_redis_fallback',
      help: '1 while limits are counted in process memory because Redis is failing or absent',
      registers: [app.metrics.registry],
    });
    const limiter = createRateLimiter({
      redis: app.redis,
      memoryMaxKeys: opts.config.limits.memoryMaxKeys,
      breakerMs: opts.config.limits.redisBreakerMs,
      onFallbackChange(fallback, reason) {
        fallbackGauge.set(fallback ? 1 : 0);
        if (fallback) app.log.warn({ reason }, 'rate limiter: Redis failed; counting in memory');
        else app.log.info('rate limiter: back on Redis');
      },
    });
    fallbackGauge.set(limiter.usingFallback() ? 1 : 0);

    const api: RateLimitApi = {
      ...limiter,
      async limit(key, p, cost) {
        const d = await limiter.limit(key, p, cost);
        decisions.inc({ policy: p.name, outcome: d.allowed ? 'allowed' : 'limited' });
        return d;
      },
      async enforce(key, p, options = {}) {
        const d = await api.limit(key, p, options.cost);
        if (!d.allowed) throw rateLimitedError(d);
        options.reply?.headers(rateLimitHeaders(d));
        return d;
      },
    };
    app.decorate('rateLimit', api);
  },
  { name: 'rate-limit', dependencies: ['redis', 'metrics'] },
);
