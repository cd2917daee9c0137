import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.ts';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestApiKey, createTestUser } from '../../test/users.ts';
import { demoChat, postV1 } from '../providers/testing/index.ts';

const apps: TestApp[] = [];
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close();
});

async function app(overrides: Record<string, unknown>) {
  const t = await buildTestApp({ 'providers.demoChunkDelayMs': 0, ...overrides });
  apps.push(t);
  return t;
}

interface UsageBody {
  items: { policy: string; limit: number; used: number; remaining: number; resetAt: string }[];
}

describe('request rates', () => {
  it('per user: RateLimit-* on admitted requests, 429 problem+json with Retry-After past the limit', async () => {
    const t = await app({ 'limits.defaults.requests': { rate: 2, periodMs: 4000, burst: 2 } });
    const alice = await createTestUser(t.app);
    const first = await t.app.inject({ url: '/api/me', headers: alice.headers });
    expect(first.statusCode).toBe(200);
    expect(first.headers['ratelimit-limit']).toBe('2');
    expect(first.headers['ratelimit-remaining']).toBe('1');
    // Until the burst is whole again: one emission interval (2 s) after this charge, in whole seconds rounded up.
    expect(Number(first.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(1);
    expect(Number(first.headers['ratelimit-reset'])).toBeLessThanOrEqual(3);
    await t.app.inject({ url: '/api/me', headers: alice.headers });
    const refused = await t.app.inject({ url: '/api/me', headers: alice.headers });
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.json()).toMatchObject({ code: 'rate_limited' });
    // One request per 2 s sustained: the next one fits in 2 s (±1 s).
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(3);
    // Another user is not affected.
    const bob = await createTestUser(t.app);
    expect((await t.app.inject({ url: '/api/me', headers: bob.headers })).statusCode).toBe(200);
  });

  it('per IP before authentication; a forged X-Forwarded-For from an untrusted peer buys nothing', async () => {
    const t = await app({ 'limits.ipRequests': { rate: 1, periodMs: 60_000, burst: 2 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await t.app.inject({
        url: '/api/me',
        remoteAddress: '203.0.113.9',
        headers: { 'x-forwarded-for': `198.51.100.${i}` },
      });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    // A different real peer has its own budget.
    expect((await t.app.inject({ url: '/api/me', remoteAddress: '203.0.113.10' })).statusCode).toBe(401);
  });
});

describe('token reservations on /v1', () => {
  it('reserve prompt + max_tokens before the call and reconcile with the real usage after', async () => {
    // A rate that refills too slowly to matter during the test: what is charged is visible as is.
    const t = await app({ 'limits.defaults.tokens': { rate: 10_000, periodMs: 86_400_000, burst: 10_000 } });
    const user = await createTestUser(t.app);
    const key = await createTestApiKey(t.app, user);
    const res = await postV1(t.app, demoChat(2000), { headers: key.headers });
    expect(res.statusCode).toBe(200);
    const usage = res.json().usage as { total_tokens: number };
    await sleep(50);
    const me = (await t.app.inject({ url: '/api/me/usage', headers: user.headers })).json() as UsageBody;
    const tpm = me.items.find((i) => i.policy === 'user_tpm');
    // Reconciled: what is charged is what the model used (± rounding of the GCRA), not the 2000 reserved.
    expect(tpm?.used).toBeGreaterThanOrEqual(usage.total_tokens - 1);
    expect(tpm?.used).toBeLessThanOrEqual(usage.total_tokens);
    const day = me.items.find((i) => i.policy === 'user_tokens_day');
    expect(day?.used).toBe(usage.total_tokens);
  });

  it('a concurrent burst cannot overshoot the TPM by more than the in-flight reservations', async () => {
    const t = await app({
      'limits.defaults.tokens': { rate: 1000, periodMs: 86_400_000, burst: 1000 },
      'limits.defaults.concurrentGenerations': 100,
      // Every call is still in flight when the last one reserves: reservations, not reconciled usage, decide.
      'providers.demoChunkDelayMs': 40,
    });
    const user = await createTestUser(t.app);
    const key = await createTestApiKey(t.app, user);
    const all = await Promise.all(
      Array.from({ length: 12 }, () => postV1(t.app, demoChat(300, true), { headers: key.headers })),
    );
    const admitted = all.filter((r) => r.statusCode === 200);
    // Each reserves ~303 tokens (prompt estimate + 300): at most 3 fit in a burst of 1000.
    expect(admitted.length).toBe(3);
    const refused = all.find((r) => r.statusCode === 429);
    expect(refused?.json()).toMatchObject({ error: { type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' } });
    expect(Number(refused?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('negative or absurd max_tokens is a 400 naming the parameter, never a free reservation', async () => {
    const t = await app({});
    const user = await createTestUser(t.app);
    const key = await createTestApiKey(t.app, user);
    const post = (payload: object) => postV1(t.app, payload, { headers: key.headers });
    for (const payload of [
      demoChat(-5),
      demoChat(0),
      demoChat(10_000_000),
      { ...demoChat(), max_completion_tokens: 1e9 },
      { ...demoChat(), max_tokens: 1.5 },
    ]) {
      const res = await post(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.param).toMatch(/^max_(completion_)?tokens$/);
    }
    const responses = await t.app.inject({
      method: 'POST',
      url: '/v1/responses',
      headers: key.headers,
      payload: { model: 'demo', input: 'hi', max_output_tokens: 5_000_000 },
    });
    expect(responses.statusCode).toBe(400);
    expect(responses.json().error.param).toBe('max_output_tokens');
  });

  it('a used-up daily quota is 429 insufficient_quota with Retry-After until UTC midnight', async () => {
    const t = await app({ 'limits.defaults.tokensPerDay': 100 });
    const user = await createTestUser(t.app);
    const key = await createTestApiKey(t.app, user);
    const res = await postV1(t.app, demoChat(200), { headers: key.headers });
    expect(res.statusCode).toBe(429);
    expect(res.json().error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    const now = Date.now();
    const midnight = Date.UTC(
      new Date(now).getUTCFullYear(),
      new Date(now).getUTCMonth(),
      new Date(now).getUTCDate() + 1,
    );
    expect(Math.abs(Number(res.headers['retry-after']) - (midnight - now) / 1000)).toBeLessThanOrEqual(1.5);
  });

  it('a monthly cost budget: reservations priced at the deployment, 429 insufficient_quota past it', async () => {
    const t = await app({
      // $1 a token either way, so a reservation costs its token count in dollars.
      'providers.deployments': [
        { id: 'priced', provider: 'demo', model: 'demo', inputPricePerMTok: 1e6, outputPricePerMTok: 1e6 },
      ],
      'providers.aliases': { priced: { deployments: ['priced'] } },
      'limits.defaults.costPerMonthUsd': 100,
      'metrics.token': 'limits-metrics-token-00',
    });
    const user = await createTestUser(t.app);
    const key = await createTestApiKey(t.app, user, ['inference', 'read']);
    const post = (max_tokens: number) =>
      postV1(t.app, { ...demoChat(max_tokens), model: 'priced' }, { headers: key.headers });
    // 'hello there' is estimated at 3 prompt tokens: 3 + 200 = $203 does not fit a $100 budget, even unused.
    const refused = await post(200);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // $3 + $20 fits; afterwards usage shows what it really cost.
    const ok = await post(20);
    expect(ok.statusCode).toBe(200);
    const spent = ok.json().usage.total_tokens as number;
    const usage = (await t.app.inject({ url: '/api/me/usage', headers: key.headers })).json() as UsageBody;
    const cost = usage.items.find((i) => i.policy === 'user_cost_month');
    expect(cost?.limit).toBe(100);
    expect(cost?.used).toBeCloseTo(spent, 5);
    // Decisions are counted per policy and outcome.
    const metrics = await t.app.inject({
      url: '/metrics',
      headers: { authorization: 'Bearer limits-metrics-token-00' },
    });
    expect(metrics.body).toMatch(/genz_ratelimit_decisions_total\{policy="user_cost_month",outcome="limited"\} 1\b/);
    expect(metrics.body).toMatch(/genz_ratelimit_decisions_total\{policy="user_cost_month",outcome="allowed"\} 1\b/);
  });

  it('simultaneous generations per user: one more than the cap gets 429', async () => {
    const t = await app({ 'limits.defaults.concurrentGenerations': 1, 'providers.demoChunkDelayMs': 20 });
    const user = await createTestUser(t.app);
    const key = await createTestApiKey(t.app, user);
    const [a, b] = await Promise.all([
      postV1(t.app, demoChat(50, true), { headers: key.headers }),
      postV1(t.app, demoChat(50, true), { headers: key.headers }),
    ]);
    expect([a?.statusCode, b?.statusCode].sort()).toEqual([200, 429]);
    // The slot is free again once the stream ended.
    const c = await postV1(t.app, demoChat(50), { headers: key.headers });
    expect(c.statusCode).toBe(200);
  });
});

describe('plans and overrides', () => {
  it('an unknown plan name under limits.plans stops the boot naming it', () => {
    expect(() => loadConfig({ env: {}, overrides: { 'limits.plans': { gold: { tokensPerDay: 5 } } } })).toThrow(
      /limits\.plans\.gold: unknown plan "gold"/,
    );
  });

  it('plan limits over defaults, then an admin override per user; GET /api/me/usage shows them', async () => {
    const t = await app({
      'limits.plans': { pro: { tokensPerDay: 9000, costPerMonthUsd: null } },
    });
    const admin = await createTestUser(t.app, { role: 'admin' });
    const user = await createTestUser(t.app, { plan: 'pro' });
    const before = (await t.app.inject({ url: '/api/me/usage', headers: user.headers })).json() as UsageBody & {
      plan: string;
    };
    expect(before.plan).toBe('pro');
    expect(before.items.find((i) => i.policy === 'user_tokens_day')?.limit).toBe(9000);
    expect(before.items.find((i) => i.policy === 'user_cost_month')).toBeUndefined();

    const put = await t.app.inject({
      method: 'PUT',
      url: `/api/admin/users/${user.id}/limits`,
      headers: admin.headers,
      payload: { tokensPerDay: 5, requests: null },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ plan: 'pro', overrides: { tokensPerDay: 5, requests: null } });
    expect(put.json().effective.tokensPerDay).toBe(5);
    const after = (await t.app.inject({ url: '/api/me/usage', headers: user.headers })).json() as UsageBody;
    expect(after.items.find((i) => i.policy === 'user_tokens_day')?.limit).toBe(5);
    expect(after.items.find((i) => i.policy === 'user_rpm')).toBeUndefined();
    const bad = await t.app.inject({
      method: 'PUT',
      url: `/api/admin/users/${user.id}/limits`,
      headers: admin.headers,
      payload: { tokensPerDay: -1 },
    });
    expect(bad.statusCode).toBe(400);

    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/admin/users/${user.id}/limits`,
      headers: admin.headers,
    });
    expect(del.statusCode).toBe(204);
    const reset = (await t.app.inject({ url: '/api/me/usage', headers: user.headers })).json() as UsageBody;
    expect(reset.items.find((i) => i.policy === 'user_tokens_day')?.limit).toBe(9000);
  });
});
