import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { QueryObserver } from './query-timing.ts';
import type * as schema from './schema/index.ts';

/** The common supertype of the PGlite and node-postgres drizzle databases (and of their transactions). */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DbOptions {
  /** DATABASE_URL. Without it, PGlite runs embedded in `${dataDir}/pglite`. */
  url?: string;
  /** DATABASE_MIGRATION_URL: a direct connection (not through PgBouncer) for migrate(); defaults to `url`. */
  migrationUrl?: string;
  /** DATABASE_REPLICA_URLS: stale-tolerant reads (`handle.read`) go here. */
  replicaUrls?: string[];
  /** Connections per pool (primary and each replica). Ignored by PGlite. */
  poolSize: number;
  /** DATA_DIR. */
  dataDir: string;
  /** statement_timeout for pooled connections (not for migrations). Ignored by PGlite. */
  statementTimeoutMs?: number;
  /**
   * Called with errors of idle pooled connections (e.g. the server restarted). The pool drops such a connection
   * and carries on; without a listener node would crash the process. Pass the logger here.
   */
  onPoolError?: (err: Error) => void;
}

export interface DbHandle {
  kind: 'pglite' | 'postgres';
  /**
   * The primary's connection string (PostgreSQL only), for what opens connections of its own: a child process, the
   * usage writer's worker thread.
   */
  url?: string;
  /** Primary: writes and read-your-writes. */
  db: Db;
  /**
   * Reads that may be stale: select/query builders go to a replica when replicas are configured; writes and
   * `execute()` still go to the primary. Same object as `db` when there are no replicas.
   */
  read: Db;
  /**
   * Applies the committed SQL migrations. On PostgreSQL it holds pg_advisory_lock on one dedicated connection
   * (migrationUrl ?? url) so replicas starting together apply each migration once.
   */
  migrate(): Promise<void>;
  /** SELECT 1 on the primary; throws when unreachable. */
  ping(): Promise<void>;
  /** Primary pool counters; null for PGlite. */
  poolStats(): { total: number; idle: number; waiting: number } | null;
  /** Times every statement on this handle's connections (for `db_query_duration_seconds`); undefined stops it. */
  observeQueries(observer: QueryObserver | undefined): void;
  close(): Promise<void>;
}
