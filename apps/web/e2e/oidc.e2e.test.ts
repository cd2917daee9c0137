import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../api/src/test/net.ts';
import { startTestIdp, type TestIdp } from '../../api/src/test/oidc-idp.ts';
import { apiFromPage, type LaunchedBrowser, launchBrowser, PASSWORD } from './browser';
import { STACK_START_MS, type Stack, setUpAdmin, startStack } from './stack';
import { totpCode } from './totp';

/**
 * Single sign-on in the browser against a real OpenID Provider (`oidc-provider` on 127.0.0.1, the helper the API's
 * own OIDC tests use): the log-in button, the IdP's login form, the callback through the web proxy; RP-initiated
 * log-out ending the session at the IdP and coming back to /login; and a second factor handed over to
 * `/login#status=mfa_required&challenge=…` and finished there. Its own stack: the API needs the IdP in its config.
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
      oidc: {
        issuerUrl: idp.issuer,
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        allowInsecureHttp: true,
        postLogoutRedirectUri: `${url}/login`,
      },
    },
  });
  // Sign-up (and so an account made on first sight at the IdP) is closed until the first admin exists.
  await setUpAdmin(stack, 'root@example.com', PASSWORD);
  browser = await launchBrowser();
}, STACK_START_MS);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await idp?.close();
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
