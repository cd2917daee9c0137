import { setTimeout as sleep } from 'node:timers/promises';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Redis, type RedisOptions } from 'ioredis';
import { Counter } from 'prom-client';
import type { AppConfig } from '../config/index.ts';
import { createRedis, type RedisClient, redisOptions, waitReady } from './redis.ts';

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
    const busCopies = new Set<RedisClient>();
    if (app.redis) {
      // Bentocache namespaces its own keys; it gets a connection without the ioredis keyPrefix.
      l2Connection = createRedis(config, false);
      if (l2Connection) {
        l2Connection.on('error', () => {}); // the 'redis' plugin already reports connectivity
        await waitReady(l2Connection);
        store
          .useL2Layer(redisDriver({ connection: l2Connection }))
          .useBus(redisBusDriver({ connection: busConnection(config, busCopies) }));
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
      for (const copy of busCopies) copy.disconnect();
      l2Connection?.disconnect();
      await Promise.race([cache.disconnectAll().catch(() => {}), sleep(1000)]);
    });
  },
  { name: 'cache', dependencies: ['redis', 'metrics'] },
);

/**
 * The bus publishes and subscribes on `duplicate()`s of the client it is given. Unlike the request path, a
 * subscription may wait in the offline queue until Redis is reachable; so every copy gets an error listener and is
 * tracked, and close disconnects them outright instead of waiting for a QUIT that a dead Redis never answers.
 */
function busConnection(config: AppConfig, copies: Set<RedisClient>): RedisClient {
  const options: RedisOptions = {
    ...redisOptions(config, false),
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
    lazyConnect: true,
  };
  if (!config.redis.url) {
    const cluster = createRedis(config, false);
    if (cluster) {
      cluster.on('error', () => {});
      copies.add(cluster);
      return cluster;
    }
  }
  class TrackedRedis extends Redis {
    constructor(opts: RedisOptions) {
      super(opts);
      this.on('error', () => {}); // the 'redis' plugin reports connectivity
      copies.add(this);
    }
    override duplicate(override?: Partial<RedisOptions>): TrackedRedis {
      return new TrackedRedis({ ...this.options, ...override });
    }
  }
  return new TrackedRedis({ ...options, ...parseRedisUrl(config.redis.url ?? '') });
}

function parseRedisUrl(value: string): RedisOptions {
  const url = new URL(value);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
  };
}
