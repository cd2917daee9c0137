import pg from 'pg';
import type { BenchContext, Scenario } from '../lib/types.ts';
import { ARGON2_DEFAULTS, BENCH_PASSWORD, seedUsers } from '../seed/users.ts';

/**
 * Issue 3 "Performance": log-in latency, dominated by argon2id verification by design. Meant for a modest
 * concurrency: npm run bench -w @genz/bench -- accounts-login --connections 8 --duration 10 [--param users=10000]
 */

function intParam(ctx: BenchContext, name: string, fallback: number): number {
  const raw = ctx.params.get(name);
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--param ${name} must be a positive integer, got ${raw}`);
  return n;
}

const big = '{ rate: 100000000, periodMs: 60000, burst: 100000000 }';

export const scenario: Scenario = {
  name: 'accounts-login',
  description:
    '`POST /api/auth/login` (bearer delivery) as a different random seeded user on every request, correct password: ' +
    `one argon2id verification (m=${ARGON2_DEFAULTS.memoryCost} KiB, t=${ARGON2_DEFAULTS.timeCost}, ` +
    `p=${ARGON2_DEFAULTS.parallelism}, the defaults in docs/accounts.md) plus a session row and an audit event in one ` +
    'transaction per request. Log-in and per-IP rate limits are lifted so the route itself is measured.',
  apiConfigYaml: `limits:
  ipRequests: null
  auth:
    loginPerIp: ${big}
    loginPerAccount: ${big}
`,
  async setup(ctx) {
    const count = intParam(ctx, 'users', 10_000);
    const inserted = await seedUsers({ databaseUrl: ctx.databaseUrl, count });
    const client = new pg.Client({ connectionString: ctx.databaseUrl });
    await client.connect();
    try {
      const picked = await client.query<{ email: string }>(
        `select email from users where status = 'active' order by random() limit 2000`,
      );
      const emails = picked.rows.map((r) => r.email);
      const check = await ctx.request('api', 'POST', '/api/auth/login', {
        email: emails[0],
        password: BENCH_PASSWORD,
        delivery: 'bearer',
      });
      if (check.status !== 200) throw new Error(`log-in as a seeded user: ${check.status} ${check.body}`);
      ctx.vars.set('emails', JSON.stringify(emails));
      ctx.note(
        `Seeded ${inserted.toLocaleString('en-US')} users (bench/seed/users.ts); each request logs in as one of ` +
          `${emails.length.toLocaleString('en-US')} random active users.`,
      );
    } finally {
      await client.end();
    }
  },
  targets: [
    { name: 'baseline: fastify hello-world GET /', server: 'baseline', path: '/', baseline: true },
    {
      name: 'POST /api/auth/login (argon2id verify)',
      server: 'api',
      method: 'POST',
      path: '/api/auth/login',
      headers: { 'content-type': 'application/json' },
      vary(ctx) {
        const emails = JSON.parse(ctx.vars.get('emails') ?? '[]') as string[];
        return () => ({
          body: JSON.stringify({
            email: emails[Math.floor(Math.random() * emails.length)],
            password: BENCH_PASSWORD,
            delivery: 'bearer',
          }),
        });
      },
    },
  ],
};
