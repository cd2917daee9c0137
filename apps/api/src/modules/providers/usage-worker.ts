import { parentPort, workerData } from 'node:worker_threads';
import { createDb, insertUsageEvents } from '@genz/db';
import { rowOf, type UsageEvent } from './usage.ts';

/**
 * The usage writer's worker thread (usage.ts, workerUsageSink): one connection of its own, one INSERT per batch, an
 * answer per batch (`{ id }`, or `{ id, error }`). `{ close: true }` ends the connection, and with it the thread.
 */
const { url, statementTimeoutMs } = workerData as { url: string; statementTimeoutMs?: number };
const port = parentPort;
if (!port) throw new Error('usage-worker.ts runs as a worker thread');
const handle = await createDb({
  url,
  poolSize: 1,
  dataDir: '',
  ...(statementTimeoutMs === undefined ? {} : { statementTimeoutMs }),
  // An idle connection that failed is dropped by the pool; the next batch opens another.
  onPoolError: () => {},
});
port.on('message', async (message: { id: number; batch: UsageEvent[] } | { close: true }) => {
  if ('close' in message) {
    await handle.close().catch(() => {});
    port.close();
    return;
  }
  try {
    await insertUsageEvents(handle.db, message.batch.map(rowOf));
    port.postMessage({ id: message.id });
  } catch (err) {
    port.postMessage({ id: message.id, error: (err as Error).message });
  }
});
