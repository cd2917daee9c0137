import { type ApiKeyScope, apiKeyScopes } from '@genz/contracts';
import { type Db, type DbHandle, uuidv7, uuidv7Time, writeAuditEvent } from '@genz/db';
import type { ApiKeyRow, UserRow } from '@genz/db/schema';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import type { Actor, ActorAccount } from '../../http/actor.ts';
import { DomainError, notFound } from '../../http/errors.ts';
import * as repo from './auth.repository.ts';
import { emailDomain, normalizeEmail } from './email.ts';
import type { Mailer } from './mailer.ts';
import type { LoginPending } from './mfa.service.ts';
import { assertPasswordPolicy, type PasswordHasher } from './password.ts';
import type { RevocationList } from './revocation.ts';
import type { AccessTokens } from './signing-keys.ts';
import { newApiKey, randomToken, sha256 } from './tokens.ts';

export type Role = UserRow['role'];
export type UserStatus = UserRow['status'];
export type SignupMode = AppConfig['signup']['mode'];

/** What a browser session may do: every scope its role allows (API keys carry a subset). */
export function roleScopes(role: Role): readonly ApiKeyScope[] {
  return role === 'admin' ? apiKeyScopes : apiKeyScopes.filter((s) => s !== 'admin');
}

/**
 * The account's state once its credential is proven (password, OIDC): a disabled or unapproved account is told so.
 * Only someone who proved who they are learns it.
 */
export function assertMaySignIn(user: { status: UserStatus }): void {
  if (user.status === 'disabled') throw new DomainError('account_disabled', 'This account is disabled.');
  if (user.status === 'pending_approval') {
    throw new DomainError('account_pending', 'An administrator has not approved this account yet.');
  }
}

/**
 * The user as the auth hook reads it on every request (cached briefly, evicted on change): what it checks (role,
 * plan, status) and what `GET /api/me` answers, so the request reads the row once. Never the password hash.
 */
export interface AuthUser extends ActorAccount {
  id: string;
  role: Role;
  plan: string;
}

export const authUserOf = (u: UserRow): AuthUser => ({
  id: u.id,
  email: u.email,
  role: u.role,
  plan: u.plan,
  status: u.status,
  emailVerifiedAt: u.emailVerifiedAt?.toISOString() ?? null,
  createdAt: u.createdAt.toISOString(),
  lastActiveAt: u.lastActiveAt?.toISOString() ?? null,
});

export interface RequestMeta {
  ip: string;
  userAgent?: string | undefined;
}

export interface IssuedSession {
  userId: string;
  sessionId: string;
  accessToken: string;
  accessTokenExpiresAt: number;
  refreshToken: string;
  refreshTokenExpiresAt: number;
}

export interface SignupSettings {
  mode: SignupMode;
  allowedDomains: string[];
}

export type UserDeleteHook = (tx: Db, userId: string) => Promise<void>;

export interface AccountsContext {
  db: DbHandle;
  config: AppConfig;
  cache: FastifyInstance['cache'];
  mailer: Mailer;
  revocation: RevocationList;
  tokens: AccessTokens;
  hasher: PasswordHasher;
  log: FastifyBaseLogger;
  /** Modules owning per-user data without a foreign key register a purge here (run in the delete transaction). */
  userDeleteHooks: UserDeleteHook[];
  /** Second step after the password (mfa.service.ts): null lets the session start, else log-in answers it. */
  loginGate?: (user: UserRow) => Promise<LoginPending | null>;
}

const SIGNUP_SETTING = 'signup';
const cacheKey = {
  // v2: the entry also holds the profile (AuthUser); v1 entries (role, plan, status only) are never read.
  user: (id: string) => `auth:user:v2:${id}`,
  apiKey: (hash: string) => `auth:apikey:${hash}`,
  signup: 'auth:signup-settings',
};

interface CachedApiKey {
  id: string;
  userId: string;
  scopes: ApiKeyScope[];
  expiresAt: number | null;
  revoked: boolean;
}

export const publicAccount = (u: AuthUser) => ({
  id: u.id,
  email: u.email,
  role: u.role,
  plan: u.plan,
  status: u.status,
  emailVerified: u.emailVerifiedAt !== null,
  createdAt: u.createdAt,
  lastActiveAt: u.lastActiveAt,
});

export const publicUser = (u: UserRow) => publicAccount(authUserOf(u));

export const publicApiKey = (k: ApiKeyRow) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  scopes: k.scopes as ApiKeyScope[],
  createdAt: k.createdAt.toISOString(),
  expiresAt: k.expiresAt?.toISOString() ?? null,
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
});

const invalidCredentials = () => new DomainError('invalid_credentials', 'Email or password is incorrect.');
const invalidToken = () =>
  new DomainError('invalid_token', 'This link is invalid, was already used or has expired. Ask for a new one.');

/**
 * Account verbs (sign-up, log-in, sessions, keys, admin). They take plain input and the request's ip/user agent,
 * know nothing of HTTP, and write an audit event in the same transaction as the change it records.
 */
export function createAccountsService(ctx: AccountsContext) {
  const { db: handle, config, cache, mailer, revocation, tokens, hasher, log } = ctx;
  const db = handle.db;
  const link = (path: string, token: string) => `${config.server.publicUrl.replace(/\/$/, '')}${path}?token=${token}`;
  const seconds = (s: number) => new Date(Date.now() + s * 1000);
  let setupDone = false;

  // ---------- cached reads for the auth hook ----------

  async function loadAuthUser(id: string): Promise<AuthUser | null> {
    const row = await repo.findUserById(handle.db, id);
    return row ? authUserOf(row) : null;
  }

  // The two reads behind every authenticated request also stay in process as objects, so a hit skips the shared
  // cache (its lookup and the copy it deserialises). Any delete or write of the key, here or on another replica
  // (the cache's bus), drops it at once; failing that an entry lapses after revocationPollMs, the bound a revoked
  // session already has.
  const hot = new Map<string, { value: unknown; until: number }>();
  const hotMs = (ttl: number) => Math.min(ttl, config.auth.revocationPollMs);
  function hotGet<T>(key: string): T | undefined {
    const entry = hot.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > Date.now()) return entry.value as T;
    hot.delete(key);
    return undefined;
  }
  function hotSet(key: string, value: unknown, ttl: number) {
    if (hot.size >= config.cache.memoEntries) hot.delete(hot.keys().next().value as string);
    hot.set(key, { value, until: Date.now() + hotMs(ttl) });
  }
  const dropHot = ({ key }: { key: string }) => hot.delete(key);
  const clearHot = () => hot.clear();
  const onBus = ({ message }: { message: { keys: string[]; type: string } }) => {
    if (message.type === 'clear') hot.clear();
    else for (const key of message.keys) hot.delete(key);
  };
  cache.on('cache:deleted', dropHot).on('cache:written', dropHot).on('cache:cleared', clearHot);
  cache.on('bus:message:received', onBus);

  async function authUser(id: string): Promise<AuthUser | null> {
    const ttl = config.auth.userCacheTtlMs;
    if (ttl === 0) return loadAuthUser(id);
    const key = cacheKey.user(id);
    const known = hotGet<AuthUser | null>(key);
    if (known !== undefined) return known;
    const boxed = await cache.getOrSet({
      key,
      ttl,
      factory: async () => ({ u: await loadAuthUser(id) }),
    });
    if (boxed.u) hotSet(key, boxed.u, ttl);
    return boxed.u;
  }

  async function evictUser(id: string) {
    await cache.delete({ key: cacheKey.user(id) });
  }

  async function apiKeyByHash(hash: string): Promise<CachedApiKey | null> {
    const load = async (): Promise<CachedApiKey | null> => {
      const row = await repo.findApiKeyByHash(db, hash);
      return row
        ? {
            id: row.id,
            userId: row.userId,
            scopes: row.scopes as ApiKeyScope[],
            expiresAt: row.expiresAt?.getTime() ?? null,
            revoked: row.revokedAt !== null,
          }
        : null;
    };
    const ttl = config.auth.apiKeyCacheTtlMs;
    if (ttl === 0) return load();
    // Misses are not cached: random guesses must not fill the cache.
    const key = cacheKey.apiKey(hash);
    const known = hotGet<CachedApiKey>(key);
    if (known !== undefined) return known;
    const hit = await cache.get<CachedApiKey>({ key });
    if (hit) {
      hotSet(key, hit, ttl);
      return hit;
    }
    const found = await load();
    if (found) {
      await cache.set({ key, value: found, ttl });
      hotSet(key, found, ttl);
    }
    return found;
  }

  // ---------- batched last-used / last-active ----------

  const keyTouches = new Map<string, { id: string; userId: string; at: Date }>();
  const userTouches = new Map<string, { id: string; at: Date }>();
  async function flushTouches() {
    const keys = [...keyTouches.values()];
    const people = [...userTouches.values()];
    keyTouches.clear();
    userTouches.clear();
    try {
      for (let i = 0; i < keys.length; i += 500) await repo.touchApiKeys(db, keys.slice(i, i + 500));
      for (let i = 0; i < people.length; i += 500) await repo.touchUsers(db, people.slice(i, i + 500));
    } catch (err) {
      log.warn({ reason: (err as Error).message }, 'could not record last-used times; skipped this batch');
    }
  }
  const touchTimer = setInterval(() => void flushTouches(), config.auth.touchFlushMs);
  touchTimer.unref();

  // ---------- sessions ----------

  async function startSession(tx: Db, userId: string, meta: RequestMeta, familyId = uuidv7(), parentId?: string) {
    const refreshToken = randomToken();
    const expires = seconds(config.auth.refreshTokenTtlSec);
    await repo.insertSession(tx, {
      id: uuidv7(),
      userId,
      familyId,
      tokenHash: sha256(refreshToken),
      parentId: parentId ?? null,
      expiresAt: expires,
      userAgent: meta.userAgent?.slice(0, 512) ?? null,
      ip: meta.ip,
      lastUsedAt: new Date(),
    });
    const access = await tokens.sign({ userId, sessionId: familyId });
    return {
      userId,
      sessionId: familyId,
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      refreshTokenExpiresAt: expires.getTime(),
    } satisfies IssuedSession;
  }

  /**
   * Logs a user in, whatever proved who they are (password, second factor, passkey, OIDC): starts a session and
   * records `auth.login` (with how, in `data`) in the same transaction.
   */
  function logIn(userId: string, meta: RequestMeta, data?: Record<string, unknown>): Promise<IssuedSession> {
    return db.transaction(async (tx) => {
      const issued = await startSession(tx, userId, meta);
      await writeAuditEvent(tx, {
        event: 'auth.login',
        actorUserId: userId,
        targetType: 'session',
        targetId: issued.sessionId,
        ip: meta.ip,
        userAgent: meta.userAgent ?? null,
        data,
      });
      return issued;
    });
  }

  /** The user behind a credential that was just checked, if still allowed in; else 401 (the state is not told). */
  async function activeUser(id: string): Promise<AuthUser> {
    const user = await authUser(id);
    if (user?.status !== 'active') throw new DomainError('unauthenticated', 'This account cannot sign in.');
    return user;
  }

  async function revokeUserSessions(tx: Db, userId: string, which: { only?: readonly string[]; except?: string } = {}) {
    const families = await repo.revokeFamilies(tx, userId, new Date(), which);
    if (families.length > 0) await revocation.revoke(families);
    return families;
  }

  // ---------- sign-up settings ----------

  async function signupSettings(): Promise<SignupSettings> {
    const fromConfig = { mode: config.signup.mode, allowedDomains: [...config.signup.allowedDomains] };
    const stored = await cache.getOrSet({
      key: cacheKey.signup,
      ttl: 30_000,
      factory: async () => ({ v: (await repo.getSetting(db, SIGNUP_SETTING)) ?? null }),
    });
    const v = stored.v as Partial<SignupSettings> | null;
    return v ? { ...fromConfig, ...v } : fromConfig;
  }

  function mail(to: string, subject: string, text: string) {
    mailer.send({ to, subject, text });
  }

  async function isSetupDone(): Promise<boolean> {
    if (!setupDone) setupDone = await repo.anyUserExists(db);
    return setupDone;
  }

  const service = {
    /** Ends every session of a user inside `tx` (on every replica once it commits); the family ids. */
    revokeAllSessions: (tx: Db, userId: string) => revokeUserSessions(tx, userId),
    authUser,
    activeUser,
    logIn,
    apiKeyByHash,
    evictUser,
    signupSettings,
    isSetupDone,
    flushTouches,
    close() {
      clearInterval(touchTimer);
      cache.off('cache:deleted', dropHot).off('cache:written', dropHot).off('cache:cleared', clearHot);
      cache.off('bus:message:received', onBus);
    },

    /** Housekeeping: drops expired refresh tokens and old one-time tokens (index-backed, batched). */
    async purgeExpired(now = new Date()) {
      let total = { sessions: 0, tokens: 0 };
      for (let i = 0; i < 20; i++) {
        const done = await repo.purgeExpired(db, now);
        total = { sessions: total.sessions + done.sessions, tokens: total.tokens + done.tokens };
        if (done.sessions < 5000 && done.tokens < 5000) break;
      }
      return total;
    },

    touchApiKey(id: string, userId: string) {
      keyTouches.set(id, { id, userId, at: new Date() });
      userTouches.set(userId, { id: userId, at: new Date() });
    },
    touchUser(userId: string) {
      userTouches.set(userId, { id: userId, at: new Date() });
    },

    /** Logs a setup link when there is no user yet (each start makes a new one; all die once an admin exists). */
    async ensureSetupLink(): Promise<string | null> {
      if (await isSetupDone()) return null;
      const token = randomToken();
      await repo.insertOneTimeToken(db, {
        id: uuidv7(),
        purpose: 'setup',
        tokenHash: sha256(token),
        expiresAt: seconds(config.auth.setupTokenTtlSec),
      });
      return link('/setup', token);
    },

    async setup(input: { token: string; email: string; password: string }, meta: RequestMeta) {
      const email = normalizeEmail(input.email);
      assertPasswordPolicy(input.password, email);
      const passwordHash = await hasher.hash(input.password);
      const user = await db.transaction(async (tx) => {
        // Serialises concurrent setups: only the first one finds the table empty.
        await tx.execute(repo.lockUsersSql);
        if (await repo.anyUserExists(tx)) throw invalidToken();
        const used = await repo.consumeOneTimeToken(tx, sha256(input.token), 'setup', new Date());
        if (!used) throw invalidToken();
        await repo.expireOneTimeTokens(tx, 'setup', new Date());
        const created = await repo.insertUser(tx, {
          id: uuidv7(),
          email,
          passwordHash,
          role: 'admin',
          plan: config.signup.defaultPlan,
          status: 'active',
        });
        await writeAuditEvent(tx, {
          event: 'user.setup_admin',
          actorUserId: created.id,
          targetType: 'user',
          targetId: created.id,
          ip: meta.ip,
          userAgent: meta.userAgent ?? null,
        });
        return created;
      });
      setupDone = true;
      return publicUser(user);
    },

    /**
     * Same answer whether or not the address has an account (202 and a mail either way); the password is hashed in
     * both cases so timing does not tell either.
     */
    async signup(input: { email: string; password: string; inviteToken?: string | undefined }, meta: RequestMeta) {
      const email = normalizeEmail(input.email);
      assertPasswordPolicy(input.password, email);
      if (!(await isSetupDone())) {
        throw new DomainError(
          'signup_closed',
          'This instance is not set up yet: its operator must open the setup link first.',
        );
      }
      const settings = await signupSettings();
      const invite = input.inviteToken
        ? await repo.findOneTimeToken(db, sha256(input.inviteToken), 'invite', new Date())
        : undefined;
      if (input.inviteToken && !invite) throw invalidToken();
      if (invite?.email && invite.email !== email) {
        throw new DomainError('signup_closed', 'This invitation is for another email address.');
      }
      if (!invite) {
        if (settings.mode === 'invite') throw new DomainError('signup_closed', 'Sign-up is by invitation only.');
        if (settings.mode === 'domain' && !settings.allowedDomains.includes(emailDomain(email))) {
          throw new DomainError('signup_closed', 'Sign-up is open to addresses of approved domains only.');
        }
      }
      const passwordHash = await hasher.hash(input.password);
      const terms = (invite?.data ?? {}) as { role?: Role; plan?: string };
      const status: UserStatus = settings.mode === 'approval' && !invite ? 'pending_approval' : 'active';
      const created = await db.transaction(async (tx) => {
        const user = await repo.insertUserIfNew(tx, {
          id: uuidv7(),
          email,
          passwordHash,
          role: terms.role ?? 'user',
          plan: terms.plan && Object.hasOwn(config.plans, terms.plan) ? terms.plan : config.signup.defaultPlan,
          status,
        });
        if (!user) return undefined;
        if (invite && !(await repo.consumeOneTimeToken(tx, invite.tokenHash, 'invite', new Date())))
          throw invalidToken();
        await writeAuditEvent(tx, {
          event: 'user.signup',
          actorUserId: user.id,
          targetType: 'user',
          targetId: user.id,
          ip: meta.ip,
          userAgent: meta.userAgent ?? null,
          data: { mode: settings.mode, invited: invite !== undefined, status },
        });
        return user;
      });
      if (created) {
        await service.sendVerification(created);
      } else {
        mail(
          email,
          'Someone tried to sign up with your address',
          'Someone (perhaps you) tried to create a GenZ AI account with this address, which already has one.\n' +
            `If you forgot your password, reset it at ${config.server.publicUrl.replace(/\/$/, '')}/reset-password.\n` +
            'Otherwise you can ignore this message.',
        );
      }
      return {
        status: 'accepted' as const,
        message: 'Check your email to confirm the address. You can sign in with your password now.',
      };
    },

    async sendVerification(user: UserRow) {
      if (user.emailVerifiedAt) return;
      const token = randomToken();
      await repo.insertOneTimeToken(db, {
        id: uuidv7(),
        purpose: 'verify_email',
        userId: user.id,
        email: user.email,
        tokenHash: sha256(token),
        expiresAt: seconds(config.auth.verifyEmailTtlSec),
      });
      mail(
        user.email,
        'Confirm your email address',
        `Open this link to confirm your address (valid ${Math.round(config.auth.verifyEmailTtlSec / 3600)} h):\n${link('/verify-email', token)}\n`,
      );
    },

    async resendVerification(actor: Actor) {
      if (actor.account?.emailVerifiedAt) return;
      const user = await repo.findUserById(db, actor.userId);
      if (user && !user.emailVerifiedAt) await service.sendVerification(user);
    },

    async verifyEmail(token: string, meta: RequestMeta) {
      const userId = await db.transaction(async (tx) => {
        const used = await repo.consumeOneTimeToken(tx, sha256(token), 'verify_email', new Date());
        if (!used?.userId) throw invalidToken();
        const user = await repo.findUserById(tx, used.userId);
        // A link mailed to an old address does not verify a changed one.
        if (!user || user.email !== used.email) throw invalidToken();
        await repo.updateUser(tx, user.id, { emailVerifiedAt: new Date() });
        await writeAuditEvent(tx, {
          event: 'user.email_verified',
          actorUserId: user.id,
          targetType: 'user',
          targetId: user.id,
          ip: meta.ip,
        });
        return user.id;
      });
      await evictUser(userId);
      return { verified: true as const };
    },

    async login(input: { email: string; password: string }, meta: RequestMeta): Promise<IssuedSession | LoginPending> {
      const email = normalizeEmail(input.email);
      const user = await repo.findUserByEmail(db, email);
      const ok = await hasher.verify(user?.passwordHash ?? null, input.password);
      if (!user || !ok) {
        await writeAuditEvent(db, {
          event: 'auth.login_failed',
          actorUserId: user?.id ?? null,
          targetType: 'user',
          targetId: user?.id ?? null,
          ip: meta.ip,
          userAgent: meta.userAgent ?? null,
          data: { reason: user ? 'bad_password' : 'unknown_email' },
        });
        throw invalidCredentials();
      }
      // Only someone who knows the password learns the account's state.
      assertMaySignIn(user);
      if (user.passwordHash && hasher.needsRehash(user.passwordHash)) {
        await repo.updateUser(db, user.id, { passwordHash: await hasher.hash(input.password) });
      }
      const pending = await ctx.loginGate?.(user);
      if (pending) return pending;
      return logIn(user.id, meta);
    },

    /** Rotates a refresh token. A rotated token seen again means it was copied: the whole family is revoked. */
    async refresh(refreshToken: string, meta: RequestMeta): Promise<IssuedSession> {
      const now = new Date();
      const row = await repo.findSessionByHash(db, sha256(refreshToken));
      if (!row || row.revokedAt) throw new DomainError('unauthenticated', 'The session has ended; sign in again.');
      if (row.expiresAt <= now) throw new DomainError('token_expired', 'The session has expired; sign in again.');
      const reuse = async () => {
        await db.transaction(async (tx) => {
          await revokeUserSessions(tx, row.userId, { only: [row.familyId] });
          await writeAuditEvent(tx, {
            event: 'auth.refresh_reused',
            actorUserId: row.userId,
            targetType: 'session',
            targetId: row.familyId,
            ip: meta.ip,
            userAgent: meta.userAgent ?? null,
          });
        });
        return new DomainError('unauthenticated', 'This session was ended because its refresh token was used twice.');
      };
      if (row.rotatedAt) throw await reuse();
      const user = await authUser(row.userId);
      if (user?.status !== 'active') throw new DomainError('unauthenticated', 'The session has ended; sign in again.');
      const issued = await db.transaction(async (tx) => {
        if (!(await repo.markRotated(tx, row.userId, row.id, now))) return null;
        return startSession(tx, row.userId, meta, row.familyId, row.id);
      });
      if (!issued) throw await reuse();
      return issued;
    },

    /** Ends the session of the refresh token (or the caller's); answers whose and which, if there was one. */
    async logout(input: { refreshToken?: string | undefined; actor: Actor | null }, meta: RequestMeta) {
      let userId: string | undefined;
      let familyId: string | undefined;
      if (input.refreshToken) {
        const row = await repo.findSessionByHash(db, sha256(input.refreshToken));
        if (row) ({ userId, familyId } = row);
      }
      if (!familyId && input.actor?.sessionId) {
        userId = input.actor.userId;
        familyId = input.actor.sessionId;
      }
      if (!userId || !familyId) return undefined;
      const uid = userId;
      const fid = familyId;
      await db.transaction(async (tx) => {
        await revokeUserSessions(tx, uid, { only: [fid] });
        await writeAuditEvent(tx, {
          event: 'auth.logout',
          actorUserId: uid,
          targetType: 'session',
          targetId: fid,
          ip: meta.ip,
        });
      });
      return { userId: uid, sessionId: fid };
    },

    async requestPasswordReset(rawEmail: string) {
      const email = normalizeEmail(rawEmail);
      const user = await repo.findUserByEmail(db, email);
      // The answer is sent before any work that only happens for real accounts.
      if (user && user.status !== 'disabled') {
        setImmediate(() => {
          const token = randomToken();
          repo
            .insertOneTimeToken(db, {
              id: uuidv7(),
              purpose: 'password_reset',
              userId: user.id,
              email: user.email,
              tokenHash: sha256(token),
              expiresAt: seconds(config.auth.passwordResetTtlSec),
            })
            .then(() =>
              mail(
                user.email,
                'Reset your password',
                `Open this link to choose a new password (valid ${Math.round(config.auth.passwordResetTtlSec / 60)} min):\n` +
                  `${link('/reset-password', token)}\nIf you did not ask for this, ignore this message.\n`,
              ),
            )
            .catch((err: Error) => log.warn({ reason: err.message }, 'could not create a password reset link'));
        });
      }
      return { status: 'accepted' as const, message: 'If an account uses this address, a reset link is on its way.' };
    },

    async confirmPasswordReset(input: { token: string; newPassword: string }, meta: RequestMeta) {
      const now = new Date();
      const pending = await repo.findOneTimeToken(db, sha256(input.token), 'password_reset', now);
      if (!pending?.userId) throw invalidToken();
      const user = await repo.findUserById(db, pending.userId);
      if (!user) throw invalidToken();
      assertPasswordPolicy(input.newPassword, user.email, 'newPassword');
      const passwordHash = await hasher.hash(input.newPassword);
      await db.transaction(async (tx) => {
        if (!(await repo.consumeOneTimeToken(tx, pending.tokenHash, 'password_reset', now))) throw invalidToken();
        await repo.expireOneTimeTokens(tx, 'password_reset', now, user.id);
        // The mailbox answered: that also verifies the address.
        await repo.updateUser(tx, user.id, {
          passwordHash,
          ...(user.email === pending.email && !user.emailVerifiedAt ? { emailVerifiedAt: now } : {}),
        });
        const revoked = await revokeUserSessions(tx, user.id);
        await writeAuditEvent(tx, {
          event: 'auth.password_reset',
          actorUserId: user.id,
          targetType: 'user',
          targetId: user.id,
          ip: meta.ip,
          data: { sessionsRevoked: revoked.length },
        });
      });
      await evictUser(user.id);
      return { status: 'reset' as const };
    },

    /** The caller's account: what the auth hook loaded for this request (read only for actors made elsewhere). */
    async accountOf(actor: Actor): Promise<AuthUser> {
      const account = actor.account
        ? { ...actor.account, id: actor.userId, role: actor.role, plan: actor.plan }
        : await loadAuthUser(actor.userId);
      if (!account) throw new DomainError('unauthenticated', 'The account no longer exists.');
      return account;
    },

    async me(actor: Actor) {
      return { ...publicAccount(await service.accountOf(actor)), scopes: [...actor.scopes], via: actor.via };
    },

    async listSessions(actor: Actor) {
      const rows = await repo.listLiveSessions(db, actor.userId, new Date());
      return {
        items: rows.map((r) => ({
          id: r.familyId,
          createdAt: new Date(uuidv7Time(r.familyId)).toISOString(),
          lastUsedAt: (r.lastUsedAt ?? r.createdAt).toISOString(),
          expiresAt: r.expiresAt.toISOString(),
          userAgent: r.userAgent,
          ip: r.ip,
          current: r.familyId === actor.sessionId,
        })),
        nextCursor: null,
      };
    },

    async revokeSession(actor: Actor, familyId: string, meta: RequestMeta) {
      const revoked = await db.transaction(async (tx) => {
        const ids = await revokeUserSessions(tx, actor.userId, { only: [familyId] });
        if (ids.length > 0) {
          await writeAuditEvent(tx, {
            event: 'session.revoked',
            actorUserId: actor.userId,
            targetType: 'session',
            targetId: familyId,
            ip: meta.ip,
          });
        }
        return ids;
      });
      if (revoked.length === 0) throw notFound('Session');
    },

    async revokeOtherSessions(actor: Actor, meta: RequestMeta) {
      const ids = await db.transaction(async (tx) => {
        const revoked = await revokeUserSessions(tx, actor.userId, actor.sessionId ? { except: actor.sessionId } : {});
        await writeAuditEvent(tx, {
          event: 'session.revoked_all',
          actorUserId: actor.userId,
          targetType: 'user',
          targetId: actor.userId,
          ip: meta.ip,
          data: { count: revoked.length },
        });
        return revoked;
      });
      return { revoked: ids.length };
    },

    async changePassword(actor: Actor, input: { currentPassword: string; newPassword: string }, meta: RequestMeta) {
      const user = await repo.findUserById(db, actor.userId);
      if (!user || !(await hasher.verify(user.passwordHash, input.currentPassword))) throw invalidCredentials();
      assertPasswordPolicy(input.newPassword, user.email, 'newPassword');
      const passwordHash = await hasher.hash(input.newPassword);
      await db.transaction(async (tx) => {
        await repo.updateUser(tx, user.id, { passwordHash });
        await revokeUserSessions(tx, user.id, actor.sessionId ? { except: actor.sessionId } : {});
        await writeAuditEvent(tx, {
          event: 'auth.password_changed',
          actorUserId: user.id,
          targetType: 'user',
          targetId: user.id,
          ip: meta.ip,
        });
      });
    },

    // ---------- API keys ----------

    async createApiKey(
      actor: Actor,
      input: { name: string; scopes: ApiKeyScope[]; expiresAt?: string | undefined },
      meta: RequestMeta,
    ) {
      const allowed = roleScopes(actor.role);
      const refused = input.scopes.filter((s) => !allowed.includes(s));
      if (refused.length > 0) {
        throw new DomainError('forbidden', `Your role cannot grant: ${refused.join(', ')}`, {
          errors: [{ path: 'body.scopes', message: `not allowed for your role: ${refused.join(', ')}` }],
        });
      }
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
      if (expiresAt && (Number.isNaN(expiresAt.getTime()) || expiresAt <= new Date())) {
        throw new DomainError('validation_failed', 'expiresAt must be a future date-time', {
          errors: [{ path: 'body.expiresAt', message: 'must be a future date-time' }],
        });
      }
      if ((await repo.countLiveApiKeys(db, actor.userId, new Date())) >= config.auth.maxApiKeysPerUser) {
        throw new DomainError(
          'conflict',
          `You already have ${config.auth.maxApiKeysPerUser} API keys; revoke one first.`,
        );
      }
      const { key, prefix, hash } = newApiKey();
      const row = await db.transaction(async (tx) => {
        const created = await repo.insertApiKey(tx, {
          id: uuidv7(),
          userId: actor.userId,
          name: input.name,
          prefix,
          hash,
          scopes: [...new Set(input.scopes)],
          expiresAt,
        });
        await writeAuditEvent(tx, {
          event: 'apikey.created',
          actorUserId: actor.userId,
          targetType: 'api_key',
          targetId: created.id,
          ip: meta.ip,
          data: { name: input.name, scopes: created.scopes, prefix },
        });
        return created;
      });
      return { ...publicApiKey(row), key };
    },

    async listApiKeys(actor: Actor, page: { after?: string | undefined; limit: number }) {
      const rows = await repo.listApiKeys(db, actor.userId, {
        limit: page.limit,
        ...(page.after ? { after: page.after } : {}),
      });
      const items = rows.slice(0, page.limit);
      return { items: items.map(publicApiKey), last: rows.length > page.limit ? items.at(-1)?.id : undefined };
    },

    async revokeApiKey(actor: Actor, id: string, meta: RequestMeta) {
      const row = await db.transaction(async (tx) => {
        const revoked = await repo.revokeApiKey(tx, actor.userId, id, new Date());
        if (revoked) {
          await writeAuditEvent(tx, {
            event: 'apikey.revoked',
            actorUserId: actor.userId,
            targetType: 'api_key',
            targetId: id,
            ip: meta.ip,
          });
        }
        return revoked;
      });
      if (!row) throw notFound('API key');
      await cache.delete({ key: cacheKey.apiKey(row.hash) });
    },

    // ---------- admin ----------

    async getUser(id: string) {
      const user = await repo.findUserById(db, id);
      if (!user) throw notFound('User');
      return publicUser(user);
    },

    async updateUser(
      actor: Actor,
      id: string,
      patch: { role?: Role | undefined; plan?: string | undefined; status?: 'active' | 'disabled' | undefined },
      meta: RequestMeta,
    ) {
      if (patch.plan !== undefined && !Object.hasOwn(config.plans, patch.plan)) {
        throw new DomainError(
          'validation_failed',
          `Unknown plan "${patch.plan}"; plans: ${Object.keys(config.plans).join(', ')}`,
          {
            errors: [{ path: 'body.plan', message: 'is not a configured plan' }],
          },
        );
      }
      const updated = await db.transaction(async (tx) => {
        await tx.execute(repo.lockUsersSql);
        const user = await repo.findUserById(tx, id);
        if (!user) throw notFound('User');
        const losesAdmin =
          user.role === 'admin' && user.status === 'active' && (patch.role === 'user' || patch.status === 'disabled');
        if (losesAdmin && (await repo.countActiveAdmins(tx)) <= 1) {
          throw new DomainError('conflict', 'This is the last active admin; promote another user first.');
        }
        const changes: Partial<UserRow> = {};
        if (patch.role !== undefined && patch.role !== user.role) changes.role = patch.role;
        if (patch.plan !== undefined && patch.plan !== user.plan) changes.plan = patch.plan;
        if (patch.status !== undefined && patch.status !== user.status) changes.status = patch.status;
        const row = Object.keys(changes).length > 0 ? await repo.updateUser(tx, id, changes) : user;
        if (!row) throw notFound('User');
        const audit = (event: string, data: Record<string, unknown>) =>
          writeAuditEvent(tx, {
            event,
            actorUserId: actor.userId,
            targetType: 'user',
            targetId: id,
            ip: meta.ip,
            data,
          });
        if (changes.role) await audit('user.role_changed', { from: user.role, to: changes.role });
        if (changes.plan) await audit('user.plan_changed', { from: user.plan, to: changes.plan });
        if (changes.status === 'disabled') {
          await revokeUserSessions(tx, id);
          await audit('user.disabled', { from: user.status });
        }
        if (changes.status === 'active')
          await audit(user.status === 'pending_approval' ? 'user.approved' : 'user.enabled', {});
        return row;
      });
      await evictUser(id);
      if (patch.status === 'active') service.touchUser(id);
      return publicUser(updated);
    },

    async deleteUser(actor: Actor, id: string, meta: RequestMeta) {
      const hashes = await db.transaction(async (tx) => {
        await tx.execute(repo.lockUsersSql);
        const user = await repo.findUserById(tx, id);
        if (!user) throw notFound('User');
        if (user.role === 'admin' && user.status === 'active' && (await repo.countActiveAdmins(tx)) <= 1) {
          throw new DomainError('conflict', 'This is the last active admin; promote another user first.');
        }
        const keys = await repo.listApiKeys(tx, id, { limit: 10_000 });
        await revokeUserSessions(tx, id);
        for (const hook of ctx.userDeleteHooks) await hook(tx, id);
        // sessions, api_keys and one-time tokens go with the row (ON DELETE CASCADE).
        await repo.deleteUser(tx, id);
        await writeAuditEvent(tx, {
          event: 'user.deleted',
          actorUserId: actor.userId,
          targetType: 'user',
          targetId: id,
          ip: meta.ip,
          data: { emailDomain: emailDomain(user.email), role: user.role, plan: user.plan },
        });
        return keys.map((k) => k.hash);
      });
      await evictUser(id);
      await Promise.all(hashes.map((h) => cache.delete({ key: cacheKey.apiKey(h) })));
    },

    async listUsers(opts: repo.ListUsersOptions) {
      const rows = await repo.listUsersQuery(handle.read, opts);
      const items = rows.slice(0, opts.limit);
      const last = items.at(-1);
      const more = rows.length > opts.limit && last !== undefined;
      return {
        items: items.map(publicUser),
        next: more ? (opts.q !== undefined ? last.email.toLowerCase() : last.id) : undefined,
      };
    },

    async setSignupSettings(actor: Actor, next: SignupSettings, meta: RequestMeta) {
      if (config.configReadonly)
        throw new DomainError('config_readonly', 'GENZ_CONFIG_READONLY is set: change genz.yaml instead.');
      await db.transaction(async (tx) => {
        await repo.putSetting(tx, SIGNUP_SETTING, next, actor.userId);
        await writeAuditEvent(tx, {
          event: 'settings.signup_changed',
          actorUserId: actor.userId,
          targetType: 'settings',
          targetId: SIGNUP_SETTING,
          ip: meta.ip,
          data: { ...next },
        });
      });
      await cache.delete({ key: cacheKey.signup });
      return signupSettings();
    },

    async createInvitation(
      actor: Actor,
      input: { email?: string | undefined; role?: Role | undefined; plan?: string | undefined },
      meta: RequestMeta,
    ) {
      const email = input.email ? normalizeEmail(input.email) : null;
      if (input.plan !== undefined && !Object.hasOwn(config.plans, input.plan)) {
        throw new DomainError('validation_failed', `Unknown plan "${input.plan}"`, {
          errors: [{ path: 'body.plan', message: 'is not a configured plan' }],
        });
      }
      const token = randomToken();
      const row = await db.transaction(async (tx) => {
        const created = await repo.insertOneTimeToken(tx, {
          id: uuidv7(),
          purpose: 'invite',
          email,
          tokenHash: sha256(token),
          data: { ...(input.role ? { role: input.role } : {}), ...(input.plan ? { plan: input.plan } : {}) },
          createdBy: actor.userId,
          expiresAt: seconds(config.auth.inviteTtlSec),
        });
        await writeAuditEvent(tx, {
          event: 'invitation.created',
          actorUserId: actor.userId,
          targetType: 'invitation',
          targetId: created.id,
          ip: meta.ip,
          data: { role: input.role ?? 'user' },
        });
        return created;
      });
      const url = `${config.server.publicUrl.replace(/\/$/, '')}/signup?invite=${token}`;
      if (email)
        mail(email, 'You are invited to GenZ AI', `You have been invited. Create your account here:\n${url}\n`);
      return { ...publicInvitation(row), url, token };
    },

    async listInvitations(page: { after?: string | undefined; limit: number }) {
      const rows = await repo.listInvitations(db, new Date(), {
        limit: page.limit,
        ...(page.after ? { after: page.after } : {}),
      });
      const items = rows.slice(0, page.limit);
      return { items: items.map(publicInvitation), last: rows.length > page.limit ? items.at(-1)?.id : undefined };
    },

    async revokeInvitation(actor: Actor, id: string, meta: RequestMeta) {
      if (!(await repo.revokeInvitation(db, id, new Date()))) throw notFound('Invitation');
      await writeAuditEvent(db, {
        event: 'invitation.revoked',
        actorUserId: actor.userId,
        targetType: 'invitation',
        targetId: id,
        ip: meta.ip,
      });
    },

    /** Test and CLI helper: a user made directly (no mail, no limits), e.g. createTestUser(). */
    async createUserDirect(input: {
      email: string;
      password: string;
      role?: Role;
      plan?: string;
      status?: UserStatus;
      verified?: boolean;
    }) {
      const user = await repo.insertUser(db, {
        id: uuidv7(),
        email: normalizeEmail(input.email),
        passwordHash: await hasher.hash(input.password),
        role: input.role ?? 'user',
        plan: input.plan ?? config.signup.defaultPlan,
        status: input.status ?? 'active',
        emailVerifiedAt: input.verified === false ? null : new Date(),
      });
      setupDone = true;
      return user;
    },

    /** Starts a session without an `auth.login` event (test helpers; a real log-in goes through logIn). */
    async issueSession(userId: string, meta: RequestMeta): Promise<IssuedSession> {
      return db.transaction((tx) => startSession(tx, userId, meta));
    },
  };
  return service;
}

export const publicInvitation = (t: {
  id: string;
  email: string | null;
  data: Record<string, unknown>;
  createdAt: Date;
  expiresAt: Date;
}) => ({
  id: t.id,
  email: t.email,
  role: (t.data.role as Role | undefined) ?? 'user',
  plan: (t.data.plan as string | undefined) ?? null,
  createdAt: t.createdAt.toISOString(),
  expiresAt: t.expiresAt.toISOString(),
});

export type AccountsService = ReturnType<typeof createAccountsService>;
