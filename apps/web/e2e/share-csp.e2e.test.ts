import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../api/src/test/net.ts';
import { type ApiProcess, startApiProcess } from '../../api/src/test/process.ts';
import { type LaunchedBrowser, launchBrowser, logIn, PASSWORD, send } from './browser';
import { totpCode } from './totp';
import { startWebServer, type WebServer } from './web-server';

/**
 * The REAL API (a `server.ts` process on PGlite, demo model) behind TWO web processes, as two replicas would run:
 * sharing (a revoked link is gone on both at once, never served from a per-process cache), the strict CSP, the
 * second-factor settings, a passkey as the second step of a log-in, and the admin providers and usage pages, in
 * Chromium. (Not e2e/stack.ts: the signed-in browser uses web process 1 by the name `localhost`, since WebAuthn
 * refuses an IP address as the relying party.)
 */
const ADMIN = 'admin@share.test';

let dataDir: string;
let api: ApiProcess;
let web1: WebServer;
let web2: WebServer;
let owner: LaunchedBrowser;
let visitor: LaunchedBrowser;
/** Web process 1 by name: the API's PUBLIC_URL and the signed-in browser's origin. */
let origin1 = '';

async function collectCspViolations(browser: LaunchedBrowser) {
  // Init scripts run through the DevTools protocol, outside the page's CSP.
  await browser.context.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      w.__csp.push(`${event.effectiveDirective} ${event.blockedURI}`);
    });
  });
}
/** Chromium's virtual authenticator on this page: a platform authenticator that verifies the user (DevTools). */
async function addVirtualAuthenticator(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });
}

const violations = (page: Page) => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'genz-share-e2e-'));
  const webPort = await freePort();
  origin1 = `http://localhost:${webPort}`;
  // A first start creates the PGlite database: slow on a busy machine.
  api = await startApiProcess({ DATA_DIR: dataDir, PUBLIC_URL: origin1, LOG_LEVEL: 'warn' }, 180_000);
  const apiUrl = `http://127.0.0.1:${api.port}`;
  // Both web processes proxy to the same API, as two replicas behind a load balancer would.
  [web1, web2] = await Promise.all([
    startWebServer({ API_INTERNAL_URL: apiUrl }, webPort),
    startWebServer({ API_INTERNAL_URL: apiUrl }),
  ]);
  // The first admin, through the one-time setup link the API logs on a fresh install.
  let token: string | undefined;
  for (const deadline = Date.now() + 30_000; !token; await new Promise((resolve) => setTimeout(resolve, 50))) {
    token = /\/setup\?token=([A-Za-z0-9_-]+)/.exec(api.output())?.[1];
    if (!token && Date.now() > deadline) throw new Error(`no setup link logged:\n${api.output().slice(-2000)}`);
  }
  const setup = await fetch(`${apiUrl}/api/auth/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, email: ADMIN, password: PASSWORD }),
  });
  expect(setup.status, await setup.clone().text()).toBe(201);
  [owner, visitor] = await Promise.all([launchBrowser(), launchBrowser()]);
  await Promise.all([collectCspViolations(owner), collectCspViolations(visitor)]);
}, 300_000);

afterAll(async () => {
  await owner?.close();
  await visitor?.close();
  await web1?.stop();
  await web2?.stop();
  if (api && api.child.exitCode === null) {
    api.child.kill('SIGTERM');
    await new Promise((resolve) => api.child.once('exit', resolve));
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('sharing through two web processes', () => {
  it('shares a chat, shows it logged out on both processes, and a revoke removes it from both at once', async () => {
    const page = await owner.context.newPage();
    await logIn(page, origin1, ADMIN);
    await send(
      page,
      'Look: **bold words** $e^{i\\pi}+1=0$ <img src=x onerror="window.__xss=1"> [bad](javascript:window.__xss=2)',
    );
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}/);
    // The whole reply (a share snapshots finished messages only): the demo model ends with "and restart."
    await page
      .getByText(/and restart\.$/)
      .first()
      .waitFor();
    expect(await violations(page)).toEqual([]); // the streamed reply, rendered as markdown, under the CSP
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const panel = page.getByRole('region', { name: 'Share this chat' });
    await panel.getByRole('button', { name: 'Create link' }).click();
    const link = panel.getByRole('textbox', { name: 'Share link' });
    await link.waitFor();
    const shareUrl = await link.inputValue();
    expect(shareUrl).toMatch(new RegExp(`^${origin1}/share/[A-Za-z0-9_-]{43}$`));
    const sharePath = new URL(shareUrl).pathname;

    // Logged out (another browser profile), through each web process: server-rendered markdown, raw HTML inert.
    const anon = await visitor.context.newPage();
    for (const web of [web1, web2]) {
      const response = await anon.goto(`${web.url}${sharePath}`);
      expect(response?.status()).toBe(200);
      expect(response?.headers()['cache-control']).toContain('no-store');
      const html = await response?.text();
      expect(html).toContain('<strong>bold words</strong>'); // in the server's HTML, not only after hydration
      expect(html).toContain('class="katex"');
      await anon.getByRole('heading', { level: 1 }).waitFor();
      const messages = anon.locator('.share-messages');
      await expect(messages.getByText('You said:').count()).resolves.toBeGreaterThan(0);
      expect(await messages.locator('img').count()).toBe(0);
      expect(await messages.locator('a[href^="javascript:"]').count()).toBe(0);
      expect(await messages.textContent()).toContain('<img src=x onerror=');
      expect(await anon.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
      expect(await violations(anon)).toEqual([]);
    }

    // Revoke in the chat, then read again through BOTH processes at once: gone on each, no stale copy.
    await panel.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('Link revoked.').waitFor();
    const [gone1, gone2] = await Promise.all([fetch(`${web1.url}${sharePath}`), fetch(`${web2.url}${sharePath}`)]);
    expect([gone1.status, gone2.status]).toEqual([404, 404]);
    expect(await gone2.text()).not.toContain('bold words');
    const again = await anon.goto(`${web2.url}${sharePath}`);
    expect(again?.status()).toBe(404);
    await anon.getByText('This link was revoked, has expired, or never existed.').waitFor();
    await anon.close();
    await page.close();
  });
});

describe('strict Content-Security-Policy', () => {
  it('sends a fresh nonce per page, with no unsafe-inline scripts, framing or plugins', async () => {
    const [a, b] = await Promise.all([fetch(`${web1.url}/login`), fetch(`${web1.url}/login`)]);
    const csp = a.headers.get('content-security-policy') ?? '';
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(b.headers.get('content-security-policy')).not.toContain(nonce);
    const scriptSrc = csp.split(';').find((d) => d.trim().startsWith('script-src ')) ?? '';
    expect(scriptSrc).not.toContain('unsafe-inline');
    expect(scriptSrc).not.toContain('unsafe-eval');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("base-uri 'none'");
    // Every script Next rendered carries this response's nonce.
    const html = await a.text();
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
    expect(a.headers.get('x-frame-options')).toBe('DENY');
    expect(a.headers.get('permissions-policy')).toContain('camera=()');
  });

  it('reports no violation on the main pages, signed out and in', async () => {
    const anon = await visitor.context.newPage();
    for (const path of ['/', '/login', '/signup', '/reset-password']) {
      await anon.goto(`${web1.url}${path}`);
      await anon.locator('main, form').first().waitFor();
      expect(await violations(anon), path).toEqual([]);
    }
    await anon.close();
    const page = await owner.context.newPage();
    for (const path of ['/chat', '/settings/profile', '/settings/security', '/settings/api-keys', '/admin']) {
      await page.goto(`${origin1}${path}`);
      await page.locator('main').first().waitFor();
      await page.waitForLoadState('networkidle');
      expect(await violations(page), path).toEqual([]);
    }
    await page.close();
  });

  it('caches /_next/static for a year as immutable and never the HTML; the bundled font loads from this origin', async () => {
    const page = await fetch(`${web1.url}/login`);
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('private, no-store');
    const html = await page.text();
    const script = /<script\b[^>]*\bsrc="(\/_next\/static\/[^"]+\.js)"/.exec(html)?.[1];
    // Next preloads the font in a `Link` header (as early as the response starts), not in the markup.
    const font = /<(\/_next\/static\/media\/[^>]+\.woff2)>; rel=preload; as="font"/.exec(
      page.headers.get('link') ?? '',
    )?.[1];
    expect(script, 'a script chunk in the HTML').toBeTruthy();
    expect(font, 'the preloaded local font in the HTML').toMatch(/inter/i);
    for (const asset of [script, font]) {
      const response = await fetch(`${web1.url}${asset}`);
      expect(response.status, asset).toBe(200);
      expect(response.headers.get('cache-control'), asset).toBe('public, max-age=31536000, immutable');
      await response.arrayBuffer();
    }
    // A client-side navigation's RSC payload is per user too.
    const rsc = await fetch(`${web1.url}/signup`, { headers: { rsc: '1' } });
    expect(rsc.headers.get('cache-control')).toBe('private, no-store');
    await rsc.arrayBuffer();

    // In the browser, under the CSP: the page's text is set in the bundled face, fetched from this origin.
    const anon = await visitor.context.newPage();
    await anon.goto(`${web1.url}/login`);
    const fonts = await anon.evaluate(async () => {
      await document.fonts.ready;
      return {
        body: getComputedStyle(document.body).fontFamily,
        loaded: [...document.fonts].filter((f) => f.status === 'loaded').map((f) => f.family),
        remote: performance
          .getEntriesByType('resource')
          .filter((e) => /\.(woff2?|ttf|otf)(\?|$)/.test(e.name) && !e.name.startsWith(location.origin))
          .map((e) => e.name),
      };
    });
    expect(fonts.body).toMatch(/^"?inter"?,/i);
    expect(fonts.loaded.map((f) => f.replace(/"/g, ''))).toContain('inter');
    expect(fonts.remote).toEqual([]);
    expect(await violations(anon)).toEqual([]);
    await anon.close();
  });

  it('blocks a script and an event handler injected into the page markup', async () => {
    const page = await visitor.context.newPage();
    // Stored XSS as it would arrive: extra markup in the HTML the server sends, under the server's own CSP header.
    await page.route(`${web1.url}/login`, async (route) => {
      const response = await route.fetch();
      const body = (await response.text()).replace(
        '</body>',
        '<script>window.__injected=1</script><img src="/x.png" onerror="window.__onerror=1"></body>',
      );
      await route.fulfill({ response, body });
    });
    await page.goto(`${web1.url}/login`);
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    await page.waitForFunction(() => (window as unknown as { __csp: string[] }).__csp.length >= 2);
    const state = await page.evaluate(() => ({
      injected: (window as unknown as { __injected?: number }).__injected,
      onerror: (window as unknown as { __onerror?: number }).__onerror,
    }));
    expect(state).toEqual({ injected: undefined, onerror: undefined });
    const seen = await violations(page);
    expect(seen.some((v) => v.startsWith('script-src-elem inline'))).toBe(true);
    expect(seen.some((v) => v.startsWith('script-src-attr inline'))).toBe(true);
    // The app itself still runs under the policy: the page hydrated (its nonce'd scripts executed).
    await page.getByRole('form', { name: 'Sign in' }).getByLabel('Email').fill('x');
    await page.close();
  });
});

describe('security settings and admin pages on the real API', () => {
  it('enrols an authenticator app: QR and secret, a code confirms it, recovery codes are shown once', async () => {
    const page = await owner.context.newPage();
    await page.goto(`${origin1}/settings/security`);
    await page.getByRole('button', { name: 'Set up authenticator app' }).click();
    await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    const secret = (await page.locator('code.secret').textContent()) ?? '';
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    await page.getByLabel('6-digit code').fill(totpCode(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    const codes = page.getByRole('region', { name: 'Recovery codes' });
    await codes.waitFor();
    expect(await codes.locator('code').count()).toBeGreaterThanOrEqual(8);
    await codes.getByRole('button', { name: 'I saved them' }).click();
    expect(await page.getByRole('region', { name: 'Recovery codes' }).count()).toBe(0);
    await page.getByText(/^On\./).waitFor();
    await page.reload();
    await page.getByText(/recovery codes left/).waitFor();
    expect(await page.locator('.code-list').count()).toBe(0);
    await page.close();
  });

  it('registers a passkey with the browser, lists it and removes it', async () => {
    const page = await owner.context.newPage();
    await addVirtualAuthenticator(page);
    await page.goto(`${origin1}/settings/security`);
    const section = page.getByRole('region', { name: 'Passkeys' });
    await section.getByText('No passkeys yet.').waitFor();
    await section.getByLabel('Name').fill('Test laptop');
    await section.getByRole('button', { name: 'Add a passkey' }).click();
    await section.getByText('Test laptop').waitFor();
    await page.reload();
    await section.getByText('Test laptop').waitFor();
    await section.getByRole('button', { name: 'Remove' }).click();
    await page.getByText('Passkey Test laptop removed.').waitFor();
    await section.getByText('No passkeys yet.').waitFor();
    await page.close();
  });

  it('signs in with the password and then a passkey as the second step (TOTP is on too)', async () => {
    const page = await owner.context.newPage();
    await addVirtualAuthenticator(page);
    await page.goto(`${origin1}/settings/security`);
    const section = page.getByRole('region', { name: 'Passkeys' });
    await section.getByLabel('Name').fill('Second factor');
    await section.getByRole('button', { name: 'Add a passkey' }).click();
    await section.getByText('Second factor').waitFor();
    await page.goto(`${origin1}/logout`);
    await page.waitForURL(/\/login/);

    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Email').fill(ADMIN);
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign in' }).click();
    const step = page.getByRole('form', { name: 'Confirm it is you' });
    await step.getByLabel('6-digit code').waitFor();
    await step.getByRole('button', { name: 'Use a passkey' }).click();
    await page.waitForURL(`${origin1}/chat`);
    await page.getByRole('textbox', { name: 'Message' }).waitFor();
    await page.close();
  });

  it('shows the admin providers with circuit state and latency, and usage charts', async () => {
    const page = await owner.context.newPage();
    await page.goto(`${origin1}/admin`);
    const providers = page.getByRole('region', { name: 'Providers' });
    await providers
      .getByRole('cell', { name: /Closed/ })
      .first()
      .waitFor();
    expect(await providers.getByRole('rowheader').first().textContent()).toContain('demo');
    const usage = page.getByRole('region', { name: 'Usage and cost, last 30 days' });
    await usage.getByRole('img', { name: 'Tokens per day' }).waitFor();
    await usage.getByRole('img', { name: 'Cost per day (USD)' }).waitFor();
    expect(await usage.locator('.chart-bar').count()).toBeGreaterThan(0);
    await page.close();
  });
});
