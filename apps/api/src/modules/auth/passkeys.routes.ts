import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { writeAuditEvent } from '@genz/db';
import { type PasskeyRow, passkeys } from '@genz/db/schema';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { AppConfig } from '../../config/index.ts';
import { notFound } from '../../http/errors.ts';
import { policy } from '../rate-limit/index.ts';
import { actorOf, meta, requireSession, sessionDeliverer } from './auth.routes.ts';
import { Delivery, IdParams, SessionTokens } from './auth.schemas.ts';
import type { AccountsService } from './auth.service.ts';
import type { MfaService } from './mfa.service.ts';
import type { Passkeys } from './passkeys.service.ts';

const strict = { additionalProperties: false } as const;
const B64 = Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength: 16_384 });
const Transports = Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 8 }));
const Attachment = Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')]));
const Extensions = Type.Record(Type.String(), Type.Unknown());

/** The browser's `PublicKeyCredential.toJSON()` after `navigator.credentials.create()`. */
export const RegistrationResponse = Type.Object({
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
export const AuthenticationResponse = Type.Object({
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
export const Ceremony = Type.String({ minLength: 20, maxLength: 4096 });
export const PasskeyName = Type.Optional(Type.String({ maxLength: 100 }));
export const OptionsAnswer = Type.Object({
  ceremony: Ceremony,
  options: Type.Record(Type.String(), Type.Unknown()),
});
const Passkey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});

export const publicPasskey = (p: PasskeyRow) => ({
  id: p.id,
  name: p.name,
  createdAt: p.createdAt.toISOString(),
  lastUsedAt: p.lastUsedAt?.toISOString() ?? null,
});

/**
 * Passkeys (WebAuthn, @simplewebauthn/server; docs/accounts.md "Passkeys"): registration, list and removal for a
 * signed-in user, and log-in. Ceremonies and assertions live in passkeys.service.ts. User verification is required,
 * so a passkey log-in is itself two factors and needs no TOTP step; a passkey also answers the second step of a
 * password log-in (mfa.service.ts).
 */
export default async function passkeyRoutes(
  app: FastifyInstance,
  opts: { config: AppConfig; accounts: AccountsService; mfa: MfaService; passkeys: Passkeys },
) {
  const { config, accounts, mfa } = opts;
  const ceremonies = opts.passkeys;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const db = app.db.db;
  const deliver = sessionDeliverer(config);
  const perIp = policy('auth_passkey_ip', config.limits.auth.loginPerIp);

  const sessionActor = (request: FastifyRequest) => requireSession(request, 'Manage passkeys from a session.');

  // ---------- registration (signed in) ----------

  r.post(
    '/api/me/passkeys/registration/options',
    { config: { auth: { scope: 'chat' } }, schema: { tags: ['me'], response: { 200: OptionsAnswer } } },
    async (request) => ceremonies.registrationOptions(await accounts.accountOf(sessionActor(request))),
  );

  r.post(
    '/api/me/passkeys/registration/verify',
    {
      config: { auth: { scope: 'chat' } },
      schema: {
        tags: ['me'],
        body: Type.Object({ ceremony: Ceremony, response: RegistrationResponse, name: PasskeyName }, strict),
        response: { 201: Passkey },
      },
    },
    async (request, reply) => {
      const actor = sessionActor(request);
      const row = await ceremonies.register(
        actor.userId,
        { ...request.body, response: request.body.response as RegistrationResponseJSON },
        request.ip,
        request.log,
      );
      return reply.code(201).send(publicPasskey(row));
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
      return rows.map(publicPasskey);
    },
  );

  r.delete(
    '/api/me/passkeys/:id',
    { config: { auth: { scope: 'chat' } }, schema: { tags: ['me'], params: IdParams } },
    async (request, reply) => {
      const actor = sessionActor(request);
      await mfa.assertCanRemove(actor.userId, actor.role, 'passkey');
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
      return ceremonies.loginOptions();
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
      const stored = await ceremonies.verifyAssertion(
        { ceremony: request.body.ceremony, response: request.body.response as AuthenticationResponseJSON },
        request.log,
      );
      const user = await accounts.activeUser(stored.userId);
      const issued = await accounts.logIn(user.id, meta(request), { via: 'passkey', passkeyId: stored.id });
      return deliver(reply, issued, request.body.delivery ?? 'cookie');
    },
  );
}
