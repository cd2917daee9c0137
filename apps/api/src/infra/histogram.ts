import type { Metric, Registry } from 'prom-client';

/** One label set of a {@link RequestHistogram}: resolve it once with `series`, then observe through it. */
export interface HistogramSeries {
  observe(value: number): void;
}

/** One exposed value, in the shape prom-client's registry formats. */
interface ExposedValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
}

class Series implements HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  private readonly upperBounds: readonly number[];
  /** Observations per bucket (the last one is +Inf), not cumulative. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(labels: Readonly<Record<string, string>>, upperBounds: readonly number[]) {
    this.labels = labels;
    this.upperBounds = upperBounds;
    this.counts = new Float64Array(upperBounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram for the request path. prom-client's `observe(labels, value)` validates and hashes its labels
 * on every call (three such updates were about 4% of a `/v1` request's CPU, docs/benchmarks.md); here a label set is
 * resolved once (`series`, which callers keep: their label sets are bounded) and an observation is a bucket search
 * and three additions. It registers like any prom-client metric and is exposed exactly as prom-client's `Histogram`
 * is: `_bucket` lines with `le` first and then the series' labels, `+Inf`, `_sum` and `_count`.
 */
export class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly string[];
  private readonly upperBounds: readonly number[];
  private readonly byKey = new Map<string, Series>();

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    upperBounds: readonly number[],
    registry: Registry,
  ) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.upperBounds = upperBounds;
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set (created on first use). Every label name must be given. */
  series(labels: Readonly<Record<string, string>>): HistogramSeries {
    const key = this.labelNames.map((n) => labels[n]).join('\u0000');
    let s = this.byKey.get(key);
    if (!s) {
      for (const n of this.labelNames) if (labels[n] === undefined) throw new Error(`${this.name}: no label ${n}`);
      s = new Series({ ...labels }, this.upperBounds);
      this.byKey.set(key, s);
    }
    return s;
  }

  /** `labels` of each value as prom-client's exposition wants them: `le` own, the series' shared. */
  private values(merge: boolean): ExposedValue[] {
    const out: ExposedValue[] = [];
    const line = (
      labels: Record<string, string | number>,
      shared: Record<string, string>,
      value: number,
      suffix: string,
    ) =>
      out.push({
        labels: merge ? { ...labels, ...shared } : labels,
        ...(merge ? {} : { sharedLabels: shared }),
        value,
        metricName: `${this.name}${suffix}`,
      });
    for (const s of this.byKey.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += s.counts[i] as number;
        line({ le }, s.labels, cumulative, '_bucket');
      });
      line({ le: '+Inf' }, s.labels, s.count, '_bucket');
      line({}, s.labels, s.sum, '_sum');
      line({}, s.labels, s.count, '_count');
    }
    return out;
  }

  private snapshot(merge: boolean) {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.values(merge),
    };
  }

  /** What the registry's text exposition reads. */
  async getForPromString() {
    return this.snapshot(false);
  }

  /** What `getMetricsAsJSON` and `getSingleMetric(...).get()` read: labels merged, as prom-client's `get()` gives. */
  async get() {
    return this.snapshot(true);
  }

  /** Zeroes every series in place: callers keep their handles. */
  reset(): void {
    for (const s of this.byKey.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
