import { schema } from '@genz/db';
import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import {
  type FakeUpstream,
  type Fault,
  fakeDeployment,
  postV1,
  startFakeUpstream,
  testApiKey,
} from './testing/index.ts';

const TTFT_MS = 400;
const IDLE_MS = 400;
const MARGIN_MS = 1500;

const ask = (extra: Record<string, unknown> = {}) => ({
  model: 'smart',
  messages: [{ role: 'user', content: 'Hi' }],
  ...extra,
});
const contentOf = (sse: string) =>
  sse
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)) as { choices?: { delta?: { content?: string } }[] })
    .map((c) => c.choices?.[0]?.delta?.content ?? '')
    .join('');

describe('stream-safe failover', () => {
  let primary: FakeUpstream;
  let secondary: FakeUpstream;
  let t: TestApp;

  beforeAll(async () => {
    primary = await startFakeUpstream();
    secondary = await startFakeUpstream({ vendor: 'anthropic' });
    t = await buildTestApp({
      'metrics.token': 'metrics-token-0123456789',
      'providers.deployments': [
        fakeDeployment('primary', 'openai', primary.baseUrl),
        fakeDeployment('secondary', 'anthropic', secondary.baseUrl),
      ],
      'providers.aliases': { smart: { deployments: ['primary', 'secondary'] } },
      'providers.routing': {
        ttftTimeoutMs: TTFT_MS,
        responseTimeoutMs: TTFT_MS,
        idleTimeoutMs: IDLE_MS,
        breakerFailureThreshold: 1000,
        retryBaseDelayMs: 10,
      },
    });
  });
  afterEach(() => {
    primary.failAll(undefined);
    secondary.failAll(undefined);
  });
  afterAll(async () => {
    await t.close();
    await primary.close();
    await secondary.close();
  });

  const beforeFirstToken: [string, Fault][] = [
    ['a 500', { kind: 'status', status: 500 }],
    ['a 429 with Retry-After', { kind: 'status', status: 429, retryAfter: '1' }],
    ['a reset before the first byte', { kind: 'reset-before' }],
    ['an HTTP 200 carrying an error in its body', { kind: 'body-error' }],
    ['a malformed first chunk', { kind: 'malformed', atChunk: 0 }],
    ['a stall past the time-to-first-token bound', { kind: 'stall' }],
  ];

  it.each(beforeFirstToken)('fails over invisibly on %s before the first token', async (_name, fault) => {
    primary.fail(fault);
    const res = await postV1(t.app, ask({ stream: true }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-genz-deployment']).toBe('secondary');
    expect(contentOf(res.body)).toBe('Hello! How can I help you today?');
    expect(res.body.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(res.body).not.toContain('"error"');
  });

  it.each(beforeFirstToken)('fails over a non-stream request on %s', async (_name, fault) => {
    primary.fail(fault);
    const res = await postV1(t.app, ask());
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-genz-deployment']).toBe('secondary');
    expect(res.json().choices[0].message.content).toBe('Hello! How can I help you today?');
  });

  it('after the first token, ends with an error event and never [DONE] (reset, idle stall, malformed chunk)', async () => {
    for (const fault of [
      { kind: 'reset-mid', afterChunks: 3 },
      { kind: 'stall', afterChunks: 3 },
      { kind: 'malformed', atChunk: 3 },
    ] as Fault[]) {
      primary.fail(fault);
      const started = Date.now();
      const res = await postV1(t.app, ask({ stream: true }));
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-genz-deployment']).toBe('primary');
      expect(contentOf(res.body.split('\n\n').slice(0, -2).join('\n\n'))).toBe('Hello!');
      const last = res.body.trimEnd().split('\n\n').at(-1) ?? '';
      expect(JSON.parse(last.slice(6)).error.code).toBe('upstream_stream_interrupted');
      expect(res.body).not.toContain('[DONE]');
      if (fault.kind === 'stall') expect(Date.now() - started).toBeLessThan(IDLE_MS + MARGIN_MS);
    }
  });

  it('answers 503 with Retry-After in the OpenAI envelope when every deployment fails, within the TTFT bound', async () => {
    primary.failAll({ kind: 'stall' });
    secondary.failAll({ kind: 'status', status: 503 });
    const started = Date.now();
    const res = await postV1(t.app, ask({ stream: true }));
    const elapsed = Date.now() - started;
    expect(res.statusCode).toBe(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(res.json().error).toMatchObject({ type: 'api_error', code: 'upstream_unavailable' });
    // maxAttempts (3) bounds the work: at most two stalled attempts on primary, each cut at the TTFT bound.
    expect(elapsed).toBeLessThan(2 * TTFT_MS + MARGIN_MS);
  });

  it('records usage with provider tokens and cost, and exports the provider metrics', async () => {
    const res = await postV1(t.app, ask({ stream: true, stream_options: { include_usage: true } }));
    expect(res.statusCode).toBe(200);
    expect(Number(res.headers['x-genz-overhead-us'])).toBeGreaterThanOrEqual(0);
    const usageChunk = res.body
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)))
      .find((c) => c.usage);
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: 19, completion_tokens: 10 });
    await t.app.usage.writer.flush();
    const [event] = await t.app.db.db
      .select()
      .from(schema.usageEvents)
      .where(eq(schema.usageEvents.requestId, String(res.headers['x-request-id'])));
    expect(event).toMatchObject({ deployment: 'primary', alias: 'smart', inputTokens: 19, outputTokens: 10 });
    expect(event?.userId).toEqual(expect.any(String));
    expect(event?.apiKeyId).toEqual(expect.any(String));
    expect(event?.ttftMs).toEqual(expect.any(Number));
    expect(event?.costUsd).toBeCloseTo((19 * 0.15 + 10 * 0.6) / 1e6, 12);

    const metrics = await t.app.inject({
      url: '/metrics',
      headers: { authorization: 'Bearer metrics-token-0123456789' },
    });
    for (const name of [
      'genz_provider_requests_total{deployment="primary",status="ok"}',
      'genz_provider_errors_total{deployment="primary",kind="ttft_timeout"}',
      'genz_provider_latency_seconds_bucket',
      'genz_provider_ttft_seconds_bucket',
      'genz_provider_tokens_total{deployment="primary",direction="output"}',
      'genz_provider_cost_usd_total{deployment="primary"}',
      'genz_provider_circuit_state{deployment="primary"} 0',
      'genz_provider_health_score{deployment="primary"}',
      'genz_provider_fallbacks_total{alias="smart"}',
    ]) {
      expect(metrics.body).toContain(name);
    }
  });
});

describe('retries', () => {
  let only: FakeUpstream;
  let t: TestApp;
  beforeAll(async () => {
    only = await startFakeUpstream();
    t = await buildTestApp({
      'providers.deployments': [fakeDeployment('only', 'openai', only.baseUrl)],
      'providers.aliases': { smart: { deployments: ['only'] } },
      'providers.routing': { breakerFailureThreshold: 1000, retryBaseDelayMs: 10, retryMaxDelayMs: 2000 },
    });
  });
  afterAll(async () => {
    await t.close();
    await only.close();
  });

  it('retries the same deployment after its Retry-After when it is short enough', async () => {
    only.fail({ kind: 'status', status: 429, retryAfter: '1' });
    const started = Date.now();
    const res = await postV1(t.app, ask());
    expect(res.statusCode).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('does not wait out a Retry-After beyond the retry bound: 503 at once, passing the hint on', async () => {
    only.fail({ kind: 'status', status: 429, retryAfter: '30' });
    const started = Date.now();
    const res = await postV1(t.app, ask());
    expect(res.statusCode).toBe(503);
    expect(Date.now() - started).toBeLessThan(MARGIN_MS);
    expect(res.headers['retry-after']).toBe('30');
  });

  it('relays a client error from upstream as a 400 without retrying', async () => {
    const before = only.requests.length;
    only.fail({ kind: 'status', status: 400, body: '{"error":{"message":"Invalid value for temperature"}}' });
    const res = await postV1(t.app, ask());
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain('temperature');
    expect(only.requests.length - before).toBe(1);
  });
});

describe('circuit breaker', () => {
  let a: FakeUpstream;
  let b: FakeUpstream;
  let t: TestApp;
  const OPEN_MS = 800;
  beforeAll(async () => {
    a = await startFakeUpstream();
    b = await startFakeUpstream();
    t = await buildTestApp({
      'metrics.token': 'metrics-token-0123456789',
      'providers.deployments': [fakeDeployment('a', 'openai', a.baseUrl), fakeDeployment('b', 'openai', b.baseUrl)],
      'providers.aliases': { smart: { deployments: ['a', 'b'] } },
      // No active probes here: this test is about half-open probes carried by live traffic.
      'providers.routing': {
        breakerFailureThreshold: 2,
        breakerOpenMs: OPEN_MS,
        rampUpMs: 0,
        stateSyncMs: 100,
        probeIntervalMs: 600_000,
      },
    });
  });
  afterAll(async () => {
    await t.close();
    await a.close();
    await b.close();
  });

  it('opens after consecutive failures, routes around, and closes only through a successful half-open probe', async () => {
    a.failAll({ kind: 'status', status: 500 });
    for (let i = 0; i < 2; i++) expect((await postV1(t.app, ask())).headers['x-genz-deployment']).toBe('b');
    const seenByA = a.requests.length;
    for (let i = 0; i < 5; i++) expect((await postV1(t.app, ask())).headers['x-genz-deployment']).toBe('b');
    expect(a.requests.length).toBe(seenByA); // open: not even tried
    const models = await t.app.inject({
      url: '/v1/models',
      headers: { authorization: `Bearer ${await testApiKey(t.app)}` },
    });
    const smart = models.json().data.find((m: { id: string }) => m.id === 'smart');
    expect(smart.genz.health).toBe('degraded');
    const scrape = await t.app.inject({
      url: '/metrics',
      headers: { authorization: 'Bearer metrics-token-0123456789' },
    });
    expect(scrape.body).toContain('genz_provider_circuit_state{deployment="a"} 2');

    // Half-open, still failing: one probe, then open again.
    await new Promise((r) => setTimeout(r, OPEN_MS + 50));
    expect((await postV1(t.app, ask())).headers['x-genz-deployment']).toBe('b');
    expect(a.requests.length).toBe(seenByA + 1);
    expect((await postV1(t.app, ask())).headers['x-genz-deployment']).toBe('b');
    expect(a.requests.length).toBe(seenByA + 1);

    // Recovered: the next half-open probe succeeds and closes the breaker.
    a.failAll(undefined);
    await new Promise((r) => setTimeout(r, OPEN_MS + 50));
    expect((await postV1(t.app, ask())).headers['x-genz-deployment']).toBe('a');
    expect((await postV1(t.app, ask())).headers['x-genz-deployment']).toBe('a');
  });
});
