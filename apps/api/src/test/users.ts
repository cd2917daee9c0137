import type { ApiKeyScope } from '@genz/contracts';
import type { FastifyInstance } from 'fastify';

let counter = 0;

export interface TestUser {
  id: string;
  email: string;
  password: string;
  role: 'user' | 'admin';
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** `{ authorization: 'Bearer <access token>' }` for app.inject. */
  headers: { authorization: string };
}

/**
 * A user made through the accounts service (no mail, no rate limits, no sign-up mode) with a live session. Use it in
 * any module's tests: `const alice = await createTestUser(t.app); app.inject({ headers: alice.headers, ... })`.
 */
export async function createTestUser(
  app: FastifyInstance,
  opts: { role?: 'user' | 'admin'; plan?: string; email?: string; password?: string } = {},
): Promise<TestUser> {
  counter += 1;
  const email = opts.email ?? `user${counter}.${Date.now().toString(36)}@example.test`;
  const password = opts.password ?? `correct horse battery ${counter}`;
  const user = await app.accounts.createUserDirect({
    email,
    password,
    role: opts.role ?? 'user',
    ...(opts.plan ? { plan: opts.plan } : {}),
  });
  const session = await app.accounts.issueSession(user.id, { ip: '127.0.0.1', userAgent: 'vitest' });
  return {
    id: user.id,
    email: user.email,
    password,
    role: user.role,
    sessionId: session.sessionId,
    accessToken: session.accessToken,
    refreshToken: session.refreshToken,
    headers: { authorization: `Bearer ${session.accessToken}` },
  };
}

export interface TestApiKey {
  id: string;
  key: string;
  scopes: ApiKeyScope[];
  headers: { authorization: string };
}

/** A real `gz_` API key of `user` with the given scopes (default: inference), e.g. for /v1 tests. */
export async function createTestApiKey(
  app: FastifyInstance,
  user: Pick<TestUser, 'id' | 'role' | 'sessionId'>,
  scopes: ApiKeyScope[] = ['inference'],
): Promise<TestApiKey> {
  const created = await app.accounts.createApiKey(
    {
      userId: user.id,
      role: user.role,
      plan: 'free',
      scopes: ['inference', 'chat', 'read', 'admin'],
      via: 'session',
      sessionId: user.sessionId,
    },
    { name: `test key ${++counter}`, scopes },
    { ip: '127.0.0.1' },
  );
  return { id: created.id, key: created.key, scopes, headers: { authorization: `Bearer ${created.key}` } };
}
