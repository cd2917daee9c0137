import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { type Db, insertUsageEvents, type NewUsageEvent } from '@genz/db';
import type { Counter } from 'prom-client';

/** One priced, attributed upstream call (ARCHITECTURE §4: usage events are batched and async). */
export interface UsageEvent {
  requestId: string;
  at: Date;
  userId: string | null;
  apiKeyId: string | null;
  alias: string;
  deployment: string;
  endpoint: 'chat.completions' | 'responses' | 'embeddings';
  status: 'ok' | 'error' | 'aborted';
  inputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  costUsd: number;
  priceVersion: string;
  latencyMs: number;
  ttftMs: number | null;
}

/** Where batches go: the usage_events table (dbUsageSink, workerUsageSink), or memory in unit tests of the writer. */
export interface UsageSink {
  write(batch: UsageEvent[]): Promise<void>;
}

/** A usage event as a usage_events row (packages/db insertUsageEvents). */
export function rowOf(e: UsageEvent): NewUsageEvent {
  return {
    createdAt: e.at,
    requestId: e.requestId,
    userId: e.userId,
    apiKeyId: e.apiKeyId,
    alias: e.alias,
    deployment: e.deployment,
    endpoint: e.endpoint,
    status: e.status,
    inputTokens: e.inputTokens,
    outputTokens: e.outputTokens,
    reasoningTokens: e.reasoningTokens,
    costUsd: e.costUsd,
    priceVersion: e.priceVersion,
    latencyMs: e.latencyMs,
    ttftMs: e.ttftMs,
  };
}

/**
 * Writes each batch as one INSERT into usage_events (packages/db insertUsageEvents). A failure rejects the
 * whole batch; the writer counts it as dropped (`write_failed`) and carries on.
 */
export function dbUsageSink(db: () => Db): UsageSink {
  return {
    async write(batch) {
      await insertUsageEvents(db(), batch.map(rowOf));
    },
  };
}

/**
 * The same INSERT made by a worker thread (./usage-worker.ts) on a connection of its own, so that building and
 * serialising a batch (about 5 µs an event, 2–3 ms for a batch of 500) does not run on the thread that serves
 * requests; this thread only hands the events over. PostgreSQL only: PGlite lives in this thread. The worker starts
 * with the first batch; if it dies, the batches in flight fail (`write_failed`) and the next one starts another.
 * `close` ends it after the writer's last flush. `script` is the worker's module (tests give one that dies).
 */
export function workerUsageSink(
  connection: { url: string; statementTimeoutMs?: number | undefined },
  script: URL = new URL('./usage-worker.ts', import.meta.url),
): UsageSink & { close(): Promise<void> } {
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  const start = () => {
    const w = new Worker(script, { workerData: connection });
    w.on('message', (m: { id: number; error?: string }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error === undefined) p.resolve();
      else p.reject(new Error(m.error));
    });
    w.on('error', failAll);
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      failAll(new Error(`the usage worker exited (code ${code})`));
    });
    return w;
  };
  return {
    write(batch) {
      worker ??= start();
      const w = worker;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.postMessage({ id, batch });
      });
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (!w) return;
      const exited = once(w, 'exit');
      w.postMessage({ close: true });
      await exited;
    },
  };
}

export function memoryUsageSink(limit = 10_000): UsageSink & { events: UsageEvent[] } {
  const events: UsageEvent[] = [];
  return {
    events,
    async write(batch) {
      events.push(...batch);
      if (events.length > limit) events.splice(0, events.length - limit);
    },
  };
}

/**
 * A bounded, batched, asynchronous writer: `push` never blocks or awaits; past `queueMax` buffered events it drops
 * and counts the drop. A batch is written when `batchSize` events wait or `flushMs` passed; one write at a time.
 */
export class UsageWriter {
  private queue: UsageEvent[] = [];
  private draining: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly sink: UsageSink;
  private readonly options: { queueMax: number; batchSize: number; flushMs: number };
  private readonly dropped: Counter<'reason'>;
  private readonly onError: (err: unknown) => void;

  constructor(
    sink: UsageSink,
    options: { queueMax: number; batchSize: number; flushMs: number },
    dropped: Counter<'reason'>,
    onError: (err: unknown) => void,
  ) {
    this.sink = sink;
    this.options = options;
    this.dropped = dropped;
    this.onError = onError;
  }

  push(event: UsageEvent): void {
    if (this.queue.length >= this.options.queueMax) {
      this.dropped.inc({ reason: 'queue_full' });
      return;
    }
    this.queue.push(event);
    if (this.queue.length >= this.options.batchSize) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.options.flushMs);
      this.timer.unref();
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Writes everything queued; resolves when the queue is empty (also when a write was already running). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.draining) return this.draining;
    if (this.queue.length === 0) return Promise.resolve();
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.batchSize);
      try {
        await this.sink.write(batch);
      } catch (err) {
        this.dropped.inc({ reason: 'write_failed' }, batch.length);
        this.onError(err);
      }
    }
  }
}
