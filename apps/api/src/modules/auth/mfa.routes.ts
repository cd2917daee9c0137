import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { AppConfig } from '../../config/index.ts';
import { policy } from '../rate-limit/index.ts';
import { actorOf, meta, requireSession, sessionDeliverer } from './auth.routes.ts';
import { Delivery, Password, SessionTokens } from './auth.schemas.ts';
import type { AccountsService } from './auth.service.ts';
import type { MfaService } from './mfa.service.ts';
import {
  AuthenticationResponse,
  Ceremony,
  OptionsAnswer,
  PasskeyName,
  RegistrationResponse,
} from './passkeys.routes.ts';
import type { Passkeys } from './passkeys.service.ts';

const strict = { additionalProperties: false } as const;
const Code = Type.String({ pattern: '^[0-9]{6}$', description: 'The 6-digit code of the authenticator app.' });
const RecoveryCode = Type.String({ minLength: 8, maxLength: 32, description: 'One unused recovery code.' });
const Challenge = Type.String({ minLength: 20, maxLength: 2048, description: 'The `challenge` log-in answered.' });

const MfaStatus = Type.Object({
  totp: Type.Boolean(),
  pendingEnrollment: Type.Boolean(),
  recoveryCodesLeft: Type.Integer(),
  passkeys: Type.Integer({ description: 'Registered passkeys; each is a second factor too.' }),
  required: Type.Boolean(),
});
const Enrollment = Type.Object({
  secret: Type.String({ description: 'Base32 seed, for typing into an app; shown once.' }),
  otpauthUri: Type.String({ description: '`otpauth://totp/…`, for a QR code; shown once.' }),
});
const RecoveryCodes = Type.Object({ recoveryCodes: Type.Array(Type.String()) });
const SessionWithCodes = Type.Object({ ...SessionTokens.properties, ...RecoveryCodes.properties });
const CodeBody = Type.Object({ code: Code }, strict);
const DisableBody = Type.Object(
  { password: Password, code: Type.Optional(Code), recoveryCode: Type.Optional(RecoveryCode) },
  strict,
);
const VerifyBody = Type.Object(
  {
    challenge: Challenge,
    code: Type.Optional(Code),
    recoveryCode: Type.Optional(RecoveryCode),
    passkey: Type.Optional(
      Type.Object(
        { ceremony: Ceremony, response: AuthenticationResponse },
        {
          ...strict,
          description: 'A passkey assertion: `ceremony` and `options` from POST /api/auth/passkeys/options.',
        },
      ),
    ),
    delivery: Type.Optional(Delivery),
  },
  strict,
);
const EnrollBody = Type.Object({ challenge: Challenge }, strict);
const EnrollConfirmBody = Type.Object({ challenge: Challenge, code: Code, delivery: Type.Optional(Delivery) }, strict);
const EnrollPasskeyBody = Type.Object(
  {
    challenge: Challenge,
    ceremony: Ceremony,
    response: RegistrationResponse,
    name: PasskeyName,
    delivery: Type.Optional(Delivery),
  },
  strict,
);

const tags = ['auth'];
const publicRoute = { auth: 'public' as const };
const read = { auth: { scope: 'read' as const } };
const write = { auth: { scope: 'chat' as const } };

/** Second-factor settings need a signed-in person, never an API key. */
const sessionActor = (request: FastifyRequest) => requireSession(request, 'Manage the second factor from a session.');

/**
 * Second factor routes (docs/accounts.md "Second factor"): /api/me/mfa/* for a signed-in user, /api/auth/mfa/*
 * for the second step of a log-in (with the challenge log-in answered), including the forced enrolment of a role
 * that requires a factor.
 */
export default async function mfaRoutes(
  app: FastifyInstance,
  opts: { config: AppConfig; accounts: AccountsService; mfa: MfaService; passkeys: Passkeys },
) {
  const { config, accounts, mfa, passkeys } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const deliver = sessionDeliverer(config);
  const perIp = policy('auth_mfa_ip', config.limits.auth.verifyPerIp);
  const ipLimit = (request: FastifyRequest) => app.rateLimit.enforce(`${perIp.name}:${request.ip}`, perIp);

  /** The challenge's user, still allowed in. */
  async function challengedUser(challenge: string, pending: 'mfa_required' | 'mfa_enrollment_required') {
    return accounts.activeUser(await mfa.readChallenge(challenge, pending));
  }

  const startSession = (request: FastifyRequest, userId: string, how: string) =>
    accounts.logIn(userId, meta(request), { secondFactor: how });

  // ---------- log-in, second step ----------

  r.post(
    '/api/auth/mfa/verify',
    { config: publicRoute, schema: { tags, body: VerifyBody, response: { 200: SessionTokens } } },
    async (request, reply) => {
      await ipLimit(request);
      const user = await challengedUser(request.body.challenge, 'mfa_required');
      const { passkey, ...codes } = request.body;
      const how = await mfa.checkSecondFactor(user.id, {
        ...codes,
        ...(passkey
          ? { passkey: { ceremony: passkey.ceremony, response: passkey.response as AuthenticationResponseJSON } }
          : {}),
      });
      await mfa.resetThrottle(user.id);
      const issued = await startSession(request, user.id, how);
      return deliver(reply, issued, request.body.delivery ?? 'cookie');
    },
  );

  r.post(
    '/api/auth/mfa/enroll',
    { config: publicRoute, schema: { tags, body: EnrollBody, response: { 200: Enrollment } } },
    async (request, reply) => {
      await ipLimit(request);
      const user = await challengedUser(request.body.challenge, 'mfa_enrollment_required');
      reply.header('cache-control', 'no-store');
      return mfa.startEnrollment(user);
    },
  );

  r.post(
    '/api/auth/mfa/enroll/confirm',
    {
      config: publicRoute,
      schema: {
        tags,
        body: EnrollConfirmBody,
        response: { 200: SessionWithCodes },
      },
    },
    async (request, reply) => {
      await ipLimit(request);
      const user = await challengedUser(request.body.challenge, 'mfa_enrollment_required');
      const recoveryCodes = await mfa.confirmEnrollment(user.id, request.body.code, request.ip);
      const issued = await startSession(request, user.id, 'totp_enrolled');
      reply.header('cache-control', 'no-store');
      return { ...deliver(reply, issued, request.body.delivery ?? 'cookie'), recoveryCodes };
    },
  );

  // A role that requires a factor may enrol a passkey instead of TOTP: registration with the enrolment challenge.
  r.post(
    '/api/auth/mfa/enroll/passkey/options',
    { config: publicRoute, schema: { tags, body: EnrollBody, response: { 200: OptionsAnswer } } },
    async (request) => {
      await ipLimit(request);
      const user = await challengedUser(request.body.challenge, 'mfa_enrollment_required');
      return passkeys.registrationOptions(user);
    },
  );

  r.post(
    '/api/auth/mfa/enroll/passkey/verify',
    { config: publicRoute, schema: { tags, body: EnrollPasskeyBody, response: { 200: SessionTokens } } },
    async (request, reply) => {
      await ipLimit(request);
      const { challenge, delivery, ...registration } = request.body;
      const user = await challengedUser(challenge, 'mfa_enrollment_required');
      await passkeys.register(
        user.id,
        { ...registration, response: registration.response as RegistrationResponseJSON },
        request.ip,
        request.log,
      );
      const issued = await startSession(request, user.id, 'passkey_enrolled');
      return deliver(reply, issued, delivery ?? 'cookie');
    },
  );

  // ---------- /api/me/mfa ----------

  r.get('/api/me/mfa', { config: read, schema: { tags: ['me'], response: { 200: MfaStatus } } }, async (request) => {
    const actor = actorOf(request);
    return mfa.status(actor.userId, actor.role);
  });

  r.post(
    '/api/me/mfa/totp',
    { config: write, schema: { tags: ['me'], response: { 201: Enrollment } } },
    async (request, reply) => {
      const actor = sessionActor(request);
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await mfa.startEnrollment(await accounts.accountOf(actor)));
    },
  );

  r.post(
    '/api/me/mfa/totp/confirm',
    { config: write, schema: { tags: ['me'], body: CodeBody, response: { 200: RecoveryCodes } } },
    async (request, reply) => {
      const actor = sessionActor(request);
      const recoveryCodes = await mfa.confirmEnrollment(actor.userId, request.body.code, request.ip);
      reply.header('cache-control', 'no-store');
      return { recoveryCodes };
    },
  );

  r.post(
    '/api/me/mfa/totp/disable',
    { config: write, schema: { tags: ['me'], body: DisableBody } },
    async (request, reply) => {
      const actor = sessionActor(request);
      await mfa.disable(actor.userId, request.body, request.ip);
      return reply.code(204).send();
    },
  );

  r.post(
    '/api/me/mfa/recovery-codes',
    { config: write, schema: { tags: ['me'], body: CodeBody, response: { 200: RecoveryCodes } } },
    async (request, reply) => {
      const actor = sessionActor(request);
      const recoveryCodes = await mfa.regenerateRecoveryCodes(actor.userId, request.body.code, request.ip);
      reply.header('cache-control', 'no-store');
      return { recoveryCodes };
    },
  );
}
