import type { ServerName } from './types.ts';

export interface TargetResult {
  name: string;
  server: ServerName;
  baseline: boolean;
  requests: number;
  rps: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** Socket errors and timeouts (no response at all). */
  errors: number;
  non2xx: number;
  /** The server process's RSS before any load was sent to it, and the peak while this target was measured. */
  rssIdleMiB: number;
  rssPeakMiB: number;
  /** Server process CPU over the measured window, % of one core. */
  cpuPercent: number;
  /** Mean response size (headers + body), from autocannon's byte count. */
  bytesPerResponse: number;
  /** The runner process (autocannon) over the measured window, % of one core: near 100 means generator-bound. */
  loadGeneratorCpuPercent: number;
  /**
   * The whole machine over the measured window, % of one core (so up to cores × 100): busy, of which softirq (loopback
   * networking, charged to no process), and what remains for other processes after the server and the generator.
   */
  machine: { busyPercent: number; softirqPercent: number; otherPercent: number };
}

export interface RunMeta {
  scenario: string;
  description: string;
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; kernel: string };
  git: { commit: string; dirty: boolean; dirtyPaths: string[] };
  command: string;
  durationS: number;
  warmupS: number;
  connections: number;
  rounds: number;
}

export interface TargetSummary {
  name: string;
  server: ServerName;
  baseline: boolean;
  rounds: number;
  /** Medians over the rounds (RSS peak: the maximum). */
  rps: number;
  rpsMin: number;
  rpsMax: number;
  latencyMs: { p50: number; p95: number; p99: number };
  errors: number;
  non2xx: number;
  bytesPerResponse: number;
  rssIdleMiB: number;
  rssPeakMiB: number;
  cpuPercent: number;
  /**
   * Server CPU time per response (median over rounds of CPU% × 10 / RPS): what one request costs the process. Much
   * steadier than RPS or latency on a contended machine, where those mostly measure how much CPU was left over.
   */
  cpuMsPerRequest: number;
  loadGeneratorCpuPercent: number;
  otherCpuPercent: number;
  /** Median over the rounds of this target / the baseline in the same round (adjacent in time, so drift cancels). */
  rpsRatio: number;
  p99Ratio: number;
}

export interface RunReport {
  meta: RunMeta;
  /** rounds[i][j]: round i, target j (targets in scenario order). */
  rounds: TargetResult[][];
  summary: TargetSummary[];
  notes: string[];
}

export function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Folds the rounds into one row per target; ratios are per-round ratios to the baseline, then the median. */
export function summarise(rounds: TargetResult[][]): TargetSummary[] {
  const first = rounds[0] ?? [];
  const baseIndex = first.findIndex((r) => r.baseline);
  return first.map((t, j) => {
    const rows = rounds.map((round) => round[j] as TargetResult);
    const of = (f: (r: TargetResult) => number) => median(rows.map(f));
    const ratioOf = (f: (r: TargetResult) => number) =>
      baseIndex < 0
        ? Number.NaN
        : median(rounds.map((round) => f(round[j] as TargetResult) / f(round[baseIndex] as TargetResult)));
    const rps = rows.map((r) => r.rps);
    return {
      name: t.name,
      server: t.server,
      baseline: t.baseline,
      rounds: rows.length,
      rps: median(rps),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      latencyMs: { p50: of((r) => r.latencyMs.p50), p95: of((r) => r.latencyMs.p95), p99: of((r) => r.latencyMs.p99) },
      errors: rows.reduce((a, r) => a + r.errors, 0),
      non2xx: rows.reduce((a, r) => a + r.non2xx, 0),
      bytesPerResponse: of((r) => r.bytesPerResponse),
      rssIdleMiB: t.rssIdleMiB,
      rssPeakMiB: Math.max(...rows.map((r) => r.rssPeakMiB)),
      cpuPercent: of((r) => r.cpuPercent),
      cpuMsPerRequest: of((r) => (r.rps > 0 ? (r.cpuPercent * 10) / r.rps : Number.NaN)),
      loadGeneratorCpuPercent: of((r) => r.loadGeneratorCpuPercent),
      otherCpuPercent: of((r) => r.machine.otherPercent),
      rpsRatio: t.baseline ? 1 : ratioOf((r) => r.rps),
      p99Ratio: t.baseline ? 1 : ratioOf((r) => r.latencyMs.p99),
    };
  });
}

const fmt = (n: number, digits: number): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';

function ratioCell(x: number, isBaseline: boolean): string {
  if (isBaseline) return '1 (baseline)';
  return Number.isFinite(x) ? `${fmt(x, x < 0.1 ? 3 : 2)}×` : 'n/a';
}

function cell(s: string): string {
  return s.replaceAll('|', '\\|');
}

/** The markdown table of one run: one row per target. */
export function renderTable(summary: TargetSummary[]): string {
  const header = [
    'target',
    'RPS (min–max)',
    'RPS vs baseline',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'p99 vs baseline',
    'errors / non-2xx',
    'bytes/resp',
    'RSS idle / peak MiB',
    'server CPU %',
    'server CPU ms/req',
    'loadgen CPU %',
    'other CPU %',
  ];
  const rows = summary.map((r) => [
    `\`${cell(r.name)}\``,
    r.rounds > 1 ? `${fmt(r.rps, 0)} (${fmt(r.rpsMin, 0)}–${fmt(r.rpsMax, 0)})` : fmt(r.rps, 0),
    ratioCell(r.rpsRatio, r.baseline),
    fmt(r.latencyMs.p50, 2),
    fmt(r.latencyMs.p95, 2),
    fmt(r.latencyMs.p99, 2),
    ratioCell(r.p99Ratio, r.baseline),
    `${r.errors} / ${r.non2xx}`,
    fmt(r.bytesPerResponse, 0),
    `${fmt(r.rssIdleMiB, 0)} / ${fmt(r.rssPeakMiB, 0)}`,
    fmt(r.cpuPercent, 0),
    fmt(r.cpuMsPerRequest, 3),
    fmt(r.loadGeneratorCpuPercent, 0),
    fmt(r.otherCpuPercent, 0),
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** The section appended to docs/benchmarks.md for one run. */
export function renderSection(report: RunReport): string {
  const { meta } = report;
  const dirty = meta.git.dirty
    ? ` (dirty: uncommitted changes${meta.git.dirtyPaths.length ? ` in ${meta.git.dirtyPaths.map((p) => `\`${p}\``).join(', ')}` : ''})`
    : ' (clean)';
  return [
    `### ${meta.scenario} — ${meta.date}`,
    '',
    meta.description,
    '',
    `- Machine: ${meta.machine.cpu}, ${meta.machine.cores} cores, ${fmt(meta.machine.memoryGiB, 1)} GiB, Node ${meta.machine.node}, Linux ${meta.machine.kernel}`,
    `- Commit: \`${meta.git.commit}\`${dirty}`,
    `- Command: \`${meta.command}\``,
    // A scenario measured by its `measure` step alone (no targets) has no load line and no table: its notes say it all.
    ...(report.summary.length === 0
      ? []
      : [
          `- Load: ${meta.connections} connections; per target ${meta.warmupS} s warm-up (discarded) then ${meta.durationS} s measured, one target at a time; ${meta.rounds} round(s) of all targets in turn. Figures are medians over the rounds; ratios are the median of each round's ratio to the baseline.`,
          '',
          renderTable(report.summary),
        ]),
    ...(report.notes.length ? ['', ...report.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
}
