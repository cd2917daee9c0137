import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { is, sql } from 'drizzle-orm';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationsFolder } from './migrations.ts';
import * as schema from './schema/index.ts';
import { executeRows } from './sql.ts';
import { createTestDb, type TestDb } from './testing.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(() => t?.dispose());

const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta/_journal.json'), 'utf8')) as {
  entries: { tag: string }[];
};

describe('migrations', () => {
  it('are all applied, once, and re-running migrate() is a no-op', async () => {
    const count = async () =>
      (await executeRows<{ n: number }>(t.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`))[0]?.n;
    expect(await count()).toBe(journal.entries.length);
    await t.migrate();
    expect(await count()).toBe(journal.entries.length);
  });

  it('make audit_events a RANGE-partitioned table with a DEFAULT partition', async () => {
    const rows = await executeRows<{ kind: string; strategy: string; has_default: boolean }>(
      t.db,
      sql`select c.relkind::text as kind, p.partstrat::text as strategy, p.partdefid <> 0 as has_default
            from pg_class c join pg_partitioned_table p on p.partrelid = c.oid
           where c.oid = 'audit_events'::regclass`,
    );
    expect(rows).toEqual([{ kind: 'p', strategy: 'r', has_default: true }]);
  });

  // Partitioned tables are hand-written SQL, so nothing else keeps their drizzle definitions honest.
  it('match the drizzle schema: every table, column, type and nullability exists in the database', async () => {
    const tables = Object.values(schema).filter((v) => is(v, PgTable));
    expect(tables.length).toBeGreaterThan(0);
    for (const table of tables) {
      const cfg = getTableConfig(table);
      const dbCols = await executeRows<{ name: string; type: string; not_null: boolean }>(
        t.db,
        sql`select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null
              from pg_attribute a
             where a.attrelid = ${cfg.name}::regclass and a.attnum > 0 and not a.attisdropped
             order by a.attnum`,
      );
      expect(dbCols.map((c) => c.name).sort(), cfg.name).toEqual(cfg.columns.map((c) => c.name).sort());
      for (const col of cfg.columns) {
        const dbCol = dbCols.find((c) => c.name === col.name);
        expect(dbCol?.not_null, `${cfg.name}.${col.name} not null`).toBe(col.notNull);
        const want = col.getSQLType().replace('timestamp (3) with time zone', 'timestamp(3) with time zone');
        expect(dbCol?.type, `${cfg.name}.${col.name} type`).toBe(want);
      }
    }
  });
});
