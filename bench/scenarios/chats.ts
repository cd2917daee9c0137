import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { uuidv7 } from '@genz/db';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import pg from 'pg';
import type { Actor } from '../../apps/api/src/http/actor.ts';
import { activeLeafSql, branchPageSql, searchSql } from '../../apps/api/src/modules/chats/chats.repository.ts';
import type { TargetResult } from '../lib/report.ts';
import { percentile } from '../lib/stats.ts';
import type { BenchContext, Scenario } from '../lib/types.ts';
import { SEED_WORDS, seedChats } from '../seed/chats.ts';
import { signAccessTokens } from '../seed/tokens.ts';
import { seedUsers } from '../seed/users.ts';

/**
 * Issue 5 "Performance": chats on real PostgreSQL with `--param users=N` users (default 1,000,000), one of them
 * holding `--param conversations=N` conversations (default 10,000; 4 messages each) and one conversation of
 * `--param messages=N` messages (default 2,000), and `--param others=N` other users with one small conversation each
 * (default 10,000). All requests are the heavy user's (one access token), at --connections (default 50).
 *   npm run bench -w @genz/bench -- chats --param users=1000000
 *   quick: npm run bench -w @genz/bench -- chats --param users=20000 --duration 5 --warmup 2 --rounds 1 --no-append
 * append-message is reported three times: the autocannon target times each POST to the end of its reply stream; the
 * measure step (`--param appendS=N` seconds, default 10, after 3 s discarded; `--param appendConnections=N`,
 * default 50) times, per POST, the first SSE event (`message`: the user message and the reply placeholder are
 * stored and the generation runs, issue 5's append-message) and the reply's end (`done`), twice:
 * - saturated: the built-in demo model with no delay, so each client sends again the moment its reply ends and the
 *   server runs as many whole generations as it can (a throughput test: latency ≈ clients ÷ sends per second);
 * - paced (`--param pacedS=N` seconds, default 10; 0 skips it): the same clients on the `paced` alias, an OpenAI
 *   deployment in front of a fake upstream (bench/baselines/fake-openai.ts) that streams its 20 events 50 ms apart,
 *   so a reply takes about a second as a model's does and 50 clients are 50 people chatting without pause.
 */

function intParam(ctx: BenchContext, name: string, fallback: number): number {
  const raw = ctx.params.get(name);
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--param ${name} must be a non-negative integer, got ${raw}`);
  return n;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;

/** The statements behind the measured routes (chats.repository.ts), for the EXPLAIN notes. */
const LIST_PAGE_2_SQL = `select * from conversations where user_id = $1 and deleted_at is null and archived_at is null
  and (pinned, updated_at, id) < ($2, $3::timestamptz, $4::uuid) order by pinned desc, updated_at desc, id desc limit 21`;
/** The repository's own statements, rendered by drizzle for EXPLAIN (text with $n parameters, and the values). */
function rendered(query: SQL): [string, unknown[]] {
  const q = new PgDialect().sqlToQuery(query);
  return [q.sql, q.params];
}
const asUser = (userId: string): Actor => ({ userId, role: 'user', plan: 'free', scopes: ['chat'], via: 'session' });

interface AppendTiming {
  ok: boolean;
  /** Request start to the `message` event (stored), and to the `done` event (the reply's end). */
  acceptedMs: number;
  endMs: number;
}

/** One send, read as bytes: the two events are found by a scan of the SSE text (no parsing). */
function send(agent: Agent, url: string, headers: Record<string, string>, body: string): Promise<AppendTiming> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let accepted = Number.NaN;
    let end = Number.NaN;
    let seen = '';
    const fail = () => resolve({ ok: false, acceptedMs: Number.NaN, endMs: Number.NaN });
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        seen += chunk;
        if (Number.isNaN(accepted) && seen.includes('event: message\n')) accepted = performance.now();
        if (Number.isNaN(end) && seen.includes('event: done\n')) end = performance.now();
        if (seen.length > 64) seen = seen.slice(-64);
      });
      res.on('end', () =>
        resolve({
          ok: res.statusCode === 200 && Number.isFinite(accepted) && Number.isFinite(end),
          acceptedMs: accepted - t0,
          endMs: end - t0,
        }),
      );
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** `connections` clients, each sending again as soon as its reply ended, for `seconds` (after `warmupS` discarded). */
async function appendLoop(
  ctx: BenchContext,
  connections: number,
  seconds: number,
  warmupS: number,
  model?: string,
): Promise<{ accepted: Float64Array; end: Float64Array; failed: number; rps: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const next = appendRequest(ctx, model);
  const url = ctx.urls.api ?? '';
  const auth = { authorization: `Bearer ${ctx.vars.get('auth')}`, 'content-type': 'application/json' };
  const accepted: number[] = [];
  const end: number[] = [];
  let failed = 0;
  const started = performance.now();
  const from = started + warmupS * 1000;
  const until = from + seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < until) {
          const r = next();
          const t0 = performance.now();
          const t = await send(agent, `${url}${r.path}`, auth, r.body);
          if (t0 < from) continue;
          if (!t.ok) failed++;
          else {
            accepted.push(t.acceptedMs);
            end.push(t.endMs);
          }
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const sorted = (xs: number[]) => Float64Array.from(xs).sort();
  return { accepted: sorted(accepted), end: sorted(end), failed, rps: (accepted.length + failed) / seconds };
}

/** The alias of the paced deployment (a fake upstream streaming 20 events 50 ms apart). */
const PACED = 'paced';

/** A send to a random small conversation of the heavy user (the autocannon target and the measure share it). */
function appendRequest(ctx: BenchContext, model?: string): () => { path: string; body: string } {
  const ids = JSON.parse(ctx.vars.get('conversations') ?? '[]') as string[];
  return () => ({
    path: `/api/conversations/${pick(ids)}/messages`,
    body: JSON.stringify({ content: `tell me about the ${pick(SEED_WORDS)} and the ${pick(SEED_WORDS)}`, model }),
  });
}

async function measure(ctx: BenchContext, rounds: TargetResult[][]): Promise<void> {
  const seconds = intParam(ctx, 'appendS', 10);
  const pacedS = intParam(ctx, 'pacedS', 10);
  const connections = Math.max(1, intParam(ctx, 'appendConnections', 50));
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
  const rows = (what: string, r: Awaited<ReturnType<typeof appendLoop>>, secs: number) => [
    `  | ${what}, stored: POST to the \`message\` event | ${fmt(r.accepted.length)} (${r.rps.toFixed(0)}/s, ` +
      `failed ${r.failed}) | ${f(percentile(r.accepted, 50))} | ${f(percentile(r.accepted, 95))} | ` +
      `${f(percentile(r.accepted, 99))} |`,
    `  | ${what}, reply end: POST to the \`done\` event | ${fmt(r.end.length)} in ${secs} s | ` +
      `${f(percentile(r.end, 50))} | ${f(percentile(r.end, 95))} | ${f(percentile(r.end, 99))} |`,
  ];
  console.error(
    `    append-message, saturated: ${connections} clients for 3 + ${seconds} s, timing each send's events`,
  );
  const saturated = await appendLoop(ctx, connections, seconds, 3);
  const table = rows('saturated (demo model, no delay)', saturated, seconds);
  if (pacedS > 0) {
    console.error(`    append-message, paced: ${connections} clients for 3 + ${pacedS} s on the \`${PACED}\` alias`);
    table.push(...rows('paced (20 events 50 ms apart)', await appendLoop(ctx, connections, pacedS, 3, PACED), pacedS));
  }
  const baseline = rounds.map((round) => round[0]?.latencyMs.p99).filter((x): x is number => x !== undefined);
  ctx.note(
    [
      `append-message, timed per send by the measure step: ${connections} clients in a closed loop, each sending ` +
        'again the moment its reply ends, after 3 s discarded. Issue 5\'s append-message is each "stored" row: the ' +
        'POST has stored the user message and the reply placeholder and started the generation when the `message` ' +
        'event arrives. Saturated: the demo model with no delay, so the server runs whole generations as fast as ' +
        'it can and latency is mostly the queue (≈ clients ÷ sends per second). Paced: the `paced` alias, an ' +
        'OpenAI deployment whose fake upstream streams its 20 events 50 ms apart, so each of the clients is a ' +
        `person chatting without pause. The hello-world baseline's p99 in the rounds: ` +
        `${baseline.map((x) => f(x)).join(', ')} ms.`,
      '',
      '  | append-message (ms) | sends | p50 | p95 | p99 |',
      '  | --- | ---: | ---: | ---: | ---: |',
      ...table,
    ].join('\n'),
  );
}

async function explain(client: pg.Client, text: string, values: unknown[]): Promise<string> {
  const plan = await client.query<{ 'QUERY PLAN': string }>({ text: `explain (analyze, buffers) ${text}`, values });
  return plan.rows.map((r) => `  ${r['QUERY PLAN']}`).join('\n');
}

export const scenario: Scenario = {
  name: 'chats',
  description:
    'Issue 5 "Performance": chat routes of one heavy user on real PostgreSQL and Redis (seeded by bench/seed/users.ts ' +
    'and bench/seed/chats.ts; sizes in the notes). First page of the conversation list (cached: ' +
    '`chats.conversationsCacheTtlMs`) and the second page (keyset, from the database); the first page (50) of the ' +
    "2,000-message conversation's branch; append-message (POST to a random conversation of the user, built-in demo " +
    'model with no delay): the autocannon row times each POST to the end of its reply stream (`done`), and the ' +
    "measure step times both the `message` event (the message is stored and the generation started: issue 5's " +
    'append-message) and `done`; search for a random seeded word. Per-IP and per-user limits are off (all load ' +
    'is one user from one address).',
  servers: [
    {
      name: 'upstream-paced',
      file: 'bench/baselines/fake-openai.ts',
      env: { CHUNK_DELAY_MS: '50' },
      readyPath: '/v1/models',
    },
  ],
  apiConfigYaml: (urls) => `providers:
  demo: 'on'
  demoChunkDelayMs: 0
  deployments:
    - { id: paced, provider: openai, model: gpt-4o-mini, baseUrl: '${urls['upstream-paced']}/v1', apiKey: sk-fake-upstream-key }
  aliases:
    ${PACED}: { deployments: [paced] }
chats:
  defaultModel: demo
limits:
  ipRequests: null
  defaults:
    requests: null
    tokens: null
    tokensPerDay: null
    tokensPerMonth: null
    costPerMonthUsd: null
    concurrentGenerations: null
`,
  async setup(ctx) {
    const count = intParam(ctx, 'users', 1_000_000);
    const started = performance.now();
    await seedUsers({
      databaseUrl: ctx.databaseUrl,
      count,
      onProgress: (done, total) => process.stderr.write(`\r  seeding ${fmt(done)} / ${fmt(total)} users `),
    });
    const usersS = (performance.now() - started) / 1000;
    process.stderr.write('\n');
    const client = new pg.Client({ connectionString: ctx.databaseUrl });
    await client.connect();
    try {
      const heavy = (
        await client.query<{ id: string }>(`select id from users where status = 'active' order by id limit 1`)
      ).rows[0]?.id;
      if (!heavy) throw new Error('no active user seeded');
      const chatsStarted = performance.now();
      const seeded = await seedChats({
        databaseUrl: ctx.databaseUrl,
        heavyUserId: heavy,
        conversations: Math.max(2, intParam(ctx, 'conversations', 10_000)),
        bigConversationMessages: Math.max(2, intParam(ctx, 'messages', 2000)),
        otherUsers: Math.min(count - 1, intParam(ctx, 'others', 10_000)),
        onProgress: (what, done, total) => process.stderr.write(`\r  seeding ${what} ${fmt(done)} / ${fmt(total)}   `),
      });
      const chatsS = (performance.now() - chatsStarted) / 1000;
      process.stderr.write('\n');
      const size = (
        await client.query<Record<string, string>>(
          `select (select count(*) from conversations)::text as conversations, (select count(*) from messages)::text as messages,
                  (select count(*) from messages where user_id = $1)::text as heavy_messages,
                  pg_size_pretty(pg_total_relation_size('conversations')) as conversations_size,
                  (select pg_size_pretty(sum(pg_total_relation_size(inhrelid))) from pg_inherits
                    where inhparent = 'messages'::regclass) as messages_size`,
          [heavy],
        )
      ).rows[0];
      ctx.note(
        `Seeded ${fmt(count)} users in ${usersS.toFixed(1)} s, then chats in ${chatsS.toFixed(1)} s (server-side ` +
          `INSERT … SELECT): ${fmt(Number(size?.conversations))} conversations (${size?.conversations_size}), ` +
          `${fmt(Number(size?.messages))} messages in 16 hash partitions (${size?.messages_size} with indexes); the ` +
          `heavy user has ${fmt(seeded.conversations - Math.min(count - 1, intParam(ctx, 'others', 10_000)))} ` +
          `conversations and ${fmt(Number(size?.heavy_messages))} messages, one conversation of ` +
          `${fmt(Math.max(2, intParam(ctx, 'messages', 2000)))}.`,
      );
      const [token] = await signAccessTokens({
        authSecrets: ctx.authSecrets,
        users: [{ userId: heavy, sessionId: uuidv7() }],
      });
      const auth = { authorization: `Bearer ${token}` };
      const first = await ctx.request('api', 'GET', '/api/conversations', undefined, auth);
      if (first.status !== 200) throw new Error(`GET /api/conversations: ${first.status} ${first.body}`);
      const cursor = (JSON.parse(first.body) as { nextCursor: string | null }).nextCursor;
      if (!cursor) throw new Error('the conversation list has one page only');
      const convIds = (
        await client.query<{ id: string }>(
          // The small ones (a send to the big one builds a 1,000-message history to trim: another workload).
          `select id from conversations where user_id = $1 and id <> $2 and archived_at is null and deleted_at is null`,
          [heavy, seeded.bigConversationId],
        )
      ).rows.map((r) => r.id);
      const messages = await ctx.request(
        'api',
        'GET',
        `/api/conversations/${seeded.bigConversationId}/messages`,
        undefined,
        auth,
      );
      if (messages.status !== 200) throw new Error(`GET messages: ${messages.status} ${messages.body}`);
      const sent = await ctx.request(
        'api',
        'POST',
        `/api/conversations/${convIds[0]}/messages`,
        { content: 'bench' },
        {
          ...auth,
          'content-type': 'application/json',
        },
      );
      if (sent.status !== 200 || !sent.body.includes('event: done')) {
        throw new Error(`POST message: ${sent.status} ${sent.body.slice(-500)}`);
      }
      const found = await ctx.request('api', 'GET', `/api/search?q=${SEED_WORDS[0]}`, undefined, auth);
      if (found.status !== 200) throw new Error(`GET search: ${found.status} ${found.body}`);

      const second = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
      const key = Array.isArray(second) ? second : [];
      ctx.note(
        `\`EXPLAIN (ANALYZE, BUFFERS)\` in setup, on this database, of the list's page 2 (keyset):\n\n  \`\`\`\n${await explain(
          client,
          LIST_PAGE_2_SQL,
          [heavy, key[0] === 1, key[1], key[2]],
        ).catch((e: Error) => `  (cursor not decodable here: ${e.message})`)}\n  \`\`\``,
      );
      const user = asUser(heavy);
      ctx.note(
        `The first page of the 2,000-message branch (recursive walk up from the active leaf, read in the same statement; 50 rows, each with its siblings):\n\n  \`\`\`\n${await explain(
          client,
          ...rendered(
            branchPageSql(user, seeded.bigConversationId, activeLeafSql(user, seeded.bigConversationId), 50, 100),
          ),
        )}\n  \`\`\``,
      );
      // A filler word of the seed (bench/seed/chats.ts seed_text): in a few dozen of the user's messages.
      const rare = createHash('md5').update('5').digest('hex').slice(0, 8);
      for (const [word, what] of [
        [SEED_WORDS[0], 'a seeded word, in about one message in fifteen'],
        [rare, 'a rare word'],
      ] as const) {
        ctx.note(
          `Search for ${what} (\`${word}:*\`, newest first, 21 rows):\n\n  \`\`\`\n${await explain(
            client,
            ...rendered(searchSql(user, `${word}:*`, 21)),
          )}\n  \`\`\``,
        );
      }
      ctx.vars.set('auth', token ?? '');
      ctx.vars.set('cursor', cursor);
      ctx.vars.set('big', seeded.bigConversationId);
      ctx.vars.set('conversations', JSON.stringify(convIds));
    } finally {
      await client.end();
    }
  },
  measure,
  targets: [
    { name: 'baseline: fastify hello-world GET /', server: 'baseline', path: '/', baseline: true },
    {
      name: 'list-conversations: GET /api/conversations (first page, cached)',
      server: 'api',
      path: '/api/conversations',
      headers: (ctx) => ({ authorization: `Bearer ${ctx.vars.get('auth')}` }),
    },
    {
      name: 'list-conversations: page 2 (keyset, database)',
      server: 'api',
      path: '/api/conversations',
      headers: (ctx) => ({ authorization: `Bearer ${ctx.vars.get('auth')}` }),
      vary(ctx) {
        const path = `/api/conversations?cursor=${ctx.vars.get('cursor')}`;
        return () => ({ path });
      },
    },
    {
      name: 'first page of messages: GET /api/conversations/:id/messages (2,000-message conversation)',
      server: 'api',
      path: '/api/conversations',
      headers: (ctx) => ({ authorization: `Bearer ${ctx.vars.get('auth')}` }),
      vary(ctx) {
        const path = `/api/conversations/${ctx.vars.get('big')}/messages`;
        return () => ({ path });
      },
    },
    {
      name: 'append-message to the reply end: POST /api/conversations/:id/messages (random conversation, SSE to `done`)',
      server: 'api',
      method: 'POST',
      path: '/api/conversations',
      headers: (ctx) => ({ authorization: `Bearer ${ctx.vars.get('auth')}`, 'content-type': 'application/json' }),
      vary: (ctx) => appendRequest(ctx),
    },
    {
      name: 'search: GET /api/search?q=<random seeded word>',
      server: 'api',
      path: '/api/search',
      headers: (ctx) => ({ authorization: `Bearer ${ctx.vars.get('auth')}` }),
      vary() {
        return () => ({ path: `/api/search?q=${pick(SEED_WORDS)}` });
      },
    },
  ],
};
