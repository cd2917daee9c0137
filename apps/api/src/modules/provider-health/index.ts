import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { AppConfig } from '../../config/index.ts';

declare module 'fastify' {
  interface FastifyInstance {
    providerHealth: { isLeader(): boolean; runOnce(): Promise<void> };
  }
}

const LEADER_KEY = 'provider-health:leader';
/** Renew the lease only while we still hold it (compare-and-expire). */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * Active health probes (ARCHITECTURE §5): one elected replica (a Redis lease; the only process without Redis) sends
 * the smallest request each deployment serves, but only to deployments whose breaker is half-open. A dead provider
 * with no live traffic therefore still comes back, through a successful probe, and a healthy one costs nothing.
 * Passive health (live traffic) lives in the router.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    const { probeIntervalMs } = opts.config.providers.routing;
    const id = randomUUID();
    const redis = app.redis;
    let leader = redis === null;
    let running = false;
    let timer: NodeJS.Timeout | undefined;

    async function elect(): Promise<void> {
      if (!redis) return;
      const lease = probeIntervalMs * 3;
      try {
        if (leader) leader = (await redis.eval(RENEW, 1, LEADER_KEY, id, lease)) === 1;
        if (!leader) leader = (await redis.set(LEADER_KEY, id, 'PX', lease, 'NX')) === 'OK';
      } catch {
        leader = false; // without Redis we cannot know who leads; live traffic still probes half-open breakers
      }
    }

    async function runOnce(): Promise<void> {
      if (running) return;
      running = true;
      try {
        await elect();
        if (!leader) return;
        const due = app.providers
          .deployments()
          .filter((d) => d.provider !== 'demo' && app.providers.circuitState(d.id) === 'half_open');
        await Promise.all(due.map((d) => app.providers.probe(d)));
      } finally {
        running = false;
      }
    }

    app.decorate('providerHealth', { isLeader: () => leader, runOnce });
    app.addHook('onReady', async () => {
      timer = setInterval(() => {
        runOnce().catch((err: unknown) => app.log.warn({ err }, 'provider probe round failed'));
      }, probeIntervalMs);
      timer.unref();
    });
    app.addHook('onClose', async () => {
      clearInterval(timer);
      if (redis && leader)
        await redis
          .eval(
            `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`,
            1,
            LEADER_KEY,
            id,
          )
          .catch(() => {});
    });
  },
  { name: 'provider-health', dependencies: ['providers', 'redis'] },
);
