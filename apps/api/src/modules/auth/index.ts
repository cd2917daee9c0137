import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { AppConfig } from '../../config/index.ts';
import type { Actor } from '../../http/actor.ts';
import type { Authenticator } from '../../http/auth.ts';
import { DomainError } from '../../http/errors.ts';
import adminRoutes from './admin.routes.ts';
import authRoutes from './auth.routes.ts';
import {
  type AccountsService,
  type AuthUser,
  createAccountsService,
  roleScopes,
  type UserDeleteHook,
} from './auth.service.ts';
import { createExternalIdentities, createSupabaseVerifier, ExternalTokenError, isForeignJwt } from './external.ts';
import { createMailer, type Mailer } from './mailer.ts';
import mfaRoutes from './mfa.routes.ts';
import { createMfaService, type MfaService } from './mfa.service.ts';
import oidcRoutes, { oidcDiscovery, oidcProviderLogout } from './oidc.routes.ts';
import passkeyRoutes from './passkeys.routes.ts';
import { createPasskeys } from './passkeys.service.ts';
import { createPasswordHasher } from './password.ts';
import { createRevocationList } from './revocation.ts';
import { AccessTokenError, createAccessTokens, loadSigningKeys } from './signing-keys.ts';
import { sha256 } from './tokens.ts';

export { type AccountsService, roleScopes } from './auth.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Account verbs (users, sessions, keys) for other modules and test helpers. */
    accounts: AccountsService;
    mailer: Mailer;
    /** Second factor (TOTP, recovery codes, the log-in challenge). */
    mfa: MfaService;
    /** Register a purge of a module's per-user data; it runs inside the user-deletion transaction. */
    onUserDelete(hook: UserDeleteHook): void;
  }
}

/** A database or cache failure while checking a credential is an outage (503), never a 500 or a silent pass. */
async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof DomainError) throw err;
    throw new DomainError('unavailable', 'Cannot check credentials right now; try again shortly.', {
      cause: err,
      headers: { 'retry-after': '2' },
    });
  }
}

/** A verified access token, or 401: `token_expired` when it only expired (the client refreshes), else `unauthenticated`. */
async function verifiedToken<T>(verify: () => Promise<T>, expired: (err: unknown) => boolean): Promise<T> {
  try {
    return await verify();
  } catch (err) {
    if (expired(err)) throw new DomainError('token_expired', 'The access token has expired; refresh it.');
    throw new DomainError('unauthenticated', 'The access token is not valid.');
  }
}

/** A signed-in person (a session of ours, or a Supabase access token): every scope the role allows. */
function sessionActor(user: AuthUser, sessionId?: string): Actor {
  return {
    userId: user.id,
    role: user.role,
    plan: user.plan,
    scopes: roleScopes(user.role),
    via: 'session',
    ...(sessionId === undefined ? {} : { sessionId }),
    account: user,
  };
}

/**
 * Accounts (ARCHITECTURE.md §3 `auth`): users, sessions, API keys, roles, plans and who may join. Installs the
 * credential checks behind the auth hook (src/http/auth.ts), the /api/auth, /api/me and /api/admin routes, and on a
 * fresh install logs the one-time setup link for the first admin.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    const { config } = opts;
    const keys = loadSigningKeys({
      secrets: config.auth.secrets,
      dataDir: config.dataDir,
      databaseUrl: config.database.url,
    });
    app.log.info(
      { kid: keys.current.kid, verifyingKids: [...keys.byKid.keys()], source: keys.source },
      'auth signing keys loaded',
    );
    const tokens = createAccessTokens(keys, {
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      ttlSec: config.auth.accessTokenTtlSec,
      verifiedCacheSize: config.auth.verifiedTokenCacheSize,
    });
    const mailer = createMailer({
      url: config.mail.url,
      from: config.mail.from,
      outboxSize: config.mail.outboxSize,
      log: app.log,
    });
    const revocation = createRevocationList({
      db: app.db.db,
      redis: app.redis,
      ttlMs: config.auth.accessTokenTtlSec * 1000,
      pollMs: config.auth.revocationPollMs,
      failMode: config.auth.revocationFailMode,
      log: app.log,
    });
    const userDeleteHooks: UserDeleteHook[] = [];
    const hasher = createPasswordHasher({
      memoryCost: config.auth.argon2MemoryKiB,
      timeCost: config.auth.argon2TimeCost,
      parallelism: config.auth.argon2Parallelism,
    });
    const passkeys = createPasskeys({ db: app.db, config, keys, cache: app.cache });
    const mfa = createMfaService({
      db: app.db,
      config,
      keys,
      hasher,
      rateLimit: app.rateLimit,
      passkeys,
      log: app.log,
      // accounts is made below (its log-in gate is this service); this runs only at request time.
      revokeSessions: (tx, userId) => accounts.revokeAllSessions(tx, userId),
    });
    if (!mfa.encrypted) app.log.info('ENCRYPTION_KEY is not set: TOTP seeds are stored unencrypted');
    const accounts = createAccountsService({
      db: app.db,
      config,
      cache: app.cache,
      mailer,
      revocation,
      tokens,
      hasher,
      log: app.log,
      userDeleteHooks,
      loginGate: (user) => mfa.gate(user),
    });

    const external = createExternalIdentities({
      db: app.db,
      config,
      signupSettings: () => accounts.signupSettings(),
      evictUser: (id) => accounts.evictUser(id),
    });
    const supabase = createSupabaseVerifier(config.supabase);
    if (supabase) app.log.info({ jwks: Boolean(config.supabase.jwksUrl) }, 'Supabase access tokens are accepted');

    /** A Supabase access token: verified, mapped to its local user (created on first sight), then like a session. */
    async function fromSupabase(verifier: NonNullable<typeof supabase>, token: string): Promise<Actor> {
      const profile = await verifiedToken(
        () => verifier.verify(token),
        (err) => err instanceof ExternalTokenError && err.reason === 'expired',
      );
      return guard(async () => {
        // The (issuer, sub) -> user mapping is cached briefly; a miss links or creates (errors stay DomainErrors).
        const key = `auth:ext:supabase:${profile.subject}`;
        let userId = (await app.cache.get<{ id: string }>({ key }))?.id;
        if (!userId) {
          userId = (await external.resolve(profile)).id;
          await app.cache.set({ key, value: { id: userId }, ttl: Math.max(config.auth.userCacheTtlMs, 1000) });
        }
        const user = await accounts.activeUser(userId);
        if (mfa.requiredFor(user.role) && profile.aal !== 'aal2') {
          throw new DomainError('unauthenticated', 'Your role requires a second factor: sign in to Supabase with MFA.');
        }
        accounts.touchUser(user.id);
        return sessionActor(user);
      });
    }

    const authenticator: Authenticator = {
      async fromAccessToken(token) {
        if (supabase && isForeignJwt(token, config.auth.issuer)) return fromSupabase(supabase, token);
        const claims = await verifiedToken(
          () => tokens.verify(token),
          (err) => err instanceof AccessTokenError && err.reason === 'expired',
        );
        return guard(async () => {
          const state = await revocation.check(claims.sessionId);
          if (state === 'revoked') throw new DomainError('unauthenticated', 'This session has been signed out.');
          if (state === 'unknown') {
            throw new DomainError('unavailable', 'Cannot check the session right now.', {
              headers: { 'retry-after': '2' },
            });
          }
          const user = await accounts.activeUser(claims.userId);
          accounts.touchUser(user.id);
          return sessionActor(user, claims.sessionId);
        });
      },
      async fromApiKey(key) {
        return guard(async () => {
          const found = await accounts.apiKeyByHash(sha256(key));
          if (!found || found.revoked) throw new DomainError('unauthenticated', 'The API key is not valid.');
          if (found.expiresAt !== null && found.expiresAt <= Date.now()) {
            throw new DomainError('token_expired', 'The API key has expired.');
          }
          const user = await accounts.activeUser(found.userId);
          const allowed = roleScopes(user.role);
          accounts.touchApiKey(found.id, user.id);
          return {
            userId: user.id,
            role: user.role,
            plan: user.plan,
            scopes: found.scopes.filter((sc) => allowed.includes(sc)),
            via: 'api_key',
            apiKeyId: found.id,
            account: user,
          } satisfies Actor;
        });
      },
    };
    app.setAuthenticator(authenticator);
    app.decorate('accounts', accounts);
    app.decorate('mailer', mailer);
    app.decorate('mfa', mfa);
    app.decorate('onUserDelete', (hook: UserDeleteHook) => {
      userDeleteHooks.push(hook);
    });

    const discovery = oidcDiscovery(config.oidc);
    await app.register(authRoutes, {
      config,
      accounts,
      providerLogout: oidcProviderLogout({ config, keys, discovery }),
    });
    await app.register(adminRoutes, { accounts, mailer, mfa });
    await app.register(mfaRoutes, { config, accounts, mfa, passkeys });
    await app.register(oidcRoutes, { config, accounts, external, mfa, keys, discovery });
    await app.register(passkeyRoutes, { config, accounts, mfa, passkeys });

    app.addHook('onReady', async () => {
      // Not awaited: boot never waits for the database (infra/db.ts); the link appears once it is reachable.
      void app.dbReadyPromise
        .then(async () => {
          await revocation.poll();
          const url = await accounts.ensureSetupLink();
          if (url) {
            app.log.warn(
              { setupUrl: url },
              'No users yet. Open this one-time link to create the first admin (sign-up stays closed until then).',
            );
          }
        })
        .catch((err: Error) => app.log.error({ reason: err.message }, 'could not prepare the first-admin setup link'));
    });
    // Hourly housekeeping on every replica (deletes are idempotent, so no leader is needed).
    const housekeeping = setInterval(() => {
      if (!app.dbReady()) return;
      accounts
        .purgeExpired()
        .then((n) => n.sessions + n.tokens > 0 && app.log.info(n, 'expired sessions and tokens purged'))
        .catch((err: Error) => app.log.warn({ reason: err.message }, 'purging expired sessions failed'));
    }, 3_600_000);
    housekeeping.unref();
    app.addHook('onClose', async () => {
      clearInterval(housekeeping);
      revocation.close();
      accounts.close();
      await accounts.flushTouches();
      await mailer.idle();
      mailer.close();
    });
  },
  { name: 'auth', dependencies: ['auth-hook', 'db', 'redis', 'cache', 'rate-limit'] },
);
