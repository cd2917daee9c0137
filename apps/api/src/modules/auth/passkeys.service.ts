import { type DbHandle, uuidv7, writeAuditEvent } from '@genz/db';
import { type PasskeyRow, passkeys } from '@genz/db/schema';
import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { eq, sql } from 'drizzle-orm';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { jwtVerify, SignJWT } from 'jose';
import type { AppConfig } from '../../config/index.ts';
import { DomainError } from '../../http/errors.ts';
import { keyForKid, type SigningKeys } from './signing-keys.ts';

const AUDIENCE = 'genz-passkey-ceremony';
export const CEREMONY_TTL_SEC = 300;

export const passkeyRefused = () => new DomainError('invalid_credentials', 'The passkey could not be verified.');

export interface PasskeyContext {
  db: DbHandle;
  config: AppConfig;
  keys: SigningKeys;
  cache: FastifyInstance['cache'];
}

/** A passkey assertion as the browser's `PublicKeyCredential.toJSON()` sends it, with the ceremony it answers. */
export interface PasskeyAssertion {
  ceremony: string;
  response: AuthenticationResponseJSON;
}

/**
 * Passkey ceremonies and assertions (WebAuthn, @simplewebauthn/server), shared by the passkey log-in and the
 * second step of a password log-in (mfa.service.ts). The challenge travels in a signed `ceremony` token (stateless
 * across replicas); an authentication challenge is spent once (cache). User verification is always required.
 */
export function createPasskeys(ctx: PasskeyContext) {
  const { config, keys, cache } = ctx;
  const db = ctx.db.db;
  const origin = new URL(config.server.publicUrl).origin;
  const rpID = new URL(config.server.publicUrl).hostname;

  async function ceremony(purpose: 'register' | 'login', challenge: string, userId?: string) {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({ pur: purpose, ch: challenge })
      .setProtectedHeader({ alg: 'HS256', kid: keys.current.kid })
      .setIssuer(config.auth.issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + CEREMONY_TTL_SEC);
    if (userId) jwt.setSubject(userId);
    return jwt.sign(keys.current.key);
  }

  async function readCeremony(token: string, purpose: 'register' | 'login') {
    try {
      const { payload } = await jwtVerify(token, keyForKid(keys), {
        issuer: config.auth.issuer,
        audience: AUDIENCE,
        algorithms: ['HS256'],
      });
      if (payload.pur !== purpose || typeof payload.ch !== 'string') throw new Error('wrong purpose');
      return { challenge: payload.ch, userId: payload.sub };
    } catch {
      throw new DomainError('invalid_token', 'The passkey ceremony expired or is not valid; start again.');
    }
  }

  return {
    /** Options for `navigator.credentials.create()` for `user`, and the ceremony (bound to the user) carrying them. */
    async registrationOptions(user: { id: string; email: string }) {
      const existing = await db.select().from(passkeys).where(eq(passkeys.userId, user.id));
      const options = await generateRegistrationOptions({
        rpName: config.mfa.issuer,
        rpID,
        userName: user.email,
        userID: new TextEncoder().encode(user.id),
        attestationType: 'none',
        excludeCredentials: existing.map((p) => ({
          id: p.credentialId,
          transports: p.transports as AuthenticatorTransport[],
        })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
      return { ceremony: await ceremony('register', options.challenge, user.id), options: { ...options } };
    },

    /** Verifies a registration for `userId` (the ceremony must be theirs) and stores the passkey, audited. */
    async register(
      userId: string,
      input: { ceremony: string; response: RegistrationResponseJSON; name?: string | undefined },
      ip: string,
      log: FastifyBaseLogger,
    ): Promise<PasskeyRow> {
      const read = await readCeremony(input.ceremony, 'register');
      if (read.userId !== userId) throw new DomainError('invalid_token', 'This ceremony belongs to another session.');
      let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verification = await verifyRegistrationResponse({
          response: input.response,
          expectedChallenge: read.challenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          requireUserVerification: true,
        });
      } catch (err) {
        log.info({ reason: (err as Error).message }, 'passkey registration refused');
        throw passkeyRefused();
      }
      if (!verification.verified) throw passkeyRefused();
      const { credential } = verification.registrationInfo;
      const [row] = await db
        .insert(passkeys)
        .values({
          id: uuidv7(),
          userId,
          credentialId: credential.id,
          publicKey: Buffer.from(credential.publicKey).toString('base64url'),
          counter: credential.counter,
          transports: credential.transports ?? [],
          name: input.name ?? 'Passkey',
        })
        .onConflictDoNothing()
        .returning();
      if (!row) throw new DomainError('conflict', 'This passkey is already registered.');
      await writeAuditEvent(db, {
        event: 'passkey.added',
        actorUserId: userId,
        targetType: 'passkey',
        targetId: row.id,
        ip,
      });
      return row;
    },

    /** Options for `navigator.credentials.get()` and the ceremony that carries their challenge. */
    async loginOptions() {
      const options = await generateAuthenticationOptions({ rpID, userVerification: 'required' });
      return { ceremony: await ceremony('login', options.challenge), options: { ...options } };
    },

    /**
     * Verifies an assertion against its ceremony and the stored credential, spends the ceremony, records the new
     * counter and answers the passkey (whose `userId` says who signed). Any failure is 401 `invalid_credentials`,
     * a spent or bad ceremony 400 `invalid_token`.
     */
    async verifyAssertion(input: PasskeyAssertion, log: FastifyBaseLogger): Promise<PasskeyRow> {
      const { challenge } = await readCeremony(input.ceremony, 'login');
      const spentKey = `auth:passkey-challenge:${challenge}`;
      if (await cache.get({ key: spentKey })) {
        throw new DomainError('invalid_token', 'This passkey ceremony was already used; start again.');
      }
      const [stored] = await db.select().from(passkeys).where(eq(passkeys.credentialId, input.response.id)).limit(1);
      if (!stored) throw passkeyRefused();
      let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
      try {
        verification = await verifyAuthenticationResponse({
          response: input.response,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          credential: {
            id: stored.credentialId,
            publicKey: new Uint8Array(Buffer.from(stored.publicKey, 'base64url')),
            counter: stored.counter,
            transports: stored.transports as AuthenticatorTransport[],
          },
          requireUserVerification: true,
        });
      } catch (err) {
        log.info({ reason: (err as Error).message }, 'passkey assertion refused');
        throw passkeyRefused();
      }
      if (!verification.verified) throw passkeyRefused();
      await cache.set({ key: spentKey, value: true, ttl: CEREMONY_TTL_SEC * 1000 });
      await db
        .update(passkeys)
        .set({ counter: verification.authenticationInfo.newCounter, lastUsedAt: new Date() })
        .where(eq(passkeys.id, stored.id));
      return stored;
    },

    async count(userId: string): Promise<number> {
      const [row] = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(passkeys)
        .where(eq(passkeys.userId, userId));
      return row?.n ?? 0;
    },
  };
}

export type Passkeys = ReturnType<typeof createPasskeys>;
