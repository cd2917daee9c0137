import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createRedisBreaker } from '../../apps/api/src/modules/rate-limit/breaker.ts';
import { type Charge, createChargeEngine } from '../../apps/api/src/modules/rate-limit/charges.ts';
import { percentile } from '../lib/stats.ts';
import type { Scenario } from '../lib/types.ts';
import { scenario as foundation } from './foundation.ts';

/**
 * The limiter's cost (issue 6).
 * - As a harness scenario (`npm run bench -w @genz/bench -- limiter`): `GET /api/me` with the per-IP and per-user
 *   request limits ON (high enough never to refuse); compare with `foundation`'s same route, limits off.
 * - Run directly (`node bench/scenarios/limiter.ts`): the added latency of one request's limit check (a per-user and
 *   per-key request rate in one atomic charge, as the actor hook does), in memory and in Redis (its own
 *   redis-server on loopback), p50/p99 in microseconds, sequential calls so each is one request's cost.
 */
export const scenario: Scenario = {
  ...foundation,
  name: 'limiter',
  description:
    '`GET /api/me` (bearer) with the per-IP (1e9/min) and per-user (1e9/min) request limits on: the limiter runs on ' +
    'every request but never refuses. Compare with the foundation scenario, where both are off.',
  apiConfigYaml: `limits:
  ipRequests: { rate: 1000000000, periodMs: 60000, burst: 1000000000 }
  defaults:
    requests: { rate: 1000000000, periodMs: 60000, burst: 1000000000 }
`,
  targets: foundation.targets.filter((t) => t.baseline || t.path === '/api/me'),
};

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function charges(i: number): Charge[] {
  const user = `user-${i % 1000}`;
  return [
    {
      policy: 'user_rpm',
      cls: 'requests',
      unit: 'requests',
      subject: user,
      tag: user,
      spec: { kind: 'rate', rate: 1e9, periodMs: 60_000, burst: 1e9 },
      cost: 1,
    },
    {
      policy: 'key_rpm',
      cls: 'requests',
      unit: 'requests',
      subject: `key-${i % 1000}`,
      tag: user,
      spec: { kind: 'rate', rate: 1e9, periodMs: 60_000, burst: 1e9 },
      cost: 1,
    },
  ];
}

async function measure(label: string, redis: Redis | null, n: number) {
  const engine = createChargeEngine({
    redis,
    breaker: createRedisBreaker({ openMs: 2000 }),
    memoryMaxKeys: 100_000,
    replicas: 1,
    failModes: { requests: 'local', tokens: 'local', quotas: 'local' },
  });
  for (let i = 0; i < 2000; i++) await engine.charge(charges(i)); // warm-up (JIT, script cache)
  const us = new Float64Array(n);
  let store = '';
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await engine.charge(charges(i));
    us[i] = Number(process.hrtime.bigint() - t0) / 1000;
    store = r.store;
  }
  us.sort();
  const row = `| ${label} | ${store} | ${n} | ${percentile(us, 50).toFixed(1)} | ${percentile(us, 99).toFixed(1)} |`;
  console.log(row);
  return row;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] ?? 20_000);
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const redis = new Redis(`redis://127.0.0.1:${port}`, {
    keyPrefix: '{bench}:',
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    commandTimeout: 250,
  });
  redis.on('error', () => {}); // connection refused until redis-server listens; the offline queue waits for it
  try {
    await redis.ping();
    console.log('| store | decided in | calls | p50 µs | p99 µs |\n| --- | --- | --- | --- | --- |');
    await measure('memory (no Redis)', null, n);
    await measure('Redis (loopback, Lua)', redis, n);
  } finally {
    redis.disconnect();
    server.kill('SIGKILL');
  }
}
