import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { DbHandle } from '@genz/db';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { AppConfig } from './config/index.ts';
import authHook from './http/auth.ts';
import { parseTrustProxy } from './http/client-ip.ts';
import errors from './http/errors.ts';
import overload from './http/overload.ts';
import { actorRateLimit, ipRateLimit } from './http/rate-limit.ts';
import { genRequestId } from './http/request-id.ts';
import sse from './http/sse.ts';
import { createValidatorCompiler } from './http/validation.ts';
import cache from './infra/cache.ts';
import db from './infra/db.ts';
import { loggerOptions, requestChildLogger, requestLogContext } from './infra/logger.ts';
import { setMemoEntries } from './infra/memo.ts';
import metrics from './infra/metrics.ts';
import redis from './infra/redis.ts';
import sentry from './infra/sentry.ts';
import auth from './modules/auth/index.ts';
import chats from './modules/chats/index.ts';
import health from './modules/health/index.ts';
import providerHealth from './modules/provider-health/index.ts';
import providers, { type ConfigSource } from './modules/providers/index.ts';
import rateLimit from './modules/rate-limit/index.ts';
import openai from './openai/index.ts';

export interface BuildAppOptions {
  config: AppConfig;
  /** An already-open database (tests hand in a cloned template); otherwise one is created from config. */
  db?: DbHandle;
  /** A pino-compatible logger instance (tests capture output to prove secrets never reach it). */
  logger?: FastifyBaseLogger;
  /** genz.yaml's path and how to load the configuration again: enables hot reload of providers (server.ts). */
  configSource?: ConfigSource;
}

/**
 * The composition root: reading it top to bottom gives the architecture (ARCHITECTURE.md §3-4).
 * 1. Cross-cutting HTTP behaviour every route relies on (errors, request ids, client IP, limits on bodies).
 * 2. Infrastructure plugins that decorate the instance with clients (metrics first: the others register gauges).
 * 3. Documentation, then the domain modules, each a named plugin declaring what it depends on.
 * The process concerns (listen, timeouts, signals, drain) live in server.ts.
 */
export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = options;
  setMemoEntries(config.cache.memoEntries);
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: loggerOptions(config) }),
    genReqId: genRequestId,
    childLoggerFactory: requestChildLogger,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    trustProxy: parseTrustProxy(config.server.trustProxy),
    bodyLimit: config.server.bodyLimitBytes,
    http: { maxHeaderSize: config.server.maxHeaderBytes },
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    connectionTimeout: config.server.connectionTimeoutMs,
    requestTimeout: config.server.requestTimeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());

  // 1. Cross-cutting HTTP
  await app.register(errors);
  // Shedding and the per-IP rate come before authentication: a refused request costs no credential work.
  await app.register(overload, { config });
  await app.register(ipRateLimit, { config });
  // Before any route: its onRoute hook sees every route, so one without config.auth stops the boot.
  await app.register(authHook, { config });
  await app.register(actorRateLimit);
  await app.register(sentry, { config });
  await app.register(requestLogContext);
  // Callback-style (as the other hooks that never await): no promise per request.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });

  // 2. Infrastructure
  await app.register(metrics, { config });
  await app.register(redis, { config });
  await app.register(db, { config, ...(options.db ? { db: options.db } : {}) });
  await app.register(cache, { config });
  await app.register(rateLimit, { config });
  await app.register(sse, { maxConnections: config.chats.maxSseConnections, heartbeatMs: config.chats.sseHeartbeatMs });

  // 3. Documentation and modules
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'GenZ AI API', version: '0.1.0', license: { name: 'Apache-2.0' } },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object), infra: true };
    });
    await docs.register(swaggerUi, { routePrefix: '/api/docs' });
  });
  await app.register(health);
  await app.register(auth, { config });
  await app.register(providers, { config, configSource: options.configSource });
  await app.register(providerHealth, { config });
  await app.register(openai);
  await app.register(chats, { config });

  return app;
}
