import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { lockDataDir } from './data-dir-lock.ts';
import { pgliteHandle } from './pglite.ts';
import { postgresHandle } from './postgres.ts';
import * as schema from './schema/index.ts';
import type { DbHandle, DbOptions } from './types.ts';

export {
  type AuditCursor,
  type AuditEvent,
  type AuditEventName,
  type AuditEventPage,
  type ListAuditEventsOptions,
  listAuditEvents,
  type NewAuditEvent,
  writeAuditEvent,
} from './audit-events.ts';
export { DataDirInUse, LOCK_FILE, lockDataDir } from './data-dir-lock.ts';
export { migrationsFolder, migrationsHash } from './migrations.ts';
export { type EnsureMonthlyPartitionsOptions, ensureMonthlyPartitions, type PartitionChanges } from './partitions.ts';
export type { QueryObserver } from './query-timing.ts';
export { executeRows } from './sql.ts';
export type { Db, DbHandle, DbOptions } from './types.ts';
export {
  type AllUsersWindow,
  allUsageBreakdown,
  type DeploymentLatency,
  deleteUserUsage,
  deploymentLatency,
  insertUsageEvents,
  type NewUsageEvent,
  type QuotaWindow,
  quotaUsage,
  type UsageBucket,
  type UsageTotals,
  type UsageWindow,
  userUsageBreakdown,
  userUsageTotals,
} from './usage-events.ts';
export { uuidv7, uuidv7Time } from './uuidv7.ts';
export { schema };

/**
 * Opens the database: PostgreSQL pools when `url` is set (lazily: nothing connects until the first query, so the
 * caller retries migrate()/ping() while the database comes up), otherwise PGlite persisted in `${dataDir}/pglite`.
 * A PGlite data dir must be opened by one process at a time.
 */
export async function createDb(opts: DbOptions): Promise<DbHandle> {
  if (opts.url !== undefined && opts.url !== '') return postgresHandle(opts.url, opts);
  const dir = join(opts.dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const release = lockDataDir(opts.dataDir, 'genz server', { force: true });
  try {
    const handle = pgliteHandle(await PGlite.create({ dataDir: dir }));
    const close = handle.close;
    return {
      ...handle,
      async close() {
        await close();
        release();
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}
