import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { decodeCursor, encodeCursor, Page } from '@genz/contracts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { AppConfig } from '../../config/index.ts';
import type { Actor } from '../../http/actor.ts';
import { ACCESS_COOKIE, assertSameOrigin, REFRESH_COOKIE } from '../../http/auth.ts';
import { DomainError } from '../../http/errors.ts';
import { policy } from '../rate-limit/index.ts';
import * as s from './auth.schemas.ts';
import type { AccountsService, IssuedSession, RequestMeta } from './auth.service.ts';
import { normalizeEmail } from './email.ts';

const publicRoute = { auth: 'public' as const };
const read = { auth: { scope: 'read' as const } };
const write = { auth: { scope: 'chat' as const } };
const tags = ['auth'];

export const meta = (request: FastifyRequest): RequestMeta => ({
  ip: request.ip,
  userAgent: request.headers['user-agent'],
});

/** The actor of a route that declared `{ scope }`: the hook guarantees it; this only narrows the type. */
export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new DomainError('unauthenticated');
  return request.actor;
}

/** Changing credentials (keys, sessions, password, second factor, passkeys) needs a signed-in person, never an API key. */
export function requireSession(request: FastifyRequest, message: string): Actor {
  const actor = actorOf(request);
  if (actor.via !== 'session') throw new DomainError('session_required', message);
  return actor;
}

const sessionActor = (request: FastifyRequest) =>
  requireSession(request, 'Manage keys and sessions from a signed-in session.');

export function cookieSecure(publicUrl: string): boolean {
  const url = new URL(publicUrl);
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  return !(url.protocol === 'http:' && local);
}

/** Browsers POST refresh and logout without a body: treat that as `{}`. */
async function emptyBodyIsObject(request: FastifyRequest) {
  request.body ??= {};
}

export function decodeIdCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const key = decodeCursor(cursor, 1);
  if (!key || typeof key[0] !== 'string') throw new DomainError('invalid_cursor', 'The cursor is not valid here.');
  return key[0];
}

/** Answers a started session: tokens in the body (`bearer`) or as HttpOnly cookies (`cookie`, browsers). */
export function sessionDeliverer(config: AppConfig) {
  const secure = cookieSecure(config.server.publicUrl);
  return function deliver(reply: FastifyReply, issued: IssuedSession, delivery: 'cookie' | 'bearer') {
    const body = {
      sessionId: issued.sessionId,
      tokenType: 'Bearer' as const,
      accessTokenExpiresAt: new Date(issued.accessTokenExpiresAt).toISOString(),
      refreshTokenExpiresAt: new Date(issued.refreshTokenExpiresAt).toISOString(),
    };
    if (delivery === 'bearer') return { ...body, accessToken: issued.accessToken, refreshToken: issued.refreshToken };
    const base = { httpOnly: true, secure, sameSite: 'lax' as const };
    reply.setCookie(ACCESS_COOKIE, issued.accessToken, { ...base, path: '/', maxAge: config.auth.accessTokenTtlSec });
    reply.setCookie(REFRESH_COOKIE, issued.refreshToken, {
      ...base,
      path: '/api/auth',
      maxAge: config.auth.refreshTokenTtlSec,
    });
    return body;
  };
}

/** Where the browser goes next to end the session at an identity provider too (oidc.routes.ts), or null. */
export type ProviderLogout = (
  request: FastifyRequest,
  reply: FastifyReply,
  ended: { userId: string; sessionId: string } | undefined,
) => Promise<string | null>;

export default async function authRoutes(
  app: FastifyInstance,
  opts: { config: AppConfig; accounts: AccountsService; providerLogout: ProviderLogout },
) {
  const { config, accounts, providerLogout } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const publicOrigin = new URL(config.server.publicUrl).origin;
  const secure = cookieSecure(config.server.publicUrl);
  const L = config.limits.auth;
  const limits = {
    loginIp: policy('auth_login_ip', L.loginPerIp),
    loginAccount: policy('auth_login_account', L.loginPerAccount),
    signupIp: policy('auth_signup_ip', L.signupPerIp),
    resetIp: policy('auth_reset_ip', L.passwordResetPerIp),
    resetAccount: policy('auth_reset_account', L.passwordResetPerAccount),
    tokenIp: policy('auth_token_ip', L.verifyPerIp),
    refreshIp: policy('auth_refresh_ip', L.refreshPerIp),
  };
  const limit = (key: string, p: ReturnType<typeof policy>) => app.rateLimit.enforce(`${p.name}:${key}`, p);

  const deliver = sessionDeliverer(config);

  function clearCookies(reply: FastifyReply) {
    const base = { httpOnly: true, secure, sameSite: 'lax' as const };
    reply.clearCookie(ACCESS_COOKIE, { ...base, path: '/' });
    reply.clearCookie(REFRESH_COOKIE, { ...base, path: '/api/auth' });
  }

  /** The refresh token from the body (API clients) or the cookie (browsers, which then pass the CSRF check). */
  function refreshTokenOf(request: FastifyRequest, fromBody: string | undefined): { token?: string; cookie: boolean } {
    if (fromBody) return { token: fromBody, cookie: false };
    const cookie = request.cookies[REFRESH_COOKIE];
    if (!cookie) return { cookie: false };
    assertSameOrigin(request, publicOrigin);
    return { token: cookie, cookie: true };
  }

  r.get(
    '/api/auth/signup-mode',
    { config: publicRoute, schema: { tags, response: { 200: s.SignupMode } } },
    async () => {
      const settings = await accounts.signupSettings();
      const oidc = config.oidc.issuerUrl && config.oidc.clientId ? config.oidc.name : null;
      return { mode: settings.mode, setupRequired: !(await accounts.isSetupDone()), oidc };
    },
  );

  r.post(
    '/api/auth/signup',
    { config: publicRoute, schema: { tags, body: s.SignupBody, response: { 202: s.Accepted } } },
    async (request, reply) => {
      await limit(request.ip, limits.signupIp);
      return reply.code(202).send(await accounts.signup(request.body, meta(request)));
    },
  );

  r.post(
    '/api/auth/login',
    {
      config: publicRoute,
      schema: { tags, body: s.LoginBody, response: { 200: Type.Union([s.SessionTokens, s.LoginPending]) } },
    },
    async (request, reply) => {
      const email = normalizeEmail(request.body.email);
      await limit(request.ip, limits.loginIp);
      await limit(email, limits.loginAccount);
      const issued = await accounts.login(request.body, meta(request));
      await app.rateLimit.reset(`${limits.loginAccount.name}:${email}`, limits.loginAccount);
      if ('pending' in issued) {
        // Password accepted; a second factor (or its enrolment) comes next: POST /api/auth/mfa/verify or /enroll.
        return {
          status: issued.pending,
          challenge: issued.challenge,
          challengeExpiresAt: new Date(issued.expiresAt).toISOString(),
          methods: issued.methods,
        };
      }
      return deliver(reply, issued, request.body.delivery ?? 'cookie');
    },
  );

  r.post(
    '/api/auth/refresh',
    {
      config: publicRoute,
      preValidation: emptyBodyIsObject,
      schema: { tags, body: s.RefreshBody, response: { 200: s.SessionTokens } },
    },
    async (request, reply) => {
      await limit(request.ip, limits.refreshIp);
      const { token, cookie } = refreshTokenOf(request, request.body?.refreshToken);
      if (!token)
        throw new DomainError('unauthenticated', 'No refresh token: send refreshToken or the session cookie.');
      try {
        const issued = await accounts.refresh(token, meta(request));
        return deliver(reply, issued, request.body?.delivery ?? (cookie ? 'cookie' : 'bearer'));
      } catch (err) {
        if (cookie) clearCookies(reply);
        throw err;
      }
    },
  );

  r.post(
    '/api/auth/logout',
    {
      config: publicRoute,
      preValidation: emptyBodyIsObject,
      schema: {
        tags,
        body: s.LogoutBody,
        response: { 200: s.LogoutRedirect, 204: Type.Null({ description: 'Signed out.' }) },
      },
    },
    async (request, reply) => {
      const { token } = refreshTokenOf(request, request.body?.refreshToken);
      const ended = await accounts.logout({ refreshToken: token, actor: request.actor }, meta(request));
      clearCookies(reply);
      const redirectTo = await providerLogout(request, reply, ended);
      if (!redirectTo) return reply.code(204).send(null);
      // A form post (top-level navigation) follows a redirect; fetch() cannot cross origins, so it gets the URL.
      if (request.headers['sec-fetch-mode'] === 'navigate') return reply.redirect(redirectTo, 303);
      return { redirectTo };
    },
  );

  r.post('/api/auth/verify-email', { config: publicRoute, schema: { tags, body: s.TokenBody } }, async (request) => {
    await limit(request.ip, limits.tokenIp);
    return accounts.verifyEmail(request.body.token, meta(request));
  });

  r.post(
    '/api/auth/password-reset/request',
    { config: publicRoute, schema: { tags, body: s.ResetRequestBody, response: { 202: s.Accepted } } },
    async (request, reply) => {
      const email = normalizeEmail(request.body.email);
      await limit(request.ip, limits.resetIp);
      await limit(email, limits.resetAccount);
      return reply.code(202).send(await accounts.requestPasswordReset(email));
    },
  );

  r.post(
    '/api/auth/password-reset/confirm',
    { config: publicRoute, schema: { tags, body: s.ResetConfirmBody } },
    async (request) => {
      await limit(request.ip, limits.tokenIp);
      return accounts.confirmPasswordReset(request.body, meta(request));
    },
  );

  r.post(
    '/api/auth/setup',
    { config: publicRoute, schema: { tags, body: s.SetupBody, response: { 201: s.User } } },
    async (request, reply) => {
      await limit(request.ip, limits.tokenIp);
      return reply.code(201).send(await accounts.setup(request.body, meta(request)));
    },
  );

  // ---------- /api/me ----------

  r.get('/api/me', { config: read, schema: { tags: ['me'], response: { 200: s.Me } } }, async (request) =>
    accounts.me(actorOf(request)),
  );

  r.post(
    '/api/me/password',
    { config: write, schema: { tags: ['me'], body: s.ChangePasswordBody } },
    async (request, reply) => {
      await limit(request.ip, limits.loginIp);
      await accounts.changePassword(sessionActor(request), request.body, meta(request));
      return reply.code(204).send();
    },
  );

  r.post(
    '/api/me/verify-email',
    { config: write, schema: { tags: ['me'], response: { 202: s.Accepted } } },
    async (request, reply) => {
      const actor = actorOf(request);
      await limit(actor.userId, limits.tokenIp);
      await accounts.resendVerification(actor);
      return reply
        .code(202)
        .send({ status: 'accepted', message: 'If your address is not confirmed yet, a new link is on its way.' });
    },
  );

  r.get(
    '/api/me/sessions',
    { config: read, schema: { tags: ['me'], response: { 200: Page(s.Session) } } },
    async (request) => accounts.listSessions(actorOf(request)),
  );

  r.delete(
    '/api/me/sessions/:id',
    { config: write, schema: { tags: ['me'], params: s.IdParams } },
    async (request, reply) => {
      await accounts.revokeSession(sessionActor(request), request.params.id, meta(request));
      return reply.code(204).send();
    },
  );

  r.delete('/api/me/sessions', { config: write, schema: { tags: ['me'] } }, async (request) =>
    accounts.revokeOtherSessions(sessionActor(request), meta(request)),
  );

  r.get(
    '/api/me/api-keys',
    { config: read, schema: { tags: ['me'], querystring: s.PageQueryStrict, response: { 200: Page(s.ApiKey) } } },
    async (request) => {
      const page = await accounts.listApiKeys(actorOf(request), {
        after: decodeIdCursor(request.query.cursor),
        limit: request.query.limit,
      });
      return { items: page.items, nextCursor: page.last ? encodeCursor([page.last]) : null };
    },
  );

  r.post(
    '/api/me/api-keys',
    { config: write, schema: { tags: ['me'], body: s.CreateApiKeyBody, response: { 201: s.CreatedApiKey } } },
    async (request, reply) => {
      const created = await accounts.createApiKey(sessionActor(request), request.body, meta(request));
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  r.delete(
    '/api/me/api-keys/:id',
    { config: write, schema: { tags: ['me'], params: s.IdParams } },
    async (request, reply) => {
      await accounts.revokeApiKey(sessionActor(request), request.params.id, meta(request));
      return reply.code(204).send();
    },
  );
}
