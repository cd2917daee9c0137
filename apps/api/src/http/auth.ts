import cookie from '@fastify/cookie';
import type { ApiKeyScope } from '@genz/contracts';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import type { AppConfig } from '../config/index.ts';
import { type Actor, acceptedScopes, type RouteAuth } from './actor.ts';
import { DomainError } from './errors.ts';

/** Cookie names: the access JWT (path /) and the refresh token (path /api/auth only). */
export const ACCESS_COOKIE = 'gz_at';
export const REFRESH_COOKIE = 'gz_rt';

/** Turns a credential into an actor or throws a 401/403/503 DomainError. Implemented by modules/auth. */
export interface Authenticator {
  fromAccessToken(token: string): Promise<Actor>;
  fromApiKey(key: string): Promise<Actor>;
}

export interface RegisteredRoute {
  method: string;
  url: string;
  auth: RouteAuth | undefined;
  infra: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** modules/auth installs the credential checks; until then every credential is refused. */
    setAuthenticator(authenticator: Authenticator): void;
    /** Every route registered, with its declared auth: the boot check and the route-matrix test read it. */
    registeredRoutes(): readonly RegisteredRoute[];
  }
}

const API_KEY_PATTERN = /^gz_[A-Za-z0-9_-]{43}$/;
const API_KEY_ANYWHERE = /gz_[A-Za-z0-9_-]{43}/;
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

type Credential = { kind: 'jwt' | 'api_key'; value: string; fromCookie: boolean };

/**
 * The one accepted form for an API key is `Authorization: Bearer gz_…`. A key anywhere else (X-Api-Key, a query
 * parameter, another header) is refused outright rather than ignored, so no second path can skip its limits and
 * scopes, and clients learn at once that they sent it wrong.
 */
function refuseMisplacedKeys(request: FastifyRequest): void {
  for (const [name, value] of Object.entries(request.headers)) {
    if (name === 'authorization' || value === undefined) continue;
    const text = Array.isArray(value) ? value.join(',') : value;
    if (text.includes('gz_') && API_KEY_ANYWHERE.test(text)) {
      throw new DomainError(
        'unauthenticated',
        `API keys are accepted only as "Authorization: Bearer <key>", not in ${name}.`,
      );
    }
  }
  const q = request.url.indexOf('?');
  if (q >= 0 && API_KEY_ANYWHERE.test(lenientDecode(request.url.slice(q)))) {
    throw new DomainError(
      'unauthenticated',
      'API keys are accepted only as "Authorization: Bearer <key>", never in the URL.',
    );
  }
}

/** Percent-decodes what it can; a malformed escape is left as is (never a throw on hostile input). */
function lenientDecode(query: string): string {
  try {
    return decodeURIComponent(query);
  } catch {
    return query.replace(/%[0-9A-Fa-f]{2}/g, (m) => String.fromCharCode(Number.parseInt(m.slice(1), 16)));
  }
}

function credentialOf(request: FastifyRequest): Credential | null {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer +([^\s]+) *$/i.exec(header);
    if (!match?.[1]) throw new DomainError('unauthenticated', 'Authorization must be "Bearer <token>".');
    const value = match[1];
    if (value.startsWith('gz_')) {
      if (!API_KEY_PATTERN.test(value)) throw new DomainError('unauthenticated', 'Malformed API key.');
      return { kind: 'api_key', value, fromCookie: false };
    }
    return { kind: 'jwt', value, fromCookie: false };
  }
  const fromCookie = request.cookies[ACCESS_COOKIE];
  return fromCookie ? { kind: 'jwt', value: fromCookie, fromCookie: true } : null;
}

/**
 * CSRF defence for cookie-authenticated requests that change state (ADR 023): the browser must say the request
 * comes from our own origin, by `Origin` (sent on every cross-origin and same-origin POST by current browsers) or
 * `Sec-Fetch-Site: same-origin`. SameSite=Lax cookies already stop most cross-site sends; this also covers
 * same-site siblings (another app on a subdomain). Bearer-token requests need no check: browsers never add them.
 */
export function assertSameOrigin(request: FastifyRequest, publicOrigin: string): void {
  if (safeMethods.has(request.method)) return;
  const origin = request.headers.origin;
  if (origin !== undefined) {
    if (origin === publicOrigin) return;
    throw new DomainError('csrf_failed', `Origin ${origin} may not use this session; expected ${publicOrigin}.`);
  }
  const site = request.headers['sec-fetch-site'];
  if (site === 'same-origin') return;
  throw new DomainError(
    'csrf_failed',
    'A browser session needs an Origin or Sec-Fetch-Site: same-origin header on this request; API clients use a bearer token.',
  );
}

export function hasScope(actor: Actor, scope: ApiKeyScope): boolean {
  return actor.scopes.includes(scope);
}

/**
 * The auth hook: implements the contract in actor.ts for every route.
 * - Boot: every route must declare `config.auth` (`'public'` or `{ scope, role? }`); infra routes (health, metrics,
 *   docs) are exempt. A missing declaration stops `app.ready()` naming the route, so nothing ships unguarded.
 * - Each request: finds the credential (bearer JWT, bearer `gz_` API key, or the access cookie), asks modules/auth
 *   for the actor, then enforces the route's policy: 401 without a valid actor, 403 `insufficient_scope` or
 *   `forbidden` (role). On public routes a bad credential is ignored (so /api/auth/refresh works with an expired
 *   access cookie).
 * Registered first in app.ts so its onRoute hook sees every route.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    await app.register(cookie);
    const publicOrigin = new URL(opts.config.server.publicUrl).origin;
    const routes: RouteOptions[] = [];
    let authenticator: Authenticator | null = null;

    app.decorate('setAuthenticator', (a: Authenticator) => {
      authenticator = a;
    });
    app.decorate('registeredRoutes', () =>
      routes.flatMap((r) =>
        (Array.isArray(r.method) ? r.method : [r.method]).map((method) => ({
          method,
          url: r.url,
          auth: r.config?.auth,
          infra: r.config?.infra === true,
        })),
      ),
    );
    app.decorateRequest('actor', null);

    app.addHook('onRoute', (route) => {
      routes.push(route);
    });
    app.addHook('onReady', async () => {
      const undeclared = app
        .registeredRoutes()
        .filter((r) => r.auth === undefined && !r.infra)
        .map((r) => `${r.method} ${r.url}`);
      if (undeclared.length > 0) {
        throw new Error(
          `Routes without config.auth (declare 'public' or { scope }): ${[...new Set(undeclared)].join(', ')}`,
        );
      }
    });

    app.addHook('onRequest', async (request) => {
      const config = request.routeOptions.config;
      if (request.routeOptions.url === undefined) return; // 404s
      refuseMisplacedKeys(request);
      const policy = config.auth;
      if (policy === undefined) {
        if (config.infra) return; // health, metrics (own token), docs
        throw new DomainError('forbidden', 'This route declares no access policy.');
      }
      const credential = credentialOf(request);
      if (credential) {
        try {
          if (!authenticator) throw new DomainError('unavailable', 'Authentication is not available.');
          request.actor =
            credential.kind === 'api_key'
              ? await authenticator.fromApiKey(credential.value)
              : await authenticator.fromAccessToken(credential.value);
        } catch (err) {
          if (policy !== 'public') throw err;
        }
        if (request.actor && credential.fromCookie) assertSameOrigin(request, publicOrigin);
      }
      if (policy === 'public') return;
      const actor = request.actor;
      if (!actor)
        throw new DomainError('unauthenticated', 'Sign in or send "Authorization: Bearer <token or API key>".');
      if (policy.role === 'admin' && actor.role !== 'admin') {
        throw new DomainError('forbidden', 'This needs an administrator.');
      }
      const accepted = acceptedScopes(policy);
      if (!accepted.some((scope) => hasScope(actor, scope))) {
        throw new DomainError('insufficient_scope', `This needs the "${accepted.join('" or "')}" scope.`);
      }
    });
  },
  { name: 'auth-hook' },
);
