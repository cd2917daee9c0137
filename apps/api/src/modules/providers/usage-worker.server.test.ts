import { executeRows } from '@genz/db';
import { createTestDb, type TestDb } from '@genz/db/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { droppedCounter, usageEvent } from './testing/index.ts';
import { UsageWriter, workerUsageSink } from './usage.ts';

let t: TestDb;
let url: string;
beforeAll(async () => {
  t = await createTestDb();
  if (!t.url) throw new Error('the server backend gives every test database a URL');
  url = t.url;
});
afterAll(() => t?.dispose());

const rows = async () =>
  (await executeRows<{ n: number }>(t.db, sql`select count(*)::int as n from usage_events`))[0]?.n ?? 0;

/** On PostgreSQL the app's usage batches are written by a worker thread with a connection of its own. */
describe('usage writer through the worker thread', () => {
  it('writes every event, batch by batch, and close ends the thread', async () => {
    const dropped = droppedCounter();
    const sink = workerUsageSink({ url });
    const writer = new UsageWriter(sink, { queueMax: 1000, batchSize: 50, flushMs: 10_000 }, dropped, () => {});
    const before = await rows();
    for (let i = 0; i < 120; i++) writer.push(usageEvent(i));
    await writer.flush();
    expect((await rows()) - before).toBe(120);
    expect((await dropped.get()).values).toEqual([]);
    await sink.close();
  });

  it('drops and counts a batch the database refuses, then writes the next one', async () => {
    const dropped = droppedCounter();
    const errors: unknown[] = [];
    const sink = workerUsageSink({ url });
    const writer = new UsageWriter(sink, { queueMax: 1000, batchSize: 10, flushMs: 10_000 }, dropped, (err) =>
      errors.push(err),
    );
    const before = await rows();
    writer.push(usageEvent(1, { userId: 'not-a-uuid' }));
    await writer.flush();
    expect(errors).toHaveLength(1);
    expect((await dropped.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'write_failed' }, value: 1 }),
    ]);
    writer.push(usageEvent(2));
    await writer.flush();
    expect((await rows()) - before).toBe(1);
    await sink.close();
  });

  it('fails the batch in flight when the thread dies, and starts another for the next batch', async () => {
    const dropped = droppedCounter();
    const errors: Error[] = [];
    // A worker that exits on its first message, like one that crashed mid-batch.
    const dying = new URL(
      'data:text/javascript,import{parentPort}from"node:worker_threads";parentPort.once("message",()=>process.exit(3))',
    );
    const sink = workerUsageSink({ url }, dying);
    const writer = new UsageWriter(sink, { queueMax: 1000, batchSize: 10, flushMs: 10_000 }, dropped, (err) =>
      errors.push(err as Error),
    );
    writer.push(usageEvent(1));
    writer.push(usageEvent(2));
    await writer.flush();
    // The next batch goes to a new thread (a dead one would never answer, and this flush would hang).
    writer.push(usageEvent(3));
    await writer.flush();
    expect(errors.map((e) => e.message)).toEqual([
      'the usage worker exited (code 3)',
      'the usage worker exited (code 3)',
    ]);
    expect((await dropped.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'write_failed' }, value: 3 }),
    ]);
    await sink.close();
  });
});
