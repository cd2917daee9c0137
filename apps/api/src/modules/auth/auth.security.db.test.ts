import { createSecretKey } from 'node:crypto';
import { base64url, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, TEST_AUTH_SECRETS, type TestApp } from '../../test/app.ts';
import { waitFor } from '../../test/net.ts';
import { createTestApiKey, createTestUser, type TestUser } from '../../test/users.ts';

const [kid = '', secret = ''] = TEST_AUTH_SECRETS.split(':');
const testKey = createSecretKey(Buffer.from(secret));
const roomy = { rate: 1000, periodMs: 60_000, burst: 1000 };

let t: TestApp;
let alice: TestUser;
beforeAll(async () => {
  t = await buildTestApp({
    'limits.auth.loginPerIp': roomy,
    'limits.auth.signupPerIp': roomy,
    'limits.auth.verifyPerIp': roomy,
  });
  alice = await createTestUser(t.app);
});
afterAll(() => t?.close());

async function sign(
  overrides: {
    kid?: string;
    key?: ReturnType<typeof createSecretKey>;
    iss?: string;
    aud?: string;
    exp?: number;
    sub?: string;
  } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sid: alice.sessionId })
    .setProtectedHeader({ alg: 'HS256', kid: overrides.kid ?? kid })
    .setSubject(overrides.sub ?? alice.id)
    .setIssuer(overrides.iss ?? t.config.auth.issuer)
    .setAudience(overrides.aud ?? t.config.auth.audience)
    .setIssuedAt(now)
    .setExpirationTime(overrides.exp ?? now + 60)
    .sign(overrides.key ?? testKey);
}

const me = (token: string) => t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } });

describe('access tokens', () => {
  it('accept a well-formed token signed with the configured key (control)', async () => {
    expect((await me(await sign())).statusCode).toBe(200);
  });

  it('are rejected when forged, alg none, wrongly keyed, expired, for another audience or issuer, or by an unknown kid', async () => {
    const good = await sign();
    const [h, p, s] = good.split('.');
    const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString());
    const forgedPayload = base64url.encode(JSON.stringify({ ...payload, sub: '00000000-0000-7000-8000-000000000000' }));
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', kid, typ: 'JWT' }))}.${p}.`;
    const cases: Record<string, string> = {
      'forged payload': `${h}.${forgedPayload}.${s}`,
      'tampered signature': `${h}.${p}.${(s ?? '').slice(0, -2)}AA`,
      'alg none': none,
      'alg none, no kid': `${base64url.encode(JSON.stringify({ alg: 'none' }))}.${p}.`,
      'wrong key': await sign({ key: createSecretKey(Buffer.from('another-secret-another-secret-0123456789')) }),
      expired: await sign({ exp: Math.floor(Date.now() / 1000) - 10 }),
      'wrong audience': await sign({ aud: 'someone-else' }),
      'wrong issuer': await sign({ iss: 'https://evil.example' }),
      'revoked kid': await sign({ kid: 'old-key' }),
      garbage: 'not.a.jwt',
    };
    for (const [name, token] of Object.entries(cases)) {
      const res = await me(token);
      expect(res.statusCode, name).toBe(401);
      expect(res.headers['content-type'], name).toMatch(/problem\+json/);
    }
    expect((await me(cases.expired ?? '')).json().code).toBe('token_expired');
  });

  it('stop working when their key id is removed from AUTH_SECRETS (key rotation)', async () => {
    // The rotated and retired apps are this file's database under other keys (no database of their own to boot),
    // so alice and her session exist there: only the key id decides.
    const rotated = await buildTestApp({ 'auth.secrets': `new:${'n'.repeat(40)},${TEST_AUTH_SECRETS}` }, { db: t.db });
    try {
      const u = await createTestUser(rotated.app);
      expect(u.accessToken.split('.')[0]).toContain(base64url.encode('{"alg":"HS256","kid":"new"').slice(0, 20));
      // Old kid still verifies while listed…
      expect(
        (await rotated.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${await sign()}` } })).statusCode,
      ).toBe(200);
    } finally {
      await rotated.close();
    }
    const retired = await buildTestApp({ 'auth.secrets': `new:${'n'.repeat(40)}` }, { db: t.db });
    try {
      // …and is refused once removed (the same token the control test shows is good on the original keys).
      const res = await retired.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${await sign()}` } });
      expect(res.statusCode).toBe(401);
    } finally {
      await retired.close();
    }
  });
});

describe('secrets', () => {
  it('never reach the logs or error bodies: passwords, tokens, keys, links', async () => {
    const secrets: string[] = [];
    const bodies: string[] = [];
    const track = (res: { body: string }) => {
      bodies.push(res.body);
      return res;
    };
    const password = 'Tr0ub4dor&3-unique-secret';
    secrets.push(password);
    const email = `secret.${Date.now()}@example.com`;
    track(await t.app.inject({ method: 'POST', url: '/api/auth/signup', payload: { email, password } }));
    track(
      await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: `${password}-wrong` } }),
    );
    secrets.push(`${password}-wrong`);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email, password, delivery: 'bearer' },
    });
    const { accessToken, refreshToken } = login.json();
    secrets.push(accessToken, refreshToken);
    const refreshed = (
      await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } })
    ).json();
    secrets.push(refreshed.accessToken, refreshed.refreshToken);
    track(await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } })); // reuse

    const u = await createTestUser(t.app);
    const key = await createTestApiKey(t.app, u, ['read']);
    secrets.push(key.key, u.password, u.accessToken, u.refreshToken);
    track(await t.app.inject({ url: '/api/me', headers: { 'x-api-key': key.key } }));
    track(await t.app.inject({ url: `/api/me?api_key=${key.key}` }));
    track(await t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${key.key.slice(0, -1)}x` } }));

    track(await t.app.inject({ method: 'POST', url: '/api/auth/password-reset/request', payload: { email } }));
    const resetMail = await waitFor(
      async () => t.app.mailer.outbox().find((m) => m.to === email && m.subject === 'Reset your password'),
      5000,
      'the reset mail',
    );
    const resetToken = /token=([A-Za-z0-9_-]+)/.exec(resetMail.text)?.[1] ?? '';
    const verifyMail = t.app.mailer.outbox().find((m) => m.to === email && m.subject.startsWith('Confirm'));
    const verifyToken = /token=([A-Za-z0-9_-]+)/.exec(verifyMail?.text ?? '')?.[1] ?? '';
    secrets.push(resetToken, verifyToken);
    const newPassword = 'a-brand-new-secret-password';
    secrets.push(newPassword);
    track(
      await t.app.inject({
        method: 'POST',
        url: '/api/auth/password-reset/confirm',
        payload: { token: resetToken, newPassword: 'short' },
      }),
    );
    track(
      await t.app.inject({
        method: 'POST',
        url: '/api/auth/password-reset/confirm',
        payload: { token: resetToken, newPassword },
      }),
    );
    track(
      await t.app.inject({
        method: 'POST',
        url: '/api/auth/password-reset/confirm',
        payload: { token: resetToken, newPassword },
      }),
    );
    track(await t.app.inject({ method: 'POST', url: '/api/auth/verify-email', payload: { token: verifyToken } }));
    track(await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: newPassword } }));

    expect(secrets.every((s) => typeof s === 'string' && s.length >= 10)).toBe(true);
    const logs = t.logs.join('\n');
    for (const s of secrets) {
      expect(logs.includes(s), `a secret (${s.slice(0, 4)}…) appears in the logs`).toBe(false);
      for (const body of bodies)
        expect(body.includes(s), `a secret (${s.slice(0, 4)}…) appears in an error body`).toBe(false);
    }
  });
});
