import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureMonthlyPartitions } from './partitions.ts';
import { executeRows } from './sql.ts';
import { createTestDb, type TestDb } from './testing.ts';
import { uuidv7 } from './uuidv7.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await t.db.execute(sql`create table pt_events (id uuid not null, created_at timestamptz not null, v text,
    primary key (id, created_at)) partition by range (created_at)`);
});
afterAll(() => t?.dispose());

async function partitions(parent: string): Promise<string[]> {
  const rows = await executeRows<{ name: string }>(
    t.db,
    sql`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
         where i.inhparent = ${parent}::regclass order by 1`,
  );
  return rows.map((r) => r.name);
}

async function insertAt(at: string, v: string): Promise<string> {
  const rows = await executeRows<{ part: string }>(
    t.db,
    sql`insert into pt_events values (${uuidv7()}, ${at}::timestamptz, ${v}) returning tableoid::regclass::text as part`,
  );
  return rows[0]?.part ?? '';
}

describe('ensureMonthlyPartitions', () => {
  it('creates DEFAULT plus the current month and `ahead` months (UTC), and is idempotent', async () => {
    const now = new Date('2031-01-31T23:30:00Z');
    const first = await ensureMonthlyPartitions(t.db, 'pt_events', { ahead: 2, now });
    expect(first).toEqual({
      created: ['pt_events_default', 'pt_events_p203101', 'pt_events_p203102', 'pt_events_p203103'],
      dropped: [],
    });
    expect(await ensureMonthlyPartitions(t.db, 'pt_events', { ahead: 2, now })).toEqual({ created: [], dropped: [] });
  });

  it('routes inserts by month; one outside every partition lands in DEFAULT instead of failing', async () => {
    expect(await insertAt('2031-01-01T00:00:00Z', 'jan-first')).toBe('pt_events_p203101');
    expect(await insertAt('2031-02-28T23:59:59.999Z', 'feb-last')).toBe('pt_events_p203102');
    expect(await insertAt('2031-03-15T00:00:00Z', 'mar')).toBe('pt_events_p203103');
    expect(await insertAt('2019-06-01T00:00:00Z', 'ancient')).toBe('pt_events_default');
    expect(await insertAt('2031-05-10T00:00:00Z', 'early-may')).toBe('pt_events_default');
  });

  it('moves rows DEFAULT holds for a month when that month gets its partition', async () => {
    const changes = await ensureMonthlyPartitions(t.db, 'pt_events', {
      ahead: 2,
      now: new Date('2031-03-01T00:00:00Z'),
    });
    expect(changes.created).toEqual(['pt_events_p203104', 'pt_events_p203105']);
    const rows = await executeRows<{ v: string; part: string }>(
      t.db,
      sql`select v, tableoid::regclass::text as part from pt_events where v in ('early-may', 'ancient') order by v`,
    );
    expect(rows).toEqual([
      { v: 'ancient', part: 'pt_events_default' },
      { v: 'early-may', part: 'pt_events_p203105' },
    ]);
  });

  it('drops partitions past retention and deletes rows that old from DEFAULT', async () => {
    // Month of now is 2031-05; retain 2 whole months before it: March and April stay, Jan and Feb go.
    const changes = await ensureMonthlyPartitions(t.db, 'pt_events', {
      ahead: 1,
      retainMonths: 2,
      now: new Date('2031-05-20T12:00:00Z'),
    });
    expect(changes).toEqual({ created: ['pt_events_p203106'], dropped: ['pt_events_p203101', 'pt_events_p203102'] });
    expect(await partitions('pt_events')).toEqual([
      'pt_events_default',
      'pt_events_p203103',
      'pt_events_p203104',
      'pt_events_p203105',
      'pt_events_p203106',
    ]);
    const left = await executeRows<{ v: string }>(t.db, sql`select v from pt_events order by v`);
    expect(left.map((r) => r.v)).toEqual(['early-may', 'mar']);
  });

  it('rejects a table that is not RANGE-partitioned', async () => {
    await t.db.execute(sql`create table pt_plain (id int)`);
    await expect(ensureMonthlyPartitions(t.db, 'pt_plain', { ahead: 1 })).rejects.toThrow();
  });

  it('keeps audit_events partitions ahead with the database clock', async () => {
    const changes = await ensureMonthlyPartitions(t.db, 'audit_events', { ahead: 4, retainMonths: 12 });
    const names = await partitions('audit_events');
    for (const c of changes.created) expect(names).toContain(c);
    const month = (offset: number) => {
      const d = new Date();
      d.setUTCDate(1);
      d.setUTCMonth(d.getUTCMonth() + offset);
      return `audit_events_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
    };
    for (let i = 0; i <= 4; i++) expect(names).toContain(month(i));
  });
});
