import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './app.ts';
import { applyMutations, fuzzParams, type Json, limitsOff, mutations } from './fuzz.ts';
import { routeTable } from './route-matrix.table.ts';
import { type MatrixFixture, routeKeys } from './route-matrix.ts';
import { createTestUser, type TestUser } from './users.ts';

/**
 * No request gets a 5xx, on any route. The route matrix's table (route-matrix.table.ts) builds a valid request for
 * every registered route; each run here breaks one at random places (test/fuzz.ts): its JSON body, its query values,
 * the id in its path. It is sent as the route's own caller (the owner, an admin for admin routes, nobody for public
 * ones), so that it gets past authentication to the code that reads the input. The answer must be a success or a
 * 4xx with its error body: problem+json with a `code`, or the OpenAI envelope on /v1.
 */

const roomy = { rate: 1_000_000, periodMs: 60_000, burst: 1_000_000 };
const idInPath = /\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=\/|$)/;

function queryOf(url: string): Record<string, Json> {
  const q = url.indexOf('?');
  return q < 0 ? {} : Object.fromEntries(new URLSearchParams(url.slice(q + 1)));
}

/** The request with its path id, query and body replaced (a broken body goes as JSON text, whatever it is). */
function rebuilt(req: InjectOptions, pathId: string | null, query: Json | undefined, body: Json | undefined) {
  const url = String(req.url ?? '/');
  let path = url.split('?')[0] as string;
  if (pathId !== null) path = path.replace(idInPath, `/${encodeURIComponent(pathId)}`);
  const params = new URLSearchParams();
  if (query !== null && typeof query === 'object' && !Array.isArray(query)) {
    for (const [k, v] of Object.entries(query)) params.append(k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  const search = params.size > 0 ? `?${params}` : '';
  const headers = { ...(req.headers as Record<string, string>) };
  if (req.payload === undefined) return { ...req, url: `${path}${search}`, headers };
  headers['content-type'] = 'application/json';
  return { ...req, url: `${path}${search}`, headers, payload: body === undefined ? '' : JSON.stringify(body) };
}

describe('every route answers any broken request with a success or a 4xx, never a 5xx', () => {
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await buildTestApp({
      // Fixtures hash passwords: cheap argon2 parameters keep this about input, not hashing.
      'auth.argon2MemoryKiB': 8192,
      'auth.argon2TimeCost': 1,
      'providers.demoChunkDelayMs': 0,
      ...limitsOff,
      // The auth throttles too (they take a policy, not null).
      ...Object.fromEntries(
        ['loginPerIp', 'loginPerAccount', 'signupPerIp', 'passwordResetPerIp', 'passwordResetPerAccount']
          .concat(['verifyPerIp', 'refreshPerIp'])
          .map((k) => [`limits.auth.${k}`, roomy]),
      ),
    });
    admin = await createTestUser(t.app, { role: 'admin' });
  });
  afterAll(() => t?.close());

  const routes = () => routeKeys(t.app).filter((r) => routeTable[r.key] && !routeTable[r.key]?.infra);

  it('lists the routes it breaks', () => {
    expect(routes().length).toBeGreaterThan(40);
  });

  for (const key of Object.keys(routeTable).filter((k) => !routeTable[k]?.infra)) {
    it(key, async () => {
      const route = routes().find((r) => r.key === key);
      if (!route) return; // listed but not registered in this configuration (the matrix test checks the table)
      const entry = routeTable[key];
      if (!entry) return;
      const newFixture = async (): Promise<MatrixFixture> => ({
        app: t.app,
        owner: await createTestUser(t.app),
        other: await createTestUser(t.app),
        admin,
      });
      let fixture = await newFixture();
      // Requests are built from fresh resources, but some builders change their owner for good (an MFA enrolment
      // can be started once): when one refuses, it gets a new owner.
      const build = async () => {
        try {
          return await entry.request(fixture);
        } catch {
          fixture = await newFixture();
          return entry.request(fixture);
        }
      };
      const callerOf = () =>
        route.auth === 'public' || route.auth === undefined
          ? {}
          : route.auth.role === 'admin'
            ? admin.headers
            : fixture.owner.headers;
      const sample = await build();
      const body = (sample.payload ?? {}) as Json;
      const query = queryOf(String(sample.url));
      await fc.assert(
        fc.asyncProperty(
          mutations(body),
          mutations(query),
          fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: null, freq: 3 }),
          fc.constantFrom('body', 'query', 'both'),
          async (bodyChanges, queryChanges, pathId, where) => {
            const req = await build();
            // The changes were drawn against the first request; every request of a route has its shape.
            const fresh = (req.payload ?? {}) as Json;
            const payload = where === 'query' ? fresh : applyMutations(fresh, bodyChanges);
            const q =
              where === 'body' ? queryOf(String(req.url)) : applyMutations(queryOf(String(req.url)), queryChanges);
            const sent = rebuilt(req, pathId, q, payload);
            const res = await t.app.inject({ ...sent, headers: { ...sent.headers, ...callerOf() } } as InjectOptions);
            const what = `${sent.method} ${sent.url} ${String(sent.payload ?? '')}`.slice(0, 600);
            if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${what}: ${res.body.slice(0, 400)}`);
            if (res.statusCode >= 400) {
              const answer = res.json() as { code?: unknown; error?: { message?: unknown } };
              const hasCode = typeof answer.code === 'string' || typeof answer.error?.message === 'string';
              expect(hasCode, `${res.statusCode} without an error body for ${what}: ${res.body}`).toBe(true);
            }
          },
        ),
        fuzzParams(15),
      );
    }, 120_000);
  }
});
