import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuPercent, type ProcSample, readProcSample, startSampler } from '../lib/proc.ts';
import { percentile } from '../lib/stats.ts';
import type { BenchContext, Scenario } from '../lib/types.ts';
import { seedOneUserAndLogIn } from './foundation.ts';

/**
 * Issue 8 §10 (sizing): what 10,000 open SSE connections cost one API process, in memory and CPU.
 * One chat generation (the built-in demo model, one event every DEMO_CHUNK_MS) is followed by `--param streams=N`
 * clients (`GET /api/generations/:gid/events`, the resume/follow stream every chat client uses), opened evenly over
 * `--param rampS` seconds. Once every follower has its first event, the API process is sampled for
 * `--param windowS` seconds while the events fan out. Reported: RSS before and while held (the difference per
 * 10,000 connections is the sizing figure `M_sse`), CPU while held (per 10,000 connections, and per 10,000 connections
 * per event/s: the sizing figure `C_sse` is that times the provider's event rate), and how many followers got the
 * whole reply. The autocannon rounds (hello-world and GET /livez) only anchor the run to the machine.
 */
const DEMO_CHUNK_MS = 1000;
/** The demo reply quotes up to 160 characters of the prompt: a long prompt makes the longest reply (~80 events). */
const PROMPT = 'Please write a long reply so that many followers can watch it stream for a while. '.repeat(3);

interface Follower {
  ok: boolean;
  /** HTTP status, or 0 when the connection failed before one (then `error` is the socket error code). */
  status: number;
  error?: string;
  /** From opening the request to its first event. */
  firstEventMs: number;
  events: number;
  done: boolean;
}

function follow(agent: Agent, base: string, path: string, token: string, opened: () => void): Promise<Follower> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const result: Follower = { ok: false, status: 0, firstEventMs: Number.NaN, events: 0, done: false };
    const url = new URL(path, base);
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      },
      (res) => {
        result.status = res.statusCode ?? 0;
        result.ok = result.status === 200;
        if (!result.ok) res.resume();
        let tail = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          // Count complete events by their blank-line terminator; comments (heartbeats) start with ':'.
          const text = tail + chunk;
          const blocks = text.split('\n\n');
          tail = blocks.pop() ?? '';
          for (const b of blocks) {
            if (b.startsWith(':')) continue;
            if (result.events === 0) {
              result.firstEventMs = performance.now() - t0;
              opened();
            }
            result.events++;
            if (b.includes('event: done')) result.done = true;
          }
        });
        res.on('end', () => resolve(result));
        res.on('error', () => resolve(result));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      result.error = err.code ?? err.message;
      resolve(result);
    });
    req.end();
  });
}

/** The API's JSON answer to a request, or a thrown error naming the step. */
async function json(ctx: BenchContext, what: string, method: string, path: string, body: unknown, token: string) {
  const res = await ctx.request('api', method, path, body, { authorization: `Bearer ${token}` });
  if (res.status >= 300) throw new Error(`${what}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as Record<string, unknown>;
}

async function measure(ctx: BenchContext) {
  const streams = Number(ctx.params.get('streams') ?? 10_000);
  const rampS = Number(ctx.params.get('rampS') ?? 10);
  const windowS = Number(ctx.params.get('windowS') ?? 10);
  const token = ctx.vars.get('token') as string;
  const base = ctx.urls.api as string;
  const pid = ctx.pid('api');

  const conversation = await json(
    ctx,
    'create conversation',
    'POST',
    '/api/conversations',
    {
      settings: { model: 'demo' },
    },
    token,
  );
  const idleFrom = readProcSample(pid);
  await sleep(3000);
  const idle = readProcSample(pid);

  // The generation: its own stream is the first connection.
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const t0 = performance.now();
  const gid = await new Promise<string>((resolve, reject) => {
    const url = new URL(`/api/conversations/${conversation.id}/messages`, base);
    const body = JSON.stringify({ content: PROMPT });
    const req = request(
      {
        agent,
        method: 'POST',
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`send message: ${res.statusCode}`));
        else resolve(String(res.headers['x-generation-id']));
        res.resume();
      },
    );
    req.on('error', reject);
    req.end(body);
  });

  let connected = 0;
  const all: Promise<Follower>[] = [];
  for (let i = 0; i < streams; i++) {
    const wait = t0 + (rampS * 1000 * i) / streams - performance.now();
    if (wait > 1) await sleep(wait);
    all.push(follow(agent, base, `/api/generations/${gid}/events`, token, () => connected++));
  }
  // Held: 99 % of the followers have had their first event (stragglers are counted in the table), or 15 s passed
  // since the last one was opened; the reply (about 70 events) still has most of its time to run.
  const deadline = performance.now() + 15_000;
  while (connected < streams * 0.99 && performance.now() < deadline) await sleep(100);
  const heldAtMs = performance.now() - t0;
  const connectedAtHold = connected;
  await sleep(1000);
  const sampler = startSampler(pid);
  await sleep(windowS * 1000);
  const held = sampler.stop();
  const connectedAtEnd = connected;
  const results = await Promise.all(all);
  agent.destroy();

  const first = held[0] as ProcSample;
  const last = held[held.length - 1] as ProcSample;
  const rss = held.map((s) => s.rssBytes).sort((a, b) => a - b);
  const heldRss = percentile(rss, 50);
  const MiB = 1024 * 1024;
  const cores = cpuPercent(first, last) / 100;
  const open = results.filter((r) => r.ok).length;
  const complete = results.filter((r) => r.done).length;
  const refused = new Map<string, number>();
  for (const r of results) {
    if (r.ok) continue;
    const why = r.status === 0 ? `connection error ${r.error ?? ''}`.trim() : `HTTP ${r.status}`;
    refused.set(why, (refused.get(why) ?? 0) + 1);
  }
  const refusedText =
    [...refused]
      .sort()
      .map(([why, n]) => `${n} × ${why}`)
      .join(', ') || 'none';
  // Connections held during the window: those with their first event at its start and at its end, averaged (all of
  // them on a quiet machine; fewer when opening is slower than the ramp, and the table says so).
  const heldCount = (connectedAtHold + connectedAtEnd) / 2;
  const per10k = 10_000 / Math.max(1, heldCount);
  const eventRate = 1000 / DEMO_CHUNK_MS;
  const firstEvent = results
    .filter((r) => Number.isFinite(r.firstEventMs))
    .map((r) => r.firstEventMs)
    .sort((a, b) => a - b);
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');
  ctx.note(
    [
      `${streams} SSE followers of one generation (demo model, one event every ${DEMO_CHUNK_MS} ms = ${eventRate} events/s per connection), opened over ${rampS} s; API process sampled for ${windowS} s once 99 % had their first event (${f(heldAtMs / 1000)} s after the send); connections held during the window: ${connectedAtHold} at its start, ${connectedAtEnd} at its end (per-10k figures use their mean):`,
      '',
      '  | open (200) | got the whole reply | RSS idle MiB | RSS held MiB (median) | RSS per 10k connections MiB (`M_sse`) | CPU held, cores | cores per 10k connections | cores per 10k connections per event/s (`C_sse` ÷ rate) | open to first event p50 / p99 ms |',
      '  | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      `  | ${open} / ${streams} | ${complete} | ${f(idle.rssBytes / MiB, 0)} | ${f(heldRss / MiB, 0)} | ${f(((heldRss - idle.rssBytes) / MiB) * per10k, 0)} | ${f(cores, 2)} | ${f(cores * per10k, 2)} | ${f((cores * per10k) / eventRate, 3)} | ${f(percentile(firstEvent, 50), 0)} / ${f(percentile(firstEvent, 99), 0)} |`,
      '',
      `  Not opened: ${refusedText}. Idle CPU before the streams: ${f(cpuPercent(idleFrom, idle) / 100, 3)} cores. The reply has about 70 events (about ${f((70 * DEMO_CHUNK_MS) / 1000, 0)} s); followers that joined late replay it from the buffer first.`,
    ].join('\n'),
  );
}

export const scenario: Scenario = {
  name: 'connections',
  description:
    'Sizing (issue 8 §10): memory and CPU of one API process (PostgreSQL, Redis, production mode) holding N open SSE ' +
    'connections: followers (`GET /api/generations/:gid/events`, bearer token of one seeded user) of one chat ' +
    `generation by the built-in demo model (an event every ${DEMO_CHUNK_MS} ms). Per-IP and per-user request ` +
    'limits lifted (one user from one address); `chats.maxSseConnections` raised above N. Params: `streams` (default ' +
    '10000), `rampS` (10), `windowS` (10). The autocannon rounds (hello-world, GET /livez) only anchor the machine.',
  apiConfigYaml: `limits:
  ipRequests: null
  defaults:
    requests: null
providers:
  demo: "on"
  demoChunkDelayMs: ${DEMO_CHUNK_MS}
chats:
  maxSseConnections: 60000
`,
  async setup(ctx) {
    ctx.vars.set('token', await seedOneUserAndLogIn(ctx, 'connections'));
  },
  targets: [
    { name: 'baseline: fastify hello-world GET /', server: 'baseline', path: '/', baseline: true },
    { name: 'GET /livez', server: 'api', path: '/livez' },
  ],
  measure,
};
