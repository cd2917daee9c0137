import { uuidv7 } from '@genz/db';
import pg from 'pg';
import type { BenchContext, Scenario, Target } from '../lib/types.ts';
import { signAccessTokens } from '../seed/tokens.ts';
import { seedUsers } from '../seed/users.ts';

/**
 * Issue 3 §7 "Data at scale": `GET /api/me` against a users table of `--param users=N` rows (default 1,000,000), the
 * user cache off (`auth.userCacheTtlMs: 0`), each request carrying the access token of a different random user.
 *   npm run bench -w @genz/bench -- accounts-me --param users=1000000 [--param tokens=2000]
 * accounts-me-scale.ts measures two table sizes in one run with the helpers below.
 */

/** The log-in lookup (repo.findUserByEmail), for the users_email_key plan. */
export const FIND_USER_BY_EMAIL_SQL =
  'select "id", "email", "password_hash", "role", "plan", "status", "email_verified_at", "created_at", "last_active_at" ' +
  'from "users" where lower("users"."email") COLLATE "C" = $1 limit $2';

/** The statement the auth hook issues for GET /api/me (drizzle's text for repo.findUserById). */
export const FIND_USER_BY_ID_SQL =
  'select "id", "email", "password_hash", "role", "plan", "status", "email_verified_at", "created_at", "last_active_at" ' +
  'from "users" where "users"."id" = $1 limit $2';

export function intParam(ctx: BenchContext, name: string, fallback: number): number {
  const raw = ctx.params.get(name);
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--param ${name} must be a positive integer, got ${raw}`);
  return n;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** The genz.yaml of the `GET /api/me` scenarios: the user cache off, per-IP limiting off (one address). */
export const ME_CONFIG_YAML = `auth:
  userCacheTtlMs: 0
limits:
  ipRequests: null
`;

/**
 * Seeds `count` users into the database of API server `server` (bench/seed/users.ts), notes the table's size, the
 * `EXPLAIN (ANALYZE, BUFFERS)` of the id and email lookups and the id lookup's round trip alone, and stores in
 * `ctx.vars[server]` the pre-signed access tokens of `tokenCount` distinct random active users (checked against the
 * server). `label` prefixes the notes when a run has more than one table.
 */
export async function seedMeTable(
  ctx: BenchContext,
  { server, count, tokenCount, label = '' }: { server: string; count: number; tokenCount: number; label?: string },
): Promise<void> {
  const databaseUrl = ctx.databaseUrls[server];
  if (!databaseUrl) throw new Error(`no database for server ${server}`);
  const started = performance.now();
  const inserted = await seedUsers({
    databaseUrl,
    count,
    onProgress: (done, total) => process.stderr.write(`\r  seeding ${fmt(done)} / ${fmt(total)} users `),
  });
  const seedS = (performance.now() - started) / 1000;
  process.stderr.write('\n');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const size = await client.query<{ users: string; table: string; indexes: string }>(
      `select count(*)::text as users, pg_size_pretty(pg_table_size('users')) as table,
              pg_size_pretty(pg_indexes_size('users')) as indexes from users`,
    );
    const picked = await client.query<{ id: string; email: string }>(
      `select id, email from users where status = 'active' order by random() limit $1`,
      [tokenCount],
    );
    const ids = picked.rows.map((r) => r.id);
    const probe = ids[0];
    if (!probe) throw new Error('no active users seeded');
    const plan = await client.query<{ 'QUERY PLAN': string }>(
      `explain (analyze, buffers, costs) ${FIND_USER_BY_ID_SQL.replace('$1', `'${probe}'`).replace('$2', '1')}`,
    );
    const byEmail = await client.query<{ 'QUERY PLAN': string }>(
      `explain (analyze, buffers, costs) ${FIND_USER_BY_EMAIL_SQL.replace('$1', `'${picked.rows[0]?.email}'`).replace('$2', '1')}`,
    );
    // The lookup alone, without HTTP: 5,000 random-id lookups over one connection (prepared, as node-postgres
    // runs drizzle's parameterised statements), round-trip time per query.
    const sample = await client.query<{ id: string }>('select id from users order by random() limit 5000');
    const rtts: number[] = [];
    for (const { id } of sample.rows) {
      const t0 = performance.now();
      await client.query({ name: 'find-user-by-id', text: FIND_USER_BY_ID_SQL, values: [id, 1] });
      rtts.push(performance.now() - t0);
    }
    rtts.sort((a, b) => a - b);
    const q = (p: number) => (rtts[Math.min(rtts.length - 1, Math.ceil((p / 100) * rtts.length) - 1)] ?? 0).toFixed(3);
    const s = size.rows[0];
    ctx.note(
      `${label}Seeded ${fmt(inserted)} users in ${seedS.toFixed(1)} s (bench/seed/users.ts, server-side INSERT … SELECT in ` +
        `batches of 50,000); users table now ${fmt(Number(s?.users))} rows, heap ${s?.table}, indexes ${s?.indexes}. ` +
        `${fmt(ids.length)} pre-signed access tokens for distinct random active users (no session rows: the auth ` +
        'hook checks the JWT and the revocation list, never the sessions table).',
    );
    ctx.note(
      `${label}\`EXPLAIN (ANALYZE, BUFFERS)\` of the lookup (repo.findUserById), run in setup on this database:\n\n  \`\`\`\n  ${FIND_USER_BY_ID_SQL}\n\n${plan.rows
        .map((r) => `  ${r['QUERY PLAN']}`)
        .join('\n')}\n  \`\`\``,
    );
    ctx.note(
      `${label}The id lookup alone (setup, one connection, prepared, ${fmt(rtts.length)} random ids, before any load): ` +
        `round trip p50 ${q(50)} ms, p95 ${q(95)} ms, p99 ${q(99)} ms.`,
    );
    ctx.note(
      `${label}The log-in lookup (repo.findUserByEmail) on the same table:\n\n  \`\`\`\n  ${FIND_USER_BY_EMAIL_SQL}\n\n${byEmail.rows
        .map((r) => `  ${r['QUERY PLAN']}`)
        .join('\n')}\n  \`\`\``,
    );
    const tokens = await signAccessTokens({
      authSecrets: ctx.authSecrets,
      users: ids.map((userId) => ({ userId, sessionId: uuidv7() })),
    });
    const check = await ctx.request(server, 'GET', '/api/me', undefined, { authorization: `Bearer ${tokens[0]}` });
    if (check.status !== 200) throw new Error(`GET /api/me with a minted token: ${check.status} ${check.body}`);
    ctx.vars.set(server, JSON.stringify(tokens));
  } finally {
    await client.end();
  }
}

/** `vary` of a `GET /api/me` target: the token of a random one of `server`'s seeded users per request. */
export function randomUserToken(server: string): NonNullable<Target['vary']> {
  return (ctx) => {
    const tokens = JSON.parse(ctx.vars.get(server) ?? '[]') as string[];
    return () => ({ headers: { authorization: `Bearer ${tokens[Math.floor(Math.random() * tokens.length)]}` } });
  };
}

export const scenario: Scenario = {
  name: 'accounts-me',
  description:
    'Issue 3 §7: `GET /api/me` with the bearer token of a different random seeded user on every request (a pool of ' +
    'pre-signed access tokens, rotated by autocannon), against a users table seeded server-side by bench/seed ' +
    '(see the notes for its size). The user cache is off (`auth.userCacheTtlMs: 0`), so each request verifies the JWT, ' +
    'checks revocation (Redis EXISTS), charges the per-user request limit, and reads the user row by primary key ' +
    'once (the auth hook; the handler answers from that request-scoped read). Per-IP request limiting is off (all load comes from one address).',
  apiConfigYaml: ME_CONFIG_YAML,
  async setup(ctx) {
    await seedMeTable(ctx, {
      server: 'api',
      count: intParam(ctx, 'users', 1_000_000),
      tokenCount: intParam(ctx, 'tokens', 2000),
    });
  },
  targets: [
    { name: 'baseline: fastify hello-world GET /', server: 'baseline', path: '/', baseline: true },
    {
      name: 'GET /api/me (random user per request, cache off)',
      server: 'api',
      path: '/api/me',
      vary: randomUserToken('api'),
    },
  ],
};
