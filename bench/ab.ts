import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createScratchDatabase, prepareServerTemplate } from '@genz/db/testing';
import autocannon from 'autocannon';
import pino from 'pino';
import { buildApp } from '../apps/api/src/app.ts';
import { loadConfig } from '../apps/api/src/config/index.ts';
import { createTestApiKey, createTestUser } from '../apps/api/src/test/users.ts';
import { CLOCK_TICKS, parseStatCpuTicks, readProcSample } from './lib/proc.ts';
import { percentile } from './lib/stats.ts';
import { BODY, call, scenario as router, STREAM_BODY } from './scenarios/router.ts';

/**
 * An A/B of the API's CPU per `/v1/chat/completions` request (non-stream), for changes too small for the router
 * scenario to resolve: on this VM the CPU a request costs drifts by tens of percent within a minute, and an A/A run
 * of the scenario (3 rounds) moved GenZ's CPU per request against the passthrough by up to 40%.
 *
 *   node bench/ab.ts [--windows 8] [--window-ms 8000] [--connections 25]
 *                    [--a-dir DIR] [--b-dir DIR] [--a-config FILE] [--b-config FILE]
 *                    [--a-node-args "..."] [--b-node-args "..."]
 *
 * Two API processes, A and B, on one fresh PostgreSQL database, without Redis (the in-memory limiter, the router
 * scenario's headline), in front of one fake OpenAI upstream (bench/baselines/fake-openai.ts). They are loaded at the
 * same time, each by its own autocannon with `--connections` connections, so both see the same machine in every
 * window; each window's CPU per request is read from /proc, and the B/A ratio is taken window by window. The first
 * 10 s warm both up and are not counted.
 * - `--a-dir` / `--b-dir`: repository roots whose `apps/api/src/server.ts` runs (default: this one), e.g. a
 *   `git worktree` of the commit before a change; its node_modules may be a link to this one's.
 * - `--a-config` / `--b-config`: genz.yaml files, where `{{UPSTREAM}}` stands for the fake upstream's base URL
 *   (default: the router scenario's, limits on but never refusing), e.g. one with the limits set to null.
 * - `--a-node-args` / `--b-node-args`: Node flags (e.g. `--max-semi-space-size=64`, `--cpu-prof`).
 * - `--mode latency [--requests 4000] [--stream]`: instead of CPU, the latency at concurrency 1 (the router
 *   scenario's "added latency" figures: the whole non-stream response, or with `--stream` the time to the first
 *   content token), after the same warm-up: one request to the upstream direct, then A, then B, in turn, so drift
 *   hits all three alike; p50, p99 and p99.9 of each, and A's and B's p50 and p99 added to the direct one's.
 * - `--gc`: both servers run with `--trace-gc-nvp`; after the measurement each side's young-generation collections
 *   of the measured part are summed up: how many, their pauses, and what survived them (promoted to the old
 *   generation, or kept in the young one). Survivors are what makes a scavenge slow.
 */
const { values: opt } = parseArgs({
  options: {
    windows: { type: 'string', default: '8' },
    'window-ms': { type: 'string', default: '8000' },
    connections: { type: 'string', default: '25' },
    'a-dir': { type: 'string', default: resolve(import.meta.dirname, '..') },
    'b-dir': { type: 'string', default: resolve(import.meta.dirname, '..') },
    'a-config': { type: 'string' },
    'b-config': { type: 'string' },
    'a-node-args': { type: 'string', default: '' },
    'b-node-args': { type: 'string', default: '' },
    mode: { type: 'string', default: 'cpu' },
    requests: { type: 'string', default: '4000' },
    stream: { type: 'boolean', default: false },
    gc: { type: 'boolean', default: false },
  },
});

if (opt.mode !== 'cpu' && opt.mode !== 'latency') throw new Error(`--mode is cpu or latency, not ${opt.mode}`);

const freePort = () => 20000 + Math.floor(Math.random() * 30000);
const upstreamUrl = `http://127.0.0.1:${freePort()}`;
const dir = mkdtempSync(join(tmpdir(), 'genz-ab-'));

/** The router scenario's genz.yaml, pointed at this run's fake upstream. */
function routerYaml(): string {
  const yaml = router.apiConfigYaml;
  if (typeof yaml !== 'function') throw new Error('the router scenario no longer builds its genz.yaml from URLs');
  return yaml({ upstream: upstreamUrl, 'upstream-slow': upstreamUrl });
}

function configFile(side: 'a' | 'b', given: string | undefined): string {
  const yaml = given ? readFileSync(given, 'utf8').replaceAll('{{UPSTREAM}}', upstreamUrl) : routerYaml();
  const file = join(dir, `genz-${side}.yaml`);
  writeFileSync(file, yaml);
  return file;
}
const configs = { a: configFile('a', opt['a-config']), b: configFile('b', opt['b-config']) };

const scratch = await createScratchDatabase(await prepareServerTemplate());
const secrets = 'bench:genz-ab-bench-signing-secret-0123456789abcdef';
const children: ChildProcess[] = [];

/** Starts a child and waits until `url` answers 2xx; `onLine` takes its standard output, line by line. */
async function start(
  args: string[],
  env: Record<string, string>,
  url: string,
  onLine?: (line: string) => void,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', onLine ? 'pipe' : 'inherit', 'inherit'],
  });
  if (onLine && child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
  children.push(child);
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${args.at(-1)} exited with ${child.exitCode}`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return child;
    await sleep(100);
  }
  throw new Error(`${args.at(-1)} did not answer ${url}`);
}

/**
 * `--mode latency`: `n` rounds at concurrency 1 over [direct, A, B] in turn (200 more first, not counted). Besides
 * the client's view, the p50/p99 of GenZ's `x-genz-overhead-us` (its own time, upstream excluded) tells the server's
 * share of a slow request from the wait around it.
 */
async function latency(urls: string[], apiHeaders: Record<string, string>, n: number) {
  const agents = urls.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  const times: number[][] = urls.map(() => []);
  const overheads: number[][] = urls.map(() => []);
  const direct = { 'content-type': 'application/json', authorization: 'Bearer sk-fake-upstream-key' };
  const body = opt.stream ? STREAM_BODY : BODY;
  for (let i = 0; i < n + 200; i++) {
    for (const [j, url] of urls.entries()) {
      const t = await call(agents[j] as Agent, { url, headers: j === 0 ? direct : apiHeaders }, body, opt.stream);
      if (!t.ok) throw new Error(`${url}: status ${t.status}`);
      if (i < 200) continue; // warm-up
      times[j]?.push(t.ms);
      overheads[j]?.push(t.overheadUs / 1000);
    }
  }
  for (const a of agents) a.destroy();
  const sorted = (xs: number[]) => Float64Array.from(xs).sort();
  const direct50 = percentile(sorted(times[0] as number[]), 50);
  const direct99 = percentile(sorted(times[0] as number[]), 99);
  for (const [j, name] of ['direct', 'A', 'B'].entries()) {
    const xs = sorted(times[j] as number[]);
    const [p50, p99, p999] = [50, 99, 99.9].map((p) => percentile(xs, p));
    const line = `${name}: p50 ${p50?.toFixed(3)} p99 ${p99?.toFixed(3)} p99.9 ${p999?.toFixed(3)} ms`;
    if (j === 0) console.log(line);
    else {
      const o = sorted(overheads[j] as number[]);
      const added = `added p50 / p99 ${((p50 as number) - direct50).toFixed(3)} / ${((p99 as number) - direct99).toFixed(3)}`;
      const own = `overhead header p50 / p99 ${percentile(o, 50).toFixed(3)} / ${percentile(o, 99).toFixed(3)} ms`;
      console.log(`${line}, ${added}; ${own}`);
    }
  }
}

/** `--gc`: each side's `--trace-gc-nvp` records (kind, pause, bytes that survived) of the measured part. */
interface GcRecord {
  kind: string;
  pauseMs: number;
  survivedBytes: number;
}
const gcRecords = { a: [] as GcRecord[], b: [] as GcRecord[] };
let gcCounting = false;
function gcLine(side: 'a' | 'b', line: string) {
  if (!gcCounting || !line.includes(' gc=')) return;
  const field = (key: string) => Number(new RegExp(` ${key}=([\\d.]+)`).exec(line)?.[1] ?? 0);
  gcRecords[side].push({
    kind: / gc=(\w+)/.exec(line)?.[1] ?? '?',
    pauseMs: field('pause'),
    survivedBytes: field('new_space_survived'),
  });
}
function gcSummary(name: string, records: GcRecord[]) {
  const scavenges = records.filter((r) => r.kind === 's');
  const pauses = Float64Array.from(scavenges.map((r) => r.pauseMs)).sort();
  const mb = (bytes: number) => (bytes / 1e6).toFixed(2);
  const survived = scavenges.reduce((sum, r) => sum + r.survivedBytes, 0) / Math.max(1, scavenges.length);
  const full = records.filter((r) => r.kind !== 's');
  console.log(
    `${name} GC: ${scavenges.length} scavenges, pause p50 ${percentile(pauses, 50).toFixed(2)} max ${(pauses.at(-1) ?? 0).toFixed(2)} ` +
      `total ${pauses.reduce((x, y) => x + y, 0).toFixed(0)} ms, survived ${mb(survived)} MB per scavenge; ` +
      `${full.length} full collections, ${full.reduce((x, r) => x + r.pauseMs, 0).toFixed(0)} ms`,
  );
}

try {
  // One user and one API key, seeded in-process through the app itself.
  const seeding = await buildApp({
    config: loadConfig({
      env: { GENZ_CONFIG: configs.a },
      overrides: { 'auth.secrets': secrets, 'database.url': scratch.url, 'log.level': 'silent' },
    }),
    logger: pino({ level: 'silent' }),
  });
  await seeding.ready();
  await seeding.dbReadyPromise;
  const key = await createTestApiKey(seeding, await createTestUser(seeding), ['inference']);
  await seeding.close();

  await start(
    [resolve(import.meta.dirname, 'baselines/fake-openai.ts')],
    { PORT: new URL(upstreamUrl).port },
    `${upstreamUrl}/v1/models`,
  );
  const api = async (side: 'a' | 'b') => {
    const port = freePort();
    const child = await start(
      [
        ...(opt.gc ? ['--trace-gc-nvp'] : []),
        ...opt[`${side}-node-args`].split(' ').filter(Boolean),
        join(opt[`${side}-dir`], 'apps/api/src/server.ts'),
      ],
      {
        PORT: String(port),
        DATABASE_URL: scratch.url,
        AUTH_SECRETS: secrets,
        DATA_DIR: dir,
        GENZ_CONFIG: configs[side],
        NODE_ENV: 'production',
        LOG_LEVEL: 'error',
      },
      `http://127.0.0.1:${port}/readyz`,
      opt.gc ? (line) => gcLine(side, line) : undefined,
    );
    return { url: `http://127.0.0.1:${port}/v1/chat/completions`, pid: child.pid as number };
  };
  const A = await api('a');
  const B = await api('b');
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key.key}` };
  for (const side of [A, B]) {
    const res = await fetch(side.url, { method: 'POST', headers, body: BODY });
    if (res.status !== 200) throw new Error(`${side.url}: ${res.status} ${await res.text()}`);
  }

  const cpuMs = (pid: number) => (readProcSample(pid).cpuTicks * 1000) / CLOCK_TICKS;
  /** The main (JavaScript) thread's CPU alone: its task id is the process id. */
  const mainCpuMs = (pid: number) =>
    (parseStatCpuTicks(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')) * 1000) / CLOCK_TICKS;
  const load = (url: string, ms: number) =>
    autocannon({ url, method: 'POST', headers, body: BODY, connections: Number(opt.connections), duration: ms / 1000 });
  /** Both loaded at once for `ms`: CPU µs per request (the process, and its main thread) and requests of each. */
  async function window(ms: number) {
    const before = [cpuMs(A.pid), cpuMs(B.pid), mainCpuMs(A.pid), mainCpuMs(B.pid)] as const;
    const [ra, rb] = await Promise.all([load(A.url, ms), load(B.url, ms)]);
    for (const r of [ra, rb]) if (r.errors + r.non2xx > 0) throw new Error(`${r.errors} errors, ${r.non2xx} non-2xx`);
    const perRequest = (now: number, then: number, n: number) => ((now - then) * 1000) / n;
    return {
      a: perRequest(cpuMs(A.pid), before[0], ra.requests.total),
      b: perRequest(cpuMs(B.pid), before[1], rb.requests.total),
      mainA: perRequest(mainCpuMs(A.pid), before[2], ra.requests.total),
      mainB: perRequest(mainCpuMs(B.pid), before[3], rb.requests.total),
      na: ra.requests.total,
      nb: rb.requests.total,
    };
  }

  await window(10_000);
  gcCounting = true;
  if (opt.mode === 'latency')
    await latency([`${upstreamUrl}/v1/chat/completions`, A.url, B.url], headers, Number(opt.requests));
  else {
    const ms = Number(opt['window-ms']);
    const ratios: number[] = [];
    const mainRatios: number[] = [];
    for (let i = 1; i <= Number(opt.windows); i++) {
      const w = await window(ms);
      ratios.push(w.b / w.a);
      mainRatios.push(w.mainB / w.mainA);
      const rps = (n: number) => Math.round(n / (ms / 1000));
      const side = (all: number, main: number, n: number) =>
        `${all.toFixed(1)} µs/req (main thread ${main.toFixed(1)}; ${rps(n)}/s)`;
      console.log(
        `window ${i}: A ${side(w.a, w.mainA, w.na)}, B ${side(w.b, w.mainB, w.nb)}, B/A ${(w.b / w.a).toFixed(3)} (main thread ${(w.mainB / w.mainA).toFixed(3)})`,
      );
    }
    const summary = (xs: number[]) => {
      const sorted = [...xs].sort((x, y) => x - y);
      const median = sorted[Math.floor(sorted.length / 2)] as number;
      return `median ${median.toFixed(3)} (min ${sorted[0]?.toFixed(3)}, max ${sorted.at(-1)?.toFixed(3)}, ${sorted.length} windows)`;
    };
    console.log(`B/A CPU per request: ${summary(ratios)}`);
    console.log(`B/A main-thread CPU per request: ${summary(mainRatios)}`);
  }
  if (opt.gc) {
    gcSummary('A', gcRecords.a);
    gcSummary('B', gcRecords.b);
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  await scratch.drop();
}
