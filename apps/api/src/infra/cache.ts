import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { AppConfig } from '../config/index.ts';
import { createRedis, redisOptions, waitReady } from './redis.ts';

declare module 'fastify' {
  interface FastifyInstance {
    cache: BentoCache<{ default: ReturnType<typeof bentostore> }>;
  }
}

/**
 * Multi-level cache (ARCHITECTURE.md §7): a byte-bounded in-process L1, then Redis L2 when configured, with a
 * Redis pub/sub bus so a delete or set on one replica evicts the key from every replica's L1. Concurrent misses
 * for one key run the factory once (stampede protection); an L2 outage opens a short circuit breaker and the cache
 * serves from L1 instead of failing requests.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    const { config } = opts;
    const store = bentostore().useL1Layer(memoryDriver({ maxSize: config.cache.l1MaxBytes, maxItems: 100_000 }));
    let l2Connection: ReturnType<typeof createRedis> = null;
    if (app.redis) {
      // Bentocache namespaces its own keys; it gets a connection without the ioredis keyPrefix.
      l2Connection = createRedis(config, false);
      if (l2Connection) {
        l2Connection.on('error', () => {}); // the 'redis' plugin already reports connectivity
        await waitReady(l2Connection);
        store
          .useL2Layer(redisDriver({ connection: l2Connection }))
          .useBus(redisBusDriver({ connection: busConnection(config) }));
      }
    }
    const cache = new BentoCache({
      default: 'default',
      prefix: `${config.redis.keyPrefix}cache`,
      ttl: config.cache.defaultTtlMs,
      grace: false,
      timeout: 0,
      l2CircuitBreakerDuration: '10s',
      suppressL2Errors: true,
      stores: { default: store },
    });

    const requests = new Counter({
      name: 'cache_requests_total',
      help: 'Cache lookups by tier and result',
      labelNames: ['tier', 'result'] as const,
      registers: [app.metrics.registry],
    });
    // Per tier: an L2 hit was an L1 miss first; a full miss missed every configured tier.
    const hasL2 = l2Connection !== null;
    cache.on('cache:hit', (e: { layer?: string }) => {
      if (e.layer === 'l2') {
        requests.inc({ tier: 'l1', result: 'miss' });
        requests.inc({ tier: 'l2', result: 'hit' });
      } else requests.inc({ tier: 'l1', result: 'hit' });
    });
    cache.on('cache:miss', () => {
      requests.inc({ tier: 'l1', result: 'miss' });
      if (hasL2) requests.inc({ tier: 'l2', result: 'miss' });
    });

    app.decorate('cache', cache);
    app.addHook('onClose', async () => {
      await cache.disconnectAll();
      l2Connection?.disconnect();
    });
  },
  { name: 'cache', dependencies: ['redis', 'metrics'] },
);

/**
 * The bus opens its own subscriber connections: options for standalone, a client for a cluster. Unlike the
 * request path, a subscription may wait in the offline queue until Redis is reachable.
 */
function busConnection(config: AppConfig) {
  if (!config.redis.url) return createRedis(config, false) ?? {};
  const url = new URL(config.redis.url);
  return {
    ...redisOptions(config, false),
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
  };
}
