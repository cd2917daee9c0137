import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AppConfig } from '../config/index.ts';
import { policy } from '../modules/rate-limit/index.ts';

const exempt = (request: FastifyRequest) => request.routeOptions.config?.infra === true;

/**
 * Request rates on every /api and /v1 route (health, metrics and docs exempt), in two hooks around authentication:
 * - `ipRateLimit`, before the auth hook: per client IP (`request.ip`, which honours X-Forwarded-For only from
 *   trusted proxies, http/client-ip.ts), so a flood of bad credentials is refused before any credential work;
 * - `actorRateLimit`, after it: per user and per API key, by the user's plan (modules/rate-limit decides).
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
    app.addHook('onRequest', async (request, reply) => {
      const actor = request.actor;
      if (!actor || exempt(request)) return;
      reply.headers(await app.limits.checkRequest(actor));
    });
  },
  { name: 'actor-rate-limit', dependencies: ['auth-hook'] },
);
