import type { Scenario } from '../lib/types.ts';

/**
 * Issue 2 §10: the real server's cheapest route and a JSON route against a bare Fastify hello-world.
 * The authenticated-shaped route (`GET /api/me` with a bearer token) joins when the accounts issue lands: add a setup
 * that signs up and stores `ctx.vars.set('token', …)`, then uncomment the target below.
 */
export const scenario: Scenario = {
  name: 'foundation',
  description:
    'The real API server (PostgreSQL, production mode, LOG_LEVEL=warn) against a bare Fastify hello-world. ' +
    '`GET /livez` is the cheapest route through every global hook (request id, error handling, metrics); ' +
    '`GET /api/docs/json` stands in for a JSON route: a larger document (the OpenAPI spec) serialised per request. ' +
    'The authenticated-shaped route (`GET /api/me` with a bearer token) joins when the accounts module lands.',
  targets: [
    { name: 'baseline: fastify hello-world GET /', server: 'baseline', path: '/', baseline: true },
    { name: 'GET /livez', server: 'api', path: '/livez' },
    { name: 'GET /api/docs/json', server: 'api', path: '/api/docs/json' },
    // { name: 'GET /api/me (bearer)', server: 'api', path: '/api/me', headers: (ctx) => ({ authorization: `Bearer ${ctx.vars.get('token')}` }) },
  ],
};
