import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { freePort, startRedisServer, waitFor } from '../../test/net.ts';
import { createTestApiKey, createTestUser } from '../../test/users.ts';
import { demoChat, postV1 } from '../providers/testing/index.ts';

/**
 * ADR 060: a /v1 model call is admitted in one Redis call (its user and key request rates, the token and cost
 * reservation against every token limit and quota, and the generation slot) and settled in one more (the reconcile
 * and the slot's release), after the per-IP rate that comes before authentication. This test's own redis-server,
 * watched with MONITOR, counts the limiter's commands: their keys are `rl:` (single-key GCRA), `lim:` (charges) and
 * `cc:` (generation slots).
 */
const huge = { rate: 1_000_000, periodMs: 60_000, burst: 1_000_000 };
const limits = {
  'limits.ipRequests': huge,
  'limits.defaults.requests': huge,
  'limits.defaults.apiKeyRequests': huge,
  'limits.defaults.tokens': huge,
  'limits.defaults.apiKeyTokens': huge,
  'limits.defaults.tokensPerDay': 1_000_000_000,
  'limits.defaults.tokensPerMonth': 1_000_000_000,
  'limits.defaults.costPerMonthUsd': 1_000_000,
  'providers.demoChunkDelayMs': 0,
};

let redis: ChildProcess | undefined;
const apps: TestApp[] = [];
const clients: Redis[] = [];
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close();
  for (const c of clients.splice(0)) c.disconnect();
  redis?.kill('SIGKILL');
});

async function redisServer() {
  const port = await freePort();
  redis = await startRedisServer(port);
  return port;
}

async function app(port: number, overrides: Record<string, unknown>, db?: TestApp['db']) {
  const t = await buildTestApp(
    { 'redis.url': `redis://127.0.0.1:${port}`, 'redis.keyPrefix': 'adm:', ...limits, ...overrides },
    { redis: true, keyPrefix: 'adm:', ...(db ? { db } : {}) },
  );
  apps.push(t);
  return t;
}

const limiterKey = /^adm:(rl|lim|cc):/;

describe('admission in Redis', () => {
  it('an admitted /v1 request costs the limiter three Redis calls: IP rate, admission, settle', async () => {
    const port = await redisServer();
    const t = await app(port, { 'limits.defaults.concurrentGenerations': 5 });
    const user = await createTestUser(t.app);
    const key = await createTestApiKey(t.app, user);
    // Warm-up: the scripts are loaded (EVALSHA, then EVAL once on NOSCRIPT) before the count starts.
    expect((await postV1(t.app, demoChat(20), { headers: key.headers })).statusCode).toBe(200);
    await sleep(100);

    const monitor = await new Redis(port).monitor();
    clients.push(monitor);
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      // Calls from a client, not the commands a script runs inside Redis (MONITOR shows those as source `lua`).
      if (source !== 'lua' && args.some((a) => limiterKey.test(a))) seen.push(args);
    });
    await sleep(100);
    const N = 5;
    for (let i = 0; i < N; i++) {
      const res = await postV1(t.app, demoChat(20, i % 2 === 1), { headers: key.headers });
      expect(res.statusCode).toBe(200);
    }
    // The settle is not awaited by the response: wait for the last one.
    await waitFor(async () => (seen.length >= 3 * N ? true : undefined), 5000, 'every settle');
    await sleep(300);

    expect(seen.length).toBe(3 * N);
    expect(seen.every((args) => args[0]?.toLowerCase() === 'evalsha')).toBe(true);
    // Each admission call carries the request rates, the reservation and the generation slot together (the demo
    // model is free, so there is no cost charge).
    const admissions = seen.filter((args) => args.some((a) => a.includes(':user_rpm:')));
    expect(admissions).toHaveLength(N);
    for (const args of admissions) {
      for (const part of [
        ':key_rpm:',
        ':user_tpm:',
        ':key_tpm:',
        ':user_tokens_day:',
        ':user_tokens_month:',
        'adm:cc:',
      ]) {
        expect(args.some((a) => a.includes(part))).toBe(true);
      }
    }
  }, 60_000);

  it('the generation cap holds across two replicas, and the settle frees the slot in Redis', async () => {
    const port = await redisServer();
    const overrides = { 'limits.defaults.concurrentGenerations': 1, 'providers.demoChunkDelayMs': 20 };
    const a = await app(port, overrides);
    const b = await app(port, overrides, a.db);
    const user = await createTestUser(a.app);
    const key = await createTestApiKey(a.app, user);
    const [first, second] = await Promise.all([
      postV1(a.app, demoChat(40, true), { headers: key.headers }),
      postV1(b.app, demoChat(40, true), { headers: key.headers }),
    ]);
    expect([first.statusCode, second.statusCode].sort()).toEqual([200, 429]);
    const refused = first.statusCode === 429 ? first : second;
    expect((refused.json() as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    expect(refused.headers['retry-after']).toBe('1');

    const direct = new Redis(port);
    clients.push(direct);
    // Both streams are over: the settle released the lease, and Redis dropped the emptied set.
    await waitFor(async () => ((await direct.keys('adm:cc:*')).length === 0 ? true : undefined), 5000, 'slot freed');
    // Free again: the other replica is admitted at once.
    expect((await postV1(b.app, demoChat(20), { headers: key.headers })).statusCode).toBe(200);
  }, 60_000);
});
