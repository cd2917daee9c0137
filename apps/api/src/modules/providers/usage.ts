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

/** Where batches go: a database table later (analytics work), memory now. */
export interface UsageSink {
  write(batch: UsageEvent[]): Promise<void>;
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
  private writing = false;
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

  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing || this.queue.length === 0) return;
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.batchSize);
        try {
          await this.sink.write(batch);
        } catch (err) {
          this.dropped.inc({ reason: 'write_failed' }, batch.length);
          this.onError(err);
        }
      }
    } finally {
      this.writing = false;
    }
  }
}
