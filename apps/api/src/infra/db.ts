import { setTimeout as sleep } from 'node:timers/promises';
import { createDb, type DbHandle, ensureMonthlyPartitions, schema } from '@genz/db';
import { getTableName } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge, Histogram } from 'prom-client';
import type { AppConfig } from '../config/index.ts';
import { DomainError } from '../http/errors.ts';

declare module 'fastify' {
  interface FastifyInstance {
    db: DbHandle;
    /** True once migrations ran and the primary answered; false again never (readiness pings separately). */
    dbReady: () => boolean;
    /** Resolves when the database is first usable (tests and scripts await it; the server does not). */
    dbReadyPromise: Promise<void>;
  }
}

/**
 * Tables partitioned monthly by RANGE (created_at) (their migrations call genz_ensure_monthly_partitions) and the
 * whole months each keeps. A new such table is one more entry here.
 */
export function monthlyPartitionedTables(config: AppConfig): { table: PgTable; retainMonths: number }[] {
  return [
    { table: schema.auditEvents, retainMonths: config.database.auditRetentionMonths },
    { table: schema.usageEvents, retainMonths: config.providers.usage.retentionMonths },
  ];
}

/**
 * Opens the database without blocking boot: while PostgreSQL is down the process stays up, retries with capped
 * exponential backoff (saying so in the log), /readyz answers 503 and data routes answer 503 `unavailable`.
 * It never crash-loops.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig; db?: DbHandle }) => {
    const { database, dataDir } = opts.config;
    const handle =
      opts.db ??
      (await createDb({
        ...(database.url ? { url: database.url } : {}),
        ...(database.migrationUrl ? { migrationUrl: database.migrationUrl } : {}),
        replicaUrls: database.replicaUrls,
        poolSize: database.poolSize,
        dataDir,
        statementTimeoutMs: database.statementTimeoutMs,
        onPoolError: (err) => app.log.warn({ reason: err.message }, 'idle database connection failed'),
      }));
    let ready = false;
    let closing = false;
    let maintenance: NodeJS.Timeout | undefined;

    // Monthly partitions are created ahead and expired ones dropped. Idempotent, so every replica may run it; a
    // replica that loses a creation race just logs and tries again next hour. One failing table does not stop the
    // others.
    const maintainPartitions = async () => {
      for (const { table, retainMonths } of monthlyPartitionedTables(opts.config)) {
        const name = getTableName(table);
        try {
          const changes = await ensureMonthlyPartitions(handle.db, table, { ahead: 2, retainMonths });
          if (changes.created.length + changes.dropped.length > 0)
            app.log.info({ table: name, ...changes }, 'partitions maintained');
        } catch (err) {
          app.log.warn(
            { table: name, reason: (err as Error).message },
            'partition maintenance failed; retrying next hour',
          );
        }
      }
    };

    const connect = async () => {
      let delay = 250;
      for (let attempt = 1; !closing; attempt++) {
        try {
          await handle.migrate();
          ready = true;
          app.log.info({ kind: handle.kind, attempt }, 'database ready');
          await maintainPartitions();
          maintenance = setInterval(() => void maintainPartitions(), 60 * 60 * 1000);
          maintenance.unref();
          return;
        } catch (err) {
          const retryInMs = Math.round(delay * (0.5 + Math.random() / 2));
          app.log.warn({ attempt, retryInMs, reason: (err as Error).message }, 'database unreachable; retrying');
          await sleep(retryInMs);
          delay = Math.min(delay * 2, database.connectRetryMaxDelayMs);
        }
      }
    };

    app.decorate('db', handle);
    app.decorate('dbReady', () => ready);
    app.decorate('dbReadyPromise', connect());

    // Callback-style: the ready path (every request once up) allocates no promise.
    app.addHook('onRequest', (request, _reply, done) => {
      if (ready || request.routeOptions.config.infra || request.routeOptions.url === undefined) return done();
      done(
        new DomainError('unavailable', 'The database is not reachable yet; try again shortly.', {
          headers: { 'retry-after': '2' },
        }),
      );
    });

    const pool = new Gauge({
      name: 'db_pool_connections',
      help: 'Database pool connections by state',
      labelNames: ['state'] as const,
      registers: [app.metrics.registry],
      collect() {
        const stats = handle.poolStats();
        if (!stats) return;
        this.set({ state: 'total' }, stats.total);
        this.set({ state: 'idle' }, stats.idle);
        this.set({ state: 'waiting' }, stats.waiting);
      },
    });
    new Gauge({
      name: 'db_pool_max',
      help: 'Configured database pool size',
      registers: [app.metrics.registry],
    }).set(handle.kind === 'postgres' ? database.poolSize : 1);
    void pool;
    const queries = new Histogram({
      name: 'db_query_duration_seconds',
      help: 'Database statement duration by verb',
      labelNames: ['op'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [app.metrics.registry],
    });
    handle.observeQueries((op, seconds) => queries.observe({ op }, seconds));

    app.addHook('onClose', async () => {
      closing = true;
      clearInterval(maintenance);
      handle.observeQueries(undefined);
      if (!opts.db) await handle.close();
    });
  },
  { name: 'db', dependencies: ['metrics'] },
);
