import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../api/src/test/net.ts';
import { startTestIdp, type TestIdp } from '../../api/src/test/oidc-idp.ts';
import { apiFromPage, axeViolations, type LaunchedBrowser, launchBrowser, logIn, PASSWORD, signUp } from './browser';
import { STACK_START_MS, type Stack, startStack } from './stack';
import { totpCode } from './totp';

/**
 * Accounts against the real API (PGlite, demo model; admins must use a second factor): the first admin from the
 * setup link made to enrol an authenticator app at its first log-in, sign-up validation,
 * sign up / log out / log in, the second step of a log-in with an authenticator app, API keys shown once and
 * revoked, the admin pages for admins only; and single sign-on against a real OpenID Provider (`oidc-provider` on
 * 127.0.0.1, the helper the API's own OIDC tests use): the IdP's login form, the callback through the web proxy,
 * RP-initiated log-out ending the session at the IdP, and a second factor handed over to
 * `/login#status=mfa_required&challenge=…` and finished there.
 */
let idp: TestIdp;
let stack: Stack;
let browser: LaunchedBrowser;

beforeAll(async () => {
  // The IdP registers the app's redirect URIs, so the web origin is fixed before either starts.
  const webPort = await freePort();
  const url = `http://127.0.0.1:${webPort}`;
  idp = await startTestIdp({
    redirectUri: `${url}/api/auth/oidc/callback`,
    postLogoutRedirectUri: `${url}/login`,
    people: { erin: { email: 'erin@idp.test', email_verified: true, groups: [] } },
  });
  stack = await startStack({
    demoChunkDelayMs: 0,
    webPort,
    config: {
      // Admins must use a second factor: the first admin is made to enrol one at its first log-in.
      mfa: { requireForAdmins: true },
      oidc: {
        issuerUrl: idp.issuer,
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        allowInsecureHttp: true,
        postLogoutRedirectUri: `${url}/login`,
      },
    },
  });
  browser = await launchBrowser();
}, STACK_START_MS);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await idp?.close();
});

describe('accounts in the browser (real API)', () => {
  it('creates the first admin from the logged setup link; its first log-in enrols TOTP, then the chat and the user list', async () => {
    const page = await browser.context.newPage();
    // Before setup, sign-up is closed and says why.
    await page.goto(`${stack.url}/signup`);
    const signup = page.getByRole('form', { name: 'Create account' });
    await signup.getByLabel('Email').fill('early@example.com');
    await signup.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await signup.getByLabel('Repeat the password').fill(PASSWORD);
    await signup.getByRole('button', { name: 'Create account' }).click();
    await signup.getByRole('alert').filter({ hasText: 'Sign-up is closed' }).waitFor();

    await page.goto(`${stack.url}${stack.setupPath}`);
    const form = page.getByRole('form', { name: 'Create the administrator' });
    await form.getByLabel('Email').fill('root@example.com');
    await form.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await form.getByLabel('Repeat the password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Create the administrator' }).click();
    await page.getByText('The administrator is created.').waitFor();

    // Admins require a second factor and this one has none: the password leads to enrolling an authenticator app,
    // with no session before the first code is confirmed.
    await page.goto(`${stack.url}/login`);
    const login = page.getByRole('form', { name: 'Sign in' });
    await login.getByLabel('Email').fill('root@example.com');
    await login.getByLabel('Password').fill(PASSWORD);
    await login.getByRole('button', { name: 'Sign in' }).click();
    const enrol = page.getByRole('form', { name: 'Set up a second factor' });
    await enrol.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    expect(await axeViolations(page), 'axe on the forced enrolment').toEqual([]);
    expect((await apiFromPage(page, '/api/me')).status).toBe(401);
    const secret = (await enrol.locator('code.secret').textContent()) ?? '';
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);

    const code = totpCode(secret);
    await enrol.getByLabel('6-digit code').fill(String((Number(code) + 1) % 1_000_000).padStart(6, '0'));
    await enrol.getByRole('button', { name: 'Turn on and continue' }).click();
    await enrol.getByRole('alert').filter({ hasText: 'That code is not valid' }).waitFor();
    expect((await apiFromPage(page, '/api/me')).status).toBe(401);

    await enrol.getByLabel('6-digit code').fill(code);
    await enrol.getByRole('button', { name: 'Turn on and continue' }).click();
    // Signed in now; the recovery codes are shown this once, then the app goes on to the chat.
    const codes = page.getByRole('region', { name: 'Recovery codes' });
    await codes.getByRole('listitem').first().waitFor();
    expect(await codes.getByRole('listitem').count()).toBe(10);
    await codes.getByRole('button', { name: 'I saved them' }).click();
    await page.waitForURL(`${stack.url}/chat`);
    await page.getByRole('textbox', { name: 'Message' }).waitFor();
    expect((await apiFromPage(page, '/api/me')).body).toMatchObject({ email: 'root@example.com', role: 'admin' });
    expect((await apiFromPage(page, '/api/me/mfa')).body).toMatchObject({ totp: true, required: true });

    await page.goto(`${stack.url}/admin`);
    await page.getByRole('cell', { name: 'root@example.com' }).waitFor();
    expect(await axeViolations(page), 'axe on /admin').toEqual([]);
    await page.close();
  });

  it('validates sign-up like the API does, before sending', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${stack.url}/signup`);
    const form = page.getByRole('form', { name: 'Create account' });
    await form.getByLabel('Email').fill('not-an-email');
    await form.getByLabel('Password', { exact: true }).fill('short');
    await form.getByRole('button', { name: 'Create account' }).click();
    await expect(form.getByText('Enter an email address like name@example.com.').isVisible()).resolves.toBe(true);
    await expect(form.getByText('The password must be at least 10 characters.').isVisible()).resolves.toBe(true);
    expect(await axeViolations(page), 'axe on /signup').toEqual([]);
    await page.close();
  });

  it('signs up, logs out (the session is gone) and logs in again; a wrong password shows the API detail', async () => {
    const page = await browser.context.newPage();
    await signUp(page, stack.url, 'dora@example.com');
    await page.goto(`${stack.url}/logout`);
    await page.waitForURL(/\/login/);
    expect((await apiFromPage(page, '/api/me')).status).toBe(401);
    // A signed-in page now sends the visitor to log in, and back afterwards.
    await page.goto(`${stack.url}/settings/profile`);
    await page.waitForURL(/\/login\?next=%2Fsettings%2Fprofile/);

    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Email').fill('dora@example.com');
    await form.getByLabel('Password').fill('not the password at all');
    await form.getByRole('button', { name: 'Sign in' }).click();
    await form.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();

    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${stack.url}/settings/profile`);
    const me = await apiFromPage<{ email: string; role: string }>(page, '/api/me');
    expect(me.body).toMatchObject({ email: 'dora@example.com', role: 'user' });
    await page.close();
  });

  it('asks for the authenticator code after the password: a wrong code is refused, the right one signs in', async () => {
    const page = await browser.context.newPage();
    await signUp(page, stack.url, 'tess@example.com');
    const started = await apiFromPage<{ secret: string }>(page, '/api/me/mfa/totp', { method: 'POST' });
    expect(started.status).toBe(201);
    const { secret } = started.body;
    const confirmed = await apiFromPage<{ recoveryCodes: string[] }>(page, '/api/me/mfa/totp/confirm', {
      body: { code: totpCode(secret) },
    });
    expect(confirmed.status).toBe(200);
    const recoveryCode = confirmed.body.recoveryCodes[0] ?? '';
    await page.goto(`${stack.url}/logout`);
    await page.waitForURL(/\/login/);

    await page.goto(`${stack.url}/login?next=${encodeURIComponent('/settings/security')}`);
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Email').fill('tess@example.com');
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign in' }).click();
    const step = page.getByRole('form', { name: 'Confirm it is you' });
    await step.getByLabel('6-digit code').waitFor();
    // The password alone started no session.
    expect((await apiFromPage(page, '/api/me')).status).toBe(401);
    expect(await axeViolations(page), 'axe on the second step').toEqual([]);

    // Each code works once and enrolment spent the current one: the next 30 s step is inside the allowed skew.
    const code = totpCode(secret, Date.now() + 30_000);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    await step.getByLabel('6-digit code').fill(wrong);
    await step.getByRole('button', { name: 'Continue' }).click();
    await step.getByRole('alert').filter({ hasText: 'That code is not valid' }).waitFor();
    expect((await apiFromPage(page, '/api/me')).status).toBe(401);

    await step.getByLabel('6-digit code').fill(code);
    await step.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${stack.url}/settings/security`);
    const me = await apiFromPage<{ email: string }>(page, '/api/me');
    expect(me.body).toMatchObject({ email: 'tess@example.com' });

    // A recovery code answers the same step, once.
    await page.goto(`${stack.url}/logout`);
    await page.waitForURL(/\/login/);
    await form.getByLabel('Email').fill('tess@example.com');
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await step.getByRole('button', { name: 'Use a recovery code' }).click();
    await step.getByLabel('Recovery code').fill(recoveryCode);
    await step.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${stack.url}/chat`);
    expect((await apiFromPage(page, '/api/me')).status).toBe(200);
    await page.close();
  });

  it('creates an API key that is shown once and works on /v1, then revokes it', async () => {
    const page = await browser.context.newPage();
    await logIn(page, stack.url, 'dora@example.com', '/settings/api-keys');
    const form = page.getByRole('form', { name: 'Create key' });
    await form.getByLabel('Name').fill('laptop');
    await form.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('new-key').textContent()) ?? '';
    expect(secret).toMatch(/^gz_[A-Za-z0-9_-]{43}$/);
    await page.getByRole('button', { name: 'Copy' }).waitFor();

    const models = await fetch(`${stack.apiUrl}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
    expect(models.status).toBe(200);

    // Shown once: after a reload only the name and prefix are left.
    await page.reload();
    const row = page.getByRole('row').filter({ hasText: 'laptop' });
    await row.waitFor();
    expect(await page.getByTestId('new-key').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);

    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('Key “laptop” revoked.').waitFor();
    expect(await page.getByRole('row').filter({ hasText: 'laptop' }).count()).toBe(0);
    const after = await fetch(`${stack.apiUrl}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
    expect(after.status).toBe(401);
    await page.close();
  });

  it('a throttled card says to wait (a bare 429, no Retry-After) and its retry button loads the data', async () => {
    const page = await browser.context.newPage();
    await logIn(page, stack.url, 'dora@example.com');
    // What a proxy in front of the API sends when it throttles: 429 with no Retry-After and no problem body. Once;
    // the retry goes to the real API.
    await page.route('**/api/me/usage', (route) => route.fulfill({ status: 429, body: '' }), { times: 1 });
    await page.goto(`${stack.url}/settings/usage`);
    const card = page.locator('section.card').filter({ has: page.getByRole('heading', { name: 'Usage against' }) });
    const alert = card.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('Too many attempts. Wait a moment and try again. Try again');
    expect(await card.getByRole('status').count(), 'no loading line beside the error').toBe(0);

    await alert.getByRole('button', { name: 'Try again' }).click();
    await card.getByRole('table', { name: 'Usage against your limits' }).waitFor();
    expect(await card.getByRole('alert').count()).toBe(0);
    expect(await card.getByRole('status').count()).toBe(0);
    await page.close();
  });

  it('keeps a normal user out of admin: no link, no data, and the API refuses too', async () => {
    const page = await browser.context.newPage();
    await logIn(page, stack.url, 'dora@example.com');
    expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await page.goto(`${stack.url}/admin`);
    await page.getByRole('alert').filter({ hasText: 'not allowed' }).waitFor();
    expect(await page.getByRole('cell', { name: 'root@example.com' }).count()).toBe(0);
    const users = await apiFromPage(page, '/api/admin/users');
    expect(users.status).toBe(403);
    const promote = await apiFromPage(page, '/api/admin/users/00000000-0000-7000-8000-000000000000', {
      method: 'PATCH',
      body: { role: 'admin' },
    });
    expect(promote.status).toBe(403);
    await page.close();
  });
});

/** From /login: the single sign-on button, then the IdP's own login form (any password) unless it knows the browser. */
async function signOnAtIdp(page: Page, login: string): Promise<void> {
  await page.goto(`${stack.url}/login`);
  await page.getByRole('link', { name: 'Sign in with single sign-on (oidc)' }).click();
  await page.waitForURL(`${idp.issuer}/**`);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('anything');
  await page.getByRole('button', { name: 'Sign-in' }).click();
}

/** /logout sends the browser to the IdP's end-session page; confirming there comes back to /login. */
async function logOutEverywhere(page: Page): Promise<void> {
  await page.goto(`${stack.url}/logout`);
  await page.waitForURL(`${idp.issuer}/**`);
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await page.waitForURL(`${stack.url}/login`);
}

// After the accounts above: an account made on first sight at the IdP needs sign-up open, i.e. the first admin.
describe('single sign-on in the browser (real API, real IdP)', () => {
  it('signs in at the IdP and comes back signed in; log-out ends the IdP session too and returns to /login', async () => {
    const page = await browser.context.newPage();
    await signOnAtIdp(page, 'erin');
    await page.waitForURL(`${stack.url}/`);
    const me = await apiFromPage(page, '/api/me');
    expect(me).toMatchObject({ status: 200, body: { email: 'erin@idp.test', emailVerified: true } });

    await logOutEverywhere(page);
    expect((await apiFromPage(page, '/api/me')).status).toBe(401);
    // The IdP forgot the browser: single sign-on asks for the login again instead of coming straight back.
    await page.getByRole('link', { name: 'Sign in with single sign-on (oidc)' }).click();
    await page.waitForURL(`${idp.issuer}/**`);
    await page.locator('input[name="login"]').waitFor();
    await page.close();
  });

  it('hands a second factor over to /login#status=mfa_required and finishes the log-in there', async () => {
    const page = await browser.context.newPage();
    await signOnAtIdp(page, 'erin');
    await page.waitForURL(`${stack.url}/`);
    const started = await apiFromPage<{ secret: string }>(page, '/api/me/mfa/totp', { method: 'POST' });
    expect(started.status).toBe(201);
    const { secret } = started.body;
    const confirmed = await apiFromPage(page, '/api/me/mfa/totp/confirm', { body: { code: totpCode(secret) } });
    expect(confirmed.status).toBe(200);
    await logOutEverywhere(page);

    const handOvers: string[] = [];
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame() && frame.url().includes('#status=')) handOvers.push(frame.url());
    });
    await signOnAtIdp(page, 'erin');
    const step = page.getByRole('form', { name: 'Confirm it is you' });
    await step.getByLabel('6-digit code').waitFor();
    expect(handOvers[0]).toMatch(new RegExp(`^${stack.url}/login#status=mfa_required&challenge=`));
    // The challenge stands in for the password: it is gone from the address bar, and no session started yet.
    expect(page.url()).toBe(`${stack.url}/login`);
    expect((await apiFromPage(page, '/api/me')).status).toBe(401);

    // Enrolment spent the current code; the next 30 s step is inside the allowed skew.
    await step.getByLabel('6-digit code').fill(totpCode(secret, Date.now() + 30_000));
    await step.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${stack.url}/chat`);
    expect((await apiFromPage(page, '/api/me')).body).toMatchObject({ email: 'erin@idp.test' });

    // That session came from the IdP too: its log-out still goes through the IdP.
    await logOutEverywhere(page);
    expect((await apiFromPage(page, '/api/me')).status).toBe(401);
    await page.close();
  });
});
