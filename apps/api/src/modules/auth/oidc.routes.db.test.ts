import { externalIdentities } from '@genz/db/schema';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { startTestIdp, type TestIdp, type TestIdpPerson } from '../../test/oidc-idp.ts';
import { createTestUser } from '../../test/users.ts';
import { totpCode } from './mfa-totp.ts';
import { mapGroups, OIDC_COOKIE, OIDC_LOGOUT_COOKIE } from './oidc.routes.ts';

const PUBLIC = 'http://localhost:3000';
const REDIRECT = `${PUBLIC}/api/auth/oidc/callback`;
const SIGNED_OUT = `${PUBLIC}/login`;
/** Who may sign in at the test IdP: the devInteractions login form accepts any login id (the password is ignored). */
const people: Record<string, TestIdpPerson> = {
  alice: { email: 'alice@idp.test', email_verified: true, groups: ['staff', 'genz-admins'] },
  bob: { email: 'bob@idp.test', email_verified: true, groups: ['paying'] },
};

let t: TestApp;
let idp: TestIdp;
let issuer: string;

beforeAll(async () => {
  idp = await startTestIdp({ redirectUri: REDIRECT, postLogoutRedirectUri: SIGNED_OUT, people });
  issuer = idp.issuer;
  t = await buildTestApp({
    'oidc.issuerUrl': issuer,
    'oidc.clientId': idp.clientId,
    'oidc.clientSecret': idp.clientSecret,
    'oidc.allowInsecureHttp': true,
    'oidc.postLogoutRedirectUri': SIGNED_OUT,
    'oidc.groupMappings': [
      { group: 'genz-admins', role: 'admin' },
      { group: 'paying', plan: 'pro' },
    ],
    'limits.auth.loginPerIp': { rate: 1000, periodMs: 60_000, burst: 1000 },
  });
});
afterAll(async () => {
  await t?.close();
  await idp?.close();
});

type Jar = Map<string, string>;

/** One request of the browser at the IdP, keeping its cookies in `jar`. */
async function idpFetch(jar: Jar, url: string, body?: URLSearchParams) {
  const res = await fetch(url, {
    method: body ? 'POST' : 'GET',
    redirect: 'manual',
    headers: {
      cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
      ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(body ? { body } : {}),
  });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const eq = pair?.indexOf('=') ?? -1;
    if (pair && eq > 0) jar.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return res;
}

/** A browser at the IdP: cookies kept per response, redirects followed by hand, the login form submitted. */
async function signInAtIdp(authorizeUrl: string, login: string, jar: Jar = new Map()): Promise<URL> {
  let url = authorizeUrl;
  let body: URLSearchParams | undefined;
  for (let hop = 0; hop < 20; hop++) {
    const res = await idpFetch(jar, url, body);
    body = undefined;
    const location = res.headers.get('location');
    if (location) {
      const next = new URL(location, url);
      if (next.href.startsWith(REDIRECT)) return next;
      url = next.href;
      continue;
    }
    const html = await res.text();
    const action = /action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`IdP answered ${res.status} without a form: ${html.slice(0, 300)}`);
    url = new URL(action, url).href;
    body = html.includes('name="login"')
      ? new URLSearchParams({ prompt: 'login', login, password: 'any' })
      : new URLSearchParams({ prompt: 'consent' });
  }
  throw new Error('too many redirects at the IdP');
}

/** The whole browser round trip: start at the app, sign in at the IdP, come back to the callback. */
async function oidcLogin(login: string, jar: Jar = new Map()) {
  const start = await t.app.inject({ method: 'GET', url: '/api/auth/oidc/start' });
  expect(start.statusCode).toBe(302);
  const location = String(start.headers.location);
  expect(location.startsWith(`${issuer}/auth?`)).toBe(true);
  const authorize = new URL(location);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  const stateCookie = start.cookies.find((c) => c.name === OIDC_COOKIE);
  expect(stateCookie?.httpOnly).toBe(true);
  const back = await signInAtIdp(location, login, jar);
  const callback = await t.app.inject({
    method: 'GET',
    url: `${back.pathname}${back.search}`,
    cookies: { [OIDC_COOKIE]: stateCookie?.value ?? '' },
  });
  return { callback, back, stateCookie: stateCookie?.value ?? '' };
}

describe('OIDC log-in against a real oidc-provider', () => {
  it('is announced to the log-in page by GET /api/auth/signup-mode', async () => {
    expect((await t.app.inject({ url: '/api/auth/signup-mode' })).json()).toMatchObject({ oidc: 'oidc' });
  });

  it('creates the user on first sight, maps groups to role, sets session cookies and redirects home', async () => {
    const { callback } = await oidcLogin('alice');
    expect(callback.statusCode, callback.body).toBe(302);
    expect(callback.headers.location).toBe(`${PUBLIC}/`);
    const access = callback.cookies.find((c) => c.name === 'gz_at');
    expect(access?.value).toBeTruthy();
    const me = await t.app.inject({ method: 'GET', url: '/api/me', cookies: { gz_at: access?.value ?? '' } });
    expect(me.json()).toMatchObject({ email: 'alice@idp.test', role: 'admin', emailVerified: true });
    const rows = await t.app.db.db.select().from(externalIdentities).where(eq(externalIdentities.subject, 'alice'));
    expect(rows).toMatchObject([{ provider: 'oidc:oidc', userId: me.json().id }]);

    // The same person again: the same user.
    const again = await oidcLogin('alice');
    const me2 = await t.app.inject({
      method: 'GET',
      url: '/api/me',
      cookies: { gz_at: again.callback.cookies.find((c) => c.name === 'gz_at')?.value ?? '' },
    });
    expect(me2.json().id).toBe(me.json().id);
  });

  it('maps a group to a plan', async () => {
    const { callback } = await oidcLogin('bob');
    const access = callback.cookies.find((c) => c.name === 'gz_at')?.value ?? '';
    const me = await t.app.inject({ method: 'GET', url: '/api/me', cookies: { gz_at: access } });
    expect(me.json()).toMatchObject({ email: 'bob@idp.test', role: 'user', plan: 'pro' });
  });

  it('refuses a callback without the state cookie, with another state, or replayed', async () => {
    const start = await t.app.inject({ method: 'GET', url: '/api/auth/oidc/start' });
    const location = String(start.headers.location);
    const back = await signInAtIdp(location, 'carol');
    const noCookie = await t.app.inject({ method: 'GET', url: `${back.pathname}${back.search}` });
    expect(noCookie.statusCode).toBe(401);
    // A state cookie from another start (another browser) does not match this code's state.
    const other = await t.app.inject({ method: 'GET', url: '/api/auth/oidc/start' });
    const foreign = other.cookies.find((c) => c.name === OIDC_COOKIE)?.value ?? '';
    const mismatch = await t.app.inject({
      method: 'GET',
      url: `${back.pathname}${back.search}`,
      cookies: { [OIDC_COOKIE]: foreign },
    });
    expect(mismatch.statusCode).toBe(401);
    const tampered = await t.app.inject({
      method: 'GET',
      url: `${back.pathname}${back.search}`,
      cookies: { [OIDC_COOKIE]: `${foreign}x` },
    });
    expect(tampered.statusCode).toBe(401);
  });

  it('maps groups by config', () => {
    const m = [
      { group: 'a', role: 'admin' as const },
      { group: 'b', plan: 'pro' },
      { group: 'c', role: 'user' as const, plan: 'free' },
    ];
    expect(mapGroups(['b', 'a'], m)).toEqual({ role: 'admin', plan: 'pro' });
    expect(mapGroups(['c'], m)).toEqual({ role: 'user', plan: 'free' });
    expect(mapGroups(['z'], m)).toEqual({});
  });
});

/** Whether the IdP still knows the browser: a new authorize comes straight back (true) or asks to log in (false). */
async function idpSessionAlive(jar: Jar): Promise<boolean> {
  const start = await t.app.inject({ method: 'GET', url: '/api/auth/oidc/start' });
  let url = String(start.headers.location);
  for (let hop = 0; hop < 20; hop++) {
    const res = await idpFetch(jar, url);
    const location = res.headers.get('location');
    if (!location) return !(await res.text()).includes('name="login"');
    const next = new URL(location, url);
    if (next.href.startsWith(REDIRECT)) return true;
    url = next.href;
  }
  throw new Error('too many redirects at the IdP');
}

describe('RP-initiated logout', () => {
  it("log-out of an OIDC session sends the browser to the provider's end_session_endpoint, which ends it there", async () => {
    const jar: Jar = new Map();
    const { callback } = await oidcLogin('erin', jar);
    expect(callback.statusCode, callback.body).toBe(302);
    const cookie = (name: string) => callback.cookies.find((c) => c.name === name);
    expect(cookie(OIDC_LOGOUT_COOKIE)).toMatchObject({ httpOnly: true, path: '/api/auth' });
    expect(await idpSessionAlive(jar)).toBe(true);

    const out = await t.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { origin: PUBLIC },
      cookies: {
        gz_at: cookie('gz_at')?.value ?? '',
        gz_rt: cookie('gz_rt')?.value ?? '',
        [OIDC_LOGOUT_COOKIE]: cookie(OIDC_LOGOUT_COOKIE)?.value ?? '',
      },
    });
    expect(out.statusCode, out.body).toBe(200);
    expect(out.cookies.find((c) => c.name === OIDC_LOGOUT_COOKIE)?.value).toBe('');
    const end = new URL(out.json<{ redirectTo: string }>().redirectTo);
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
      end_session_endpoint: string;
    };
    expect(`${end.origin}${end.pathname}`).toBe(discovery.end_session_endpoint);
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(SIGNED_OUT);
    expect(end.searchParams.get('client_id')).toBe('genz');
    expect(end.searchParams.get('id_token_hint')?.split('.')).toHaveLength(3);
    // The local session is over already.
    expect((await t.app.inject({ url: '/api/me', cookies: { gz_at: cookie('gz_at')?.value ?? '' } })).statusCode).toBe(
      401,
    );

    // The browser at the provider: its log-out page, confirmed, ends the IdP session and comes back to us.
    const page = await idpFetch(jar, end.href);
    expect(page.status, 'the provider accepts the id_token_hint and the redirect').toBe(200);
    const html = await page.text();
    const action = /action="([^"]+)"/.exec(html)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    expect(action && xsrf).toBeTruthy();
    const confirmed = await idpFetch(
      jar,
      new URL(action ?? '', end).href,
      new URLSearchParams({ xsrf: xsrf ?? '', logout: 'yes' }),
    );
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.get('location')?.startsWith(SIGNED_OUT)).toBe(true);
    expect(await idpSessionAlive(jar)).toBe(false);
  });

  it('a form post gets a 303 to the provider; other sessions log out locally only (204)', async () => {
    const { callback } = await oidcLogin('frank');
    const cookie = (name: string) => callback.cookies.find((c) => c.name === name)?.value ?? '';
    const navigate = await t.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { origin: PUBLIC, 'sec-fetch-mode': 'navigate' },
      cookies: { gz_rt: cookie('gz_rt'), [OIDC_LOGOUT_COOKIE]: cookie(OIDC_LOGOUT_COOKIE) },
    });
    expect(navigate.statusCode).toBe(303);
    expect(String(navigate.headers.location).startsWith(`${issuer}/`)).toBe(true);

    // A leftover log-out cookie does not send another user's log-out to the IdP.
    const again = await oidcLogin('frank');
    const stale = again.callback.cookies.find((c) => c.name === OIDC_LOGOUT_COOKIE)?.value ?? '';
    const someoneElse = await createTestUser(t.app);
    const local = await t.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      payload: { refreshToken: someoneElse.refreshToken },
      cookies: { [OIDC_LOGOUT_COOKIE]: stale },
    });
    expect(local.statusCode).toBe(204);
  });

  it('also after a log-in finished with a second factor (the session starts at POST /api/auth/mfa/verify)', async () => {
    const first = await oidcLogin('gina');
    const gz_at = first.callback.cookies.find((c) => c.name === 'gz_at')?.value ?? '';
    const userId = (await t.app.inject({ url: '/api/me', cookies: { gz_at } })).json().id as string;
    const { secret } = await t.app.mfa.startEnrollment({ id: userId, email: 'gina@idp.test' });
    const [recoveryCode] = await t.app.mfa.confirmEnrollment(userId, totpCode(secret), '127.0.0.1');

    const { callback } = await oidcLogin('gina');
    const location = new URL(String(callback.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(`${PUBLIC}/login`);
    const pending = new URLSearchParams(location.hash.slice(1));
    expect(pending.get('status')).toBe('mfa_required');
    expect(callback.cookies.find((c) => c.name === 'gz_at')).toBeUndefined();
    const logoutCookie = callback.cookies.find((c) => c.name === OIDC_LOGOUT_COOKIE)?.value ?? '';
    expect(logoutCookie).not.toBe('');

    const done = await t.app.inject({
      method: 'POST',
      url: '/api/auth/mfa/verify',
      payload: { challenge: pending.get('challenge'), recoveryCode },
    });
    expect(done.statusCode, done.body).toBe(200);
    const out = await t.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { origin: PUBLIC },
      cookies: {
        gz_rt: done.cookies.find((c) => c.name === 'gz_rt')?.value ?? '',
        [OIDC_LOGOUT_COOKIE]: logoutCookie,
      },
    });
    expect(out.statusCode, out.body).toBe(200);
    expect(out.json().redirectTo.startsWith(`${issuer}/`)).toBe(true);
  });
});
