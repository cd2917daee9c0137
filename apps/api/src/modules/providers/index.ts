import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { AppConfig } from '../../config/index.ts';
import { createRedis, waitReady } from '../../infra/redis.ts';
import { createAiSdkAdapter } from './adapters/ai-sdk.ts';
import { createDemoAdapter } from './adapters/demo.ts';
import { createDispatcher, createOpenAiWireAdapter } from './adapters/openai-wire.ts';
import { Breakers, memoryBreakerStore, redisBreakerStore } from './breaker.ts';
import { type ConfigSource, ProviderConfigManager } from './config-manager.ts';
import { createProviderMetrics } from './providers.metrics.ts';
import { buildRegistry } from './providers.registry.ts';
import providersRoutes from './providers.routes.ts';
import type { Adapter, ProviderKind } from './providers.types.ts';
import { ProviderRouter } from './router.ts';
import { createSecretBox } from './secrets.ts';
import { RetryBudget, Stats } from './stats.ts';
import { dbUsageSink, type UsageSink, UsageWriter, workerUsageSink } from './usage.ts';

declare module 'fastify' {
  interface FastifyInstance {
    providers: ProviderRouter;
    /** Usage events: the bounded batched writer and where it writes (usage_events unless a test passes a sink). */
    usage: { writer: UsageWriter; sink: UsageSink };
    /** The layered provider configuration (genz.yaml + admin layer) and its hot reload. */
    providersConfig: ProviderConfigManager;
  }
}

export type { ConfigSource } from './config-manager.ts';

/**
 * The AI router (ARCHITECTURE §5): deployments and aliases from config, one undici pool, adapters per wire format,
 * breakers shared through Redis when configured, and the usage writer. Routes live in src/openai.
 */
export default fp(
  async (
    app: FastifyInstance,
    opts: { config: AppConfig; usageSink?: UsageSink; configSource?: ConfigSource | undefined },
  ) => {
    const { providers } = opts.config;
    const { routing } = providers;
    const registry = buildRegistry(providers);
    const dispatcher = createDispatcher(routing.connectTimeoutMs);
    const openAiWire = createOpenAiWireAdapter(dispatcher);
    const translated = createAiSdkAdapter(dispatcher);
    const adapters: Record<ProviderKind, Adapter> = {
      openai: openAiWire,
      'openai-compatible': openAiWire,
      anthropic: translated,
      gemini: translated,
      demo: createDemoAdapter(providers.demoChunkDelayMs),
    };

    const breakers = new Breakers({
      store: app.redis ? redisBreakerStore(app.redis) : memoryBreakerStore(),
      policy: { failureThreshold: routing.breakerFailureThreshold, openMs: routing.breakerOpenMs },
      halfOpenProbes: routing.breakerHalfOpenProbes,
      rampUpMs: routing.rampUpMs,
    });
    let storeErrorLogged = false;
    breakers.onStoreError = (err) => {
      if (!storeErrorLogged)
        app.log.warn({ reason: (err as Error).message }, 'breaker store unreachable; using local state');
      storeErrorLogged = true;
    };
    breakers.onChange = (id, state) => app.log.info({ deployment: id, state }, 'circuit breaker changed state');

    const stats = new Stats(routing.ewmaAlpha);
    const metrics = createProviderMetrics(
      app.metrics.registry,
      // Through the router: after a hot reload the gauges follow the deployments in force.
      () => router.deployments().map((d) => d.id),
      breakers,
      stats,
    );
    const dropped = new Counter({
      name: 'genz_usage_events_dropped_total',
      help: 'Usage events dropped because the writer queue was full or a write failed',
      labelNames: ['reason'] as const,
      registers: [app.metrics.registry],
    });
    // On PostgreSQL the batches are written from a worker thread; PGlite runs in this one.
    const ownSink =
      opts.usageSink === undefined && app.db.url
        ? workerUsageSink({ url: app.db.url, statementTimeoutMs: opts.config.database.statementTimeoutMs })
        : undefined;
    const sink = opts.usageSink ?? ownSink ?? dbUsageSink(() => app.db.db);
    const writer = new UsageWriter(sink, providers.usage, dropped, (err) =>
      app.log.error({ err }, 'usage batch write failed'),
    );

    const router = new ProviderRouter({
      registry,
      adapters,
      breakers,
      stats,
      budget: new RetryBudget(routing.retryBudgetRatio, routing.retryBudgetMinPerSecond),
      metrics,
      usage: writer,
      routing,
      log: app.log,
      plans: opts.config.plans,
    });
    app.decorate('providers', router);

    const manager = new ProviderConfigManager({
      router,
      base: opts.config,
      db: () => app.db.db,
      dbReady: () => app.dbReady(),
      redis: app.redis,
      keyPrefix: opts.config.redis.keyPrefix,
      box: createSecretBox(opts.config.encryptionKey),
      source: opts.configSource,
      readonly: opts.config.configReadonly,
      log: app.log,
      ...providers.reload,
    });
    app.decorate('providersConfig', manager);
    await app.register(providersRoutes, { manager });
    app.decorate('usage', { writer, sink });

    let syncTimer: NodeJS.Timeout | undefined;
    if (app.redis) {
      const sync = () => {
        breakers.sync().catch((err: unknown) => breakers.onStoreError?.(err));
      };
      app.addHook('onReady', async () => {
        sync();
        syncTimer = setInterval(sync, routing.stateSyncMs);
        syncTimer.unref();
      });
    }
    app.addHook('onReady', async () => {
      let subscriber: ReturnType<typeof createRedis> = null;
      if (app.redis) {
        subscriber = createRedis(opts.config, false);
        if (subscriber) {
          subscriber.on('error', () => {}); // the 'redis' plugin reports connectivity
          await waitReady(subscriber).catch(() => {});
        }
      }
      await manager.start(subscriber, app.dbReadyPromise);
    });
    app.addHook('onClose', async () => {
      clearInterval(syncTimer);
      await manager.stop();
      await writer.flush();
      await ownSink?.close();
      // Requests have drained by now (Fastify closes the listener first); cut whatever probes are left.
      await dispatcher.destroy();
    });
    app.log.info(
      { deployments: [...registry.deployments.keys()], aliases: [...registry.aliases.keys()] },
      'providers configured',
    );
  },
  { name: 'providers', dependencies: ['metrics', 'redis', 'db'] },
);
