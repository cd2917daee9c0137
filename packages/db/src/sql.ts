import type { SQL } from 'drizzle-orm';
import type { Db } from './types.ts';

/**
 * Runs raw SQL and returns its rows. `db.execute()` is typed per driver (node-postgres and PGlite results differ);
 * both carry `rows`, which is all callers need.
 */
export async function executeRows<T extends Record<string, unknown>>(db: Db, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query);
  if (typeof result === 'object' && result !== null && 'rows' in result && Array.isArray(result.rows)) {
    return result.rows as T[];
  }
  throw new TypeError('database driver returned a result without rows');
}
