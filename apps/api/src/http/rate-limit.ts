import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AppConfig } from '../config/index.ts';
import '../modules/rate-limit/deferred-rates.ts';
import { policy } from '../modules/rate-limit/index.ts';

const exempt = (request: FastifyRequest) => request.routeOptions.config?.infra === true;

/**
 * Request rates on every /api and /v1 route (health, metrics and docs exempt), in two hooks around authentication:
 * - `ipRateLimit`, before the auth hook: per client IP (`request.ip`, which honours X-Forwarded-For only from
 *   trusted proxies, http/client-ip.ts), so a flood of bad credentials is refused before any credential work;
 * - `actorRateLimit`, after it: per user and per API key, by the user's plan (modules/rate-limit decides). Routes
 *   marked `config.limits: 'admission'` (the /v1 model calls) charge them in their admission instead
 *   (modules/rate-limit/generation-guard.ts), together with the token reservation and the generation slot.
 * A refusal is 429 with Retry-After and RateLimit-*; an admitted request carries RateLimit-* of its tightest limit.
 */
export const ipRateLimit = fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    const ip = opts.config.limits.ipRequests;
    if (!ip) return;
    const ipPolicy = policy('ip_rpm', ip);
    app.addHook('onRequest', async (request, reply) => {
      if (exempt(request)) return;
      // app.rateLimit is decorated later (infrastructure phase); hooks only run once the app is ready.
      await app.rateLimit.enforce(request.ip, ipPolicy, { reply });
    });
  },
  { name: 'ip-rate-limit' },
);

export const actorRateLimit = fp(
  async (app: FastifyInstance) => {
    app.decorateRequest('limitsDeferred', false);
    app.addHook('onRequest', async (request, reply) => {
      const actor = request.actor;
      if (!actor || exempt(request)) return;
      // A model call's route charges the rates in its admission: one Redis call with the reservation and the slot.
      if (request.routeOptions.config.limits === 'admission') {
        request.limitsDeferred = true;
        return;
      }
      reply.headers(await app.limits.checkRequest(actor));
    });
    // Answered before its admission (bad input, unknown model, a refused reservation): the request still counts.
    app.addHook('onResponse', (request, _reply, done) => {
      if (request.limitsDeferred && request.actor) {
        request.limitsDeferred = false;
        app.limits.checkRequest(request.actor).catch(() => {});
      }
      done();
    });
  },
  { name: 'actor-rate-limit', dependencies: ['auth-hook'] },
);
