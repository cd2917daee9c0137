import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase, prepareServerTemplate } from '@genz/db/testing';
import pino from 'pino';
import { buildApp } from '../../apps/api/src/app.ts';
import { loadConfig } from '../../apps/api/src/config/index.ts';
import { createTestUser } from '../../apps/api/src/test/users.ts';
import { percentile } from '../lib/stats.ts';
import type { Scenario } from '../lib/types.ts';
import { scenario as foundation } from './foundation.ts';

/**
 * Overload at 2× saturation (issue 6). Run directly: `node bench/scenarios/overload.ts [seconds]`.
 * A real API process (PostgreSQL, no Redis, production mode) with `server.overload.maxInFlight: 64` and an
 * event-loop threshold of 100 ms. First a closed loop of 32 clients on `GET /api/me` (bearer) finds the saturation
 * throughput S; then an open loop sends 2·S requests per second (arrivals do not wait for answers) and records the
 * latency of admitted (200) and shed (503) answers separately, and whether the process survived.
 * As a harness scenario it is foundation's `GET /api/me` under the same thresholds (closed loop: no shedding).
 */
const OVERLOAD_YAML = `limits:
  ipRequests: null
  defaults:
    requests: null
server:
  overload:
    maxInFlight: 64
    maxEventLoopDelayMs: 100
    sampleIntervalMs: 50
`;

export const scenario: Scenario = {
  ...foundation,
  name: 'overload',
  description:
    'foundation’s `GET /api/me` with the overload thresholds of the direct 2× run (in-flight 64, loop 100 ms).',
  apiConfigYaml: OVERLOAD_YAML,
  targets: foundation.targets.filter((t) => t.baseline || t.path === '/api/me'),
};

const agent = new Agent({ keepAlive: true, maxSockets: 512 });

function get(port: number, path: string, headers: Record<string, string>) {
  return new Promise<{ status: number; ms: number }>((resolve) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end();
  });
}

const stats = (xs: number[]) => {
  const s = Float64Array.from(xs).sort();
  return s.length === 0
    ? 'n/a'
    : `p50 ${percentile(s, 50).toFixed(1)} · p95 ${percentile(s, 95).toFixed(1)} · p99 ${percentile(s, 99).toFixed(1)}`;
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? 8);
  const scratch = await createScratchDatabase(await prepareServerTemplate());
  const secrets = 'bench:genz-overload-bench-signing-secret-01234567';
  const dir = mkdtempSync(join(tmpdir(), 'genz-overload-'));
  writeFileSync(join(dir, 'genz.yaml'), OVERLOAD_YAML);
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
    // 1. Saturation: a closed loop of 32 clients for 3 s.
    let done = 0;
    const until = performance.now() + 3000;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() < until) if ((await get(port, '/api/me', headers)).status === 200) done++;
      }),
    );
    const saturation = done / 3;
    // 2. Open loop at 2× saturation.
    const rate = Math.round(saturation * 2);
    const admitted: number[] = [];
    const shed: number[] = [];
    let other = 0;
    const pending: Promise<void>[] = [];
    const start = performance.now();
    let sent = 0;
    while (performance.now() - start < seconds * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      for (; sent < due; sent++) {
        pending.push(
          get(port, '/api/me', headers).then((r) => {
            if (r.status === 200) admitted.push(r.ms);
            else if (r.status === 503) shed.push(r.ms);
            else other++;
          }),
        );
      }
      await sleep(2);
    }
    await Promise.all(pending);
    const alive = exited === null && (await get(port, '/livez', {})).status === 200;
    console.log(`| saturation (closed loop, 32 clients) | ${saturation.toFixed(0)} req/s |`);
    console.log(`| offered (open loop) | ${rate} req/s for ${seconds} s (${sent} requests) |`);
    console.log(`| admitted 200 | ${admitted.length} · ms ${stats(admitted)} |`);
    console.log(`| shed 503 | ${shed.length} · ms ${stats(shed)} |`);
    console.log(`| other | ${other} |`);
    console.log(`| process alive after | ${alive ? 'yes' : 'NO'} |`);
  } finally {
    child.kill('SIGKILL');
    agent.destroy();
    await scratch.drop();
  }
}
