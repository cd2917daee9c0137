import { type Db, type DbHandle, uuidv7, writeAuditEvent } from '@genz/db';
import { passkeys, recoveryCodes, type UserRow, userFactors } from '@genz/db/schema';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { AppConfig } from '../../config/index.ts';
import { DomainError } from '../../http/errors.ts';
import { policy } from '../rate-limit/index.ts';
import * as repo from './auth.repository.ts';
import type { Role } from './auth.service.ts';
import { createSeedBox, hashRecoveryCode, matchTotp, newRecoveryCode, newTotpSecret, otpauthUri } from './mfa-totp.ts';
import { type PasskeyAssertion, type Passkeys, passkeyRefused } from './passkeys.service.ts';
import type { PasswordHasher } from './password.ts';
import { keyForKid, type SigningKeys } from './signing-keys.ts';

/** What log-in answers instead of a session when a second step is needed. */
export interface LoginPending {
  pending: 'mfa_required' | 'mfa_enrollment_required';
  challenge: string;
  expiresAt: number;
  /** The second steps this account can answer with (`totp` includes its recovery codes), or may enrol. */
  methods: SecondFactorKind[];
}

export type SecondFactorKind = 'totp' | 'passkey';

/** What answers the second step: a TOTP code, a recovery code, or a passkey assertion (with its ceremony). */
export interface SecondFactorInput {
  code?: string | undefined;
  recoveryCode?: string | undefined;
  passkey?: PasskeyAssertion | undefined;
}

export interface MfaContext {
  db: DbHandle;
  config: AppConfig;
  keys: SigningKeys;
  hasher: PasswordHasher;
  rateLimit: FastifyInstance['rateLimit'];
  passkeys: Passkeys;
  log: FastifyBaseLogger;
  /** Ends every session of a user inside `tx` (accounts service): an admin reset signs the person out. */
  revokeSessions: (tx: Db, userId: string) => Promise<string[]>;
}

/** The challenge JWT: same keys as access tokens, its own audience, so neither is accepted as the other. */
const CHALLENGE_AUDIENCE = 'genz-mfa-challenge';

const badCode = () => new DomainError('invalid_credentials', 'The code is not valid.');

/**
 * Second factor (docs/accounts.md "Second factor"): TOTP enrolment, recovery codes, the log-in challenge and the
 * admin policy. Codes are throttled per user with the rate-limit core; an accepted TOTP step is remembered so a
 * code works once.
 */
export function createMfaService(ctx: MfaContext) {
  const { config, keys, hasher } = ctx;
  const db = ctx.db.db;
  const box = createSeedBox(config.encryptionKey);
  const attempts = policy('auth_mfa_user', config.mfa.codeAttempts);

  const requiredFor = (role: Role) =>
    config.mfa.requiredRoles.includes(role) || (role === 'admin' && config.mfa.requireForAdmins);

  async function factorOf(tx: Db, userId: string) {
    const [row] = await tx
      .select()
      .from(userFactors)
      .where(and(eq(userFactors.userId, userId), eq(userFactors.kind, 'totp')))
      .limit(1);
    return row;
  }

  /** The factors a user has: a confirmed TOTP authenticator, and how many passkeys. */
  async function factors(userId: string): Promise<{ totp: boolean; passkeys: number }> {
    const [factor, count] = await Promise.all([factorOf(db, userId), ctx.passkeys.count(userId)]);
    return { totp: factor?.confirmedAt != null, passkeys: count };
  }

  const methodsOf = (f: { totp: boolean; passkeys: number }): SecondFactorKind[] => [
    ...(f.totp ? (['totp'] as const) : []),
    ...(f.passkeys > 0 ? (['passkey'] as const) : []),
  ];

  async function throttle(userId: string) {
    await ctx.rateLimit.enforce(`${attempts.name}:${userId}`, attempts);
  }

  /**
   * Accepts a TOTP code (once: the step is claimed atomically), an unused recovery code (spent), or an assertion by
   * one of the user's own passkeys (user verification required; the ceremony is spent).
   */
  async function checkSecondFactor(
    userId: string,
    input: SecondFactorInput,
  ): Promise<'totp' | 'recovery_code' | 'passkey'> {
    await throttle(userId);
    if (input.passkey) {
      const used = await ctx.passkeys.verifyAssertion(input.passkey, ctx.log);
      if (used.userId !== userId) throw passkeyRefused();
      return 'passkey';
    }
    const factor = await factorOf(db, userId);
    if (!factor?.confirmedAt) throw new DomainError('conflict', 'No second factor is enabled for this account.');
    if (input.code) {
      const step = matchTotp(box.open(factor.secret), input.code, { afterStep: factor.lastStep });
      if (step === null) throw badCode();
      const claimed = await db
        .update(userFactors)
        .set({ lastStep: step })
        .where(and(eq(userFactors.id, factor.id), or(isNull(userFactors.lastStep), lt(userFactors.lastStep, step))))
        .returning({ id: userFactors.id });
      if (claimed.length === 0) throw badCode();
      return 'totp';
    }
    if (input.recoveryCode) {
      const spent = await db
        .update(recoveryCodes)
        .set({ usedAt: new Date() })
        .where(
          and(
            eq(recoveryCodes.userId, userId),
            eq(recoveryCodes.codeHash, hashRecoveryCode(input.recoveryCode)),
            isNull(recoveryCodes.usedAt),
          ),
        )
        .returning({ id: recoveryCodes.id });
      if (spent.length === 0) throw badCode();
      return 'recovery_code';
    }
    throw new DomainError('validation_failed', 'Send `code`, `recoveryCode` or `passkey`.');
  }

  async function newRecoveryCodes(tx: Db, userId: string): Promise<string[]> {
    await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    const codes = Array.from({ length: config.mfa.recoveryCodes }, newRecoveryCode);
    await tx.insert(recoveryCodes).values(codes.map((c) => ({ id: uuidv7(), userId, codeHash: hashRecoveryCode(c) })));
    return codes;
  }

  async function recoveryLeft(userId: string): Promise<number> {
    const [row] = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(recoveryCodes)
      .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
    return row?.n ?? 0;
  }

  async function audit(tx: Db, event: string, userId: string, ip: string, data: Record<string, unknown> = {}) {
    await writeAuditEvent(tx, { event, actorUserId: userId, targetType: 'user', targetId: userId, ip, data });
  }

  const service = {
    encrypted: box.encrypted,
    requiredFor,

    /**
     * Log-in gate: null when a session may start now, else the pending second step. A TOTP authenticator or a
     * passkey each is a second factor, and either meets a role's requirement.
     */
    async gate(user: UserRow): Promise<LoginPending | null> {
      const methods = methodsOf(await factors(user.id));
      if (methods.length > 0) return service.challenge(user.id, 'mfa_required', methods);
      if (requiredFor(user.role)) return service.challenge(user.id, 'mfa_enrollment_required', ['totp', 'passkey']);
      return null;
    },

    async challenge(
      userId: string,
      pending: LoginPending['pending'],
      methods: SecondFactorKind[] = ['totp'],
    ): Promise<LoginPending> {
      const now = Math.floor(Date.now() / 1000);
      const exp = now + config.mfa.challengeTtlSec;
      const challenge = await new SignJWT({ pur: pending })
        .setProtectedHeader({ alg: 'HS256', kid: keys.current.kid, typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(config.auth.issuer)
        .setAudience(CHALLENGE_AUDIENCE)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .sign(keys.current.key);
      return { pending, challenge, expiresAt: exp * 1000, methods };
    },

    /** The user a challenge names, if it is valid, unexpired and for `pending`. */
    async readChallenge(token: string, pending: LoginPending['pending']): Promise<string> {
      try {
        const { payload } = await jwtVerify(token, keyForKid(keys), {
          issuer: config.auth.issuer,
          audience: CHALLENGE_AUDIENCE,
          algorithms: ['HS256'],
          requiredClaims: ['sub'],
        });
        if (payload.pur !== pending || typeof payload.sub !== 'string') throw new Error('wrong purpose');
        return payload.sub;
      } catch (err) {
        // Like a mailed link's token: a bad challenge is 400 `invalid_token` (log in again), not an auth failure.
        if (err instanceof errors.JWTExpired) {
          throw new DomainError('invalid_token', 'The log-in challenge has expired; log in again.');
        }
        throw new DomainError('invalid_token', 'The log-in challenge is not valid; log in again.');
      }
    },

    async status(userId: string, role: Role) {
      const factor = await factorOf(db, userId);
      const enabled = factor?.confirmedAt != null;
      return {
        totp: enabled,
        pendingEnrollment: factor !== undefined && !enabled,
        recoveryCodesLeft: enabled ? await recoveryLeft(userId) : 0,
        passkeys: await ctx.passkeys.count(userId),
        required: requiredFor(role),
      };
    },

    /** A role that requires a second factor may not remove its last one (TOTP or passkey). */
    async assertCanRemove(userId: string, role: Role, kind: SecondFactorKind) {
      if (!requiredFor(role)) return;
      const have = await factors(userId);
      const left = (kind === 'totp' ? 0 : Number(have.totp)) + (kind === 'passkey' ? have.passkeys - 1 : have.passkeys);
      if (left < 1) {
        throw new DomainError(
          'forbidden',
          'Your role requires a second factor: add another authenticator or passkey before removing this one.',
        );
      }
    },

    /**
     * An admin clears a user's lost second factor: TOTP, recovery codes and passkeys go, every session ends (the
     * person signs in again and, when the role requires a factor, enrols a new one), audited as `mfa.admin_reset`.
     */
    async adminReset(actorUserId: string, userId: string, ip: string) {
      return db.transaction(async (tx) => {
        const totp = await tx
          .delete(userFactors)
          .where(eq(userFactors.userId, userId))
          .returning({ id: userFactors.id });
        const codes = await tx
          .delete(recoveryCodes)
          .where(eq(recoveryCodes.userId, userId))
          .returning({ id: recoveryCodes.id });
        const keys = await tx.delete(passkeys).where(eq(passkeys.userId, userId)).returning({ id: passkeys.id });
        const sessions = await ctx.revokeSessions(tx, userId);
        const removed = {
          totp: totp.length > 0,
          recoveryCodes: codes.length,
          passkeys: keys.length,
          sessionsRevoked: sessions.length,
        };
        await writeAuditEvent(tx, {
          event: 'mfa.admin_reset',
          actorUserId,
          targetType: 'user',
          targetId: userId,
          ip,
          data: removed,
        });
        return removed;
      });
    },

    /** Starts (or restarts) TOTP enrolment: the seed is shown this once, as an otpauth URI and as text. */
    async startEnrollment(user: { id: string; email: string }) {
      const userId = user.id;
      const existing = await factorOf(db, userId);
      if (existing?.confirmedAt) {
        throw new DomainError('conflict', 'An authenticator is already enabled; disable it first to replace it.');
      }
      const secret = newTotpSecret();
      const sealed = box.seal(secret);
      await db
        .insert(userFactors)
        .values({ id: uuidv7(), userId, kind: 'totp', secret: sealed })
        .onConflictDoUpdate({
          target: [userFactors.userId, userFactors.kind],
          set: { secret: sealed, createdAt: new Date(), lastStep: null },
        });
      return { secret, otpauthUri: otpauthUri({ secret, account: user.email, issuer: config.mfa.issuer }) };
    },

    /** Confirms enrolment with a first code; answers the recovery codes (shown once). */
    async confirmEnrollment(userId: string, code: string, ip: string): Promise<string[]> {
      await throttle(userId);
      const factor = await factorOf(db, userId);
      if (!factor) throw new DomainError('conflict', 'Start enrolment first.');
      if (factor.confirmedAt) throw new DomainError('conflict', 'This authenticator is already enabled.');
      const step = matchTotp(box.open(factor.secret), code);
      if (step === null) throw badCode();
      await service.resetThrottle(userId);
      return db.transaction(async (tx) => {
        await tx
          .update(userFactors)
          .set({ confirmedAt: new Date(), lastStep: step })
          .where(eq(userFactors.id, factor.id));
        const codes = await newRecoveryCodes(tx, userId);
        await audit(tx, 'mfa.enabled', userId, ip, { kind: 'totp' });
        return codes;
      });
    },

    checkSecondFactor,

    /** Turning the factor off takes the password and a code (or recovery code); a role that requires one cannot. */
    async disable(
      userId: string,
      input: { password: string; code?: string | undefined; recoveryCode?: string | undefined },
      ip: string,
    ) {
      const user = await repo.findUserById(db, userId);
      if (!user || !(await hasher.verify(user.passwordHash, input.password))) {
        await throttle(userId);
        throw new DomainError('invalid_credentials', 'The password is incorrect.');
      }
      await service.assertCanRemove(userId, user.role, 'totp');
      const how = await checkSecondFactor(userId, input);
      await db.transaction(async (tx) => {
        await tx.delete(userFactors).where(eq(userFactors.userId, userId));
        await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
        await audit(tx, 'mfa.disabled', userId, ip, { with: how });
      });
    },

    async regenerateRecoveryCodes(userId: string, code: string, ip: string): Promise<string[]> {
      await checkSecondFactor(userId, { code });
      return db.transaction(async (tx) => {
        const codes = await newRecoveryCodes(tx, userId);
        await audit(tx, 'mfa.recovery_codes_regenerated', userId, ip);
        return codes;
      });
    },

    async resetThrottle(userId: string) {
      await ctx.rateLimit.reset(`${attempts.name}:${userId}`, attempts);
    },
  };
  return service;
}

export type MfaService = ReturnType<typeof createMfaService>;
