import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Db } from '@genz/db';
import { Redis } from 'ioredis';
import { loadConfig } from '../../apps/api/src/config/index.ts';
import type { Actor } from '../../apps/api/src/http/actor.ts';
import { createRedisBreaker } from '../../apps/api/src/modules/rate-limit/breaker.ts';
import { type Charge, createChargeEngine } from '../../apps/api/src/modules/rate-limit/charges.ts';
import { createConcurrencyLimiter } from '../../apps/api/src/modules/rate-limit/concurrency.ts';
import { createLimitsService } from '../../apps/api/src/modules/rate-limit/limits.service.ts';
import { percentile } from '../lib/stats.ts';
import type { Scenario } from '../lib/types.ts';
import { scenario as foundation } from './foundation.ts';

/**
 * The limiter's cost (issue 6).
 * - As a harness scenario (`npm run bench -w @genz/bench -- limiter`): `GET /api/me` with the per-IP and per-user
 *   request limits ON (high enough never to refuse); compare with `foundation`'s same route, limits off.
 * - Run directly (`node bench/scenarios/limiter.ts`): the added latency of one request's limit check (a per-user and
 *   per-key request rate in one atomic charge, as the actor hook does), in memory and in Redis (its own
 *   redis-server on loopback), p50/p99 in microseconds, sequential calls so each is one request's cost. Then a /v1
 *   model call's limits in Redis (ADR 060), in alternating blocks: `separate` (request rates, reservation, slot,
 *   reconcile, release: five calls, as before the one-call admission) against `admit` (one admission, one settle):
 *   wall p50/p99 µs, and CPU µs per model call of this process and of redis-server.
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

const huge = { rate: 1e12, periodMs: 60_000, burst: 1e12 };

/** redis-server's CPU time so far, in µs (utime + stime from /proc, 100 ticks a second). */
function cpuOfPid(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function admissions(redis: Redis, redisPid: number, n: number) {
  const config = loadConfig({
    env: {},
    overrides: {
      'auth.secrets': 'bench:0000000000000000000000000000000000000000000',
      'limits.defaults.requests': huge,
      'limits.defaults.apiKeyRequests': huge,
      'limits.defaults.tokens': huge,
      'limits.defaults.apiKeyTokens': huge,
      'limits.defaults.tokensPerDay': 1e15,
      'limits.defaults.tokensPerMonth': 1e15,
      'limits.defaults.costPerMonthUsd': 1e9,
      'limits.defaults.concurrentGenerations': 1_000_000,
    },
  });
  const breaker = createRedisBreaker({ openMs: 2000 });
  const common = { redis, breaker, replicas: 1 };
  const failModes = { requests: 'local', tokens: 'local', quotas: 'local' } as const;
  // The only database read is a user's admin overrides, once per cache TTL: a stand-in that has none.
  const noOverrides = { select: () => ({ from: () => ({ where: () => ({ limit: async () => [] }) }) }) };
  const service = createLimitsService({
    config,
    db: noOverrides as unknown as Db,
    engine: createChargeEngine({ ...common, memoryMaxKeys: 100_000, failModes }),
    concurrency: createConcurrencyLimiter(common),
  });
  const actor = (i: number): Actor => ({
    userId: `user-${i % 100}`,
    role: 'user',
    plan: 'free',
    scopes: ['inference'],
    via: 'api_key',
    apiKeyId: `key-${i % 100}`,
  });
  const input = {
    promptTokens: 12,
    maxTokens: 64,
    maxTokensParam: 'max_tokens',
    contextWindow: 128_000,
    pricePerInputToken: 1.5e-7,
    pricePerOutputToken: 6e-7,
  };
  const actual = { inputTokens: 12, outputTokens: 20, costUsd: 1.4e-5 };
  const leaseMs = 60_000;
  const ways = {
    async separate(i: number) {
      const a = actor(i);
      await service.checkRequest(a);
      const reservation = await service.reserve(a, input);
      const free = await service.acquireGeneration(a, `lease-${i}`, leaseMs);
      await reservation.settle(actual);
      await free();
    },
    async admit(i: number) {
      const a = actor(i);
      const admission = await service.admit(a, input, {
        requestRates: true,
        generation: { leaseId: `lease-${i}`, leaseMs },
      });
      await admission.settle(actual);
    },
  };
  type Way = keyof typeof ways;
  const stats: Record<Way, { us: number[]; cpu: number; redisCpu: number }> = {
    separate: { us: [], cpu: 0, redisCpu: 0 },
    admit: { us: [], cpu: 0, redisCpu: 0 },
  };
  for (let i = 0; i < 2000; i++) await ways[i % 2 ? 'admit' : 'separate'](i); // warm-up (JIT, script cache)
  const block = 500;
  for (let done = 0; done < n; done += block) {
    for (const way of ['separate', 'admit'] as const) {
      const cpu0 = process.cpuUsage();
      const redis0 = cpuOfPid(redisPid);
      for (let i = done; i < done + block; i++) {
        const t0 = process.hrtime.bigint();
        await ways[way](i);
        stats[way].us.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      const cpu = process.cpuUsage(cpu0);
      stats[way].cpu += cpu.user + cpu.system;
      stats[way].redisCpu += cpuOfPid(redisPid) - redis0;
    }
  }
  console.log(
    '\n| /v1 model call, limits in Redis | Redis calls | calls | p50 µs | p99 µs | CPU µs/call (this process) | redis-server CPU µs/call |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const way of ['separate', 'admit'] as const) {
    const st = stats[way];
    const us = Float64Array.from(st.us).sort();
    const calls = way === 'separate' ? 5 : 2;
    console.log(
      `| ${way} | ${calls} | ${us.length} | ${percentile(us, 50).toFixed(1)} | ${percentile(us, 99).toFixed(1)} | ${(st.cpu / us.length).toFixed(1)} | ${(st.redisCpu / us.length).toFixed(1)} |`,
    );
  }
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
    await admissions(redis, server.pid as number, n);
  } finally {
    redis.disconnect();
    server.kill('SIGKILL');
  }
}
