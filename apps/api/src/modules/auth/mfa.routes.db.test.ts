import { userFactors } from '@genz/db/schema';
import { createTestDb, type TestDb } from '@genz/db/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestUser, type TestUser } from '../../test/users.ts';
import { totpCode } from './mfa-totp.ts';

const roomy = { rate: 1000, periodMs: 60_000, burst: 1000 };
const overrides = {
  'limits.auth.loginPerAccount': roomy,
  'limits.auth.loginPerIp': roomy,
  'limits.auth.verifyPerIp': roomy,
};

function client(t: TestApp) {
  const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url, payload, headers });
  const login = (u: Pick<TestUser, 'email' | 'password'>) =>
    post('/api/auth/login', { email: u.email, password: u.password, delivery: 'bearer' });
  return { post, login };
}

/** Enrols `u` through /api/me/mfa and answers the seed and recovery codes. */
async function enroll(t: TestApp, u: TestUser) {
  const { post } = client(t);
  const started = await post('/api/me/mfa/totp', {}, u.headers);
  expect(started.statusCode).toBe(201);
  expect(started.headers['cache-control']).toBe('no-store');
  const { secret, otpauthUri } = started.json<{ secret: string; otpauthUri: string }>();
  expect(otpauthUri).toContain(`secret=${secret}`);
  const wrong = await post('/api/me/mfa/totp/confirm', { code: '000000' }, u.headers);
  expect(wrong.statusCode).toBe(401);
  const ok = await post('/api/me/mfa/totp/confirm', { code: totpCode(secret) }, u.headers);
  expect(ok.statusCode).toBe(200);
  const { recoveryCodes } = ok.json<{ recoveryCodes: string[] }>();
  return { secret, recoveryCodes };
}

// The three apps below differ only in their MFA settings and each uses users of its own: one database for all
// three instead of one booted per app.
let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db?.dispose());

describe('TOTP second factor', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ ...overrides, encryptionKey: 'an encryption key of at least 32 characters' }, { db });
  });
  afterAll(() => t?.close());

  it('enrols, then log-in asks for a code; a code works once, a recovery code once', async () => {
    const { post, login } = client(t);
    const u = await createTestUser(t.app);
    const { secret, recoveryCodes } = await enroll(t, u);
    expect(recoveryCodes).toHaveLength(10);

    const [stored] = await t.app.db.db.select().from(userFactors).where(eq(userFactors.userId, u.id));
    expect(stored?.secret.startsWith('v1.')).toBe(true);
    expect(stored?.secret).not.toContain(secret);

    const status = await t.app.inject({ method: 'GET', url: '/api/me/mfa', headers: u.headers });
    expect(status.json()).toEqual({
      totp: true,
      pendingEnrollment: false,
      recoveryCodesLeft: 10,
      passkeys: 0,
      required: false,
    });

    const first = await login(u);
    expect(first.statusCode).toBe(200);
    const pending = first.json<{ status: string; challenge: string; accessToken?: string }>();
    expect(pending.status).toBe('mfa_required');
    expect(pending.accessToken).toBeUndefined();
    expect(first.headers['set-cookie']).toBeUndefined();
    // The challenge is no access token.
    const asBearer = await t.app.inject({
      method: 'GET',
      url: '/api/me',
      headers: { authorization: `Bearer ${pending.challenge}` },
    });
    expect(asBearer.statusCode).toBe(401);

    const bad = await post('/api/auth/mfa/verify', { challenge: pending.challenge, code: '123456' });
    expect(bad.statusCode).toBe(401);
    // The enrolment consumed the current step: the next one (within the ±1 window) is fresh.
    const code = totpCode(secret, Date.now() + 30_000);
    const good = await post('/api/auth/mfa/verify', { challenge: pending.challenge, code, delivery: 'bearer' });
    expect(good.statusCode).toBe(200);
    const tokens = good.json<{ accessToken: string }>();
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/me',
      headers: { authorization: `Bearer ${tokens.accessToken}` },
    });
    expect(me.statusCode).toBe(200);

    const replay = await post('/api/auth/mfa/verify', { challenge: pending.challenge, code });
    expect(replay.statusCode).toBe(401);

    const rc = recoveryCodes[0] ?? '';
    const second = (await login(u)).json<{ challenge: string }>();
    const byRecovery = await post('/api/auth/mfa/verify', {
      challenge: second.challenge,
      recoveryCode: rc.toUpperCase(),
    });
    expect(byRecovery.statusCode).toBe(200);
    expect(byRecovery.headers['set-cookie']).toBeDefined();
    const again = await post('/api/auth/mfa/verify', { challenge: second.challenge, recoveryCode: rc });
    expect(again.statusCode).toBe(401);
    const left = await t.app.inject({ method: 'GET', url: '/api/me/mfa', headers: u.headers });
    expect(left.json().recoveryCodesLeft).toBe(9);
  });

  it('disabling takes the password and a code; afterwards log-in is one step again', async () => {
    const { post, login } = client(t);
    const u = await createTestUser(t.app);
    const { recoveryCodes } = await enroll(t, u);
    const noPassword = await post(
      '/api/me/mfa/totp/disable',
      { password: 'wrong password!', recoveryCode: recoveryCodes[0] ?? '' },
      u.headers,
    );
    expect(noPassword.statusCode).toBe(401);
    const noCode = await post('/api/me/mfa/totp/disable', { password: u.password, code: '000000' }, u.headers);
    expect(noCode.statusCode).toBe(401);
    const off = await post(
      '/api/me/mfa/totp/disable',
      { password: u.password, recoveryCode: recoveryCodes[1] ?? '' },
      u.headers,
    );
    expect(off.statusCode).toBe(204);
    const plain = await login(u);
    expect(plain.json().accessToken).toBeDefined();
  });

  it('refuses an expired, forged or wrong-purpose challenge', async () => {
    const { post } = client(t);
    const u = await createTestUser(t.app);
    const forged = await post('/api/auth/mfa/verify', { challenge: `${'x'.repeat(30)}.y.z`, code: '123456' });
    expect(forged.statusCode).toBe(400);
    const enrolChallenge = await t.app.mfa.challenge(u.id, 'mfa_enrollment_required');
    const wrongPurpose = await post('/api/auth/mfa/verify', { challenge: enrolChallenge.challenge, code: '123456' });
    expect(wrongPurpose.statusCode).toBe(400);
    // API keys cannot manage the factor.
    const viaKey = await post('/api/me/mfa/totp', {}, { authorization: 'Bearer not-a-session' });
    expect(viaKey.statusCode).toBe(401);
  });
});

describe('throttling codes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ ...overrides, 'mfa.codeAttempts': { rate: 3, periodMs: 60_000, burst: 3 } }, { db });
  });
  afterAll(() => t?.close());

  it('answers 429 after the per-user budget of wrong codes, even with a right one', async () => {
    const { post, login } = client(t);
    const u = await createTestUser(t.app);
    const { secret } = await enroll(t, u);
    const { challenge } = (await login(u)).json<{ challenge: string }>();
    for (let i = 0; i < 3; i++) {
      expect((await post('/api/auth/mfa/verify', { challenge, code: '000000' })).statusCode).toBe(401);
    }
    const limited = await post('/api/auth/mfa/verify', { challenge, code: totpCode(secret, Date.now() + 30_000) });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
  });
});

describe('admins must use a second factor', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ ...overrides, 'mfa.requireForAdmins': true }, { db });
  });
  afterAll(() => t?.close());

  it('makes an admin without a factor enrol before any session, then asks for codes; cannot disable', async () => {
    const { post, login } = client(t);
    const admin = await createTestUser(t.app, { role: 'admin' });
    const first = await login(admin);
    const pending = first.json<{ status: string; challenge: string }>();
    expect(pending.status).toBe('mfa_enrollment_required');
    // The enrolment challenge does not pass for the verify step.
    const skip = await post('/api/auth/mfa/verify', { challenge: pending.challenge, code: '123456' });
    expect(skip.statusCode).toBe(400);

    const started = await post('/api/auth/mfa/enroll', { challenge: pending.challenge });
    expect(started.statusCode).toBe(200);
    const { secret } = started.json<{ secret: string }>();
    const done = await post('/api/auth/mfa/enroll/confirm', {
      challenge: pending.challenge,
      code: totpCode(secret),
      delivery: 'bearer',
    });
    expect(done.statusCode).toBe(200);
    const body = done.json<{ accessToken: string; recoveryCodes: string[] }>();
    expect(body.recoveryCodes).toHaveLength(10);
    const headers = { authorization: `Bearer ${body.accessToken}` };
    expect((await t.app.inject({ method: 'GET', url: '/api/me/mfa', headers })).json()).toMatchObject({
      totp: true,
      required: true,
    });

    // Enrolled: the next log-in asks for a code; a second enrolment through the challenge is refused.
    const next = (await login(admin)).json<{ status: string }>();
    expect(next.status).toBe('mfa_required');
    const off = await post(
      '/api/me/mfa/totp/disable',
      { password: admin.password, recoveryCode: body.recoveryCodes[0] ?? '' },
      headers,
    );
    expect(off.statusCode).toBe(403);

    // Plain users are not affected.
    const user = await createTestUser(t.app);
    expect((await login(user)).json().accessToken).toBeDefined();
  });
});
