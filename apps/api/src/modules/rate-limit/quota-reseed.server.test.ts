import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { freePort, startRedisServer, waitFor } from '../../test/net.ts';
import { createTestApiKey, createTestUser } from '../../test/users.ts';
import { demoChat, postV1 } from '../providers/testing/index.ts';

/**
 * Quota counters live in Redis; usage_events is the durable record. When Redis comes back empty (here: this test's
 * own redis-server killed and started again), a user's day and month counters are seeded from usage_events on first
 * use, so a restart does not hand out a fresh monthly quota.
 */
const MONTH = 200;
// 'hello there' is 11 characters: the prompt estimate is ceil(11 / 4) = 3 tokens.
const PROMPT_ESTIMATE = 3;

let redis: ChildProcess | undefined;
let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  redis?.kill('SIGKILL');
});

interface Usage {
  store: string;
  items: { policy: string; used: number; limit: number }[];
}

describe('quota counters after Redis loses them', () => {
  it('are re-seeded from usage_events: usage and the next charge still see the month already spent', async () => {
    const port = await freePort();
    redis = await startRedisServer(port);
    t = await buildTestApp(
      {
        'redis.url': `redis://127.0.0.1:${port}`,
        'redis.commandTimeoutMs': 200,
        'limits.redisBreakerMs': 300,
        'limits.defaults.requests': null,
        'limits.defaults.tokens': null,
        'limits.defaults.tokensPerDay': null,
        'limits.defaults.tokensPerMonth': MONTH,
        'limits.defaults.apiKeyTokensPerMonth': MONTH,
        'limits.defaults.costPerMonthUsd': null,
        'providers.demoChunkDelayMs': 0,
      },
      { redis: true },
    );
    const app = t.app;
    const user = await createTestUser(app);
    const key = await createTestApiKey(app, user, ['inference', 'read']);
    const post = (max: number) => postV1(app, demoChat(max), { headers: key.headers });
    const usage = async () => (await app.inject({ url: '/api/me/usage', headers: key.headers })).json() as Usage;
    const used = (u: Usage, policy: string) => u.items.find((i) => i.policy === policy)?.used;

    const first = await post(50);
    expect(first.statusCode).toBe(200);
    const spent = (first.json() as { usage: { total_tokens: number } }).usage.total_tokens;
    expect(spent).toBeGreaterThan(0);
    await app.usage.writer.flush();

    const restartRedis = async () => {
      redis?.kill('SIGKILL');
      await new Promise((resolve) => redis?.once('exit', resolve));
      redis = await startRedisServer(port);
      // Back on Redis once the breaker lets the next call through and it succeeds.
      await waitFor(async () => ((await usage()).store === 'redis' ? true : undefined), 15_000, 'limits on Redis');
    };

    // Usage read first after the loss: the peek seeds the counters.
    await restartRedis();
    const after = await usage();
    expect(used(after, 'user_tokens_month')).toBe(spent);
    expect(used(after, 'key_tokens_month')).toBe(spent);

    // A charge first after the loss: it seeds before deciding. One token more than what is left is refused...
    await restartRedis();
    const left = MONTH - spent;
    const over = await post(left - PROMPT_ESTIMATE + 1);
    expect(over.statusCode).toBe(429);
    expect((over.json() as { error: { code: string } }).error.code).toBe('insufficient_quota');
    // ...and exactly what is left is admitted.
    const exact = await post(left - PROMPT_ESTIMATE);
    expect(exact.statusCode).toBe(200);
  }, 60_000);

  it('without Redis, a restarted process seeds its in-memory counters from usage_events too', async () => {
    const overrides = {
      'limits.defaults.requests': null,
      'limits.defaults.tokens': null,
      'limits.defaults.tokensPerDay': MONTH,
      'limits.defaults.tokensPerMonth': null,
      'limits.defaults.apiKeyTokensPerMonth': null,
      'limits.defaults.costPerMonthUsd': null,
      'providers.demoChunkDelayMs': 0,
    };
    const first = await buildTestApp(overrides, { redis: false });
    t = first;
    const user = await createTestUser(first.app);
    const key = await createTestApiKey(first.app, user, ['inference', 'read']);
    const res = await postV1(first.app, demoChat(50), { headers: key.headers });
    expect(res.statusCode).toBe(200);
    const spent = (res.json() as { usage: { total_tokens: number } }).usage.total_tokens;
    await first.app.usage.writer.flush();
    // The "restart": a second process on the same database, with empty memory.
    const second = await buildTestApp(overrides, { redis: false, db: first.db });
    try {
      const usage = (await second.app.inject({ url: '/api/me/usage', headers: key.headers })).json() as Usage;
      expect(usage.store).toBe('memory');
      expect(usage.items.find((i) => i.policy === 'user_tokens_day')?.used).toBe(spent);
    } finally {
      await second.close();
    }
  }, 60_000);
});
