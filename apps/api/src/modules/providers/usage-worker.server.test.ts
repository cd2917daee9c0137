import { executeRows } from '@genz/db';
import { createTestDb, type TestDb } from '@genz/db/testing';
import { sql } from 'drizzle-orm';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UsageEvent, UsageWriter, workerUsageSink } from './usage.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(() => t?.dispose());

const event = (i: number, userId: string | null = null): UsageEvent => ({
  requestId: `req-${i}`,
  at: new Date(),
  userId,
  apiKeyId: null,
  alias: 'smart',
  deployment: 'primary',
  endpoint: 'chat.completions',
  status: 'ok',
  inputTokens: i,
  outputTokens: 1,
  reasoningTokens: 0,
  costUsd: 0,
  priceVersion: 'unpriced',
  latencyMs: 5,
  ttftMs: 2,
});

const rows = async () =>
  (await executeRows<{ n: number }>(t.db, sql`select count(*)::int as n from usage_events`))[0]?.n ?? 0;

/** On PostgreSQL the app's usage batches are written by a worker thread with a connection of its own. */
describe('usage writer through the worker thread', () => {
  it('writes every event, batch by batch, and close ends the thread', async () => {
    const url = t.url;
    if (!url) throw new Error('the server backend gives every test database a URL');
    const dropped = new Counter({
      name: 'd1',
      help: 'x',
      labelNames: ['reason'] as const,
      registers: [new Registry()],
    });
    const sink = workerUsageSink({ url });
    const writer = new UsageWriter(sink, { queueMax: 1000, batchSize: 50, flushMs: 10_000 }, dropped, () => {});
    const before = await rows();
    for (let i = 0; i < 120; i++) writer.push(event(i));
    await writer.flush();
    expect((await rows()) - before).toBe(120);
    expect((await dropped.get()).values).toEqual([]);
    await sink.close();
  });

  it('drops and counts a batch the database refuses, then writes the next one', async () => {
    const url = t.url;
    if (!url) throw new Error('the server backend gives every test database a URL');
    const dropped = new Counter({
      name: 'd2',
      help: 'x',
      labelNames: ['reason'] as const,
      registers: [new Registry()],
    });
    const errors: unknown[] = [];
    const sink = workerUsageSink({ url });
    const writer = new UsageWriter(sink, { queueMax: 1000, batchSize: 10, flushMs: 10_000 }, dropped, (err) =>
      errors.push(err),
    );
    const before = await rows();
    writer.push(event(1, 'not-a-uuid'));
    await writer.flush();
    expect(errors).toHaveLength(1);
    expect((await dropped.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'write_failed' }, value: 1 }),
    ]);
    writer.push(event(2));
    await writer.flush();
    expect((await rows()) - before).toBe(1);
    await sink.close();
  });
});
