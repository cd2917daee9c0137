/**
 * Shared helpers for the ops tests (deploy/**\/*.ops.test.ts).
 * Tools are never skipped: a missing program fails the test with the Debian package that provides it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';

export const DEPLOY_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(DEPLOY_DIR, '..');
export const deployPath = (...p: string[]): string => join(DEPLOY_DIR, ...p);
export const repoPath = (...p: string[]): string => join(REPO_ROOT, ...p);

/** Program -> how to get it. kubectl is not in Debian 12; it is preinstalled on the CI machine image. */
const TOOL_SOURCE: Record<string, string> = {
  promtool: 'Debian package "prometheus" (apt-get install -y --no-install-recommends prometheus)',
  prometheus: 'Debian package "prometheus" (apt-get install -y --no-install-recommends prometheus)',
  nginx: 'Debian package "nginx" (apt-get install -y --no-install-recommends nginx)',
  pgbouncer: 'Debian package "pgbouncer" (apt-get install -y --no-install-recommends pgbouncer)',
  'redis-server': 'Debian package "redis-server" (apt-get install -y --no-install-recommends redis-server)',
  pg_dump: 'Debian package "postgresql-client-15" (apt-get install -y --no-install-recommends postgresql-client-15)',
  pg_restore: 'Debian package "postgresql-client-15" (apt-get install -y --no-install-recommends postgresql-client-15)',
  pg_basebackup:
    'Debian package "postgresql-client-15" (apt-get install -y --no-install-recommends postgresql-client-15)',
  psql: 'Debian package "postgresql-client-15" (apt-get install -y --no-install-recommends postgresql-client-15)',
  initdb: 'Debian package "postgresql-15" (apt-get install -y --no-install-recommends postgresql-15)',
  pg_ctl: 'Debian package "postgresql-15" (apt-get install -y --no-install-recommends postgresql-15)',
  runuser: 'Debian package "util-linux"',
  'redis-cli': 'Debian package "redis-tools" (apt-get install -y --no-install-recommends redis-tools)',
  kubectl: 'kubectl (preinstalled on the CI image; otherwise from the Kubernetes release of your cluster)',
};

const EXTRA_PATH = ['/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/lib/postgresql/15/bin'];

/** Absolute path of a program, or a thrown Error naming the package that provides it. */
export function requireTool(name: string): string {
  const PATH = [process.env.PATH ?? '', ...EXTRA_PATH].join(':');
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8', env: { ...process.env, PATH } });
  const found = r.stdout.trim();
  if (r.status !== 0 || !found) {
    throw new Error(
      `ops test needs \`${name}\`, which is not installed: get it from ${TOOL_SOURCE[name] ?? 'its package'}`,
    );
  }
  return found;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  output: string;
}

/** Runs a program synchronously (no shell). */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): RunResult {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}\n${r.stderr}` };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `genz-ops-${prefix}-`));
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port (tried every 50 ms); rejects after timeoutMs. */
export function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((res, rej) => {
    const attempt = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        res();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) rej(new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export function readYaml<T = unknown>(path: string): T {
  return parse(readFileSync(path, 'utf8')) as T;
}

export function readYamlDocs(text: string): unknown[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(`YAML error: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS();
  });
}

export interface ContractMetric {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  labels: string[];
  source: string;
}

export function metricsContract(): ContractMetric[] {
  return (JSON.parse(readFileSync(deployPath('metrics-contract.json'), 'utf8')) as { metrics: ContractMetric[] })
    .metrics;
}

/** Names a PromQL expression may use: contract names, histogram sub-series, and recording rules. */
export function knownSeriesNames(extra: Iterable<string> = []): Set<string> {
  const names = new Set<string>(extra);
  for (const m of metricsContract()) {
    names.add(m.name);
    if (m.type === 'histogram' || m.type === 'summary')
      for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

const PROMQL_WORDS = new Set([
  // functions
  'abs',
  'absent',
  'absent_over_time',
  'avg_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'count_over_time',
  'day_of_month',
  'day_of_week',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_quantile',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'last_over_time',
  'ln',
  'log2',
  'log10',
  'max_over_time',
  'min_over_time',
  'minute',
  'month',
  'predict_linear',
  'present_over_time',
  'quantile_over_time',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sort',
  'sort_desc',
  'sqrt',
  'stddev_over_time',
  'stdvar_over_time',
  'sum_over_time',
  'time',
  'timestamp',
  'vector',
  'year',
  // aggregations and keywords
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * Metric names referenced by a PromQL expression (a lexical scan: label matchers, strings, durations and
 * grouping label lists are removed first). Good enough for the project's own expressions; promtool parses them.
 */
export function metricNamesIn(expr: string): string[] {
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range / subquery durations
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/(?<![A-Za-z0-9_:.])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])?(?![A-Za-z0-9_:])/gi, ' '); // numbers, durations
  const out = new Set<string>();
  for (const m of cleaned.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const w = m[0];
    if (!PROMQL_WORDS.has(w.toLowerCase())) out.add(w);
  }
  return [...out];
}

/**
 * Parses PromQL expressions with the real promtool: promtool cannot check a bare expression, so each one becomes a
 * recording rule in a temporary rule file checked by `promtool check rules`. Returns promtool's result.
 */
export function checkPromQL(exprs: { name: string; expr: string }[]): RunResult {
  const promtool = requireTool('promtool');
  const dir = tempDir('promql');
  const file = join(dir, 'exprs.yml');
  const rules = exprs.map((e, i) => ({
    record: `check:expr_${i}`,
    expr: e.expr,
    labels: { source: e.name.slice(0, 200) },
  }));
  writeFileSync(file, stringify({ groups: [{ name: 'exprs', rules }] }));
  return run(promtool, ['check', 'rules', file]);
}
