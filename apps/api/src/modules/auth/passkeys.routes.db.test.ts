import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { auditEvents } from '@genz/db/schema';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestUser, type TestUser } from '../../test/users.ts';
import { totpCode } from './mfa-totp.ts';

const ORIGIN = 'http://localhost:3000';
const RP_ID = 'localhost';
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

/** A software authenticator: one ES256 (P-256) credential, user verification always on, a counting signer. */
function softwareAuthenticator() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const credentialId = randomBytes(16);
  let counter = 0;
  const cose = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x ?? '', 'base64url')],
      [-3, Buffer.from(jwk.y ?? '', 'base64url')],
    ]),
  );
  const authData = (flags: number, attested?: Buffer) => {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(RP_ID), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  };
  const clientData = (type: string, challenge: string) =>
    Buffer.from(JSON.stringify({ type, challenge, origin: ORIGIN, crossOrigin: false }));
  return {
    id: b64(credentialId),
    create(challenge: string) {
      const idLen = Buffer.alloc(2);
      idLen.writeUInt16BE(credentialId.length);
      const attested = Buffer.concat([Buffer.alloc(16), idLen, credentialId, Buffer.from(cose)]);
      const attestationObject = isoCBOR.encode(
        new Map<string, string | Map<string, never> | Uint8Array>([
          ['fmt', 'none'],
          ['attStmt', new Map<string, never>()],
          ['authData', authData(0x45, attested)],
        ]),
      );
      return {
        id: b64(credentialId),
        rawId: b64(credentialId),
        type: 'public-key',
        response: {
          clientDataJSON: b64(clientData('webauthn.create', challenge)),
          attestationObject: b64(attestationObject),
          transports: ['internal'],
        },
        clientExtensionResults: {},
      };
    },
    get(challenge: string, userHandle: string, key: KeyObject = privateKey) {
      counter++;
      const data = authData(0x05);
      const cd = clientData('webauthn.get', challenge);
      const signature = sign('sha256', Buffer.concat([data, sha256(cd)]), key);
      return {
        id: b64(credentialId),
        rawId: b64(credentialId),
        type: 'public-key',
        response: {
          clientDataJSON: b64(cd),
          authenticatorData: b64(data),
          signature: b64(signature),
          userHandle,
        },
        clientExtensionResults: {},
      };
    },
  };
}

const roomy = { rate: 1000, periodMs: 60_000, burst: 1000 };
let t: TestApp;
beforeAll(async () => {
  // Admins must use a second factor here; plain users are free to (the first test is about plain users).
  t = await buildTestApp({
    'limits.auth.loginPerIp': roomy,
    'limits.auth.loginPerAccount': roomy,
    'limits.auth.verifyPerIp': roomy,
    'mfa.requireForAdmins': true,
  });
});
afterAll(() => t?.close());

const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, payload, headers });

/** Registers `device` as a passkey of the signed-in `u`. */
async function register(u: TestUser, device: ReturnType<typeof softwareAuthenticator>) {
  const reg = await post('/api/me/passkeys/registration/options', {}, u.headers);
  const { ceremony, options } = reg.json<{ ceremony: string; options: { challenge: string } }>();
  const added = await post(
    '/api/me/passkeys/registration/verify',
    { ceremony, response: device.create(options.challenge) },
    u.headers,
  );
  expect(added.statusCode, added.body).toBe(201);
  return added.json<{ id: string }>().id;
}

/** A fresh log-in ceremony answered by `device` for `u`: what the browser sends after navigator.credentials.get(). */
async function assertion(u: { id: string }, device: ReturnType<typeof softwareAuthenticator>) {
  const start = (await post('/api/auth/passkeys/options', {})).json<{
    ceremony: string;
    options: { challenge: string };
  }>();
  return {
    ceremony: start.ceremony,
    response: device.get(start.options.challenge, b64(new TextEncoder().encode(u.id))),
  };
}

const passwordLogin = (u: TestUser) =>
  post('/api/auth/login', { email: u.email, password: u.password, delivery: 'bearer' });

describe('passkeys (WebAuthn) with a software authenticator', () => {
  it('registers a passkey, logs in with it once per ceremony, refuses a wrong signature, removes it', async () => {
    const u = await createTestUser(t.app);
    const device = softwareAuthenticator();

    const reg = await post('/api/me/passkeys/registration/options', {}, u.headers);
    expect(reg.statusCode).toBe(200);
    const { ceremony, options } = reg.json<{ ceremony: string; options: { challenge: string; rp: { id: string } } }>();
    expect(options.rp.id).toBe(RP_ID);
    const wrongChallenge = await post(
      '/api/me/passkeys/registration/verify',
      { ceremony, response: device.create(b64(randomBytes(32))) },
      u.headers,
    );
    expect(wrongChallenge.statusCode).toBe(401);
    const added = await post(
      '/api/me/passkeys/registration/verify',
      { ceremony, response: device.create(options.challenge), name: 'laptop' },
      u.headers,
    );
    expect(added.statusCode, added.body).toBe(201);
    const list = await t.app.inject({ method: 'GET', url: '/api/me/passkeys', headers: u.headers });
    expect(list.json()).toMatchObject([{ name: 'laptop', lastUsedAt: null }]);

    const userHandle = b64(new TextEncoder().encode(u.id));
    const start = (await post('/api/auth/passkeys/options', {})).json<{
      ceremony: string;
      options: { challenge: string };
    }>();
    const assertion = device.get(start.options.challenge, userHandle);
    const ok = await post('/api/auth/passkeys/verify', {
      ceremony: start.ceremony,
      response: assertion,
      delivery: 'bearer',
    });
    expect(ok.statusCode, ok.body).toBe(200);
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/me',
      headers: { authorization: `Bearer ${ok.json().accessToken}` },
    });
    expect(me.json().id).toBe(u.id);

    // The same ceremony cannot be used twice.
    const replay = await post('/api/auth/passkeys/verify', { ceremony: start.ceremony, response: assertion });
    expect(replay.statusCode).toBe(400);

    // A signature by another key fails.
    const next = (await post('/api/auth/passkeys/options', {})).json<{
      ceremony: string;
      options: { challenge: string };
    }>();
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forged = await post('/api/auth/passkeys/verify', {
      ceremony: next.ceremony,
      response: device.get(next.options.challenge, userHandle, stranger),
    });
    expect(forged.statusCode).toBe(401);

    const id = list.json()[0].id as string;
    const other = await createTestUser(t.app);
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/api/me/passkeys/${id}`, headers: other.headers })).statusCode,
    ).toBe(404);
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/api/me/passkeys/${id}`, headers: u.headers })).statusCode,
    ).toBe(204);
    const third = (await post('/api/auth/passkeys/options', {})).json<{
      ceremony: string;
      options: { challenge: string };
    }>();
    const removed = await post('/api/auth/passkeys/verify', {
      ceremony: third.ceremony,
      response: device.get(third.options.challenge, userHandle),
    });
    expect(removed.statusCode).toBe(401);
  });
});

describe('a passkey is a second factor', () => {
  it('a password log-in then asks for it, and a real assertion by that passkey (only) completes it', async () => {
    const u = await createTestUser(t.app);
    const device = softwareAuthenticator();
    await register(u, device);
    expect((await t.app.inject({ url: '/api/me/mfa', headers: u.headers })).json()).toMatchObject({
      totp: false,
      passkeys: 1,
    });

    const first = await passwordLogin(u);
    expect(first.statusCode).toBe(200);
    const pending = first.json<{ status: string; challenge: string; methods: string[]; accessToken?: string }>();
    expect(pending).toMatchObject({ status: 'mfa_required', methods: ['passkey'] });
    expect(pending.accessToken).toBeUndefined();

    // Someone else's passkey does not answer this user's challenge.
    const other = await createTestUser(t.app);
    const otherDevice = softwareAuthenticator();
    await register(other, otherDevice);
    const foreign = await post('/api/auth/mfa/verify', {
      challenge: pending.challenge,
      passkey: await assertion(other, otherDevice),
    });
    expect(foreign.statusCode).toBe(401);

    const mine = await assertion(u, device);
    const done = await post('/api/auth/mfa/verify', {
      challenge: pending.challenge,
      passkey: mine,
      delivery: 'bearer',
    });
    expect(done.statusCode, done.body).toBe(200);
    const me = await t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${done.json().accessToken}` } });
    expect(me.json().id).toBe(u.id);
    // The assertion's ceremony is spent.
    const replay = await post('/api/auth/mfa/verify', { challenge: pending.challenge, passkey: mine });
    expect(replay.statusCode).toBe(400);
    const logins = await t.app.db.db.select().from(auditEvents).where(eq(auditEvents.actorUserId, u.id));
    expect(logins.some((e) => e.event === 'auth.login' && e.data.secondFactor === 'passkey')).toBe(true);
  });

  it('meets a role that requires a second factor: no TOTP enrolment, passkey log-in, and the last one stays', async () => {
    const admin = await createTestUser(t.app, { role: 'admin' });
    // Without any factor the admin is made to enrol.
    expect((await passwordLogin(admin)).json().status).toBe('mfa_enrollment_required');
    const device = softwareAuthenticator();
    const id = await register(admin, device);

    const pending = (await passwordLogin(admin)).json<{ status: string; challenge: string; methods: string[] }>();
    expect(pending).toMatchObject({ status: 'mfa_required', methods: ['passkey'] });
    const done = await post('/api/auth/mfa/verify', {
      challenge: pending.challenge,
      passkey: await assertion(admin, device),
    });
    expect(done.statusCode, done.body).toBe(200);

    // Passkey-only log-in is complete on its own (user verification is required).
    const direct = await post('/api/auth/passkeys/verify', { ...(await assertion(admin, device)), delivery: 'bearer' });
    expect(direct.statusCode, direct.body).toBe(200);

    const last = await t.app.inject({ method: 'DELETE', url: `/api/me/passkeys/${id}`, headers: admin.headers });
    expect(last.statusCode).toBe(403);
    // With TOTP as well, the passkey may go.
    const started = await post('/api/me/mfa/totp', {}, admin.headers);
    const { secret } = started.json<{ secret: string }>();
    expect((await post('/api/me/mfa/totp/confirm', { code: totpCode(secret) }, admin.headers)).statusCode).toBe(200);
    const gone = await t.app.inject({ method: 'DELETE', url: `/api/me/passkeys/${id}`, headers: admin.headers });
    expect(gone.statusCode).toBe(204);
  });
});

describe('enrolling a passkey when the role requires a factor', () => {
  it('the enrolment challenge registers a passkey instead of TOTP and starts the session', async () => {
    const admin = await createTestUser(t.app, { role: 'admin' });
    const pending = (await passwordLogin(admin)).json<{ status: string; challenge: string; methods: string[] }>();
    expect(pending).toMatchObject({ status: 'mfa_enrollment_required', methods: ['totp', 'passkey'] });
    const opts = await post('/api/auth/mfa/enroll/passkey/options', { challenge: pending.challenge });
    expect(opts.statusCode, opts.body).toBe(200);
    const { ceremony, options } = opts.json<{
      ceremony: string;
      options: { challenge: string; user: { name: string } };
    }>();
    expect(options.user.name).toBe(admin.email);
    const device = softwareAuthenticator();
    // A ceremony made for someone else's session does not register here.
    const other = await createTestUser(t.app);
    const foreign = (await post('/api/me/passkeys/registration/options', {}, other.headers)).json<{
      ceremony: string;
      options: { challenge: string };
    }>();
    const mixed = await post('/api/auth/mfa/enroll/passkey/verify', {
      challenge: pending.challenge,
      ceremony: foreign.ceremony,
      response: device.create(foreign.options.challenge),
    });
    expect(mixed.statusCode).toBe(400);

    const done = await post('/api/auth/mfa/enroll/passkey/verify', {
      challenge: pending.challenge,
      ceremony,
      response: device.create(options.challenge),
      name: 'key',
      delivery: 'bearer',
    });
    expect(done.statusCode, done.body).toBe(200);
    const headers = { authorization: `Bearer ${done.json().accessToken}` };
    expect((await t.app.inject({ url: '/api/me/mfa', headers })).json()).toMatchObject({
      totp: false,
      passkeys: 1,
      required: true,
    });
    // From now on the password log-in asks for that passkey.
    expect((await passwordLogin(admin)).json()).toMatchObject({ status: 'mfa_required', methods: ['passkey'] });
  });
});

describe('admin reset of a lost second factor', () => {
  it('removes TOTP, recovery codes and passkeys, ends every session, is audited; only admins may', async () => {
    const admin = await createTestUser(t.app, { role: 'admin' });
    const u = await createTestUser(t.app);
    const device = softwareAuthenticator();
    await register(u, device);
    const { secret } = (await post('/api/me/mfa/totp', {}, u.headers)).json<{ secret: string }>();
    expect((await post('/api/me/mfa/totp/confirm', { code: totpCode(secret) }, u.headers)).statusCode).toBe(200);
    expect((await passwordLogin(u)).json()).toMatchObject({ status: 'mfa_required', methods: ['totp', 'passkey'] });

    // User A cannot reset user B's (or their own) factor.
    const a = await createTestUser(t.app);
    const refused = await t.app.inject({ method: 'DELETE', url: `/api/admin/users/${u.id}/mfa`, headers: a.headers });
    expect(refused.statusCode).toBe(403);
    expect((await t.app.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(200);

    const reset = await t.app.inject({
      method: 'DELETE',
      url: `/api/admin/users/${u.id}/mfa`,
      headers: admin.headers,
    });
    expect(reset.statusCode, reset.body).toBe(200);
    expect(reset.json()).toEqual({ totp: true, recoveryCodes: 10, passkeys: 1, sessionsRevoked: 1 });
    expect((await t.app.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(401);

    // The password alone signs in again; the old passkey no longer does.
    const again = await passwordLogin(u);
    expect(again.json().accessToken).toBeTypeOf('string');
    const headers = { authorization: `Bearer ${again.json().accessToken}` };
    expect((await t.app.inject({ url: '/api/me/mfa', headers })).json()).toMatchObject({ totp: false, passkeys: 0 });
    expect((await post('/api/auth/passkeys/verify', await assertion(u, device))).statusCode).toBe(401);

    const audit = await t.app.db.db.select().from(auditEvents).where(eq(auditEvents.targetId, u.id));
    expect(audit.find((e) => e.event === 'mfa.admin_reset')).toMatchObject({
      actorUserId: admin.id,
      data: { totp: true, recoveryCodes: 10, passkeys: 1, sessionsRevoked: 1 },
    });
    const missing = await t.app.inject({
      method: 'DELETE',
      url: '/api/admin/users/0197ffaf-12b3-7b62-8dde-b8669bdc5850/mfa',
      headers: admin.headers,
    });
    expect(missing.statusCode).toBe(404);
  });
});
