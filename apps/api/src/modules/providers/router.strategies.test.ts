import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.ts';
import { type BreakerRecord, type BreakerStore, Breakers, memoryBreakerStore } from './breaker.ts';
import { createProviderMetrics } from './providers.metrics.ts';
import { buildRegistry } from './providers.registry.ts';
import type { Adapter, ProviderKind, Strategy } from './providers.types.ts';
import { ProviderRouter } from './router.ts';
import { RetryBudget, Stats } from './stats.ts';
import { droppedCounter } from './testing/index.ts';
import { memoryUsageSink, UsageWriter } from './usage.ts';

function routerFor(strategy: Strategy, deployments: Record<string, unknown>[], random = Math.random) {
  const config = loadConfig({
    env: {},
    overrides: {
      'providers.deployments': deployments,
      'providers.aliases': { m: { deployments: deployments.map((d) => d.id), strategy } },
    },
  });
  const registry = buildRegistry(config.providers);
  const breakers = new Breakers({
    store: memoryBreakerStore(),
    policy: { failureThreshold: 1, openMs: 60_000 },
    halfOpenProbes: 1,
    rampUpMs: 0,
  });
  const stats = new Stats(1);
  const metricsRegistry = new Registry();
  const unused = {} as Adapter;
  const adapters: Record<ProviderKind, Adapter> = {
    openai: unused,
    anthropic: unused,
    gemini: unused,
    'openai-compatible': unused,
    demo: unused,
  };
  const router = new ProviderRouter({
    registry,
    adapters,
    breakers,
    stats,
    budget: new RetryBudget(0.2, 1),
    metrics: createProviderMetrics(metricsRegistry, () => [], breakers, stats),
    usage: new UsageWriter(
      memoryUsageSink(),
      { queueMax: 10, batchSize: 10, flushMs: 1000 },
      droppedCounter(),
      () => {},
    ),
    routing: config.providers.routing,
    log: pino({ level: 'silent' }),
    random,
  });
  return { router, stats, breakers, alias: router.resolve('m') };
}

const dep = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  provider: 'openai-compatible',
  model: id,
  baseUrl: 'http://127.0.0.1:1/v1',
  ...extra,
});
const needs = { tools: false, vision: false, embeddings: false, tokens: 10 };
const ids = (ds: { id: string }[]) => ds.map((d) => d.id);

describe('routing strategies', () => {
  it('fallback keeps the configured order and drops open breakers', async () => {
    const { router, alias, breakers } = routerFor('fallback', [dep('a'), dep('b'), dep('c')]);
    expect(ids(router.plan(alias, needs))).toEqual(['a', 'b', 'c']);
    await breakers.recordFailure('a');
    expect(ids(router.plan(alias, needs))).toEqual(['b', 'c']);
  });

  it('weighted picks first in proportion to weight', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const { router, alias } = routerFor('weighted', [dep('a', { weight: 3 }), dep('b', { weight: 1 })], random);
    const first = { a: 0, b: 0 };
    for (let i = 0; i < 4000; i++) first[router.plan(alias, needs)[0]?.id as 'a' | 'b']++;
    expect(first.a / 4000).toBeGreaterThan(0.7);
    expect(first.a / 4000).toBeLessThan(0.8);
  });

  it('least-latency prefers the lowest EWMA of TTFT plus generation time', () => {
    const { router, alias, stats } = routerFor('least-latency', [dep('a'), dep('b')]);
    stats.observeTtft('a', 900);
    stats.observeTtft('b', 100);
    stats.observeThroughput('b', 100, 1000);
    stats.observeThroughput('a', 100, 1000);
    expect(ids(router.plan(alias, needs))).toEqual(['b', 'a']);
  });

  it('least-busy prefers the fewest in-flight requests', () => {
    const { router, alias, stats } = routerFor('least-busy', [dep('a'), dep('b')]);
    stats.get('a').inFlight = 5;
    stats.get('b').inFlight = 1;
    expect(ids(router.plan(alias, needs))).toEqual(['b', 'a']);
  });

  it('lowest-cost prefers the cheapest deployment for the request', () => {
    const { router, alias } = routerFor('lowest-cost', [
      dep('pricey', { inputPricePerMTok: 10, outputPricePerMTok: 30 }),
      dep('cheap', { inputPricePerMTok: 0.1, outputPricePerMTok: 0.4 }),
    ]);
    expect(ids(router.plan(alias, needs))).toEqual(['cheap', 'pricey']);
  });

  it('skips deployments whose context window or capabilities do not fit', () => {
    const { router, alias } = routerFor('fallback', [
      dep('tiny', { contextWindow: 100, capabilities: { tools: true, vision: true } }),
      dep('plain', { capabilities: { tools: false, vision: false } }),
      dep('big', { capabilities: { tools: true, vision: true } }),
    ]);
    expect(ids(router.plan(alias, { ...needs, tokens: 5000 }))).toEqual(['plain', 'big']);
    expect(ids(router.plan(alias, { ...needs, tools: true }))).toEqual(['tiny', 'big']);
    expect(() => router.plan(alias, { ...needs, tokens: 10_000_000 })).toThrow(/holds at most/);
  });
});

describe('usage writer', () => {
  it('never grows past its bound: it drops and counts instead', async () => {
    const dropped = droppedCounter();
    const sink = memoryUsageSink();
    let release: () => void = () => {};
    const slow = {
      write: (batch: typeof sink.events) =>
        new Promise<void>((r) => {
          release = () => {
            sink.events.push(...batch);
            r();
          };
        }),
    };
    const writer = new UsageWriter(slow, { queueMax: 3, batchSize: 2, flushMs: 10 }, dropped, () => {});
    const event = {
      requestId: 'r',
      at: new Date(),
      userId: null,
      apiKeyId: null,
      alias: 'a',
      deployment: 'd',
      endpoint: 'chat.completions' as const,
      status: 'ok' as const,
      inputTokens: 1,
      outputTokens: 1,
      reasoningTokens: 0,
      costUsd: 0,
      priceVersion: 'v',
      latencyMs: 1,
      ttftMs: 1,
    };
    for (let i = 0; i < 10; i++) writer.push(event); // the first batch of 2 is being written and stuck
    expect(writer.pending).toBeLessThanOrEqual(3);
    expect((await dropped.get()).values.find((v) => v.labels.reason === 'queue_full')?.value).toBeGreaterThan(0);
    release();
  });
});

describe('breaker view', () => {
  it('ignores a sync that read the store before a newer local transition', async () => {
    let stale: Map<string, BreakerRecord> | undefined;
    const memory = memoryBreakerStore();
    const store: BreakerStore = {
      record: (id, outcome, policy) => memory.record(id, outcome, policy),
      // A slow HGETALL: the snapshot is taken now, the answer arrives after the failure below was applied.
      all: async () => stale ?? memory.all(),
    };
    const breakers = new Breakers({
      store,
      policy: { failureThreshold: 1, openMs: 60_000 },
      halfOpenProbes: 1,
      rampUpMs: 0,
    });
    stale = await memory.all(); // empty: everything closed
    await breakers.recordFailure('a');
    expect(breakers.state('a')).toBe('open');
    stale = new Map([['a', { state: 'closed', failures: 0, openUntil: 0, closedAt: 0, version: 0 }]]);
    await breakers.sync();
    expect(breakers.state('a')).toBe('open');
  });
});
