import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureMonthlyPartitions } from './partitions.ts';
import { usageEvents } from './schema/usage.ts';
import { executeRows } from './sql.ts';
import { createTestDb, type TestDb } from './testing.ts';
import {
  deleteUserUsage,
  insertUsageEvents,
  type NewUsageEvent,
  userUsageBreakdown,
  userUsageTotals,
} from './usage-events.ts';
import { uuidv7 } from './uuidv7.ts';

let t: TestDb;
const alice = uuidv7();
const bob = uuidv7();
const now = new Date();
const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 15));

const event = (over: Partial<NewUsageEvent>): NewUsageEvent => ({
  createdAt: now,
  requestId: `req-${uuidv7()}`,
  userId: alice,
  apiKeyId: null,
  alias: 'smart',
  deployment: 'openai-main',
  endpoint: 'chat.completions',
  status: 'ok',
  inputTokens: 10,
  outputTokens: 20,
  reasoningTokens: 0,
  costUsd: 0.001,
  priceVersion: 'config',
  latencyMs: 120,
  ttftMs: 40,
  ...over,
});

beforeAll(async () => {
  t = await createTestDb();
  await ensureMonthlyPartitions(t.db, usageEvents, { ahead: 1, now: lastMonth });
  await ensureMonthlyPartitions(t.db, usageEvents, { ahead: 1 });
});
afterAll(() => t?.dispose());

describe('usage events', () => {
  it('is a RANGE-partitioned table whose rows land in their month', async () => {
    await insertUsageEvents(t.db, [
      event({ createdAt: lastMonth, inputTokens: 1000 }),
      event({ alias: 'cheap', reasoningTokens: 5, outputTokens: 30 }),
      event({ status: 'error', inputTokens: 7, outputTokens: 0, costUsd: 0.0001, ttftMs: null }),
      event({ userId: bob, inputTokens: 99 }),
      event({ userId: null, apiKeyId: null, alias: '__probe__' }),
    ]);
    const rows = await executeRows<{ part: string; n: number }>(
      t.db,
      sql`select tableoid::regclass::text as part, count(*)::int as n from usage_events group by 1 order by 1`,
    );
    const month = (d: Date) => `usage_events_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
    expect(rows).toEqual([
      { part: month(lastMonth), n: 1 },
      { part: month(now), n: 4 },
    ]);
  });

  it('stores every column as given: text needing escapes, nulls, fractions of a cent', async () => {
    const id = uuidv7();
    const key = uuidv7();
    const at = new Date(now.getTime() - 1234);
    const given = event({
      id,
      createdAt: at,
      requestId: 'req "1" \\ {a,b} \u2713',
      userId: null,
      apiKeyId: key,
      alias: 'a,"b"',
      deployment: "o'hara",
      costUsd: 1.5e-7,
      ttftMs: null,
    });
    await insertUsageEvents(t.db, [given]);
    const [row] = await t.db.select().from(usageEvents).where(sql`${usageEvents.id} = ${id}`);
    expect(row).toEqual(given);
    await t.db.execute(sql`delete from ${usageEvents} where ${usageEvents.id} = ${id}`);
  });

  it('totals one user over a window, every status by default or one status', async () => {
    const all = await userUsageTotals(t.db, { userId: alice, from: monthStart });
    expect(all).toEqual({
      requests: 2,
      inputTokens: 17,
      outputTokens: 30,
      reasoningTokens: 5,
      costUsd: expect.closeTo(0.0011, 9),
    });
    const ok = await userUsageTotals(t.db, { userId: alice, from: monthStart, status: 'ok' });
    expect(ok.requests).toBe(1);
    const wide = await userUsageTotals(t.db, { userId: alice, from: new Date(0) });
    expect(wide.inputTokens).toBe(1017);
    const none = await userUsageTotals(t.db, { userId: uuidv7(), from: new Date(0) });
    expect(none).toEqual({ requests: 0, inputTokens: 0, outputTokens: 0, reasoningTokens: 0, costUsd: 0 });
  });

  it('breaks a window down by UTC day and by model', async () => {
    const byModel = await userUsageBreakdown(t.db, { userId: alice, from: new Date(0), by: 'model' });
    expect(byModel.map((b) => [b.key, b.requests])).toEqual([
      ['smart', 2],
      ['cheap', 1],
    ]);
    const byDay = await userUsageBreakdown(t.db, { userId: alice, from: new Date(0), by: 'day' });
    expect(byDay.map((b) => b.key)).toEqual([lastMonth.toISOString().slice(0, 10), now.toISOString().slice(0, 10)]);
    expect(byDay.at(-1)?.requests).toBe(2);
  });

  it('writes a full batch in one statement and purges one user', async () => {
    const batch = Array.from({ length: 2000 }, () => event({ userId: bob }));
    await insertUsageEvents(t.db, batch);
    expect((await userUsageTotals(t.db, { userId: bob, from: new Date(0) })).requests).toBe(2001);
    expect(await deleteUserUsage(t.db, bob)).toBe(2001);
    expect((await userUsageTotals(t.db, { userId: alice, from: new Date(0) })).requests).toBe(3);
  });
});
