import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from '../lib/stats.ts';
import type { BenchContext, Scenario, Target } from '../lib/types.ts';
import { seedOneUserAndLogIn } from './foundation.ts';

/**
 * Issue 4 "Performance": the AI router's `/v1/chat/completions` against Portkey's open-source gateway
 * (`@portkey-ai/gateway` in its own package, bench/peers/portkey, on loopback), both in front of the same fake OpenAI
 * upstream (bench/baselines/fake-openai.ts: the tests' recorded OpenAI wire format, 20 events, no delay), both on the
 * runner's Node. GenZ runs as in production: a real `gz_` API key, request/token/concurrency limits on (lifted high
 * enough never to refuse), usage recorded to PostgreSQL. `api-memory` (no Redis: in-memory limiter) is the headline,
 * `api` (Redis limiter, breakers, usage) is beside it.
 * - Autocannon rounds: non-stream at --connections (default 50) against the hello-world baseline, the upstream
 *   direct, a bare Fastify + undici passthrough (bench/baselines/passthrough.ts: the floor of any Node gateway
 *   here, doing none of GenZ's work), GenZ (memory, Redis) and Portkey. The passthrough is measured in every phase
 *   below too.
 * - Then (`measure`): added latency at concurrency 1 against the upstream direct (non-stream latency, and stream
 *   time to the first content token with a client of its own), interleaved request by request so drift cancels; and
 *   `--param streams=2000` concurrent slow streams (a second fake upstream, 50 ms before each of the 20 events),
 *   started evenly over 500 ms (`ramp`): completion, stalls (longest silence between chunks), TTFT against the upstream direct.
 * Params: `c1=N` (requests per target at concurrency 1, default 2000), `streams=N` (default 2000), `ramp=MS` (the
 * slow streams' start spread, default 500: 4,000 arrivals/s; `ramp=2000` is the 1,000/s ramp issue 4 allows when
 * the report says so).
 */

const MODEL = 'gpt-4o-mini';
export const BODY = JSON.stringify({
  model: MODEL,
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 64,
});
export const STREAM_BODY = JSON.stringify({ ...JSON.parse(BODY), stream: true });
const UPSTREAM_KEY = 'sk-fake-upstream-key';
const huge = '{ rate: 1000000000, periodMs: 60000, burst: 1000000000 }';

type Via = 'direct' | 'passthrough' | 'genz' | 'genz-redis' | 'portkey';
const vias: Via[] = ['direct', 'passthrough', 'genz', 'genz-redis', 'portkey'];
const label: Record<Via, string> = {
  direct: 'fake upstream direct',
  passthrough: 'bare Fastify + undici passthrough',
  genz: 'GenZ (in-memory limiter)',
  'genz-redis': 'GenZ (Redis)',
  portkey: 'Portkey',
};

/** Where a request goes and with which headers, to the fast (`upstream`) or the slow (`upstream-slow`) fake. */
function route(ctx: BenchContext, via: Via, slow: boolean): { url: string; headers: Record<string, string> } {
  const upstream = ctx.urls[slow ? 'upstream-slow' : 'upstream'] as string;
  const json = { 'content-type': 'application/json' };
  switch (via) {
    case 'direct':
      return { url: `${upstream}/v1/chat/completions`, headers: { ...json, authorization: `Bearer ${UPSTREAM_KEY}` } };
    case 'passthrough':
      return { url: `${ctx.urls[slow ? 'passthrough-slow' : 'passthrough']}/v1/chat/completions`, headers: json };
    case 'genz':
    case 'genz-redis':
      return {
        url: `${ctx.urls[via === 'genz' ? 'api-memory' : 'api']}/v1/chat/completions`,
        headers: { ...json, authorization: `Bearer ${ctx.vars.get('key')}` },
      };
    case 'portkey':
      return {
        url: `${ctx.urls.portkey}/v1/chat/completions`,
        headers: {
          ...json,
          authorization: `Bearer ${UPSTREAM_KEY}`,
          'x-portkey-provider': 'openai',
          'x-portkey-custom-host': `${upstream}/v1`,
        },
      };
  }
}

/** GenZ's alias for the slow upstream: the same model name with a suffix. */
const bodyFor = (via: Via, slow: boolean, stream: boolean) =>
  slow && (via === 'genz' || via === 'genz-redis')
    ? JSON.stringify({ ...JSON.parse(stream ? STREAM_BODY : BODY), model: `${MODEL}-slow` })
    : stream
      ? STREAM_BODY
      : BODY;

interface Timing {
  ok: boolean;
  /** HTTP status (0: no response); a 200 stream without its [DONE] or a content token is not ok. */
  status: number;
  /** Request start to the whole response (non-stream), or to the first content token (stream). */
  ms: number;
  /** Streams: start to the end, and the longest silence between two chunks after the first. */
  totalMs: number;
  maxGapMs: number;
  /** GenZ's `x-genz-overhead-us` (its own time, the upstream call taken out), NaN from other targets. */
  overheadUs: number;
}

const FIRST_CONTENT = /"content":"[^"]/;

const noResponse = (maxGapMs: number): Timing => ({
  ok: false,
  status: 0,
  ms: Number.NaN,
  totalMs: Number.NaN,
  maxGapMs,
  overheadUs: Number.NaN,
});

/** One request; streams are read as bytes, the first content token found by a cheap scan (no JSON parsing). */
export function call(
  agent: Agent,
  target: { url: string; headers: Record<string, string> },
  body: string,
  stream: boolean,
) {
  return new Promise<Timing>((resolve) => {
    const t0 = performance.now();
    let first = Number.NaN;
    let last = 0;
    let maxGap = 0;
    let seen = '';
    let done = false;
    const req = request(target.url, { method: 'POST', agent, headers: target.headers }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const now = performance.now();
        if (last && Number.isFinite(first)) maxGap = Math.max(maxGap, now - last);
        last = now;
        if (!stream) return;
        if (Number.isNaN(first)) {
          seen += chunk;
          if (FIRST_CONTENT.test(seen)) {
            first = now;
            seen = seen.slice(-16);
          }
        } else seen = seen.slice(-16) + chunk;
        if (seen.includes('[DONE]')) done = true;
      });
      res.on('end', () => {
        const end = performance.now();
        const status = res.statusCode ?? 0;
        const ok = status === 200 && (!stream || (done && Number.isFinite(first)));
        const overheadUs = Number(res.headers['x-genz-overhead-us'] ?? Number.NaN);
        resolve({ ok, status, ms: (stream ? first : end) - t0, totalMs: end - t0, maxGapMs: maxGap, overheadUs });
      });
      res.on('error', () => resolve(noResponse(maxGap)));
    });
    req.on('error', () => resolve(noResponse(maxGap)));
    req.end(body);
  });
}

const sorted = (xs: number[]) => Float64Array.from(xs.filter(Number.isFinite)).sort();
const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** (b) Concurrency 1: each round sends one request to every target in turn, `n` rounds. */
async function concurrencyOne(ctx: BenchContext, n: number, stream: boolean): Promise<string> {
  const agents = new Map(vias.map((v) => [v, new Agent({ keepAlive: true, maxSockets: 1 })]));
  const times = new Map<Via, number[]>(vias.map((v) => [v, []]));
  let failed = 0;
  try {
    for (let i = 0; i < n + 200; i++) {
      for (const via of vias) {
        const t = await call(agents.get(via) as Agent, route(ctx, via, false), bodyFor(via, false, stream), stream);
        if (!t.ok) failed++;
        else if (i >= 200) times.get(via)?.push(t.ms); // the first 200 rounds warm up
      }
    }
  } finally {
    for (const a of agents.values()) a.destroy();
  }
  const direct = sorted(times.get('direct') ?? []);
  const rows = vias.map((via) => {
    const s = sorted(times.get(via) ?? []);
    const added =
      via === 'direct'
        ? '—'
        : `${f(percentile(s, 50) - percentile(direct, 50), 3)} / ${f(percentile(s, 99) - percentile(direct, 99), 3)}`;
    return `  | ${label[via]} | ${s.length} | ${f(percentile(s, 50), 3)} | ${f(percentile(s, 99), 3)} | ${added} |`;
  });
  const what = stream ? 'stream, time to the first content token' : 'non-stream, whole response';
  return [
    `Concurrency 1, ${what} (ms; ${n} requests per target after 200 warm-up, interleaved; failed: ${failed}):`,
    '',
    '  | target | requests | p50 | p99 | added p50 / p99 vs direct |',
    '  | --- | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** (c) `n` streams from the slow upstream through one target, started evenly over `rampMs`. */
async function slowStreams(ctx: BenchContext, via: Via, n: number, rampMs: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  try {
    const target = route(ctx, via, true);
    const body = bodyFor(via, true, true);
    const started = performance.now();
    const all: Promise<Timing>[] = [];
    for (let i = 0; i < n; i++) {
      const due = started + (rampMs * i) / n;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      all.push(call(agent, target, body, true));
    }
    return await Promise.all(all);
  } finally {
    agent.destroy();
  }
}

async function measure(ctx: BenchContext) {
  const c1 = Number(ctx.params.get('c1') ?? 2000);
  const streams = Number(ctx.params.get('streams') ?? 2000);
  const ramp = Number(ctx.params.get('ramp') ?? 500);
  console.error(`    concurrency 1: ${c1} non-stream and ${c1} stream requests per target`);
  ctx.note(await concurrencyOne(ctx, c1, false));
  ctx.note(await concurrencyOne(ctx, c1, true));

  console.error(`    ${streams} concurrent slow streams per target (one discarded wave first)`);
  const rows: string[] = [];
  let directTtftP95 = Number.NaN;
  for (const via of vias) {
    await slowStreams(ctx, via, streams, ramp); // warm-up wave: pools, JIT
    await sleep(1000);
    const results = await slowStreams(ctx, via, streams, ramp);
    await sleep(1000);
    const ok = results.filter((r) => r.ok);
    // Why the others failed: HTTP status (0: no response; 200: a stream that ended without [DONE]), with counts.
    const failures = new Map<number, number>();
    for (const r of results) if (!r.ok) failures.set(r.status, (failures.get(r.status) ?? 0) + 1);
    const failed = [...failures].map(([status, n]) => `${n}× ${status}`).join(', ') || 'none';
    const ttft = sorted(ok.map((r) => r.ms));
    const total = sorted(ok.map((r) => r.totalMs));
    const gap = Math.max(0, ...ok.map((r) => r.maxGapMs));
    const p95 = percentile(ttft, 95);
    if (via === 'direct') directTtftP95 = p95;
    rows.push(
      `  | ${label[via]} | ${ok.length} / ${results.length} | ${failed} | ${f(percentile(ttft, 50), 1)} | ${f(p95, 1)} | ${f(percentile(ttft, 99), 1)} | ${via === 'direct' ? '—' : f(p95 - directTtftP95, 1)} | ${f(percentile(total, 50), 0)} / ${f(percentile(total, 99), 0)} | ${f(gap, 0)} |`,
    );
    console.error(
      `      ${label[via]}: ${ok.length}/${results.length} complete (failed: ${failed}), TTFT p95 ${f(p95, 1)} ms`,
    );
  }
  ctx.note(
    [
      `${streams} concurrent slow streams (20 events, 50 ms before each; started evenly over ${ramp} ms; one discarded wave first; ms):`,
      '',
      '  | target | complete | failed (count× status) | TTFT p50 | TTFT p95 | TTFT p99 | added TTFT p95 vs direct | total p50 / p99 | longest silence |',
      '  | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
    ].join('\n'),
  );
}

const nonStream = (name: string, via: Via): Target => ({
  name,
  server: {
    direct: 'upstream',
    passthrough: 'passthrough',
    genz: 'api-memory',
    'genz-redis': 'api',
    portkey: 'portkey',
  }[via],
  method: 'POST',
  path: '/v1/chat/completions',
  body: BODY,
  headers: (ctx) => route(ctx, via, false).headers,
});

export const scenario: Scenario = {
  name: 'router',
  description:
    '`POST /v1/chat/completions` (non-stream, `max_tokens` 64) through GenZ (a `gz_` API key; request, token and ' +
    'concurrency limits on but never refusing; usage recorded to PostgreSQL) and through Portkey’s open-source ' +
    'gateway (`@portkey-ai/gateway`, bench/peers/portkey), both in front of the same fake OpenAI upstream on loopback ' +
    '(recorded wire format, 20 events, no delay), against the Fastify hello-world, the upstream called directly and ' +
    'a bare Fastify + undici passthrough (bench/baselines/passthrough.ts: no key, limits, usage or metrics). ' +
    '`api-memory` is GenZ without Redis (in-memory limiter: the headline), `api` the same with Redis.',
  servers: [
    { name: 'upstream', file: 'bench/baselines/fake-openai.ts', readyPath: '/v1/models' },
    {
      name: 'upstream-slow',
      file: 'bench/baselines/fake-openai.ts',
      env: { CHUNK_DELAY_MS: '50' },
      readyPath: '/v1/models',
    },
    {
      name: 'passthrough',
      file: 'bench/baselines/passthrough.ts',
      env: (urls) => ({ NODE_ENV: 'production', UPSTREAM_URL: urls.upstream as string, UPSTREAM_KEY }),
      readyPath: '/healthz',
      sampled: true,
    },
    {
      name: 'passthrough-slow',
      file: 'bench/baselines/passthrough.ts',
      env: (urls) => ({ NODE_ENV: 'production', UPSTREAM_URL: urls['upstream-slow'] as string, UPSTREAM_KEY }),
      readyPath: '/healthz',
    },
    {
      name: 'portkey',
      file: 'bench/peers/portkey/serve.mjs',
      env: { NODE_ENV: 'production' },
      readyPath: '/',
      sampled: true,
    },
  ],
  memoryApi: true,
  apiConfigYaml: (urls) => `plans:
  free: { models: ['*'] }
  pro: { models: ['*'] }
limits:
  ipRequests: ${huge}
  defaults:
    requests: ${huge}
    apiKeyRequests: ${huge}
    tokens: ${huge}
    tokensPerDay: 1000000000000
    tokensPerMonth: 1000000000000
    costPerMonthUsd: 1000000000
    concurrentGenerations: 100000
server:
  overload:
    maxInFlight: 0
providers:
  demo: 'off'
  deployments:
    - { id: fake, provider: openai, model: ${MODEL}, baseUrl: '${urls.upstream}/v1', apiKey: ${UPSTREAM_KEY} }
    - { id: fake-slow, provider: openai, model: ${MODEL}, baseUrl: '${urls['upstream-slow']}/v1', apiKey: ${UPSTREAM_KEY} }
  aliases:
    ${MODEL}: { deployments: [fake] }
    ${MODEL}-slow: { deployments: [fake-slow] }
`,
  async setup(ctx) {
    const accessToken = await seedOneUserAndLogIn(ctx, 'router');
    const created = await ctx.request(
      'api',
      'POST',
      '/api/me/api-keys',
      { name: 'bench', scopes: ['inference'] },
      { authorization: `Bearer ${accessToken}` },
    );
    if (created.status !== 201) throw new Error(`API key: ${created.status} ${created.body}`);
    ctx.vars.set('key', (JSON.parse(created.body) as { key: string }).key);
    // Every path answers before any load: a wrong header or alias fails here, not as a column of non-2xx.
    for (const via of vias) {
      for (const stream of [false, true]) {
        const t = route(ctx, via, false);
        const res = await fetch(t.url, { method: 'POST', headers: t.headers, body: bodyFor(via, false, stream) });
        const text = await res.text();
        if (res.status !== 200 || !text.includes('Hello'))
          throw new Error(`${label[via]} ${stream ? 'stream' : 'non-stream'}: ${res.status} ${text.slice(0, 300)}`);
      }
    }
  },
  targets: [
    { name: 'baseline: fastify hello-world GET /', server: 'baseline', path: '/', baseline: true },
    nonStream('fake upstream direct', 'direct'),
    nonStream('bare Fastify + undici passthrough (no auth, limits or usage)', 'passthrough'),
    nonStream('GenZ /v1/chat/completions (in-memory limiter)', 'genz'),
    nonStream('GenZ /v1/chat/completions (Redis)', 'genz-redis'),
    nonStream('Portkey /v1/chat/completions', 'portkey'),
  ],
  measure,
};
