import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { waitFor } from '../../test/net.ts';
import { allPages } from '../../test/pages.ts';
import { createTestApiKey, createTestUser } from '../../test/users.ts';

const ORIGIN = 'http://localhost:3000';
let t: TestApp;

beforeAll(async () => {
  // Every request comes from 127.0.0.1: per-IP budgets are raised so the per-account one is what this file tests.
  const roomy = { rate: 1000, periodMs: 60_000, burst: 1000 };
  t = await buildTestApp({
    'limits.auth.loginPerAccount': { rate: 5, periodMs: 60_000, burst: 5 },
    'limits.auth.loginPerIp': roomy,
    'limits.auth.signupPerIp': roomy,
    'limits.auth.verifyPerIp': roomy,
  });
});
afterAll(() => t?.close());

const post = (url: string, payload?: object, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, ...(payload ? { payload } : {}), headers });

function tokenFromOutbox(to: string, path: string): string {
  const mail = t.app.mailer.outbox().find((m) => m.to === to && m.text.includes(path));
  const match = mail?.text.match(/token=([A-Za-z0-9_-]+)/);
  if (!match?.[1]) throw new Error(`no ${path} mail for ${to}`);
  return match[1];
}

describe('first admin', () => {
  it('refuses sign-up until the logged setup link has been used, then creates the admin once', async () => {
    const early = await post('/api/auth/signup', { email: 'early@example.com', password: 'a long enough password' });
    expect(early.statusCode).toBe(403);
    expect(early.json().code).toBe('signup_closed');

    const line = await waitFor(async () => t.logs.find((l) => l.includes('setupUrl')), 5000, 'the setup link');
    const token = /setup\?token=([A-Za-z0-9_-]+)/.exec(line)?.[1] ?? '';
    const res = await post('/api/auth/setup', { token, email: 'Admin@Example.com', password: 'admin password 123' });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ email: 'admin@example.com', role: 'admin' });
    const again = await post('/api/auth/setup', { token, email: 'other@example.com', password: 'admin password 123' });
    expect(again.statusCode).toBe(400);
    expect(again.json().code).toBe('invalid_token');
  });
});

describe('sign-up, verification and log-in', () => {
  it('answers the same for new and taken addresses and mails either way', async () => {
    const a = await post('/api/auth/signup', { email: 'Bob@Example.com', password: 'bob password 123' });
    const b = await post('/api/auth/signup', { email: 'bob@example.com', password: 'another password 1' });
    expect(a.statusCode).toBe(202);
    expect(b.statusCode).toBe(202);
    expect(a.json()).toEqual(b.json());
    const mails = t.app.mailer.outbox().filter((m) => m.to === 'bob@example.com');
    expect(mails.map((m) => m.subject).sort()).toEqual([
      'Confirm your email address',
      'Someone tried to sign up with your address',
    ]);
  });

  it('verifies an email once with the mailed token; /api/me shows it at once (the cached account is evicted)', async () => {
    const session = await post('/api/auth/login', {
      email: 'bob@example.com',
      password: 'bob password 123',
      delivery: 'bearer',
    });
    const headers = { authorization: `Bearer ${session.json().accessToken}` };
    const before = await t.app.inject({ url: '/api/me', headers });
    expect(before.json()).toMatchObject({ email: 'bob@example.com', emailVerified: false });
    const token = tokenFromOutbox('bob@example.com', '/verify-email');
    const ok = await post('/api/auth/verify-email', { token });
    expect(ok.statusCode).toBe(200);
    expect((await t.app.inject({ url: '/api/me', headers })).json()).toMatchObject({ emailVerified: true });
    const reused = await post('/api/auth/verify-email', { token });
    expect(reused.statusCode).toBe(400);
    expect(reused.json().code).toBe('invalid_token');
  });

  it('logs in with bearer delivery and reads /api/me; wrong password and unknown email look the same', async () => {
    const res = await post('/api/auth/login', {
      email: 'BOB@example.com',
      password: 'bob password 123',
      delivery: 'bearer',
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.accessToken).toBeTypeOf('string');
    const me = await t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${body.accessToken}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ email: 'bob@example.com', role: 'user', emailVerified: true, via: 'session' });

    const wrong = await post('/api/auth/login', { email: 'bob@example.com', password: 'not the password' });
    const unknown = await post('/api/auth/login', { email: 'nobody@example.com', password: 'not the password' });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    const strip = (b: Record<string, unknown>) => ({ ...b, requestId: undefined });
    expect(strip(wrong.json())).toEqual(strip(unknown.json()));
  });

  it('gives browsers HttpOnly SameSite=Lax cookies and checks the origin of cookie-authenticated writes', async () => {
    const res = await post('/api/auth/login', { email: 'bob@example.com', password: 'bob password 123' });
    expect(res.statusCode).toBe(200);
    expect(res.json().accessToken).toBeUndefined();
    const cookies = res.cookies;
    const at = cookies.find((c) => c.name === 'gz_at');
    const rt = cookies.find((c) => c.name === 'gz_rt');
    expect(at).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    expect(at?.secure).toBeFalsy(); // PUBLIC_URL is http://localhost
    expect(rt).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/api/auth' });
    const cookie = `gz_at=${at?.value}; gz_rt=${rt?.value}`;

    expect((await t.app.inject({ url: '/api/me', headers: { cookie } })).statusCode).toBe(200);
    const forged = await t.app.inject({
      method: 'POST',
      url: '/api/me/api-keys',
      headers: { cookie, origin: 'https://evil.example' },
      payload: { name: 'x', scopes: ['read'] },
    });
    expect(forged.statusCode).toBe(403);
    expect(forged.json().code).toBe('csrf_failed');
    const noOrigin = await t.app.inject({
      method: 'POST',
      url: '/api/me/api-keys',
      headers: { cookie },
      payload: { name: 'x', scopes: ['read'] },
    });
    expect(noOrigin.json().code).toBe('csrf_failed');
    const same = await t.app.inject({
      method: 'POST',
      url: '/api/me/api-keys',
      headers: { cookie, origin: ORIGIN },
      payload: { name: 'x', scopes: ['read'] },
    });
    expect(same.statusCode).toBe(201);

    const refreshed = await post('/api/auth/refresh', undefined, { cookie: `gz_rt=${rt?.value}`, origin: ORIGIN });
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.cookies.find((c) => c.name === 'gz_rt')?.value).not.toBe(rt?.value);
  });
});

describe('sessions', () => {
  it('rotates refresh tokens and revokes the whole family when a used one comes back', async () => {
    const login = (
      await post('/api/auth/login', { email: 'bob@example.com', password: 'bob password 123', delivery: 'bearer' })
    ).json();
    const first = await post('/api/auth/refresh', { refreshToken: login.refreshToken });
    expect(first.statusCode).toBe(200);
    const rotated = first.json();
    expect(rotated.refreshToken).not.toBe(login.refreshToken);
    expect(rotated.sessionId).toBe(login.sessionId);

    const replay = await post('/api/auth/refresh', { refreshToken: login.refreshToken });
    expect(replay.statusCode).toBe(401);
    // The thief's replay ended the family: the legitimate newer tokens die too.
    expect((await post('/api/auth/refresh', { refreshToken: rotated.refreshToken })).statusCode).toBe(401);
    const me = await t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${rotated.accessToken}` } });
    expect(me.statusCode).toBe(401);
  });

  it('lists devices and revokes one or all others', async () => {
    const u = await createTestUser(t.app);
    const other = await t.app.accounts.issueSession(u.id, { ip: '10.0.0.9', userAgent: 'phone' });
    const list = await t.app.inject({ url: '/api/me/sessions', headers: u.headers });
    expect(list.json().items).toHaveLength(2);
    expect(list.json().items.find((s: { current: boolean }) => s.current).id).toBe(u.sessionId);

    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/me/sessions/${other.sessionId}`,
      headers: u.headers,
    });
    expect(del.statusCode).toBe(204);
    const gone = await t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${other.accessToken}` } });
    expect(gone.statusCode).toBe(401);

    await t.app.accounts.issueSession(u.id, { ip: '10.0.0.9' });
    const all = await t.app.inject({ method: 'DELETE', url: '/api/me/sessions', headers: u.headers });
    expect(all.json()).toEqual({ revoked: 1 });
    expect((await t.app.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(200);

    const logout = await post('/api/auth/logout', {}, u.headers);
    expect(logout.statusCode).toBe(204);
    expect((await t.app.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(401);
  });
});

describe('API keys', () => {
  it('are shown once, work only as Authorization: Bearer, honour scopes and die when revoked', async () => {
    const u = await createTestUser(t.app);
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/me/api-keys',
      headers: u.headers,
      payload: { name: 'cli', scopes: ['read'] },
    });
    expect(created.statusCode).toBe(201);
    const { key, id, prefix } = created.json();
    expect(key).toMatch(/^gz_[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(prefix)).toBe(true);
    const list = await t.app.inject({ url: '/api/me/api-keys', headers: u.headers });
    expect(list.json().items[0]).toMatchObject({ id, name: 'cli', prefix });
    expect(JSON.stringify(list.json())).not.toContain(key);

    const me = await t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${key}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ via: 'api_key', scopes: ['read'] });

    for (const headers of [{ 'x-api-key': key }, { 'api-key': key }, { authorization: `Basic ${key}` }]) {
      const res = await t.app.inject({ url: '/api/me', headers });
      expect(res.statusCode, JSON.stringify(headers)).toBe(401);
    }
    expect((await t.app.inject({ url: `/api/me?api_key=${key}` })).statusCode).toBe(401);
    // Even on a public route and next to a valid session.
    expect((await t.app.inject({ url: `/api/auth/signup-mode?key=${key}`, headers: u.headers })).statusCode).toBe(401);

    const scoped = await t.app.inject({
      method: 'DELETE',
      url: '/api/me/sessions',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(scoped.statusCode).toBe(403);
    expect(scoped.json().code).toBe('insufficient_scope');

    const keyMakesKey = await createTestApiKey(t.app, u, ['chat', 'read']);
    const viaKey = await t.app.inject({
      method: 'POST',
      url: '/api/me/api-keys',
      headers: keyMakesKey.headers,
      payload: { name: 'x', scopes: ['read'] },
    });
    expect(viaKey.statusCode).toBe(403);
    expect(viaKey.json().code).toBe('session_required');

    const admin = await t.app.inject({
      method: 'POST',
      url: '/api/me/api-keys',
      headers: u.headers,
      payload: { name: 'x', scopes: ['admin'] },
    });
    expect(admin.statusCode).toBe(403);

    const revoked = await t.app.inject({ method: 'DELETE', url: `/api/me/api-keys/${id}`, headers: u.headers });
    expect(revoked.statusCode).toBe(204);
    expect((await t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(401);
  });

  it('page newest first with a keyset cursor that never repeats or skips, leaving revoked keys out', async () => {
    const u = await createTestUser(t.app);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await createTestApiKey(t.app, u, ['read'])).id);
    await t.app.inject({ method: 'DELETE', url: `/api/me/api-keys/${made[2]}`, headers: u.headers });
    const seen = (await allPages<{ id: string }>(t.app, '/api/me/api-keys', u.headers, 2)).map((k) => k.id);
    expect(seen).toEqual([made[4], made[3], made[1], made[0]]);
  });

  it('record last use in batches', async () => {
    const u = await createTestUser(t.app);
    const k = await createTestApiKey(t.app, u, ['read']);
    await t.app.inject({ url: '/api/me', headers: k.headers });
    await t.app.accounts.flushTouches();
    const list = await t.app.inject({ url: '/api/me/api-keys', headers: u.headers });
    expect(list.json().items[0].lastUsedAt).not.toBeNull();
  });
});

describe('throttling and bad input', () => {
  it('throttles log-in attempts per account with 429, Retry-After and RateLimit headers', async () => {
    const u = await createTestUser(t.app);
    let last = await post('/api/auth/login', { email: u.email, password: 'wrong password 1' });
    for (let i = 0; i < 6 && last.statusCode !== 429; i++) {
      last = await post('/api/auth/login', { email: u.email, password: 'wrong password 1' });
    }
    expect(last.statusCode).toBe(429);
    expect(last.json().code).toBe('rate_limited');
    expect(Number(last.headers['retry-after'])).toBeGreaterThan(0);
    expect(last.headers['ratelimit-limit']).toBe('5');
    expect(last.headers['ratelimit-remaining']).toBe('0');
    // Even the right password waits: the limit is on attempts, not failures.
    expect((await post('/api/auth/login', { email: u.email, password: u.password })).statusCode).toBe(429);
  });

  it('answers malformed email, unicode tricks, weak passwords, wrong content type and overlong fields with 4xx', async () => {
    const cases: [object | string, number, string][] = [
      [{ email: 'not-an-email', password: 'good password 1' }, 400, 'validation_failed'],
      [{ email: 'bo\u200bb@example.com', password: 'good password 1' }, 400, 'validation_failed'],
      [{ email: '\u0430dmin@example.com', password: 'good password 1' }, 400, 'validation_failed'],
      [{ email: 'x@example.com', password: 'short' }, 400, 'weak_password'],
      [{ email: 'x@example.com', password: 'password123' }, 400, 'weak_password'],
      [{ email: 'x@example.com', password: 'x@example.com' }, 400, 'weak_password'],
      [{ email: `${'a'.repeat(600)}@example.com`, password: 'good password 1' }, 400, 'validation_failed'],
      [{ email: 'x@example.com', password: 'p'.repeat(2000) }, 400, 'validation_failed'],
      [{ email: 'x@example.com', password: 'good password 1', admin: true }, 400, 'validation_failed'],
    ];
    for (const [payload, status, code] of cases) {
      const res = await post('/api/auth/signup', payload as object);
      expect(res.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(status);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.json().code).toBe(code);
    }
    const text = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: 'email=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(text.statusCode).toBe(415);
    const fullWidth = await post('/api/auth/login', {
      email: 'ｂｏｂ@example.com',
      password: 'bob password 123',
      delivery: 'bearer',
    });
    expect(fullWidth.statusCode).toBe(200); // NFKC: full-width letters are the same address
    const noToken = await post('/api/auth/password-reset/confirm', {
      token: 'x'.repeat(40),
      newPassword: 'new password 123',
    });
    expect(noToken.statusCode).toBe(400);
    expect(noToken.json().code).toBe('invalid_token');
  });
});
