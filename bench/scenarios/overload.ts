import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase, prepareServerTemplate } from '@genz/db/testing';
import pino from 'pino';
import { buildApp } from '../../apps/api/src/app.ts';
import { loadConfig } from '../../apps/api/src/config/index.ts';
import { createTestUser } from '../../apps/api/src/test/users.ts';
import { LatencyRecorder, percentile } from '../lib/stats.ts';
import type { Scenario } from '../lib/types.ts';
import { scenario as foundation } from './foundation.ts';

/**
 * Overload at 2× saturation (issue 6). Run directly:
 *   `node bench/scenarios/overload.ts [--seconds 8] [--in-flight 16] [--loop-ms 50] [--sample-ms 10] [--user-cache-ms 0]`
 * A real API process (PostgreSQL, no Redis, production mode) with the given `server.overload` thresholds. A closed
 * loop of 32 clients on `GET /api/me` (bearer) warms the process up (2 s, discarded) and then finds the saturation
 * throughput S (3 s); an open loop then sends 2·S requests per second (arrivals do not wait for answers) and records,
 * client-side, the latency of admitted (200) and shed (503) answers separately, whether every 503 carried
 * Retry-After, whether the process survived, and the load generator's own event-loop delay (a lagging generator
 * adds its lag to every figure). As a harness scenario it is foundation's `GET /api/me` through the gate with
 * thresholds a closed loop does not reach (its cost, no shedding).
 */
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length - 1; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const flag = (name: string, fallback: number) => Number(args.get(`--${name}`) ?? fallback);

const overloadYaml = (inFlight: number, loopMs: number, sampleMs: number, userCacheMs?: number) => `${
  userCacheMs === undefined ? '' : `auth:\n  userCacheTtlMs: ${userCacheMs}\n`
}limits:
  ipRequests: null
  defaults:
    requests: null
server:
  overload:
    maxInFlight: ${inFlight}
    maxEventLoopDelayMs: ${loopMs}
    sampleIntervalMs: ${sampleMs}
`;

export const scenario: Scenario = {
  ...foundation,
  name: 'overload',
  description:
    'foundation’s `GET /api/me` through the shedding gate, thresholds above what a closed loop reaches (in-flight 256, loop 1000 ms): the gate’s cost, no shedding.',
  apiConfigYaml: overloadYaml(256, 1000, 10),
  targets: foundation.targets.filter((t) => t.baseline || t.path === '/api/me'),
};

/**
 * A fixed pool of keep-alive connections, opened before the open loop: an arrival that finds none idle waits in the
 * agent's queue, and that wait counts in its latency (it is measured from arrival). Letting the pool grow instead
 * makes a lag burst open hundreds of connections at once; the listen backlog overflows and dropped SYNs come back
 * after 1, 3, 7 s of TCP retransmission, which measures the client's connection storm, not shedding.
 */
const POOL = 256;
const agent = new Agent({ keepAlive: true, maxSockets: POOL, maxFreeSockets: POOL });

function get(port: number, path: string, headers: Record<string, string>) {
  return new Promise<{ status: number; ms: number; retryAfter: boolean; body: string }>((resolve) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      let body = '';
      // Only a 503's body is kept (its `reason`); others are drained unread.
      if (res.statusCode === 503) res.setEncoding('utf8').on('data', (c: string) => (body += c));
      else res.resume();
      const retryAfter = res.headers['retry-after'] !== undefined;
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, retryAfter, body }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0, retryAfter: false, body: '' }));
    req.end();
  });
}

const stats = (r: LatencyRecorder) => {
  const s = r.sorted();
  return s.length === 0
    ? 'n/a'
    : `p50 ${percentile(s, 50).toFixed(1)} · p95 ${percentile(s, 95).toFixed(1)} · p99 ${percentile(s, 99).toFixed(1)}`;
};

/** CPU time (user + system, ms) the process has used so far, from /proc (Linux). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** A closed loop of `clients` for `ms`; returns the 200s per second. */
async function closedLoop(port: number, headers: Record<string, string>, clients: number, ms: number) {
  let ok = 0;
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) if ((await get(port, '/api/me', headers)).status === 200) ok++;
    }),
  );
  return ok / (ms / 1000);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = flag('seconds', 8);
  // The user cache is off by default, so each request reads its user row (~0.4 ms of API CPU): on 2 cores a
  // cheaper route saturates the load generator before the server, and 2x "saturation" never overloads the server.
  const yaml = overloadYaml(
    flag('in-flight', 16),
    flag('loop-ms', 50),
    flag('sample-ms', 10),
    flag('user-cache-ms', 0),
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
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  let exited: number | null = null;
  child.on('exit', (code) => {
    exited = code ?? -1;
  });
  try {
    for (let i = 0; i < 300 && (await get(port, '/livez', {})).status !== 200; i++) await sleep(100);
    const headers = user.headers;
    // 1. Warm-up (JIT, connection pools), then saturation: a closed loop of 32 clients.
    await closedLoop(port, headers, 32, 2000);
    const pid = child.pid ?? 0;
    let cpu0 = cpuMs(pid);
    const saturation = await closedLoop(port, headers, 32, 3000);
    // Server CPU per admitted request, from the closed loop (every answer a 200).
    const cpuPerAdmitted = (cpuMs(pid) - cpu0) / (saturation * 3);
    // 2. Open loop at 2× saturation, on a pool of connections opened beforehand.
    await Promise.all(Array.from({ length: POOL }, () => get(port, '/livez', {})));
    const rate = Math.round(saturation * 2);
    const admitted = new LatencyRecorder();
    const shed = new LatencyRecorder();
    const shedBy = new Map<string, LatencyRecorder>();
    let other = 0;
    let shedWithoutRetryAfter = 0;
    const pending: Promise<void>[] = [];
    const clientLag = monitorEventLoopDelay({ resolution: 5 });
    clientLag.enable();
    cpu0 = cpuMs(pid);
    const start = performance.now();
    let sent = 0;
    while (performance.now() - start < seconds * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      for (; sent < due; sent++) {
        pending.push(
          get(port, '/api/me', headers).then((r) => {
            if (r.status === 200) admitted.record(r.ms);
            else if (r.status === 503) {
              shed.record(r.ms);
              const reason = (JSON.parse(r.body) as { reason?: string }).reason ?? '?';
              if (!shedBy.has(reason)) shedBy.set(reason, new LatencyRecorder());
              shedBy.get(reason)?.record(r.ms);
              if (!r.retryAfter) shedWithoutRetryAfter++;
            } else other++;
          }),
        );
      }
      await sleep(2);
    }
    await Promise.all(pending);
    clientLag.disable();
    // CPU time does not count waiting for a core, so this holds on a busy machine where wall-clock figures do not.
    const cpuOpen = cpuMs(pid) - cpu0;
    const cpuPerAnswer = cpuOpen / (admitted.count + shed.count + other);
    const alive = exited === null && (await get(port, '/livez', {})).status === 200;
    console.log(`| thresholds | ${yaml.split('overload:')[1]?.trim().replaceAll(/\s+/g, ' ')} |`);
    console.log(`| saturation (closed loop, 32 clients) | ${saturation.toFixed(0)} req/s |`);
    console.log(`| offered (open loop) | ${rate} req/s for ${seconds} s (${sent} requests) |`);
    console.log(`| admitted 200 | ${admitted.count} · ms ${stats(admitted)} |`);
    console.log(`| shed 503 | ${shed.count} · ms ${stats(shed)} · without Retry-After: ${shedWithoutRetryAfter} |`);
    for (const [reason, r] of shedBy) console.log(`| shed: ${reason} | ${r.count} · ms ${stats(r)} |`);
    console.log(`| other statuses | ${other} |`);
    console.log(`| process alive after | ${alive ? 'yes' : 'NO'} |`);
    console.log(
      `| server CPU per answer | closed loop (all 200) ${cpuPerAdmitted.toFixed(2)} ms · open loop (200 + 503) ${cpuPerAnswer.toFixed(2)} ms |`,
    );
    console.log(
      `| load generator loop delay | ms p50 ${(clientLag.percentile(50) / 1e6).toFixed(1)} · p99 ${(clientLag.percentile(99) / 1e6).toFixed(1)} |`,
    );
  } finally {
    child.kill('SIGKILL');
    agent.destroy();
    await scratch.drop();
  }
}
