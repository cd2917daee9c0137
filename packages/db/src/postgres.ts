import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { withReplicas } from 'drizzle-orm/pg-core';
import { Client, Pool } from 'pg';
import { migrationsFolder } from './migrations.ts';
import { createQueryTimer } from './query-timing.ts';
import * as schema from './schema/index.ts';
import type { Db, DbHandle, DbOptions } from './types.ts';

/** Fail a connection attempt after this long, so a down database surfaces as an error the caller can retry. */
const CONNECT_TIMEOUT_MS = 5_000;
/** pg_advisory_lock(classid, objid) keys: 'genz' and what is being serialised. */
export const ADVISORY_LOCK_NAMESPACE = 0x67656e7a;
export const MIGRATION_LOCK_ID = 1;

function createPool(url: string, opts: DbOptions, timer: ReturnType<typeof createQueryTimer>): Pool {
  const pool = new Pool({
    connectionString: url,
    max: opts.poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    application_name: 'genz',
    ...(opts.statementTimeoutMs === undefined ? {} : { statement_timeout: opts.statementTimeoutMs }),
  });
  // An idle client's error (server restart, network cut) is emitted on the pool; unhandled it kills the process.
  pool.on('error', (err) => opts.onPoolError?.(err));
  // pool.query (drizzle outside transactions) is timed on the pool; it drives its client with a callback, which
  // the timer passes through, so nothing is counted twice. Transactions query a checked-out client directly.
  timer.wrap(pool);
  pool.on('connect', (client) => timer.wrap(client));
  return pool;
}

/** Creates pools only: no connection is made until the first query, so boot can retry migrate()/ping(). */
export function postgresHandle(url: string, opts: DbOptions): DbHandle {
  const timer = createQueryTimer();
  const primaryPool = createPool(url, opts, timer);
  const replicaPools = (opts.replicaUrls ?? []).map((u) => createPool(u, opts, timer));
  const db = drizzle({ client: primaryPool, schema });
  const [first, ...rest] = replicaPools.map((p) => drizzle({ client: p, schema }));
  const read: Db = first === undefined ? db : withReplicas(db, [first, ...rest]);

  return {
    kind: 'postgres',
    url,
    db,
    read,
    async migrate() {
      const client = new Client({
        connectionString: opts.migrationUrl ?? url,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        application_name: 'genz-migrate',
      });
      client.on('error', (err) => opts.onPoolError?.(err));
      await client.connect();
      try {
        // Session lock on this one connection: every statement of the migration runs on it, and a second
        // process waits here, then finds the journal up to date and applies nothing.
        await client.query('select pg_advisory_lock($1, $2)', [ADVISORY_LOCK_NAMESPACE, MIGRATION_LOCK_ID]);
        await migrate(drizzle({ client, schema }), { migrationsFolder });
      } finally {
        // Ending the session releases the lock even if the unlock cannot be sent.
        await client.end().catch(() => {});
      }
    },
    async ping() {
      await primaryPool.query('select 1');
    },
    poolStats: () => ({
      total: primaryPool.totalCount,
      idle: primaryPool.idleCount,
      waiting: primaryPool.waitingCount,
    }),
    observeQueries: timer.observe,
    async close() {
      await Promise.all([primaryPool, ...replicaPools].map((p) => p.end()));
    },
  };
}
