import { executeRows } from '@genz/db';
import { createTestDb, type TestDb } from '@genz/db/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { droppedCounter, usageEvent } from './testing/index.ts';
import { dbUsageSink, UsageWriter } from './usage.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(() => t?.dispose());

describe('usage writer into usage_events', () => {
  it('writes each batch as one multi-row INSERT', async () => {
    const inserts: string[] = [];
    t.observeQueries((op) => {
      if (op === 'insert') inserts.push(op);
    });
    const writer = new UsageWriter(
      dbUsageSink(() => t.db),
      { queueMax: 1000, batchSize: 50, flushMs: 10_000 },
      droppedCounter(),
      () => {},
    );
    for (let i = 0; i < 120; i++) writer.push(usageEvent(i));
    await writer.flush();
    t.observeQueries(undefined);
    const [row] = await executeRows<{ n: number }>(t.db, sql`select count(*)::int as n from usage_events`);
    expect(row?.n).toBe(120);
    expect(inserts.length).toBe(3); // 50 + 50 + 20
  });

  it('drops and counts a batch the database refuses, and keeps going', async () => {
    const dropped = droppedCounter();
    const errors: unknown[] = [];
    let broken = true;
    const sink = dbUsageSink(() => t.db);
    const writer = new UsageWriter(
      { write: (batch) => (broken ? Promise.reject(new Error('connection refused')) : sink.write(batch)) },
      { queueMax: 1000, batchSize: 10, flushMs: 10_000 },
      dropped,
      (err) => errors.push(err),
    );
    for (let i = 0; i < 10; i++) writer.push(usageEvent(i));
    await writer.flush();
    expect((await dropped.get()).values).toEqual([{ labels: { reason: 'write_failed' }, value: 10 }]);
    expect(errors).toHaveLength(1);
    broken = false;
    writer.push(usageEvent(1000));
    await writer.flush();
    const rows = await executeRows(t.db, sql`select 1 from usage_events where request_id = 'req-1000'`);
    expect(rows).toHaveLength(1);
  });
});
