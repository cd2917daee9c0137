import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger, LoggerOptions } from 'pino';
import type { AppConfig } from '../config/index.ts';
import { memoize } from './memo.ts';
import { activeTraceIds } from './tracing.ts';

/**
 * Paths pino censors wherever they appear. Secrets must never reach a log line: credentials travel in headers
 * and bodies, and bodies are not logged at all; these paths catch what a careless `log.info({ ... })` might add.
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.apiKey',
  '*.key',
  '*.secret',
  '*.totp',
  '*.code',
  // `*.x` matches one level down only: `log.info({ password })` needs the top-level path too. `code` and `key` stay
  // nested-only, since top level they name error codes and cache keys.
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'secret',
  'totp',
];

/** pino options for the app logger; tests build their capturing logger from the same options. */
export function loggerOptions(config: AppConfig): LoggerOptions {
  return {
    level: config.log.level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    // With tracing on, every line inside a sampled span carries its traceId/spanId, so a log line finds its trace.
    ...(config.tracing.otlpEndpoint ? { mixin: activeTraceIds } : {}),
    serializers: {
      req(req: { method: string; url: string; routeOptions?: { url?: string }; ip?: string; id?: string }) {
        // The query string can hold one-time tokens (mail links); log the path and the route template only.
        return { method: req.method, path: req.url.split('?')[0], route: req.routeOptions?.url, ip: req.ip };
      },
    },
  };
}

/**
 * The user id as log lines carry it: the first 16 hex digits (64 bits) of SHA-256 over `genz:user:<id>`. Log stores
 * (often a third party's) then never hold the raw id, yet every replica computes the same value with no shared key,
 * and an operator answering a user's request finds their lines with
 * `printf 'genz:user:%s' "$USER_ID" | sha256sum | cut -c1-16`. docs/decisions/030-observability.md says why this is
 * not an HMAC.
 */
export const userIdHash = memoize((userId) =>
  createHash('sha256').update(`genz:user:${userId}`).digest('hex').slice(0, 16),
);

/**
 * Binds the route template and, once authentication has run, the hashed user id to the request's logger, so every
 * later line of the request (the "request completed" line included) carries them. The user is bound at preHandler,
 * after the auth hooks (onRequest / preValidation); anonymous requests and routes without auth stay unbound. The
 * bindings are added to the request's own child logger (fastify makes one per request) rather than through further
 * children: a pino child per binding was ~5% of the CPU of a /v1 request.
 */
export const requestLogContext = fp(
  async (app: FastifyInstance) => {
    const bind = (request: FastifyRequest, bindings: Record<string, string>) => {
      const log = request.log as FastifyRequest['log'] & Partial<Pick<Logger, 'setBindings'>>;
      if (log !== app.log) log.setBindings?.(bindings);
    };
    // Callback-style hooks: nothing here awaits, so no promise per request.
    app.addHook('onRequest', (request, _reply, done) => {
      const route = request.routeOptions.url;
      if (route !== undefined) bind(request, { route });
      done();
    });
    app.addHook('preHandler', (request, _reply, done) => {
      const userId = request.actor?.userId;
      if (userId !== undefined) bind(request, { userIdHash: userIdHash(userId) });
      done();
    });
  },
  { name: 'request-log-context' },
);
