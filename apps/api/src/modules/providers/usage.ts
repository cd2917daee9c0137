import { type Db, insertUsageEvents } from '@genz/db';
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

/** Where batches go: the usage_events table (dbUsageSink), or memory in unit tests of the writer. */
export interface UsageSink {
  write(batch: UsageEvent[]): Promise<void>;
}

/**
 * Writes each batch as one INSERT into usage_events (packages/db insertUsageEvents). A failure rejects the
 * whole batch; the writer counts it as dropped (`write_failed`) and carries on.
 */
export function dbUsageSink(db: () => Db): UsageSink {
  return {
    async write(batch) {
      await insertUsageEvents(
        db(),
        batch.map((e) => ({
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
        })),
      );
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
