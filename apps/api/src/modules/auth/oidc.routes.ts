import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { jwtVerify, SignJWT } from 'jose';
import * as client from 'openid-client';
import { Type } from 'typebox';
import type { AppConfig } from '../../config/index.ts';
import { DomainError } from '../../http/errors.ts';
import { policy } from '../rate-limit/index.ts';
import { cookieSecure, meta, sessionDeliverer } from './auth.routes.ts';
import { type AccountsService, assertMaySignIn, type Role } from './auth.service.ts';
import type { ExternalIdentities } from './external.ts';
import type { MfaService } from './mfa.service.ts';
import { keyForKid, type SigningKeys } from './signing-keys.ts';

export const OIDC_COOKIE = 'gz_oidc';
/** The ID token of an OIDC log-in, for RP-initiated logout (path /api/auth: sent to log-out only). */
export const OIDC_LOGOUT_COOKIE = 'gz_oidc_logout';
const COOKIE_PATH = '/api/auth/oidc';
const STATE_AUDIENCE = 'genz-oidc-state';
const LOGOUT_AUDIENCE = 'genz-oidc-logout';

/** Role and plan for a person's IdP groups (config `oidc.groupMappings`); undefined fields leave the user as is. */
export function mapGroups(
  groups: readonly string[],
  mappings: AppConfig['oidc']['groupMappings'],
): { role?: Role; plan?: string } {
  const hits = mappings.filter((m) => groups.includes(m.group));
  const out: { role?: Role; plan?: string } = {};
  if (hits.some((m) => m.role === 'admin')) out.role = 'admin';
  else if (hits.some((m) => m.role === 'user')) out.role = 'user';
  const plan = hits.find((m) => m.plan)?.plan;
  if (plan) out.plan = plan;
  return out;
}

const notConfigured = () => new DomainError('not_found', 'OIDC log-in is not configured.');
const failed = (why: string, cause?: unknown) =>
  new DomainError('unauthenticated', `OIDC log-in failed: ${why}. Start again.`, { cause });

/** The provider's metadata, discovered once (a failure is retried at the next call). */
export type OidcDiscovery = () => Promise<client.Configuration>;

export function oidcDiscovery(oidc: AppConfig['oidc']): OidcDiscovery {
  let discovered: Promise<client.Configuration> | null = null;
  return function configuration() {
    const { issuerUrl, clientId } = oidc;
    if (!issuerUrl || !clientId) throw notConfigured();
    discovered ??= client
      .discovery(
        new URL(issuerUrl),
        clientId,
        oidc.clientSecret,
        undefined,
        oidc.allowInsecureHttp ? { execute: [client.allowInsecureRequests] } : undefined,
      )
      .catch((err: unknown) => {
        discovered = null;
        throw new DomainError('unavailable', 'The identity provider cannot be reached right now.', {
          cause: err,
          headers: { 'retry-after': '5' },
        });
      });
    return discovered;
  };
}

/** A short JWT signed with the auth keys for one audience (the state and log-out cookies). */
async function seal(keys: SigningKeys, issuer: string, audience: string, claims: Record<string, string>, ttl: number) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid: keys.current.kid })
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(keys.current.key);
}

async function unseal(keys: SigningKeys, issuer: string, audience: string, token: string) {
  const { payload } = await jwtVerify(token, keyForKid(keys), { issuer, audience, algorithms: ['HS256'] });
  return payload;
}

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): when this browser signed in by OIDC (the ID token
 * is in the `gz_oidc_logout` cookie, bound to the user it signed in) and the session being ended is that user's, the
 * provider's `end_session_endpoint` from discovery, with `id_token_hint`, `client_id` and
 * `oidc.postLogoutRedirectUri` when set. The binding is to the user, not the session id, because a log-in with a
 * second factor starts its session later (POST /api/auth/mfa/verify). Null when there is nothing to end at the
 * provider (another user, no cookie, no endpoint, switched off, provider unreachable: the local log-out stands either
 * way). Always clears the cookie.
 */
export function oidcProviderLogout(opts: { config: AppConfig; keys: SigningKeys; discovery: OidcDiscovery }) {
  const { config, keys, discovery } = opts;
  const secure = cookieSecure(config.server.publicUrl);
  return async function endSessionUrl(
    request: FastifyRequest,
    reply: FastifyReply,
    ended: { userId: string } | undefined,
  ): Promise<string | null> {
    const cookie = request.cookies[OIDC_LOGOUT_COOKIE];
    if (!cookie) return null;
    reply.clearCookie(OIDC_LOGOUT_COOKIE, { httpOnly: true, secure, sameSite: 'lax', path: '/api/auth' });
    if (!config.oidc.logoutAtProvider) return null;
    let idToken: string;
    try {
      const payload = await unseal(keys, config.auth.issuer, LOGOUT_AUDIENCE, cookie);
      if (typeof payload.idt !== 'string' || typeof payload.sub !== 'string') return null;
      if (ended !== undefined && payload.sub !== ended.userId) return null;
      idToken = payload.idt;
    } catch {
      return null;
    }
    try {
      const cfg = await discovery();
      if (!cfg.serverMetadata().end_session_endpoint) return null;
      const redirect = config.oidc.postLogoutRedirectUri;
      return client.buildEndSessionUrl(cfg, {
        id_token_hint: idToken,
        ...(redirect ? { post_logout_redirect_uri: redirect } : {}),
      }).href;
    } catch (err) {
      request.log.warn({ reason: (err as Error).message }, 'OIDC provider log-out skipped');
      return null;
    }
  };
}

/**
 * Generic OIDC log-in (docs/accounts.md "External identity: OIDC"): authorization code + PKCE with openid-client.
 * `start` keeps state, nonce and the PKCE verifier in a short-lived signed HttpOnly cookie and redirects to the
 * IdP; `callback` checks them, exchanges the code, maps the person to a local user (external_identities, created
 * on first sight subject to the sign-up mode, groups mapped to role and plan) and starts a session with cookies.
 */
export default async function oidcRoutes(
  app: FastifyInstance,
  opts: {
    config: AppConfig;
    accounts: AccountsService;
    external: ExternalIdentities;
    mfa: MfaService;
    keys: SigningKeys;
    discovery: OidcDiscovery;
  },
) {
  const { config, accounts, external, mfa, keys, discovery: configuration } = opts;
  const oidc = config.oidc;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const deliver = sessionDeliverer(config);
  const secure = cookieSecure(config.server.publicUrl);
  const publicUrl = config.server.publicUrl.replace(/\/$/, '');
  const redirectUri = `${publicUrl}/api/auth/oidc/callback`;
  const provider = `oidc:${oidc.name}`;
  const perIp = policy('auth_oidc_ip', config.limits.auth.loginPerIp);

  const cookieBase = { httpOnly: true, secure, sameSite: 'lax' as const, path: COOKIE_PATH };

  r.get('/api/auth/oidc/start', { config: { auth: 'public' }, schema: { tags: ['auth'] } }, async (request, reply) => {
    await app.rateLimit.enforce(`${perIp.name}:${request.ip}`, perIp);
    const cfg = await configuration();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const sealed = await seal(
      keys,
      config.auth.issuer,
      STATE_AUDIENCE,
      { st: state, no: nonce, cv: verifier },
      oidc.stateTtlSec,
    );
    const url = client.buildAuthorizationUrl(cfg, {
      redirect_uri: redirectUri,
      scope: oidc.scopes,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    reply.setCookie(OIDC_COOKIE, sealed, { ...cookieBase, maxAge: oidc.stateTtlSec });
    return reply.redirect(url.href, 302);
  });

  async function readState(request: FastifyRequest, reply: FastifyReply) {
    const cookie = request.cookies[OIDC_COOKIE];
    reply.clearCookie(OIDC_COOKIE, cookieBase);
    if (!cookie) throw failed('no log-in in progress in this browser');
    try {
      const { st, no, cv } = await unseal(keys, config.auth.issuer, STATE_AUDIENCE, cookie);
      if (typeof st !== 'string' || typeof no !== 'string' || typeof cv !== 'string') throw new Error('malformed');
      return { state: st, nonce: no, verifier: cv };
    } catch (err) {
      throw failed('the log-in expired or was tampered with', err);
    }
  }

  r.get(
    '/api/auth/oidc/callback',
    {
      config: { auth: 'public' },
      schema: { tags: ['auth'], querystring: Type.Record(Type.String(), Type.String()) },
    },
    async (request, reply) => {
      await app.rateLimit.enforce(`${perIp.name}:${request.ip}`, perIp);
      const cfg = await configuration();
      const saved = await readState(request, reply);
      const query = request.url.slice(request.url.indexOf('?'));
      let claims: Record<string, unknown>;
      let idToken: string | undefined;
      try {
        const tokens = await client.authorizationCodeGrant(cfg, new URL(`${redirectUri}${query}`), {
          pkceCodeVerifier: saved.verifier,
          expectedState: saved.state,
          expectedNonce: saved.nonce,
          idTokenExpected: true,
        });
        const idClaims = tokens.claims();
        if (!idClaims) throw new Error('no ID token');
        idToken = tokens.id_token;
        claims = { ...idClaims };
        if (cfg.serverMetadata().userinfo_endpoint) {
          const info = await client.fetchUserInfo(cfg, tokens.access_token, idClaims.sub);
          claims = { ...info, ...idClaims };
        }
      } catch (err) {
        request.log.warn({ reason: (err as Error).message }, 'OIDC code exchange refused');
        throw failed('the identity provider did not confirm it', err);
      }
      const rawGroups = claims[oidc.groupsClaim];
      const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string') : [];
      const mapped = mapGroups(groups, oidc.groupMappings);
      const user = await external.resolve(
        {
          provider,
          subject: String(claims.sub),
          email: typeof claims.email === 'string' ? claims.email : undefined,
          emailVerified: claims.email_verified === true,
          ...mapped,
          claims: { iss: claims.iss, email: claims.email, groups },
        },
        request.ip,
      );
      assertMaySignIn(user);
      if (idToken && oidc.logoutAtProvider) {
        // Kept for RP-initiated logout (oidcProviderLogout), bound to this user; lives as long as a session.
        const ttl = config.auth.refreshTokenTtlSec;
        const sealed = await seal(keys, config.auth.issuer, LOGOUT_AUDIENCE, { sub: user.id, idt: idToken }, ttl);
        reply.setCookie(OIDC_LOGOUT_COOKIE, sealed, { ...cookieBase, path: '/api/auth', maxAge: ttl });
      }
      // A second factor set up here still applies: the web app finishes the log-in with the challenge.
      const pending = await mfa.gate(user);
      if (pending) {
        const q = new URLSearchParams({
          status: pending.pending,
          challenge: pending.challenge,
          methods: pending.methods.join(','),
        });
        return reply.redirect(`${publicUrl}/login#${q.toString()}`, 302);
      }
      const issued = await accounts.logIn(user.id, meta(request), { via: provider, groups });
      deliver(reply, issued, 'cookie');
      return reply.redirect(`${publicUrl}/`, 302);
    },
  );
}
