import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import type { AppConfig } from '../../config/index.ts';
import { createRedis, waitReady } from '../../infra/redis.ts';
import { chatsCache } from './chats.cache.ts';
import { GenerationManager } from './chats.generations.ts';
import chatsRoutes from './chats.routes.ts';
import { type ChatsService, createChatsService } from './chats.service.ts';
import { memoryStreamBuffer, redisStreamBuffer, type StreamBuffer } from './chats.stream.ts';

declare module 'fastify' {
  interface FastifyInstance {
    chats: ChatsService;
    generations: GenerationManager;
  }
}

/**
 * Chats (docs/chats.md): conversations, branching messages, presets, search, shares, export/import, and
 * generations that run server-side, decoupled from the connection that asked for them. Wires
 * buffer -> generation manager -> service (with the limits module's cap and reservations) -> routes, and runs
 * the reaper and the retention job.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    const config = opts.config.chats;
    const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

    let subscriber: ReturnType<typeof createRedis> = null;
    let buffer: StreamBuffer;
    if (app.redis) {
      subscriber = createRedis(opts.config, false);
      if (subscriber) {
        subscriber.on('error', () => {}); // the 'redis' plugin reports connectivity
        await waitReady(subscriber);
      }
    }
    if (app.redis && subscriber) {
      buffer = redisStreamBuffer({
        client: app.redis,
        subscriber,
        keyPrefix: opts.config.redis.keyPrefix,
        ttlSec: config.streamBufferTtlSec,
        maxEvents: config.streamMaxEvents,
      });
    } else {
      buffer = memoryStreamBuffer({
        ttlSec: config.streamBufferTtlSec,
        maxEvents: config.streamMaxEvents,
        maxGenerations: config.memoryBufferMaxGenerations,
      });
    }
    const chatCache = chatsCache(app.cache, config.conversationsCacheTtlMs);
    const generations = new GenerationManager({
      db: app.db.db,
      providers: app.providers,
      buffer,
      chatCache,
      timings: {
        heartbeatMs: config.heartbeatMs,
        staleAfterMs: config.staleAfterMs,
        followerCheckMs: config.followerCheckMs,
        maxEvents: config.streamMaxEvents,
        coalesceMs: config.streamCoalesceMs,
        coalesceMaxChars: config.streamCoalesceMaxChars,
      },
      log: app.log,
      owner,
    });
    const service = createChatsService({
      db: app.db.db,
      providers: app.providers,
      generations,
      limits: app.limits,
      chatCache,
      config,
      log: app.log,
    });
    app.decorate('chats', service);
    app.decorate('generations', generations);

    new Gauge({
      name: 'genz_generations_in_flight',
      help: 'Replies this instance is generating right now',
      registers: [app.metrics.registry],
      collect() {
        this.set(generations.active);
      },
    });

    await app.register(chatsRoutes, { config });

    const timers: NodeJS.Timeout[] = [];
    app.addHook('onReady', async () => {
      const reap = setInterval(() => {
        if (!app.dbReady()) return;
        generations.reap().catch((err: unknown) => app.log.warn({ err }, 'generation reaper failed'));
      }, config.reaperIntervalMs);
      const purge = setInterval(() => {
        if (!app.dbReady()) return;
        service
          .purgeDeleted()
          .then((n) => {
            if (n > 0) app.log.info({ purged: n }, 'deleted conversations purged');
          })
          .catch((err: unknown) => app.log.warn({ err }, 'conversation retention job failed'));
      }, config.purgeIntervalMs);
      reap.unref();
      purge.unref();
      timers.push(reap, purge);
    });
    app.addHook('onClose', async () => {
      for (const t of timers) clearInterval(t);
      await generations.close(opts.config.server.shutdownGraceMs);
      await buffer.close();
      subscriber?.disconnect();
    });
  },
  { name: 'chats', dependencies: ['db', 'redis', 'cache', 'providers', 'metrics', 'sse', 'rate-limit'] },
);
