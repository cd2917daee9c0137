/** Per-deployment live statistics of this replica: in-flight count, latency EWMAs and a passive health score. */
export interface DeploymentStats {
  inFlight: number;
  /** EWMA of time to first token, ms; undefined until the first sample. */
  ttftMs: number | undefined;
  /** EWMA of output tokens per second after the first token. */
  tokensPerSecond: number | undefined;
  /** EWMA of attempt outcomes: 1 = every recent attempt succeeded. */
  health: number;
}

export class Stats {
  private readonly byId = new Map<string, DeploymentStats>();
  private readonly alpha: number;

  constructor(alpha: number) {
    this.alpha = alpha;
  }

  get(id: string): DeploymentStats {
    let s = this.byId.get(id);
    if (!s) {
      s = { inFlight: 0, ttftMs: undefined, tokensPerSecond: undefined, health: 1 };
      this.byId.set(id, s);
    }
    return s;
  }

  private ewma(prev: number | undefined, sample: number): number {
    return prev === undefined ? sample : prev + this.alpha * (sample - prev);
  }

  observeTtft(id: string, ms: number): void {
    const s = this.get(id);
    s.ttftMs = this.ewma(s.ttftMs, ms);
  }

  observeThroughput(id: string, outputTokens: number, streamMs: number): void {
    if (outputTokens <= 0 || streamMs <= 0) return;
    const s = this.get(id);
    s.tokensPerSecond = this.ewma(s.tokensPerSecond, (outputTokens * 1000) / streamMs);
  }

  observeOutcome(id: string, ok: boolean): void {
    const s = this.get(id);
    s.health = this.ewma(s.health, ok ? 1 : 0);
  }

  /** Expected ms to answer a typical reply: TTFT plus 256 tokens at the observed rate. Unknown scores 0 (explore). */
  expectedLatency(id: string): number {
    const s = this.get(id);
    if (s.ttftMs === undefined) return 0;
    return s.ttftMs + (s.tokensPerSecond ? (256 * 1000) / s.tokensPerSecond : 0);
  }
}

/**
 * Retries allowed within a rolling 10 s window: `minPerSecond` x 10 plus `ratio` of requests. A provider outage
 * therefore adds at most that share of load, instead of multiplying it by the attempt count.
 */
export class RetryBudget {
  private readonly requests = new Array<number>(10).fill(0);
  private readonly retries = new Array<number>(10).fill(0);
  private slot = 0;
  private slotSecond = 0;
  private readonly ratio: number;
  private readonly minPerSecond: number;
  private readonly clock: () => number;

  constructor(ratio: number, minPerSecond: number, clock: () => number = Date.now) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
    this.clock = clock;
  }

  private advance(): void {
    const second = Math.floor(this.clock() / 1000);
    if (second === this.slotSecond) return;
    const steps = Math.min(10, second - this.slotSecond);
    for (let i = 0; i < steps; i++) {
      this.slot = (this.slot + 1) % 10;
      this.requests[this.slot] = 0;
      this.retries[this.slot] = 0;
    }
    this.slotSecond = second;
  }

  recordRequest(): void {
    this.advance();
    this.requests[this.slot] = (this.requests[this.slot] ?? 0) + 1;
  }

  tryRetry(): boolean {
    this.advance();
    const requests = this.requests.reduce((a, b) => a + b, 0);
    const retries = this.retries.reduce((a, b) => a + b, 0);
    if (retries >= this.minPerSecond * 10 + this.ratio * requests) return false;
    this.retries[this.slot] = (this.retries[this.slot] ?? 0) + 1;
    return true;
  }
}
