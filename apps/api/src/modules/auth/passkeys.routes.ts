import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { uuidv7, writeAuditEvent } from '@genz/db';
import { passkeys } from '@genz/db/schema';
import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { jwtVerify, SignJWT } from 'jose';
import { Type } from 'typebox';
import type { AppConfig } from '../../config/index.ts';
import type { Actor } from '../../http/actor.ts';
import { DomainError, notFound } from '../../http/errors.ts';
import { policy } from '../rate-limit/index.ts';
import { actorOf, meta, sessionDeliverer } from './auth.routes.ts';
import { Delivery, IdParams, SessionTokens } from './auth.schemas.ts';
import type { AccountsService } from './auth.service.ts';
import type { SigningKeys } from './signing-keys.ts';

const strict = { additionalProperties: false } as const;
const AUDIENCE = 'genz-passkey-ceremony';
const CEREMONY_TTL_SEC = 300;
const B64 = Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength: 16_384 });
const Transports = Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 8 }));
const Attachment = Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')]));
const Extensions = Type.Record(Type.String(), Type.Unknown());

/** The browser's `PublicKeyCredential.toJSON()` after `navigator.credentials.create()`. */
const RegistrationResponse = Type.Object({
  id: B64,
  rawId: B64,
  type: Type.Literal('public-key'),
  response: Type.Object({
    clientDataJSON: B64,
    attestationObject: B64,
    authenticatorData: Type.Optional(B64),
    transports: Transports,
    publicKeyAlgorithm: Type.Optional(Type.Integer()),
    publicKey: Type.Optional(B64),
  }),
  authenticatorAttachment: Attachment,
  clientExtensionResults: Extensions,
});
/** The browser's `PublicKeyCredential.toJSON()` after `navigator.credentials.get()`. */
const AuthenticationResponse = Type.Object({
  id: B64,
  rawId: B64,
  type: Type.Literal('public-key'),
  response: Type.Object({
    clientDataJSON: B64,
    authenticatorData: B64,
    signature: B64,
    userHandle: Type.Optional(B64),
  }),
  authenticatorAttachment: Attachment,
  clientExtensionResults: Extensions,
});
const Ceremony = Type.String({ minLength: 20, maxLength: 4096 });
const OptionsAnswer = Type.Object({
  ceremony: Ceremony,
  options: Type.Record(Type.String(), Type.Unknown()),
});
const Passkey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const refused = () => new DomainError('invalid_credentials', 'The passkey could not be verified.');

/**
 * Passkeys (WebAuthn, @simplewebauthn/server; docs/accounts.md "Passkeys"). The challenge travels in a signed
 * `ceremony` token (stateless across replicas); an authentication challenge is spent once (cache). User verification
 * is required, so a passkey log-in is itself two factors and needs no TOTP step.
 */
export default async function passkeyRoutes(
  app: FastifyInstance,
  opts: { config: AppConfig; accounts: AccountsService; keys: SigningKeys },
) {
  const { config, accounts, keys } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const db = app.db.db;
  const deliver = sessionDeliverer(config);
  const origin = new URL(config.server.publicUrl).origin;
  const rpID = new URL(config.server.publicUrl).hostname;
  const perIp = policy('auth_passkey_ip', config.limits.auth.loginPerIp);

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
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid === undefined ? undefined : keys.byKid.get(header.kid);
          if (!key) throw new Error('unknown key id');
          return key;
        },
        { issuer: config.auth.issuer, audience: AUDIENCE, algorithms: ['HS256'] },
      );
      if (payload.pur !== purpose || typeof payload.ch !== 'string') throw new Error('wrong purpose');
      return { challenge: payload.ch, userId: payload.sub };
    } catch {
      throw new DomainError('invalid_token', 'The passkey ceremony expired or is not valid; start again.');
    }
  }

  function sessionActor(request: FastifyRequest): Actor {
    const actor = actorOf(request);
    if (actor.via !== 'session') throw new DomainError('session_required', 'Manage passkeys from a session.');
    return actor;
  }

  // ---------- registration (signed in) ----------

  r.post(
    '/api/me/passkeys/registration/options',
    { config: { auth: { scope: 'chat' } }, schema: { tags: ['me'], response: { 200: OptionsAnswer } } },
    async (request) => {
      const actor = sessionActor(request);
      const me = await accounts.me(actor);
      const existing = await db.select().from(passkeys).where(eq(passkeys.userId, actor.userId));
      const options = await generateRegistrationOptions({
        rpName: config.mfa.issuer,
        rpID,
        userName: me.email,
        userID: new TextEncoder().encode(actor.userId),
        attestationType: 'none',
        excludeCredentials: existing.map((p) => ({
          id: p.credentialId,
          transports: p.transports as AuthenticatorTransport[],
        })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
      return { ceremony: await ceremony('register', options.challenge, actor.userId), options: { ...options } };
    },
  );

  r.post(
    '/api/me/passkeys/registration/verify',
    {
      config: { auth: { scope: 'chat' } },
      schema: {
        tags: ['me'],
        body: Type.Object(
          { ceremony: Ceremony, response: RegistrationResponse, name: Type.Optional(Type.String({ maxLength: 100 })) },
          strict,
        ),
        response: { 201: Passkey },
      },
    },
    async (request, reply) => {
      const actor = sessionActor(request);
      const { challenge, userId } = await readCeremony(request.body.ceremony, 'register');
      if (userId !== actor.userId) throw new DomainError('invalid_token', 'This ceremony belongs to another session.');
      let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verification = await verifyRegistrationResponse({
          response: request.body.response as RegistrationResponseJSON,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          requireUserVerification: true,
        });
      } catch (err) {
        request.log.info({ reason: (err as Error).message }, 'passkey registration refused');
        throw refused();
      }
      if (!verification.verified) throw refused();
      const { credential } = verification.registrationInfo;
      const [row] = await db
        .insert(passkeys)
        .values({
          id: uuidv7(),
          userId: actor.userId,
          credentialId: credential.id,
          publicKey: b64(credential.publicKey),
          counter: credential.counter,
          transports: credential.transports ?? [],
          name: request.body.name ?? 'Passkey',
        })
        .onConflictDoNothing()
        .returning();
      if (!row) throw new DomainError('conflict', 'This passkey is already registered.');
      await writeAuditEvent(db, {
        event: 'passkey.added',
        actorUserId: actor.userId,
        targetType: 'passkey',
        targetId: row.id,
        ip: request.ip,
      });
      return reply.code(201).send({
        id: row.id,
        name: row.name,
        createdAt: row.createdAt.toISOString(),
        lastUsedAt: null,
      });
    },
  );

  r.get(
    '/api/me/passkeys',
    { config: { auth: { scope: 'read' } }, schema: { tags: ['me'], response: { 200: Type.Array(Passkey) } } },
    async (request) => {
      const rows = await db
        .select()
        .from(passkeys)
        .where(eq(passkeys.userId, actorOf(request).userId));
      return rows.map((p) => ({
        id: p.id,
        name: p.name,
        createdAt: p.createdAt.toISOString(),
        lastUsedAt: p.lastUsedAt?.toISOString() ?? null,
      }));
    },
  );

  r.delete(
    '/api/me/passkeys/:id',
    { config: { auth: { scope: 'chat' } }, schema: { tags: ['me'], params: IdParams } },
    async (request, reply) => {
      const actor = sessionActor(request);
      const gone = await db
        .delete(passkeys)
        .where(and(eq(passkeys.id, request.params.id), eq(passkeys.userId, actor.userId)))
        .returning({ id: passkeys.id });
      if (gone.length === 0) throw notFound('Passkey');
      await writeAuditEvent(db, {
        event: 'passkey.removed',
        actorUserId: actor.userId,
        targetType: 'passkey',
        targetId: request.params.id,
        ip: request.ip,
      });
      return reply.code(204).send();
    },
  );

  // ---------- log-in (public) ----------

  r.post(
    '/api/auth/passkeys/options',
    { config: { auth: 'public' }, schema: { tags: ['auth'], response: { 200: OptionsAnswer } } },
    async (request) => {
      await app.rateLimit.enforce(`${perIp.name}:${request.ip}`, perIp);
      const options = await generateAuthenticationOptions({ rpID, userVerification: 'required' });
      return { ceremony: await ceremony('login', options.challenge), options: { ...options } };
    },
  );

  r.post(
    '/api/auth/passkeys/verify',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['auth'],
        body: Type.Object(
          { ceremony: Ceremony, response: AuthenticationResponse, delivery: Type.Optional(Delivery) },
          strict,
        ),
        response: { 200: SessionTokens },
      },
    },
    async (request, reply) => {
      await app.rateLimit.enforce(`${perIp.name}:${request.ip}`, perIp);
      const { challenge } = await readCeremony(request.body.ceremony, 'login');
      const spentKey = `auth:passkey-challenge:${challenge}`;
      if (await app.cache.get({ key: spentKey })) {
        throw new DomainError('invalid_token', 'This passkey ceremony was already used; start again.');
      }
      const [stored] = await db
        .select()
        .from(passkeys)
        .where(eq(passkeys.credentialId, request.body.response.id))
        .limit(1);
      if (!stored) throw refused();
      let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
      try {
        verification = await verifyAuthenticationResponse({
          response: request.body.response as AuthenticationResponseJSON,
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
        request.log.info({ reason: (err as Error).message }, 'passkey assertion refused');
        throw refused();
      }
      if (!verification.verified) throw refused();
      await app.cache.set({ key: spentKey, value: true, ttl: CEREMONY_TTL_SEC * 1000 });
      const user = await accounts.authUser(stored.userId);
      if (user?.status !== 'active') throw new DomainError('unauthenticated', 'This account cannot sign in.');
      await db
        .update(passkeys)
        .set({ counter: verification.authenticationInfo.newCounter, lastUsedAt: new Date() })
        .where(eq(passkeys.id, stored.id));
      const issued = await accounts.issueSession(user.id, meta(request));
      await writeAuditEvent(db, {
        event: 'auth.login',
        actorUserId: user.id,
        targetType: 'session',
        targetId: issued.sessionId,
        ip: request.ip,
        userAgent: request.headers['user-agent'] ?? null,
        data: { via: 'passkey', passkeyId: stored.id },
      });
      return deliver(reply, issued, request.body.delivery ?? 'cookie');
    },
  );
}
