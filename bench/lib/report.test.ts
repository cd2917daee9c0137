import { describe, expect, it } from 'vitest';
import { median, type RunReport, renderSection, renderTable, summarise, type TargetResult } from './report.ts';
import { LatencyRecorder, percentile } from './stats.ts';

const row = (over: Partial<TargetResult>): TargetResult => ({
  name: 'GET /livez',
  server: 'api',
  baseline: false,
  requests: 1000,
  rps: 100,
  latencyMs: { p50: 1, p95: 2, p99: 4, max: 9 },
  errors: 0,
  non2xx: 0,
  rssIdleMiB: 80,
  rssPeakMiB: 120.4,
  cpuPercent: 99.6,
  bytesPerResponse: 180,
  loadGeneratorCpuPercent: 70,
  machine: { busyPercent: 190, softirqPercent: 20, otherPercent: 0 },
  ...over,
});
const base = (rps: number, p99: number) =>
  row({ name: 'hello | world', server: 'baseline', baseline: true, rps, latencyMs: { p50: 1, p95: 1.5, p99, max: 5 } });

describe('report', () => {
  it('takes medians over rounds and the median of per-round ratios to the baseline', () => {
    const summary = summarise([
      [base(40_000, 2), row({ rps: 10_000, rssPeakMiB: 130 })],
      [base(20_000, 4), row({ rps: 6_000 })],
      [base(30_000, 2), row({ rps: 9_000, errors: 2 })],
    ]);
    const api = summary[1];
    expect(api?.rps).toBe(9_000);
    expect([api?.rpsMin, api?.rpsMax]).toEqual([6_000, 10_000]);
    // per-round ratios 0.25, 0.3, 0.3: the median pairs each target with the baseline measured next to it
    expect(api?.rpsRatio).toBeCloseTo(0.3);
    expect(api?.p99Ratio).toBe(2);
    expect(api?.errors).toBe(2);
    expect(api?.rssPeakMiB).toBe(130);
    expect(median([3, 1, 2, 4])).toBe(2.5);
  });

  it('renders one markdown row per target', () => {
    const table = renderTable(summarise([[base(40_000, 2), row({ rps: 10_000 })]])).split('\n');
    expect(table).toHaveLength(4);
    expect(table[1]).toMatch(/^\| --- \| ---: \|/);
    expect(table[2]).toContain('`hello \\| world` | 40,000 | 1 (baseline)');
    expect(table[3]).toBe(
      '| `GET /livez` | 10,000 | 0.25× | 1.00 | 2.00 | 4.00 | 2.00× | 0 / 0 | 180 | 80 / 120 | 100 | 0.100 | 70 | 0 |',
    );
  });

  it('renders a measure-only run (no targets) as its notes, without a load line or a table', () => {
    const meta: RunReport['meta'] = {
      scenario: 'web-ttft',
      description: 'in the browser',
      date: '2026-11-28 04:30 UTC',
      machine: { cpu: 'x', cores: 2, memoryGiB: 4, node: 'v22', kernel: '6' },
      git: { commit: 'abc', dirty: false, dirtyPaths: [] },
      command: 'npm run bench -w @genz/bench -- web-ttft',
      durationS: 10,
      warmupS: 3,
      connections: 50,
      rounds: 3,
    };
    const measured = renderSection({ meta, rounds: [[]], summary: summarise([[]]), notes: ['Send → first token'] });
    expect(measured).not.toContain('- Load:');
    expect(measured).not.toContain('| target |');
    expect(measured).toContain('- Send → first token');
    const loaded = renderSection({ meta, rounds: [], summary: summarise([[base(1, 1)]]), notes: [] });
    expect(loaded).toContain('- Load: 50 connections');
    expect(loaded).toContain('| target |');
  });

  it('computes nearest-rank percentiles from recorded latencies', () => {
    const rec = new LatencyRecorder();
    for (let i = 100_000; i >= 1; i--) rec.record(i / 1000);
    const sorted = rec.sorted();
    expect(rec.count).toBe(100_000);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile(new Float64Array(0), 50)).toBeNaN();
  });
});
