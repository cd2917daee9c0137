import pg from 'pg';
import type { BenchContext, Scenario } from '../lib/types.ts';
import { BENCH_PASSWORD, seedUsers } from '../seed/users.ts';

/**
 * Issue 2 §10: the real server's cheapest route, a JSON route and the authenticated-shaped route against a bare
 * Fastify hello-world. Setup seeds one user (bench/seed, so the instance counts as set up) and logs in through the real
 * POST /api/auth/login to obtain a bearer token.
 */
/**
 * Seeds one user on the run's database, makes it able to log in (the seeder mixes statuses at random) and logs it in
 * with bearer delivery: the access token for scenarios that act as one user.
 */
export async function seedOneUserAndLogIn(ctx: BenchContext, tag: string): Promise<string> {
  await seedUsers({ databaseUrl: ctx.databaseUrl, count: 1, tag });
  const client = new pg.Client({ connectionString: ctx.databaseUrl });
  await client.connect();
  const { rows } = await client
    .query<{ email: string }>(`update users set status = 'active' returning email`)
    .finally(() => client.end());
  const login = await ctx.request('api', 'POST', '/api/auth/login', {
    email: rows[0]?.email,
    password: BENCH_PASSWORD,
    delivery: 'bearer',
  });
  if (login.status !== 200) throw new Error(`log-in: ${login.status} ${login.body}`);
  return (JSON.parse(login.body) as { accessToken: string }).accessToken;
}

export const scenario: Scenario = {
  name: 'foundation',
  description:
    'The real API server (PostgreSQL, production mode, LOG_LEVEL=warn) against a bare Fastify hello-world. ' +
    '`GET /livez` is the cheapest route through every global hook (request id, error handling, metrics); ' +
    '`GET /api/docs/json` stands in for a JSON route: a larger document (the OpenAPI spec) serialised per request. ' +
    '`GET /api/me` is the authenticated-shaped route: one logged-in user (a bearer token from POST /api/auth/login), ' +
    'user cache at its default (10 s), per-IP and per-user request limits lifted (all load is one user from one address).',
  apiConfigYaml: `limits:
  ipRequests: null
  defaults:
    requests: null
`,
  async setup(ctx) {
    const accessToken = await seedOneUserAndLogIn(ctx, 'foundation');
    ctx.vars.set('token', accessToken);
  },
  targets: [
    { name: 'baseline: fastify hello-world GET /', server: 'baseline', path: '/', baseline: true },
    { name: 'GET /livez', server: 'api', path: '/livez' },
    { name: 'GET /api/docs/json', server: 'api', path: '/api/docs/json' },
    {
      name: 'GET /api/me (bearer)',
      server: 'api',
      path: '/api/me',
      headers: (ctx) => ({ authorization: `Bearer ${ctx.vars.get('token')}` }),
    },
  ],
};
