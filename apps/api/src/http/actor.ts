import type { ApiKeyScope } from '@genz/contracts';

/**
 * Who is asking. Set on `request.actor` by the auth hook (modules/auth) from a session cookie, a bearer access
 * token or a `gz_` API key; null for anonymous requests. Every service verb and repository function takes the actor
 * and filters on `actor.userId`: user A never reads or changes user B's data.
 */
export interface Actor {
  userId: string;
  role: 'user' | 'admin';
  plan: string;
  /** A browser session carries every scope the role allows; an API key only the ones it was created with. */
  scopes: readonly ApiKeyScope[];
  via: 'session' | 'api_key';
  sessionId?: string;
  apiKeyId?: string;
  /**
   * The caller's own account as the auth hook read it for this request (one query, or the user cache), so
   * handlers about the caller (`GET /api/me`) do not read the row again. Absent on actors made outside the hook.
   */
  account?: ActorAccount;
}

/** The caller's account fields besides role and plan (ISO dates: the snapshot may come from a shared cache). */
export interface ActorAccount {
  email: string;
  status: 'active' | 'disabled' | 'pending_approval';
  emailVerifiedAt: string | null;
  createdAt: string;
  lastActiveAt: string | null;
}

/**
 * Per-route authentication policy, declared in route options: `config: { auth: { scope: 'chat' } }`, or a list
 * of scopes any one of which admits (`{ scope: ['chat', 'read'] }`).
 * `'public'` routes need no actor. The auth hook enforces it and the route-matrix test fails for any registered
 * route that does not declare one.
 */
export type RouteAuth = 'public' | { scope: ApiKeyScope | readonly ApiKeyScope[]; role?: 'admin' };

/** The scopes a route accepts: any one of them admits the caller (a read route takes `read` or `chat`). */
export const acceptedScopes = (policy: { scope: ApiKeyScope | readonly ApiKeyScope[] }): readonly ApiKeyScope[] =>
  typeof policy.scope === 'string' ? [policy.scope] : policy.scope;

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}
