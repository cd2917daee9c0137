import { executeRows } from '@genz/db';
import { createTestDb } from '@genz/db/testing';
import { sql } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { buildApp } from '../app.ts';
import { loadConfig } from '../config/index.ts';

const monthName = (offset: number) => {
  const now = new Date();
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
  return `audit_events_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
};

it('creates the audit-log partitions ahead once the database is ready', async () => {
  const db = await createTestDb();
  const future = monthName(2);
  await db.db.execute(sql.raw(`DROP TABLE IF EXISTS ${future}`));
  const app = await buildApp({
    config: loadConfig({ env: {}, overrides: { env: 'test', 'log.level': 'silent' } }),
    db,
  });
  try {
    await app.ready();
    await app.dbReadyPromise;
    const rows = await executeRows<{ name: string }>(
      db.db,
      sql`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'audit_events'::regclass`,
    );
    const names = rows.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining([monthName(0), monthName(1), future]));
  } finally {
    await app.close();
    await db.dispose();
  }
});
