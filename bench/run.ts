import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import {
  CLOCK_TICKS,
  cpuPercent,
  type MachineCpu,
  type ProcSample,
  readMachineCpu,
  readProcSample,
  startSampler,
} from './lib/proc.ts';
import { type RunMeta, type RunReport, renderSection, summarise, type TargetResult } from './lib/report.ts';
import { LatencyRecorder, percentile } from './lib/stats.ts';
import type { BenchContext, Scenario, ServerName, Target } from './lib/types.ts';

/**
 * The bench runner (issue 2 §10, ARCHITECTURE.md §11: percentiles and throughput live here, never in tests).
 *   npm run bench -w @genz/bench -- <scenario> [--duration 10] [--connections 50] [--warmup 3] [--rounds 3] [--redis URL|none] [--no-append]
 * One run: a fresh PostgreSQL database, the real API server and the Fastify baseline (plus any servers the scenario
 * declares) as child processes (so the load generator never shares their event loop), each target loaded alone for warm-up + a measured window while the
 * target's server process is sampled from /proc. Appends a section to docs/benchmarks.md, raw JSON to bench/results/.
 * A scenario without targets (the browser benchmarks, web-ttft and web-scroll) runs only its setup, `measure` and
 * `teardown` against the API and its own servers: no baseline, no autocannon rounds.
 */

const root = resolve(import.meta.dirname, '..');
const MiB = 1024 * 1024;

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    param: { type: 'string', multiple: true, default: [] },
    'no-append': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    // Idle wait after the load before the "after" RSS sample. V8's memory reducer checks 8 s after the last full GC
    // and waits again while anything still allocates; its "Mark-Compact (reduce)" GCs, which shrink the heap and give
    // pages back, came 21 s after the router run's load (--trace-gc). A sample 10 s after the load caught the peak.
    settle: { type: 'string', default: '60' },
    // Diagnostics: extra Node flags for the API processes (e.g. --api-node-args=--trace-gc); the tail of each API
    // process' output is saved to the temp directory.
    'api-node-args': { type: 'string', default: '' },
  },
});

function positiveInt(name: string, raw: string, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`--${name} must be an integer in 1..${max}, got ${raw}`);
  return n;
}

const scenarioNames = readdirSync(join(import.meta.dirname, 'scenarios'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3));
const scenarioName = positionals[0];
if (!scenarioName || !scenarioNames.includes(scenarioName)) {
  console.error(`usage: npm run bench -w @genz/bench -- <scenario> [--duration 10] [--connections 50] [--warmup 3]
scenarios: ${scenarioNames.join(', ')}`);
  process.exit(2);
}
const durationS = positiveInt('duration', args.duration, 600);
const connections = positiveInt('connections', args.connections, 1000);
const warmupS = positiveInt('warmup', args.warmup, 60);
const rounds = positiveInt('rounds', args.rounds, 20);
const settleS = positiveInt('settle', args.settle, 600);
const apiNodeArgs = args['api-node-args'].split(' ').filter(Boolean);
const params = new Map<string, string>();
for (const p of args.param) {
  const at = p.indexOf('=');
  if (at < 1) throw new Error(`--param must be key=value, got ${p}`);
  params.set(p.slice(0, at), p.slice(at + 1));
}
const { scenario } = (await import(`./scenarios/${scenarioName}.ts`)) as { scenario: Scenario };
const measureOnly = scenario.targets.length === 0;
if (measureOnly && !scenario.measure) throw new Error('a scenario without targets needs a measure step');
if (!measureOnly && scenario.targets.filter((t) => t.baseline).length !== 1)
  throw new Error('a scenario needs exactly one baseline');

// ---- child processes ----------------------------------------------------------------------------------------------

interface Child {
  name: ServerName;
  proc: ChildProcess;
  pid: number;
  url: string;
  /** The last 64 KiB of its stdout+stderr, shown if it dies. */
  output: () => string;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => res(port));
    });
  });
}

async function startChild(
  name: ServerName,
  file: string,
  env: Record<string, string>,
  readyPath: string,
  nodeArgs: string[] = [],
): Promise<Child> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...nodeArgs, file], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65536);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
  const child: Child = { name, proc, pid: proc.pid, url: `http://127.0.0.1:${port}`, output: () => output };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}:\n${output}`);
    try {
      const res = await fetch(child.url + readyPath, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return child;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error(`${name} not ready on ${readyPath} within 60 s:\n${output}`);
}

async function stopChild(child: Child): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  const exited = new Promise((res) => child.proc.once('exit', res));
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

// ---- environment facts ---------------------------------------------------------------------------------------------

function git(...gitArgs: string[]): string {
  try {
    return execFileSync('git', gitArgs, { cwd: root, encoding: 'utf8' });
  } catch {
    return '';
  }
}

function machine(): RunMeta['machine'] {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  return {
    cpu: model,
    cores: cpus().length,
    memoryGiB: totalmem() / 1024 ** 3,
    node: process.version,
    kernel: release(),
  };
}

function gitFacts(): RunMeta['git'] {
  const status = git('status', '--porcelain');
  const dirtyPaths = [
    ...new Set(
      status
        .split('\n')
        .filter(Boolean)
        .map((line) => line.slice(3).split('/').slice(0, 2).join('/')),
    ),
  ].sort();
  return { commit: git('rev-parse', '--short', 'HEAD').trim() || 'unknown', dirty: dirtyPaths.length > 0, dirtyPaths };
}

// ---- load ----------------------------------------------------------------------------------------------------------

interface Shot {
  result: autocannon.Result;
  latencies: LatencyRecorder;
}

type Vary = () => { headers?: Record<string, string>; body?: string; path?: string };

function fire(
  url: string,
  target: Target,
  headers: Record<string, string>,
  seconds: number,
  record: boolean,
  vary?: Vary,
) {
  return new Promise<Shot>((res, rej) => {
    const latencies = new LatencyRecorder();
    const varied: autocannon.Request[] | undefined = vary
      ? [
          {
            setupRequest: (req: autocannon.Request) => {
              const v = vary();
              return {
                ...req,
                headers: { ...headers, ...(v.headers ?? {}) },
                ...(v.body !== undefined ? { body: v.body } : {}),
                ...(v.path !== undefined ? { path: v.path } : {}),
              };
            },
          },
        ]
      : undefined;
    const instance = autocannon(
      {
        url: url + target.path,
        method: target.method ?? 'GET',
        headers,
        ...(target.body !== undefined ? { body: target.body } : {}),
        ...(varied ? { requests: varied } : {}),
        connections,
        duration: seconds,
        timeout: 10,
      },
      (err, result) => (err ? rej(err) : res({ result, latencies })),
    );
    if (record) instance.on('response', (_client, _status, _bytes, ms) => latencies.record(ms));
  });
}

interface Window {
  seconds: number;
  server: ProcSample[];
  generatorCpuMicros: number;
  machineFrom: MachineCpu;
  machineTo: MachineCpu;
}

function toResult(target: Target, shot: Shot, before: ProcSample, w: Window): TargetResult {
  const sorted = shot.latencies.sorted();
  const first = w.server[0] as ProcSample;
  const last = w.server[w.server.length - 1] as ProcSample;
  const serverCpu = cpuPercent(first, last);
  const generatorCpu = (w.generatorCpuMicros / 1e6 / w.seconds) * 100;
  const pct = (ticks: number) => (ticks / CLOCK_TICKS / w.seconds) * 100;
  const busy = pct(w.machineTo.busy - w.machineFrom.busy);
  const softirq = pct(w.machineTo.softirq - w.machineFrom.softirq);
  const requests = shot.result.requests.total;
  return {
    name: target.name,
    server: target.server,
    baseline: target.baseline === true,
    requests,
    rps: requests / w.seconds,
    latencyMs: {
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: percentile(sorted, 100),
    },
    errors: shot.result.errors,
    non2xx: shot.result.non2xx,
    rssIdleMiB: before.rssBytes / MiB,
    rssPeakMiB: Math.max(...w.server.map((s) => s.rssBytes)) / MiB,
    cpuPercent: serverCpu,
    bytesPerResponse: requests > 0 ? shot.result.throughput.total / requests : Number.NaN,
    loadGeneratorCpuPercent: generatorCpu,
    machine: {
      busyPercent: busy,
      softirqPercent: softirq,
      otherPercent: Math.max(0, busy - softirq - serverCpu - generatorCpu),
    },
  };
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');

// ---- the run -------------------------------------------------------------------------------------------------------

const adminUrl = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
const dbName = `genz_bench_${stamp}_${process.pid}`;
const databaseUrl = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
})();
const redisUrl = args.redis === 'none' ? undefined : args.redis;

/** Each `ownDatabaseApis` server's database: the run's name and the server's (e.g. `…_api_small`). */
const ownDatabases = (scenario.ownDatabaseApis ?? []).map((server) => {
  const name = `${dbName}_${server.toLowerCase().replace(/[^a-z0-9]+/g, '_')}`;
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return { server, name, url: u.toString() };
});

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
const databases = [dbName, ...ownDatabases.map((d) => d.name)];
for (const name of databases) await admin.query(`CREATE DATABASE ${name}`);
const dataDir = await mkdtemp(join(tmpdir(), 'genz-bench-'));
const children: Child[] = [];
let interrupted = false;
const onSignal = () => {
  interrupted = true;
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

let report: RunReport | undefined;
const authSecrets = `bench:${randomBytes(32).toString('base64url')}`;
const scenarioNotes: string[] = [];
let configYaml: string | undefined;
let context: BenchContext | undefined;
try {
  console.error(`bench ${scenario.name}: database ${dbName}; starting servers`);
  const byName: Record<ServerName, Child> = {};
  const sampled: ServerName[] = ['api'];
  const start = async (...a: Parameters<typeof startChild>) => {
    const child = await startChild(...a);
    children.push(child);
    byName[child.name] = child;
    return child;
  };
  const urls = () => Object.fromEntries(Object.values(byName).map((c) => [c.name, c.url]));
  for (const extra of scenario.servers ?? []) {
    const env = typeof extra.env === 'function' ? extra.env(urls()) : (extra.env ?? {});
    await start(extra.name, extra.file, env, extra.readyPath);
    if (extra.sampled) sampled.push(extra.name);
  }
  const configEnv: Record<string, string> = {};
  if (scenario.apiConfigYaml !== undefined) {
    const file = join(dataDir, 'genz.yaml');
    configYaml = typeof scenario.apiConfigYaml === 'function' ? scenario.apiConfigYaml(urls()) : scenario.apiConfigYaml;
    await writeFile(file, configYaml);
    configEnv.GENZ_CONFIG = file;
  }
  const apiEnv = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    // Required with DATABASE_URL (replicas share signing keys); a throwaway key per run.
    AUTH_SECRETS: authSecrets,
    ...configEnv,
    ...scenario.apiEnv,
  };
  // --cpu-prof: V8 CPU profiles of the API processes over the whole run (written when they exit after SIGTERM).
  const profile = args['cpu-prof']
    ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench', 'results', `profile-${stamp}`)}`, ...apiNodeArgs]
    : apiNodeArgs;
  const redisEnv: Record<string, string> = redisUrl
    ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `{bench${stamp}}:` }
    : {};
  await start('api', 'apps/api/src/server.ts', { ...apiEnv, ...redisEnv }, '/readyz', profile);
  const databaseUrls: Record<ServerName, string> = { api: databaseUrl };
  if (scenario.memoryApi) {
    await start('api-memory', 'apps/api/src/server.ts', apiEnv, '/readyz', profile);
    sampled.push('api-memory');
    databaseUrls['api-memory'] = databaseUrl;
  }
  for (const own of ownDatabases) {
    const ownRedis: Record<string, string> = redisUrl
      ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `{bench${stamp}-${own.server}}:` }
      : {};
    await start(
      own.server,
      'apps/api/src/server.ts',
      { ...apiEnv, DATABASE_URL: own.url, ...ownRedis },
      '/readyz',
      profile,
    );
    sampled.push(own.server);
    databaseUrls[own.server] = own.url;
  }
  if (!measureOnly) {
    await start('baseline', 'bench/baselines/fastify-hello.ts', { NODE_ENV: 'production' }, '/');
    sampled.push('baseline');
  }
  const childOf = (name: ServerName): Child => {
    const child = byName[name];
    if (!child) throw new Error(`no server named ${name} in this run`);
    return child;
  };

  const ctx: BenchContext = {
    urls: urls(),
    pid: (server) => childOf(server).pid,
    databaseUrl,
    databaseUrls,
    vars: new Map(),
    params,
    authSecrets,
    note: (text) => scenarioNotes.push(text),
    async request(server, method, path, body, headers = {}) {
      const res = await fetch(childOf(server).url + path, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: await res.text() };
    },
  };
  context = ctx;
  await scenario.setup?.(ctx);
  // Footprint before load: after start-up, setup and a short settle, before any load reaches the process.
  await sleep(2000);
  const before: Record<ServerName, ProcSample> = Object.fromEntries(
    sampled.map((name) => [name, readProcSample(childOf(name).pid)]),
  );
  // RSS over the whole run (rounds and the scenario's own measurements), for the idle / peak / after note.
  const wholeRun = sampled.map((name) => ({ name, sampler: startSampler(childOf(name).pid) }));

  const results: TargetResult[][] = [];
  for (let round = 1; round <= rounds; round++) {
    const thisRound: TargetResult[] = [];
    for (const target of scenario.targets) {
      if (interrupted) throw new Error('interrupted');
      const child = childOf(target.server);
      const headers = typeof target.headers === 'function' ? target.headers(ctx) : (target.headers ?? {});
      const vary = target.vary?.(ctx);
      console.error(`  round ${round}/${rounds} ${target.name}: ${warmupS} s warm-up, ${durationS} s measured`);
      await fire(child.url, target, headers, warmupS, false, vary);
      await sleep(500);
      const sampler = startSampler(child.pid);
      const machineFrom = readMachineCpu();
      const selfCpu = process.cpuUsage();
      const started = performance.now();
      const shot = await fire(child.url, target, headers, durationS, true, vary);
      const seconds = (performance.now() - started) / 1000;
      const self = process.cpuUsage(selfCpu);
      const machineTo = readMachineCpu();
      const server = sampler.stop();
      const generatorCpuMicros = self.user + self.system;
      const row = toResult(target, shot, before[target.server] ?? readProcSample(child.pid), {
        seconds,
        server,
        generatorCpuMicros,
        machineFrom,
        machineTo,
      });
      thisRound.push(row);
      console.error(
        `    ${row.rps.toFixed(0)} rps, p50 ${row.latencyMs.p50.toFixed(2)} ms, p99 ${row.latencyMs.p99.toFixed(2)} ms, ` +
          `errors ${row.errors}, non-2xx ${row.non2xx}, server CPU ${row.cpuPercent.toFixed(0)}%, ` +
          `load generator CPU ${row.loadGeneratorCpuPercent.toFixed(0)}%, other ${row.machine.otherPercent.toFixed(0)}%`,
      );
      await sleep(1000);
    }
    results.push(thisRound);
  }
  if (scenario.measure) {
    if (interrupted) throw new Error('interrupted');
    console.error('  scenario measurements');
    await scenario.measure(ctx, results);
  }
  // RSS after the load: idle for `--settle` seconds (timers, sockets and the usage writer drain; V8's memory
  // reducer collects and returns pages), then the last sample per process. The 10 s figure shows the curve.
  const loadEnded = performance.now();
  await sleep(settleS * 1000);
  const rssRows = wholeRun.map(({ name, sampler }) => {
    const samples = sampler.stop();
    const idle = (before[name] as ProcSample).rssBytes / MiB;
    const peak = Math.max(...samples.map((x) => x.rssBytes)) / MiB;
    const at10 = (samples.find((x) => x.at >= loadEnded + 10_000) ?? samples[samples.length - 1]) as ProcSample;
    const after = (samples[samples.length - 1] as ProcSample).rssBytes / MiB;
    return `| ${name} | ${idle.toFixed(0)} | ${peak.toFixed(0)} | ${(at10.rssBytes / MiB).toFixed(0)} | ${after.toFixed(0)} | ${(((after - idle) / idle) * 100).toFixed(1)}% |`;
  });
  scenarioNotes.push(
    `RSS over the whole run (MiB; idle before any load, peak over every phase, 10 s after the load, after ${settleS} s idle):\n\n  | server | idle | peak | 10 s after | after ${settleS} s | after vs idle |\n  | --- | ---: | ---: | ---: | ---: | ---: |\n${rssRows.map((r) => `  ${r}`).join('\n')}`,
  );

  const summary = summarise(results);
  const busiest = Math.max(...summary.map((r) => r.otherCpuPercent));
  const argv = process.argv.slice(2).join(' ');
  report = {
    meta: {
      scenario: scenario.name,
      description: scenario.description,
      date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      machine: machine(),
      git: gitFacts(),
      command:
        process.env.npm_lifecycle_event === 'bench'
          ? `npm run bench -w @genz/bench -- ${argv}`
          : `node bench/run.ts ${argv}`,
      durationS,
      warmupS,
      connections,
      rounds,
    },
    rounds: results,
    summary,
    notes: [
      ...(busiest > 20
        ? [
            `**Noisy run:** other work on the machine used up to ${busiest.toFixed(0)}% of a core during the measured windows (median per target); ratios are more trustworthy than absolutes, and both less than in a quiet run.`,
          ]
        : []),
      `API server: ${redisUrl ? 'with Redis' : 'without Redis'}${scenario.memoryApi ? '; `api-memory`: the same server without Redis' : ''}${ownDatabases.length ? `; ${ownDatabases.map((d) => `\`${d.server}\``).join(', ')}: the same server on a database of its own` : ''}, PostgreSQL database${ownDatabases.length ? 's' : ''} created for this run and dropped after.`,
      ...(configYaml !== undefined
        ? [`API genz.yaml:\n\n  \`\`\`yaml\n${indent(configYaml.trimEnd())}\n  \`\`\``]
        : []),
      ...scenarioNotes,
    ],
  };
} finally {
  if (context && scenario.teardown) {
    await scenario.teardown(context).catch((err: Error) => console.error(`teardown: ${err.message}`));
  }
  if (apiNodeArgs.length > 0) {
    for (const child of children) {
      if (!child.name.startsWith('api')) continue;
      const file = join(tmpdir(), `bench-${scenario.name}-${stamp}-${child.name}.log`);
      writeFileSync(file, child.output());
      console.error(`  ${child.name} output (last 64 KiB): ${file}`);
    }
  }
  for (const child of children.reverse()) await stopChild(child);
  for (const name of databases) {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((err: Error) => {
      console.error(`could not drop ${name}: ${err.message}`);
    });
  }
  await admin.end();
  await rm(dataDir, { recursive: true, force: true });
}

const resultsDir = join(root, 'bench', 'results');
await mkdir(resultsDir, { recursive: true });
const jsonPath = join(resultsDir, `${scenario.name}-${stamp}.json`);
await writeFile(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
const section = renderSection(report);
if (!args['no-append']) {
  const doc = join(root, 'docs', 'benchmarks.md');
  if (!existsSync(doc)) await writeFile(doc, '# Benchmarks\n');
  await appendFile(doc, `\n${section}`);
}
console.log(section);
console.error(`raw results: ${jsonPath}${args['no-append'] ? '' : '; appended to docs/benchmarks.md'}`);
