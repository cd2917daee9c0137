import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase, prepareServerTemplate } from '@genz/db/testing';
import pino from 'pino';
import { buildApp } from '../../apps/api/src/app.ts';
import { loadConfig } from '../../apps/api/src/config/index.ts';
import { createTestUser } from '../../apps/api/src/test/users.ts';
import { type OpenResult, REASONS, startLoadWorker } from '../lib/open-loop.ts';
import { CLOCK_TICKS, readProcSample } from '../lib/proc.ts';
import { percentile } from '../lib/stats.ts';
import type { Scenario } from '../lib/types.ts';
import { scenario as foundation } from './foundation.ts';

/**
 * Overload at 2× saturation (issue 6). Run directly:
 *   `node bench/scenarios/overload.ts [--seconds 8] [--in-flight 16] [--loop-ms 50] [--sample-ms 10] [--elu 0] [--turn-ms 0] [--rate R] [--user-cache-ms 0]`
 * A real API process (PostgreSQL, no Redis, production mode) with the given `server.overload` thresholds (`--elu` is
 * `maxEventLoopUtilization`, 0 = off; `--turn-ms` is `maxLoopTurnMs`, the loop-turn budget, 0 = off; `--in-flight 0`
 * lifts the cap). The load comes from bench/lib/open-loop.ts, a
 * raw-socket HTTP/1.1 generator in a worker thread, over a pool of 256 keep-alive connections opened beforehand. A
 * closed loop of `maxInFlight` of them (32 when uncapped) on `GET /api/me` (bearer) warms the process up (2 s,
 * discarded) and then finds the saturation throughput S (3 s, 200s per second): as many clients as the gate admits,
 * so the closed loop is not shed and S is what the server can serve, not what is left beside shedding a surplus of
 * clients. An open loop then offers 2·S requests per second (or `--rate`: the utilisation gate sheds a closed loop at
 * 1× saturation, and so does the turn budget, so with either take the rate from an in-flight run; arrivals do not wait for answers; one that finds no
 * idle connection waits for one, and that wait counts) and the script prints, for admitted (200) and shed (503)
 * answers separately:
 * - client-side send→status (request written to status line read) and arrival→status (from the scheduled arrival);
 * - server-side, for sheds, `genz_http_shed_duration_seconds` from the API's /metrics (request event → 503 handed
 *   to the socket; quantiles interpolated within its buckets, as Prometheus does) and the API's event-loop delay over
 *   the open loop (prom-client's p50/p99), which is the wait a request has in the kernel before the API reads it;
 * - whether every 503 carried Retry-After, whether the process survived, server CPU per answer, and the generator's
 *   own event-loop delay and send lateness (subtract them from the client-side figures).
 * As a harness scenario it is foundation's `GET /api/me` through the gate with thresholds a closed loop does not
 * reach (its cost, no shedding).
 */
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length - 1; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const flag = (name: string, fallback: number) => Number(args.get(`--${name}`) ?? fallback);

const overloadYaml = (
  inFlight: number,
  loopMs: number,
  sampleMs: number,
  elu: number,
  userCacheMs?: number,
  turnMs = 0,
) => `${userCacheMs === undefined ? '' : `auth:\n  userCacheTtlMs: ${userCacheMs}\n`}limits:
  ipRequests: null
  defaults:
    requests: null
server:
  overload:
    maxInFlight: ${inFlight}
    maxLoopTurnMs: ${turnMs}
    maxEventLoopDelayMs: ${loopMs}
    maxEventLoopUtilization: ${elu}
    sampleIntervalMs: ${sampleMs}
`;

export const scenario: Scenario = {
  ...foundation,
  name: 'overload',
  description:
    'foundation’s `GET /api/me` through the shedding gate, thresholds above what a closed loop reaches (in-flight 256, loop 1000 ms, utilisation off): the gate’s cost, no shedding.',
  apiConfigYaml: overloadYaml(256, 1000, 10, 0),
  targets: foundation.targets.filter((t) => t.baseline || t.path === '/api/me'),
};

const POOL = 256;
const METRICS_TOKEN = 'overload-bench-metrics-token-0';

const ms = (n: number) => n.toFixed(1);
function stats(values: Float64Array) {
  const s = values.slice().sort();
  return s.length === 0
    ? 'n/a'
    : `p50 ${ms(percentile(s, 50))} · p95 ${ms(percentile(s, 95))} · p99 ${ms(percentile(s, 99))}`;
}

/** CPU time (user + system, ms) the process has used so far, from /proc (Linux). */
const cpuMs = (pid: number) => (readProcSample(pid).cpuTicks * 1000) / CLOCK_TICKS;

/** Time (ms) the process's main thread, its event loop, has spent runnable but waiting for a CPU (Linux schedstat). */
const runQueueMs = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;

async function scrape(port: number) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  const text = await res.text();
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const cut = line.lastIndexOf(' ');
    series.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return series;
}

/** The open loop's shed-duration histogram (after − before, all reasons), as Prometheus' histogram_quantile reads it. */
function shedHistogram(before: Map<string, number>, after: Map<string, number>) {
  const buckets = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const [key, value] of after) {
    if (!key.startsWith('genz_http_shed_duration_seconds')) continue;
    const delta = value - (before.get(key) ?? 0);
    if (key.startsWith('genz_http_shed_duration_seconds_bucket')) {
      const le = key.match(/le="([^"]+)"/)?.[1] ?? '+Inf';
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + delta);
    } else if (key.startsWith('genz_http_shed_duration_seconds_count')) count += delta;
    else if (key.startsWith('genz_http_shed_duration_seconds_sum')) sum += delta;
  }
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const quantile = (q: number) => {
    const rank = q * count;
    let lower = 0;
    let below = 0;
    for (const bound of bounds) {
      const cumulative = buckets.get(bound) ?? 0;
      if (cumulative >= rank) {
        if (!Number.isFinite(bound)) return lower;
        return lower + ((bound - lower) * (rank - below)) / Math.max(1, cumulative - below);
      }
      lower = bound;
      below = cumulative;
    }
    return lower;
  };
  return { count, meanMs: count ? (sum / count) * 1000 : 0, p50Ms: quantile(0.5) * 1000, p95Ms: quantile(0.95) * 1000 };
}

function describe(r: OpenResult, code: number) {
  const pick = (values: Float64Array, reason?: number) =>
    values.filter((_, i) => r.status[i] === code && (reason === undefined || r.reason[i] === reason));
  return {
    count: r.status.filter((s) => s === code).length,
    send: stats(pick(r.sendToStatus)),
    arrival: stats(pick(r.arrivalToStatus)),
    byReason: REASONS.map((name, i) => ({
      name,
      count: pick(r.sendToStatus, i).length,
      send: stats(pick(r.sendToStatus, i)),
    })).filter((x) => x.count > 0),
  };
}

const isLive = async (port: number) =>
  (await fetch(`http://127.0.0.1:${port}/livez`).catch(() => undefined))?.status === 200;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = flag('seconds', 8);
  // The user cache is off by default, so each request reads its user row (~0.4 ms of API CPU): on 2 cores a
  // cheaper route saturates the load generator before the server, and 2x "saturation" never overloads the server.
  const yaml = overloadYaml(
    flag('in-flight', 16),
    flag('loop-ms', 50),
    flag('sample-ms', 10),
    flag('elu', 0),
    flag('user-cache-ms', 0),
    flag('turn-ms', 0),
  );
  const scratch = await createScratchDatabase(await prepareServerTemplate());
  const secrets = 'bench:genz-overload-bench-signing-secret-01234567';
  const dir = mkdtempSync(join(tmpdir(), 'genz-overload-'));
  writeFileSync(join(dir, 'genz.yaml'), yaml);
  const config = loadConfig({
    env: {},
    overrides: { 'auth.secrets': secrets, 'database.url': scratch.url, 'log.level': 'silent' },
  });
  const local = await buildApp({ config, logger: pino({ level: 'silent' }) });
  await local.ready();
  await local.dbReadyPromise;
  const user = await createTestUser(local);
  await local.close();

  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, [fileURLToPath(new URL('../../apps/api/src/server.ts', import.meta.url))], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      DATABASE_URL: scratch.url,
      AUTH_SECRETS: secrets,
      DATA_DIR: dir,
      GENZ_CONFIG: join(dir, 'genz.yaml'),
      METRICS_TOKEN,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  let exited: number | null = null;
  child.on('exit', (code) => {
    exited = code ?? -1;
  });
  const load = startLoadWorker({
    port,
    path: '/api/me',
    headers: user.headers,
    probePath: '/livez',
    probeEveryMs: 5,
  });
  try {
    for (let i = 0; i < 300 && exited === null && !(await isLive(port)); i++) await sleep(100);
    // Without this a dead API (e.g. its random port taken) left the generator reconnecting forever.
    if (exited !== null) throw new Error(`the API exited (${exited}) before answering /livez on port ${port}`);
    await load.openPool(POOL);
    // 1. Warm-up (JIT, connection pools), then saturation: a closed loop of as many clients as the gate admits.
    const clients = flag('in-flight', 16) > 0 ? flag('in-flight', 16) : 32;
    await load.closed(clients, 2000);
    const pid = child.pid ?? 0;
    let cpu0 = cpuMs(pid);
    const closed = await load.closed(clients, 3000);
    const saturation = closed.ok / 3;
    // Server CPU per admitted request, from the closed loop.
    const cpuPerAdmitted = (cpuMs(pid) - cpu0) / closed.ok;
    // 2. Open loop at 2× saturation. The scrape before it also restarts the API's loop-delay histogram.
    // --rate fixes the offered rate instead: a gate that sheds the closed loop itself (utilisation is near 1 at 1×
    // saturation) makes S what it admits, not what the server can serve, and 2·S no overload at all.
    const rate = args.has('--rate') ? flag('rate', 0) : Math.round(saturation * 2);
    const before = await scrape(port);
    cpu0 = cpuMs(pid);
    const waited0 = runQueueMs(pid);
    const wall0 = performance.now();
    const r = await load.open(rate, seconds * 1000);
    const openWallMs = performance.now() - wall0;
    const waitedForCpu = runQueueMs(pid) - waited0;
    const openCpu = cpuMs(pid) - cpu0;
    // CPU time does not count waiting for a core, so this holds on a busy machine where wall-clock figures do not.
    const cpuPerAnswer = openCpu / Math.max(1, r.status.length);
    const after = await scrape(port);
    const alive = exited === null && (await isLive(port));
    const admitted = describe(r, 200);
    const shed = describe(r, 503);
    const server = shedHistogram(before, after);
    const shedWithoutRetryAfter = r.status.filter((s, i) => s === 503 && r.retryAfter[i] === 0).length;
    const other = r.status.length - admitted.count - shed.count;
    // prom-client samples with monitorEventLoopDelay at 20 ms (metrics.ts), whose figures include that interval.
    const lag = (q: string) =>
      ms(Math.max(0, (after.get(`nodejs_eventloop_lag_${q}_seconds`) ?? Number.NaN) * 1000 - 20));
    console.log(`| thresholds | ${yaml.split('overload:')[1]?.trim().replaceAll(/\s+/g, ' ')} |`);
    console.log(
      `| saturation (closed loop, ${clients} clients) | ${saturation.toFixed(0)} req/s (${closed.other} non-200) |`,
    );
    console.log(
      `| offered (open loop) | ${rate} req/s for ${seconds} s: ${r.sent} sent, ${r.queuedArrivals} waited for a connection, ${r.unsent} unsent |`,
    );
    console.log(
      `| admitted 200 | ${admitted.count} · send→status ms ${admitted.send} · arrival→status ms ${admitted.arrival} |`,
    );
    console.log(
      `| shed 503, client | ${shed.count} · send→status ms ${shed.send} · arrival→status ms ${shed.arrival} |`,
    );
    for (const x of shed.byReason) console.log(`| shed: ${x.name} | ${x.count} · send→status ms ${x.send} |`);
    console.log(
      `| shed 503, server (genz_http_shed_duration_seconds) | ${server.count} · ms mean ${server.meanMs.toFixed(3)} · p50 ${server.p50Ms.toFixed(3)} · p95 ${server.p95Ms.toFixed(3)} |`,
    );
    console.log(
      `| peer: GET /livez every 5 ms (never shed) | ${r.probe.length} answered 200, ${r.probeFailed} not · send→status ms ${stats(r.probe)} |`,
    );
    console.log(
      `| API event-loop delay (open loop, beyond prom-client's 20 ms interval) | ms p50 ${lag('p50')} · p99 ${lag('p99')} |`,
    );
    console.log(
      `| without Retry-After · other statuses · socket errors | ${shedWithoutRetryAfter} · ${other} · ${r.errors} |`,
    );
    console.log(
      `| API event loop runnable but waiting for a CPU (schedstat) | ${waitedForCpu.toFixed(0)} ms of the ${seconds * 1000} ms open loop |`,
    );
    console.log(`| process alive after | ${alive ? 'yes' : 'NO'} |`);
    console.log(
      `| server CPU per answer | closed loop ${cpuPerAdmitted.toFixed(2)} ms · open loop (200 + 503) ${cpuPerAnswer.toFixed(2)} ms |`,
    );
    console.log(`| server CPU over the open loop | ${((100 * openCpu) / openWallMs).toFixed(0)} % of one core |`);
    console.log(
      `| generator loop delay · send lateness | ms p50 ${ms(r.lag.p50)} · p99 ${ms(r.lag.p99)} · max ${ms(r.lag.max)} · lateness p50 ${ms(r.lateness.p50)} · p99 ${ms(r.lateness.p99)} |`,
    );
  } finally {
    await load.stop();
    child.kill('SIGKILL');
    await scratch.drop();
  }
}
