import { uuidv7 } from '@genz/db';
import { passkeys } from '@genz/db/schema';
import type { Actor } from '../http/actor.ts';
import { totpCode } from '../modules/auth/mfa-totp.ts';
import type { MatrixFixture, RouteTable } from './route-matrix.ts';
import { createTestApiKey } from './users.ts';

/**
 * How to call every registered route (see route-matrix.ts). Add your module's routes here when you add them:
 * the matrix test fails on any registered route missing from this table.
 */
const json = (method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) => ({
  method,
  url,
  ...(payload ? { payload } : {}),
});
let n = 0;
const fresh = () => `matrix${++n}.${Date.now().toString(36)}@example.test`;
const infra = (url: string, reason: string) => ({ request: () => ({ method: 'GET' as const, url }), infra: reason });
const docs = 'OpenAPI documentation: public by design';
/** A well-formed but meaningless WebAuthn assertion (the ceremony check refuses it first). */
const fakeAssertion = {
  id: 'AAAA',
  rawId: 'AAAA',
  type: 'public-key',
  response: { clientDataJSON: 'AAAA', authenticatorData: 'AAAA', signature: 'AAAA' },
  clientExtensionResults: {},
};
const chat = { model: 'demo', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };

/** The owner as a chats-service actor, and owned chat resources for the matrix (ids the other user must not see). */
const actorOf = (f: MatrixFixture): Actor => ({
  userId: f.owner.id,
  role: 'user',
  plan: 'free',
  scopes: ['chat', 'read', 'inference'],
  via: 'session',
});
const conversationOf = (f: MatrixFixture) => f.app.chats.createConversation(actorOf(f), { title: 'matrix' });
const generationOf = async (f: MatrixFixture) =>
  f.app.chats.sendMessage(actorOf(f), (await conversationOf(f)).id, { content: 'matrix' });
const presetOf = (f: MatrixFixture) => f.app.chats.createPreset(actorOf(f), { name: 'matrix', settings: {} });

export const routeTable: RouteTable = {
  // ---------- infra ----------
  'GET /livez': infra('/livez', 'liveness probe'),
  'GET /readyz': infra('/readyz', 'readiness probe'),
  'GET /metrics': infra('/metrics', 'own bearer token (METRICS_TOKEN) or a separate port'),
  'GET /api/docs': infra('/api/docs', docs),
  'GET /api/docs/': infra('/api/docs/', docs),
  'HEAD /api/docs': { request: () => ({ method: 'HEAD', url: '/api/docs' }), infra: docs },
  'GET /api/docs/static/index.html': infra('/api/docs/static/index.html', docs),
  'GET /api/docs/static/swagger-initializer.js': infra('/api/docs/static/swagger-initializer.js', docs),
  'GET /api/docs/json': infra('/api/docs/json', docs),
  'GET /api/docs/yaml': infra('/api/docs/yaml', docs),
  'GET /api/docs/static/*': infra('/api/docs/static/swagger-ui.css', docs),

  // ---------- auth (public) ----------
  'GET /api/auth/signup-mode': { request: () => ({ method: 'GET', url: '/api/auth/signup-mode' }) },
  'POST /api/auth/signup': {
    request: () => json('POST', '/api/auth/signup', { email: fresh(), password: 'matrix password 1' }),
  },
  'POST /api/auth/login': {
    request: (f) => json('POST', '/api/auth/login', { email: f.owner.email, password: f.owner.password }),
  },
  'POST /api/auth/refresh': {
    request: (f) => json('POST', '/api/auth/refresh', { refreshToken: f.owner.refreshToken }),
  },
  'POST /api/auth/logout': { request: (f) => json('POST', '/api/auth/logout', { refreshToken: f.owner.refreshToken }) },
  'POST /api/auth/verify-email': { request: () => json('POST', '/api/auth/verify-email', { token: 'x'.repeat(43) }) },
  'POST /api/auth/password-reset/request': {
    request: (f) => json('POST', '/api/auth/password-reset/request', { email: f.owner.email }),
  },
  'POST /api/auth/password-reset/confirm': {
    request: () =>
      json('POST', '/api/auth/password-reset/confirm', { token: 'x'.repeat(43), newPassword: 'matrix password 2' }),
  },
  'POST /api/auth/setup': {
    request: () =>
      json('POST', '/api/auth/setup', { token: 'x'.repeat(43), email: fresh(), password: 'matrix password 3' }),
  },

  // second factor (modules/auth/mfa.routes.ts)
  // OIDC (modules/auth/oidc.routes.ts); not configured in the matrix app: 404 (oidc.routes.db.test.ts runs a real IdP)
  'GET /api/auth/oidc/start': { request: () => ({ method: 'GET', url: '/api/auth/oidc/start' }) },
  'GET /api/auth/oidc/callback': {
    request: () => ({ method: 'GET', url: '/api/auth/oidc/callback?code=x&state=y' }),
  },
  // passkeys (modules/auth/passkeys.routes.ts); a bogus ceremony answers 400 (passkeys.routes.db.test.ts signs for real)
  'POST /api/auth/passkeys/options': { request: () => json('POST', '/api/auth/passkeys/options', {}) },
  'POST /api/auth/passkeys/verify': {
    request: () => json('POST', '/api/auth/passkeys/verify', { ceremony: 'x'.repeat(40), response: fakeAssertion }),
  },
  'POST /api/auth/mfa/verify': {
    request: async (f) => {
      const { challenge } = await f.app.mfa.challenge(f.owner.id, 'mfa_required');
      return json('POST', '/api/auth/mfa/verify', { challenge, code: '000000' });
    },
  },
  'POST /api/auth/mfa/enroll': {
    request: async (f) => {
      const { challenge } = await f.app.mfa.challenge(f.owner.id, 'mfa_enrollment_required');
      return json('POST', '/api/auth/mfa/enroll', { challenge });
    },
  },
  'POST /api/auth/mfa/enroll/passkey/options': {
    request: async (f) => {
      const { challenge } = await f.app.mfa.challenge(f.owner.id, 'mfa_enrollment_required');
      return json('POST', '/api/auth/mfa/enroll/passkey/options', { challenge });
    },
  },
  // a bogus ceremony answers 400 (passkeys.routes.db.test.ts registers for real)
  'POST /api/auth/mfa/enroll/passkey/verify': {
    request: async (f) => {
      const { challenge } = await f.app.mfa.challenge(f.owner.id, 'mfa_enrollment_required');
      return json('POST', '/api/auth/mfa/enroll/passkey/verify', {
        challenge,
        ceremony: 'x'.repeat(40),
        response: { ...fakeAssertion, response: { clientDataJSON: 'AAAA', attestationObject: 'AAAA' } },
      });
    },
  },
  'POST /api/auth/mfa/enroll/confirm': {
    request: async (f) => {
      const { challenge } = await f.app.mfa.challenge(f.owner.id, 'mfa_enrollment_required');
      const { secret } = await f.app.mfa.startEnrollment(f.owner);
      return json('POST', '/api/auth/mfa/enroll/confirm', { challenge, code: totpCode(secret) });
    },
  },

  // ---------- me ----------
  'GET /api/me': { request: () => ({ method: 'GET', url: '/api/me' }) },
  'POST /api/me/password': {
    request: (f) =>
      json('POST', '/api/me/password', { currentPassword: f.owner.password, newPassword: 'matrix password 4' }),
  },
  'POST /api/me/verify-email': { request: () => json('POST', '/api/me/verify-email') },
  'POST /api/me/passkeys/registration/options': {
    request: () => json('POST', '/api/me/passkeys/registration/options', {}),
  },
  'POST /api/me/passkeys/registration/verify': {
    request: () =>
      json('POST', '/api/me/passkeys/registration/verify', {
        ceremony: 'x'.repeat(40),
        response: { ...fakeAssertion, response: { clientDataJSON: 'AAAA', attestationObject: 'AAAA' } },
      }),
  },
  'GET /api/me/passkeys': { request: () => ({ method: 'GET', url: '/api/me/passkeys' }) },
  'DELETE /api/me/passkeys/:id': {
    owned: true,
    request: async (f) => {
      const id = uuidv7();
      await f.app.db.db.insert(passkeys).values({
        id,
        userId: f.owner.id,
        credentialId: `matrix-${id}`,
        publicKey: 'AAAA',
        name: 'matrix',
      });
      return json('DELETE', `/api/me/passkeys/${id}`);
    },
  },
  'GET /api/me/mfa': { request: () => ({ method: 'GET', url: '/api/me/mfa' }) },
  'POST /api/me/mfa/totp': { request: () => json('POST', '/api/me/mfa/totp') },
  'POST /api/me/mfa/totp/confirm': {
    request: async (f) => {
      const { secret } = await f.app.mfa.startEnrollment(f.owner);
      return json('POST', '/api/me/mfa/totp/confirm', { code: totpCode(secret) });
    },
  },
  'POST /api/me/mfa/totp/disable': {
    request: (f) => json('POST', '/api/me/mfa/totp/disable', { password: f.owner.password, code: '000000' }),
  },
  'POST /api/me/mfa/recovery-codes': { request: () => json('POST', '/api/me/mfa/recovery-codes', { code: '000000' }) },
  'GET /api/me/sessions': { request: () => ({ method: 'GET', url: '/api/me/sessions' }) },
  'DELETE /api/me/sessions': { request: () => json('DELETE', '/api/me/sessions') },
  'DELETE /api/me/sessions/:id': {
    owned: true,
    request: async (f) => {
      const s = await f.app.accounts.issueSession(f.owner.id, { ip: '127.0.0.1' });
      return json('DELETE', `/api/me/sessions/${s.sessionId}`);
    },
  },
  'GET /api/me/api-keys': { request: () => ({ method: 'GET', url: '/api/me/api-keys' }) },
  'POST /api/me/api-keys': { request: () => json('POST', '/api/me/api-keys', { name: 'matrix', scopes: ['read'] }) },
  'DELETE /api/me/api-keys/:id': {
    owned: true,
    request: async (f) => {
      const k = await createTestApiKey(f.app, f.owner, ['read']);
      return json('DELETE', `/api/me/api-keys/${k.id}`);
    },
  },

  // ---------- admin ----------
  'GET /api/admin/users': { request: () => ({ method: 'GET', url: '/api/admin/users?limit=5' }) },
  'GET /api/admin/users/:id': { request: (f) => ({ method: 'GET', url: `/api/admin/users/${f.owner.id}` }) },
  'PATCH /api/admin/users/:id': { request: (f) => json('PATCH', `/api/admin/users/${f.owner.id}`, { plan: 'pro' }) },
  'DELETE /api/admin/users/:id': { request: (f) => json('DELETE', `/api/admin/users/${f.owner.id}`) },
  'DELETE /api/admin/users/:id/mfa': { request: (f) => json('DELETE', `/api/admin/users/${f.owner.id}/mfa`) },
  // limits (modules/rate-limit)
  'GET /api/me/usage': { request: () => ({ method: 'GET', url: '/api/me/usage' }) },
  'GET /api/admin/users/:id/limits': {
    request: (f) => ({ method: 'GET', url: `/api/admin/users/${f.owner.id}/limits` }),
  },
  'PUT /api/admin/users/:id/limits': {
    request: (f) => json('PUT', `/api/admin/users/${f.owner.id}/limits`, { tokensPerDay: 1000 }),
  },
  'DELETE /api/admin/users/:id/limits': {
    request: (f) => json('DELETE', `/api/admin/users/${f.owner.id}/limits`),
  },
  'GET /api/admin/invitations': { request: () => ({ method: 'GET', url: '/api/admin/invitations' }) },
  'POST /api/admin/invitations': { request: () => json('POST', '/api/admin/invitations', { email: fresh() }) },
  'DELETE /api/admin/invitations/:id': {
    request: async (f) => {
      const inv = await f.app.accounts.createInvitation(
        { userId: f.admin.id, role: 'admin', plan: 'free', scopes: ['admin'], via: 'session' },
        {},
        { ip: '127.0.0.1' },
      );
      return json('DELETE', `/api/admin/invitations/${inv.id}`);
    },
  },
  'GET /api/admin/settings/signup': { request: () => ({ method: 'GET', url: '/api/admin/settings/signup' }) },
  'PUT /api/admin/settings/signup': {
    request: () => json('PUT', '/api/admin/settings/signup', { mode: 'open', allowedDomains: [] }),
  },
  'GET /api/admin/outbox': { request: () => ({ method: 'GET', url: '/api/admin/outbox' }) },

  // ---------- chats (modules/chats) ----------
  'GET /api/conversations': { request: () => ({ method: 'GET', url: '/api/conversations?limit=5' }) },
  'POST /api/conversations': { request: () => json('POST', '/api/conversations', { title: 'matrix' }) },
  'GET /api/conversations/:id': {
    owned: true,
    request: async (f) => ({ method: 'GET', url: `/api/conversations/${(await conversationOf(f)).id}` }),
  },
  'PATCH /api/conversations/:id': {
    owned: true,
    request: async (f) => json('PATCH', `/api/conversations/${(await conversationOf(f)).id}`, { pinned: true }),
  },
  'DELETE /api/conversations/:id': {
    owned: true,
    request: async (f) => json('DELETE', `/api/conversations/${(await conversationOf(f)).id}`),
  },
  'GET /api/conversations/:id/messages': {
    owned: true,
    request: async (f) => ({
      method: 'GET',
      url: `/api/conversations/${(await generationOf(f)).conversationId}/messages`,
    }),
  },
  'POST /api/conversations/:id/messages': {
    owned: true,
    request: async (f) =>
      json('POST', `/api/conversations/${(await conversationOf(f)).id}/messages`, { content: 'hi' }),
  },
  'POST /api/messages/:id/regenerate': {
    owned: true,
    request: async (f) => json('POST', `/api/messages/${(await generationOf(f)).userMessageId}/regenerate`, {}),
  },
  'GET /api/generations/:gid/events': {
    owned: true,
    request: async (f) => ({ method: 'GET', url: `/api/generations/${(await generationOf(f)).generationId}/events` }),
  },
  'POST /api/generations/:gid/stop': {
    owned: true,
    request: async (f) => json('POST', `/api/generations/${(await generationOf(f)).generationId}/stop`),
  },
  'GET /api/presets': { request: () => ({ method: 'GET', url: '/api/presets' }) },
  'POST /api/presets': { request: () => json('POST', '/api/presets', { name: 'matrix', settings: {} }) },
  'PATCH /api/presets/:id': {
    owned: true,
    request: async (f) => json('PATCH', `/api/presets/${(await presetOf(f)).id}`, { name: 'renamed' }),
  },
  'DELETE /api/presets/:id': {
    owned: true,
    request: async (f) => json('DELETE', `/api/presets/${(await presetOf(f)).id}`),
  },
  'GET /api/search': { request: () => ({ method: 'GET', url: '/api/search?q=matrix' }) },
  'POST /api/conversations/:id/shares': {
    owned: true,
    request: async (f) => json('POST', `/api/conversations/${(await conversationOf(f)).id}/shares`, {}),
  },
  'GET /api/shares': { request: () => ({ method: 'GET', url: '/api/shares' }) },
  'DELETE /api/shares/:id': {
    owned: true,
    request: async (f) => {
      const share = await f.app.chats.createShare(actorOf(f), (await conversationOf(f)).id);
      return json('DELETE', `/api/shares/${share.id}`);
    },
  },
  'GET /api/shared/:token': { request: () => ({ method: 'GET', url: `/api/shared/${'x'.repeat(43)}` }) },
  'GET /api/conversations/:id/export': {
    owned: true,
    request: async (f) => ({
      method: 'GET',
      url: `/api/conversations/${(await conversationOf(f)).id}/export?format=markdown`,
    }),
  },
  'GET /api/export': { request: () => ({ method: 'GET', url: '/api/export' }) },
  'POST /api/import/chatgpt': { request: () => ({ method: 'POST', url: '/api/import/chatgpt', payload: [] }) },

  // ---------- models and provider configuration (modules/providers) ----------
  'GET /api/models': { request: () => ({ method: 'GET', url: '/api/models' }) },
  'GET /api/admin/config': { request: () => ({ method: 'GET', url: '/api/admin/config' }) },
  'GET /api/admin/providers': { request: () => ({ method: 'GET', url: '/api/admin/providers' }) },
  'GET /api/admin/usage': { request: () => ({ method: 'GET', url: '/api/admin/usage?days=7' }) },
  'PUT /api/admin/config': {
    request: (f) => ({
      method: 'PUT',
      url: '/api/admin/config',
      headers: { 'if-match': `"${f.app.providersConfig.version}"` },
      payload: { aliases: { 'matrix-alias': { deployments: ['demo'] } } },
    }),
  },

  // ---------- OpenAI-compatible (/v1) ----------
  'POST /v1/chat/completions': { request: () => json('POST', '/v1/chat/completions', chat) },
  'POST /v1/responses': { request: () => json('POST', '/v1/responses', { model: 'demo', input: 'hi' }) },
  'POST /v1/embeddings': { request: () => json('POST', '/v1/embeddings', { model: 'demo', input: 'hi' }) },
  'GET /v1/models': { request: () => ({ method: 'GET', url: '/v1/models' }) },
  'GET /v1/models/:model': { request: () => ({ method: 'GET', url: '/v1/models/demo' }) },
};
