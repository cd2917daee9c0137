import { createHash } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type Bindings, type ChildLoggerOptions, type LoggerOptions, symbols } from 'pino';
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
    mixin: requestMixin(config.tracing.otlpEndpoint !== undefined),
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

/** The request a request's logger belongs to: set by requestLogContext, read by the mixin when a line is written. */
const requestOfLogger = Symbol('genz.logRequest');
/** Fastify's bindings of a request's logger (`{ requestId }`), kept for the mixin by requestChildLogger. */
const boundOfLogger = Symbol('genz.logBound');

type RequestLogger = { [requestOfLogger]?: FastifyRequest; [boundOfLogger]?: Record<string, unknown> };

/** The request id, route template and (once authentication has set the actor) hashed user id of a request's line. */
function requestContext(logger: object): Record<string, unknown> {
  const { [boundOfLogger]: bound, [requestOfLogger]: request } = logger as RequestLogger;
  const context: Record<string, unknown> = bound === undefined ? {} : { ...bound };
  if (request === undefined) return context;
  const route = request.routeOptions.url;
  if (route !== undefined) context.route = route;
  const userId = request.actor?.userId;
  if (userId !== undefined) context.userIdHash = userIdHash(userId);
  return context;
}

/** The mixins that write requestContext: requestChildLogger leaves the request id to them. */
const requestAwareMixins = new WeakSet<object>();

/** The request's context on every line; with tracing on, a line inside a sampled span also carries its traceId/spanId. */
function requestMixin(tracing: boolean): NonNullable<LoggerOptions['mixin']> {
  const mixin: NonNullable<LoggerOptions['mixin']> = tracing
    ? (_object, _level, logger) => Object.assign(requestContext(logger), activeTraceIds())
    : (_object, _level, logger) => requestContext(logger);
  requestAwareMixins.add(mixin);
  return mixin;
}

/**
 * Fastify's per-request logger (its `childLoggerFactory`): a pino child without bindings whose lines get the request
 * id from the mixin. A binding is stringified at once through the redaction of the wildcard paths, for every request
 * whether or not it logs. A logger without our mixin (one a caller handed in) gets the request id bound as usual.
 */
export function requestChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  opts: ChildLoggerOptions,
): FastifyBaseLogger {
  const mixin = (logger as unknown as Record<symbol, unknown>)[symbols.mixinSym];
  if (typeof mixin !== 'function' || !requestAwareMixins.has(mixin)) return logger.child(bindings, opts);
  const child = logger.child({}, opts) as FastifyBaseLogger & RequestLogger;
  child[boundOfLogger] = bindings;
  return child;
}

/**
 * Gives every line of a request's logger (the "request completed" line included) the route template and, once
 * authentication has run, the hashed user id (and, with requestChildLogger, the request id). They are not bound to
 * the logger (pino's bindings): binding stringifies each value through the redaction of the wildcard paths at once,
 * for every request, whether or not it logs (two bindings were ~5% of a /v1 request's CPU). The logger only points at
 * its request; the mixin reads both when a line is written. Anonymous requests and routes without auth carry no user.
 */
export const requestLogContext = fp(
  async (app: FastifyInstance) => {
    // Callback-style hook: nothing here awaits, so no promise per request.
    app.addHook('onRequest', (request, _reply, done) => {
      const log = request.log as FastifyRequest['log'] & RequestLogger;
      // Fastify makes a child logger per request; the app's own logger is shared, so it never points at one.
      if (log !== app.log) log[requestOfLogger] = request;
      done();
    });
  },
  { name: 'request-log-context' },
);
