import type { ApiKeyScope } from '@genz/contracts';
import { apiKeyScopes } from '@genz/contracts';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { acceptedScopes, type RouteAuth } from '../http/actor.ts';
import { createTestApiKey, createTestUser, type TestUser } from './users.ts';

/**
 * The route authorization matrix (ARCHITECTURE.md §12): every registered route, called as anonymous, as its owner,
 * as another user against the owner's ids and with an API key lacking the route's scope. Modules add their routes
 * to route-matrix.table.ts; a registered route missing from the table fails the test, so no route ships unchecked.
 */

export interface MatrixFixture {
  app: FastifyInstance;
  /** The caller whose resources the request names (user A). */
  owner: TestUser;
  /** Another user (B): sent with the owner's ids, must get 404 on `owned` routes. */
  other: TestUser;
  /** An admin, for admin routes. */
  admin: TestUser;
}

export interface RouteCase {
  /** Builds one request (fresh resources each time: runs may delete them). Auth headers are added by the harness. */
  request: (f: MatrixFixture) => Promise<InjectOptions> | InjectOptions;
  /** The request names a resource of `owner`: `other` must get 404 (never 403, which would confirm it exists). */
  owned?: boolean;
  /** Why this route needs no per-identity checks (infra routes: health, docs, metrics). */
  infra?: string;
}

export type RouteTable = Readonly<Record<string, RouteCase>>;

export interface MatrixResult {
  /** `METHOD url` of routes registered but missing from the table. */
  missing: string[];
  failures: string[];
  checked: number;
}

const denied = (status: number) => status === 401 || status === 403;

/** Routes the matrix covers: everything registered except the automatic HEAD twins of GET routes. */
export function routeKeys(app: FastifyInstance): { key: string; auth: RouteAuth | undefined; infra: boolean }[] {
  const routes = app.registeredRoutes();
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url));
  const unique = new Map<string, { key: string; auth: RouteAuth | undefined; infra: boolean }>();
  for (const r of routes) {
    if (r.method === 'HEAD' && gets.has(r.url)) continue;
    const key = `${r.method} ${r.url}`;
    if (!unique.has(key)) unique.set(key, { key, auth: r.auth, infra: r.infra });
  }
  return [...unique.values()];
}

/** Registered routes the table does not list. */
export function missingRoutes(app: FastifyInstance, table: RouteTable): string[] {
  return routeKeys(app)
    .filter((r) => !Object.hasOwn(table, r.key))
    .map((r) => r.key);
}

/** A call that never answers (a stream that does not end) is a failure of the route, not a hung test. */
const CALL_TIMEOUT_MS = 10_000;

export async function runRouteMatrix(app: FastifyInstance, table: RouteTable): Promise<MatrixResult> {
  const routes = routeKeys(app);
  const missing = missingRoutes(app, table);
  const failures: string[] = [];
  const admin = await createTestUser(app, { role: 'admin' });
  let checked = 0;

  for (const route of routes) {
    const entry = table[route.key];
    if (!entry) continue;
    checked++;
    const fail = (who: string, status: number, want: string, body: string) =>
      failures.push(`${route.key} as ${who}: got ${status}, want ${want} — ${body.slice(0, 200)}`);
    const fixture = async (): Promise<MatrixFixture> => ({
      app,
      owner: await createTestUser(app),
      other: await createTestUser(app),
      admin,
    });
    const call = async (f: MatrixFixture, headers: Record<string, string>) => {
      const req = await entry.request(f);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${route.key}: no answer within ${CALL_TIMEOUT_MS} ms`)),
          CALL_TIMEOUT_MS,
        );
      });
      try {
        return await Promise.race([
          app.inject({ ...req, headers: { ...(req.headers as Record<string, string>), ...headers } }),
          timeout,
        ]);
      } finally {
        clearTimeout(timer);
      }
    };

    // Anonymous.
    {
      const res = await call(await fixture(), {});
      if (res.statusCode >= 500) fail('anonymous', res.statusCode, '< 500', res.body);
      else if (route.auth !== undefined && route.auth !== 'public' && res.statusCode !== 401) {
        fail('anonymous', res.statusCode, '401', res.body);
      } else if (route.auth === 'public' && denied(res.statusCode))
        fail('anonymous', res.statusCode, 'not 401/403', res.body);
    }
    if (route.auth === undefined || route.auth === 'public' || entry.infra) continue;
    const policy = route.auth;
    const adminOnly = policy.role === 'admin';

    // The owner (a plain user) with a full session.
    {
      const f = await fixture();
      const res = await call(f, f.owner.headers);
      if (adminOnly) {
        if (res.statusCode !== 403) fail('user', res.statusCode, '403 (admin only)', res.body);
      } else if (denied(res.statusCode) || res.statusCode >= 500)
        fail('user', res.statusCode, 'allowed, < 500', res.body);
    }
    // An admin.
    if (adminOnly) {
      const f = await fixture();
      const res = await call(f, admin.headers);
      if (denied(res.statusCode) || res.statusCode >= 500) fail('admin', res.statusCode, 'allowed, < 500', res.body);
    }
    // Another user, against the owner's resources.
    if (entry.owned) {
      const f = await fixture();
      const res = await call(f, f.other.headers);
      if (res.statusCode !== 404) fail('another user', res.statusCode, '404', res.body);
    }
    // An API key of an authorised caller that holds every scope but the one the route needs.
    {
      const f = await fixture();
      const caller = adminOnly ? admin : f.owner;
      const accepted = acceptedScopes(policy);
      const scopes = apiKeyScopes.filter(
        (s): s is ApiKeyScope => !accepted.includes(s) && (adminOnly || s !== 'admin'),
      );
      const key = await createTestApiKey(app, caller, scopes);
      const res = await call(f, key.headers);
      // problem+json carries `code`; the OpenAI envelope on /v1 carries `error.code`.
      const body = res.json() as { code?: string; error?: { code?: string } };
      if (res.statusCode !== 403 || (body.code ?? body.error?.code) !== 'insufficient_scope') {
        fail(`API key without ${accepted.join(' or ')}`, res.statusCode, '403 insufficient_scope', res.body);
      }
    }
  }
  return { missing, failures, checked };
}
