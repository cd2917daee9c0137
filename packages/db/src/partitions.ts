import { getTableName, sql } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { executeRows } from './sql.ts';
import type { Db } from './types.ts';

export interface EnsureMonthlyPartitionsOptions {
  /** Months to create after the current one (the current month is always ensured). */
  ahead: number;
  /** Whole months kept before the current one; older partitions are dropped. Omit to keep everything. */
  retainMonths?: number;
  /** The clock (UTC months); defaults to the database's now(). */
  now?: Date;
}

export interface PartitionChanges {
  created: string[];
  dropped: string[];
}

/**
 * Keeps a RANGE(created_at)-partitioned table's monthly partitions `<table>_pYYYYMM` ahead of time and drops expired
 * ones, via genz_ensure_monthly_partitions() (see the migration that defines it). Safe to run concurrently and
 * repeatedly (e.g. hourly from every API replica): an advisory lock serialises callers and existing partitions are
 * left alone. Rows that arrived in the DEFAULT partition for a month that now gets its own partition are moved.
 */
export async function ensureMonthlyPartitions(
  db: Db,
  table: PgTable | string,
  opts: EnsureMonthlyPartitionsOptions,
): Promise<PartitionChanges> {
  const name = typeof table === 'string' ? table : getTableName(table);
  const atTime = opts.now === undefined ? sql`now()` : sql`${opts.now.toISOString()}::timestamptz`;
  const rows = await executeRows<{ action: string; partition_name: string }>(
    db,
    sql`select action, partition_name from genz_ensure_monthly_partitions(
      ${name}::regclass, ${opts.ahead}::int, ${opts.retainMonths ?? null}::int, ${atTime})`,
  );
  const changes: PartitionChanges = { created: [], dropped: [] };
  for (const r of rows) (r.action === 'dropped' ? changes.dropped : changes.created).push(r.partition_name);
  return changes;
}
