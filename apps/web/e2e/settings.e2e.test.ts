import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiFromPage,
  axeViolations,
  type LaunchedBrowser,
  launchBrowser,
  logIn,
  PASSWORD,
  send,
  signUp,
} from './browser';
import { STACK_START_MS, type Stack, setUpAdmin, startStack } from './stack';

/**
 * Settings and the pages around accounts against the real API (PGlite, demo model): an axe-core scan of every
 * page not scanned elsewhere in light and dark, password change, active sessions revoked from another browser,
 * presets and per-conversation settings read back through the API, the theme switch, the sidebar's infinite scroll,
 * verify-email and password-reset links from the API's dev outbox, an expired session refreshed or sent to log-in
 * and back, no token in web storage, the PWA manifest and the German catalog.
 */
const ADMIN = 'root@example.com';
const NEW_PASSWORD = 'another long enough password';

let stack: Stack;
let browser: LaunchedBrowser;
/** A second browser profile: a second device for sessions, and a signed-out visitor. */
let other: LaunchedBrowser;

beforeAll(async () => {
  stack = await startStack({ demoChunkDelayMs: 0 });
  await setUpAdmin(stack, ADMIN, PASSWORD);
  [browser, other] = await Promise.all([launchBrowser(), launchBrowser()]);
}, STACK_START_MS);

afterAll(async () => {
  await browser?.close();
  await other?.close();
  await stack?.stop();
});

/** A session outside the browser (Node's fetch with the cookies the log-in set), for what only an admin may read. */
async function apiSession(email: string, password = PASSWORD) {
  const login = await fetch(`${stack.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: stack.url },
    body: JSON.stringify({ email, password }),
  });
  expect(login.status, await login.clone().text()).toBe(200);
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  return async <T>(path: string) => {
    const response = await fetch(`${stack.url}${path}`, { headers: { cookie, origin: stack.url } });
    return { status: response.status, body: (await response.json()) as T };
  };
}

/** The link in the newest mail to `to` whose subject starts with `subject`, from the API's dev outbox. */
async function mailedLink(to: string, subject: string, path: string): Promise<string> {
  const admin = await apiSession(ADMIN);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const box = await admin<{ items: { to: string; subject: string; text: string }[] }>('/api/admin/outbox');
    expect(box.status).toBe(200);
    const mail = box.body.items.find((m) => m.to === to && m.subject.startsWith(subject));
    const link = mail ? new RegExp(`${stack.url}${path}\\?token=[A-Za-z0-9_-]+`).exec(mail.text)?.[0] : undefined;
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`no “${subject}” mail to ${to}: ${JSON.stringify(box.body.items)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function setTheme(context: BrowserContext, theme: 'light' | 'dark' | 'system') {
  await context.addCookies([{ name: 'gz_theme', value: theme, url: stack.url }]);
}

const card = (page: Page, heading: string) =>
  page.locator('section.card').filter({ has: page.getByRole('heading', { name: heading, exact: true }) });

describe('settings and account pages in the browser (real API)', () => {
  it('has no serious axe violation on any page, light and dark', async () => {
    const page = await browser.context.newPage();
    await signUp(page, stack.url, 'axe@example.com');
    await send(page, 'Something to share');
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    await page.locator('.message-assistant').last().getByRole('button', { name: 'Regenerate' }).waitFor();
    const conversationId = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    const share = await apiFromPage<{ token: string }>(page, `/api/conversations/${conversationId}/shares`, {
      body: {},
    });
    expect(share.status).toBe(201);
    const anon = await other.context.newPage();

    const found: string[] = [];
    const scan = async (on: Page, path: string, ready: (p: Page) => Promise<unknown>, theme: string) => {
      await on.goto(`${stack.url}${path}`);
      await ready(on);
      await on.waitForLoadState('networkidle');
      for (const v of await axeViolations(on)) found.push(`${theme} ${path}: ${v}`);
    };
    const heading = (p: Page) => p.getByRole('heading', { level: 1 }).first().waitFor();
    for (const theme of ['light', 'dark'] as const) {
      await Promise.all([setTheme(browser.context, theme), setTheme(other.context, theme)]);
      await scan(anon, '/', (p) => p.getByRole('form', { name: 'Sign in' }).waitFor(), theme);
      await scan(anon, '/login', (p) => p.getByRole('form', { name: 'Sign in' }).waitFor(), theme);
      await scan(anon, '/reset-password', (p) => p.getByRole('form', { name: 'Reset your password' }).waitFor(), theme);
      await scan(
        anon,
        '/reset-password?token=not-a-real-token',
        (p) => p.getByRole('form', { name: 'Set the new password' }).waitFor(),
        theme,
      );
      await scan(
        anon,
        '/verify-email?token=not-a-real-token',
        (p) => p.getByRole('alert').filter({ hasText: /\S/ }).waitFor(),
        theme,
      );
      await scan(anon, '/setup', (p) => p.getByRole('alert').filter({ hasText: /\S/ }).waitFor(), theme);
      await scan(anon, `/share/${share.body.token}`, heading, theme);
      await scan(anon, '/signup', (p) => p.getByRole('form', { name: 'Create account' }).waitFor(), theme);
      await scan(page, '/chat', (p) => p.getByRole('textbox', { name: 'Message' }).waitFor(), theme);
      await scan(page, `/chat/${conversationId}`, (p) => p.locator('.message-assistant').first().waitFor(), theme);
      for (const section of ['profile', 'security', 'api-keys', 'usage', 'presets', 'appearance']) {
        await scan(page, `/settings/${section}`, (p) => p.getByRole('heading', { name: 'Settings' }).waitFor(), theme);
      }
    }
    expect(found).toEqual([]);
    await setTheme(browser.context, 'system');
    await setTheme(other.context, 'system');
    await anon.close();
    await page.close();
    // 30 page loads, each waiting for the network to settle and then running axe: minutes on a busy 2-core machine.
  }, 240_000);

  it('changes the password in settings: the new one signs in, the old one no longer does', async () => {
    const page = await browser.context.newPage();
    await signUp(page, stack.url, 'pat@example.com');
    await page.goto(`${stack.url}/settings/security`);
    const form = page.getByRole('form', { name: 'Change password' });
    await form.getByLabel('Current password').fill('not the password at all');
    await form.getByLabel('New password').fill(NEW_PASSWORD);
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    // A wrong current password is an answer to show by that field, not an expired session: no trip to log-in.
    await form.getByText('That is not your current password.').waitFor();
    expect(await form.getByLabel('Current password').getAttribute('aria-invalid')).toBe('true');
    expect(page.url()).toBe(`${stack.url}/settings/security`);

    await form.getByLabel('Current password').fill(PASSWORD);
    await form.getByLabel('New password').fill(NEW_PASSWORD);
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    await form.getByRole('status').filter({ hasText: 'Password changed.' }).waitFor();
    // This session goes on.
    expect((await apiFromPage(page, '/api/me')).status).toBe(200);

    await page.goto(`${stack.url}/logout`);
    await page.waitForURL(/\/login/);
    const old = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.url },
      body: JSON.stringify({ email: 'pat@example.com', password: PASSWORD }),
    });
    expect(old.status).toBe(401);
    await logIn(page, stack.url, 'pat@example.com', '/settings/profile', NEW_PASSWORD);
    expect((await apiFromPage(page, '/api/me')).body).toMatchObject({ email: 'pat@example.com' });
    await page.close();
  });

  it('lists a second device’s session and signs it out from the first; the second is sent to log in', async () => {
    const page = await browser.context.newPage();
    await signUp(page, stack.url, 'sam@example.com');
    const second = await other.context.newPage();
    await logIn(second, stack.url, 'sam@example.com', '/settings/profile');
    await second.getByText('sam@example.com').waitFor();

    await page.goto(`${stack.url}/settings/security`);
    const sessions = card(page, 'Active sessions');
    await sessions.getByText('This device').waitFor();
    const rows = sessions.getByRole('listitem');
    expect(await rows.count()).toBe(2);
    await rows
      .filter({ hasNot: page.getByText('This device') })
      .getByRole('button', { name: 'Sign out' })
      .click();
    await expect.poll(() => rows.count()).toBe(1);
    const listed = await apiFromPage<{ items: { current: boolean }[] }>(page, '/api/me/sessions');
    expect(listed.body.items).toEqual([expect.objectContaining({ current: true })]);

    // The other device's next request fails, its refresh too: it lands on log-in, coming back to where it was.
    await second.goto(`${stack.url}/settings/api-keys`);
    await second.waitForURL(/\/login\?next=%2Fsettings%2Fapi-keys/);
    expect((await apiFromPage(second, '/api/me')).status).toBe(401);
    // The first device is still signed in.
    expect((await apiFromPage(page, '/api/me')).status).toBe(200);
    await second.close();
    await page.close();
  });

  let presetConversation = '';
  it('saves a preset from the chat settings panel, starts a chat from it, and the API stores its settings', async () => {
    const page = await browser.context.newPage();
    await signUp(page, stack.url, 'pia@example.com');
    const models = await apiFromPage<{ items: { id: string; health?: string }[] }>(page, '/api/models');
    const model = models.body.items.find((m) => m.health !== 'down')?.id ?? '';
    expect(model).not.toBe('');

    await page.getByRole('button', { name: 'Conversation settings' }).click();
    const panel = page.getByRole('form', { name: 'Conversation settings' });
    await panel.getByLabel('Model').selectOption(model);
    await panel.getByLabel('System prompt').fill('Answer like a pirate.');
    await panel.getByLabel('Temperature').fill('0.3');
    await panel.getByLabel('Max tokens').fill('256');
    page.once('dialog', (dialog) => void dialog.accept('Pirate'));
    await panel.getByRole('button', { name: 'Save as preset' }).click();
    await page.getByText('Saved.').waitFor();
    const settings = { model, systemPrompt: 'Answer like a pirate.', params: { temperature: 0.3, maxTokens: 256 } };
    const presets = await apiFromPage<{ items: { name: string; settings: unknown }[] }>(page, '/api/presets');
    expect(presets.body.items).toEqual([expect.objectContaining({ name: 'Pirate', settings })]);

    // A fresh chat: nothing filled in until the preset is picked.
    await page.goto(`${stack.url}/chat`);
    await page.getByRole('button', { name: 'Conversation settings' }).click();
    expect(await panel.getByLabel('System prompt').inputValue()).toBe('');
    await panel.getByLabel('Start from a preset').selectOption({ label: 'Pirate' });
    expect(await panel.getByLabel('System prompt').inputValue()).toBe('Answer like a pirate.');
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    await panel.waitFor({ state: 'detached' });
    await send(page, 'Ahoy?');
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    presetConversation = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    await page.locator('.message-assistant').last().getByRole('button', { name: 'Regenerate' }).waitFor();
    const stored = await apiFromPage<{ settings: unknown }>(page, `/api/conversations/${presetConversation}`);
    expect(stored.body.settings).toEqual(settings);
    await page.close();
  });

  it('saves a conversation’s own system prompt and parameters, read back through the API and after a reload', async () => {
    expect(presetConversation).not.toBe('');
    const page = await browser.context.newPage();
    await page.goto(`${stack.url}/chat/${presetConversation}`);
    await page.getByRole('button', { name: 'Conversation settings' }).click();
    const panel = page.getByRole('form', { name: 'Conversation settings' });
    await panel.getByLabel('System prompt').fill('Answer in one short sentence.');
    await panel.getByLabel('Temperature').fill('1.5');
    await panel.getByLabel('Max tokens').fill('');
    // Out of range is refused before sending, saying the range.
    await panel.getByLabel('Temperature').fill('3');
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    await panel.getByRole('alert').filter({ hasText: 'between 0 and 2' }).waitFor();
    await panel.getByLabel('Temperature').fill('1.5');
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    await panel.waitFor({ state: 'detached' });

    const stored = await apiFromPage<{ settings: { systemPrompt?: string; params?: unknown; model?: string } }>(
      page,
      `/api/conversations/${presetConversation}`,
    );
    expect(stored.body.settings.systemPrompt).toBe('Answer in one short sentence.');
    expect(stored.body.settings.params).toEqual({ temperature: 1.5 });
    await page.reload();
    await page.getByRole('button', { name: 'Conversation settings' }).click();
    expect(await panel.getByLabel('System prompt').inputValue()).toBe('Answer in one short sentence.');
    expect(await panel.getByLabel('Temperature').inputValue()).toBe('1.5');
    expect(await panel.getByLabel('Max tokens').inputValue()).toBe('');
    await page.close();
  });

  it('switches the theme light / dark / system; the page follows and the choice survives a reload', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${stack.url}/settings/appearance`);
    const select = page.getByRole('main').getByLabel('Theme');
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const theme = () => page.evaluate(() => document.documentElement.dataset.theme ?? null);
    // Perceived lightness of an rgb() colour, 0..255.
    const lightness = async () => {
      const [r = 0, g = 0, b = 0] = ((await background()).match(/\d+/g) ?? []).map(Number);
      return 0.299 * r + 0.587 * g + 0.114 * b;
    };
    await page.emulateMedia({ colorScheme: 'light' });

    await select.selectOption('dark');
    expect(await theme()).toBe('dark');
    expect(await lightness()).toBeLessThan(80);
    await page.reload();
    expect(await theme()).toBe('dark');
    expect(await lightness()).toBeLessThan(80);
    expect(await page.getByRole('main').getByLabel('Theme').inputValue()).toBe('dark');

    await select.selectOption('light');
    expect(await theme()).toBe('light');
    expect(await lightness()).toBeGreaterThan(180);
    await page.emulateMedia({ colorScheme: 'dark' });
    expect(await lightness()).toBeGreaterThan(180); // an explicit choice overrides the system's
    await page.reload();
    expect(await theme()).toBe('light');

    // System: no attribute, the page follows the operating system's scheme, still after a reload.
    await select.selectOption('system');
    expect(await theme()).toBe(null);
    expect(await lightness()).toBeLessThan(80);
    await page.emulateMedia({ colorScheme: 'light' });
    expect(await lightness()).toBeGreaterThan(180);
    await page.reload();
    expect(await theme()).toBe(null);
    expect(await page.getByRole('main').getByLabel('Theme').inputValue()).toBe('system');
    await page.close();
  });

  it('loads the next page of conversations on scroll: newest first, pinned on top', async () => {
    const page = await browser.context.newPage();
    await signUp(page, stack.url, 'sid@example.com');
    const titles: string[] = [];
    const ids: string[] = [];
    for (let i = 1; i <= 45; i++) {
      const title = `Seeded ${String(i).padStart(2, '0')}`;
      const created = await apiFromPage<{ id: string }>(page, '/api/conversations', { body: { title } });
      expect(created.status).toBe(201);
      titles.push(title);
      ids.push(created.body.id);
    }
    const pinned = await apiFromPage(page, `/api/conversations/${ids[2]}`, { method: 'PATCH', body: { pinned: true } });
    expect(pinned.status).toBe(200);

    await page.goto(`${stack.url}/chat`);
    const nav = page.getByRole('navigation', { name: 'Conversations' });
    const links = nav.getByRole('link');
    await links.first().waitFor();
    await page.waitForLoadState('networkidle');
    const first = await links.count();
    expect(first).toBeLessThan(45);

    const next = page.waitForRequest((r) => /\/api\/conversations\?.*cursor=/.test(r.url()));
    await nav.locator('.sentinel').scrollIntoViewIfNeeded();
    await next;
    await expect.poll(() => links.count()).toBe(45);

    const pinnedTitles = await nav
      .locator('section')
      .filter({ has: page.getByRole('heading', { name: 'Pinned' }) })
      .getByRole('link')
      .allTextContents();
    expect(pinnedTitles.map((t) => t.replace('📌', '').trim())).toEqual(['Seeded 03']);
    const recent = await nav
      .locator('section')
      .filter({ has: page.getByRole('heading', { name: 'Recent' }) })
      .getByRole('link')
      .allTextContents();
    expect(recent).toEqual(titles.filter((t) => t !== 'Seeded 03').reverse());
    await page.close();
  });

  it('confirms the email from the mailed link, and resets a forgotten password from the mailed link', async () => {
    const page = await browser.context.newPage();
    await signUp(page, stack.url, 'vera@example.com');
    expect((await apiFromPage(page, '/api/me')).body).toMatchObject({ emailVerified: false });
    const verify = await mailedLink('vera@example.com', 'Confirm', '/verify-email');
    await page.goto(verify);
    await page.getByRole('status').filter({ hasText: 'Your email address is confirmed.' }).waitFor();
    expect(await axeViolations(page), 'axe on /verify-email (done)').toEqual([]);
    expect((await apiFromPage(page, '/api/me')).body).toMatchObject({ emailVerified: true });
    // A link works once.
    await page.goto(verify);
    await page.getByRole('alert').filter({ hasText: 'invalid' }).waitFor();

    await page.goto(`${stack.url}/logout`);
    await page.waitForURL(/\/login/);
    await page.goto(`${stack.url}/reset-password`);
    const ask = page.getByRole('form', { name: 'Reset your password' });
    await ask.getByLabel('Email').fill('vera@example.com');
    await ask.getByRole('button', { name: 'Send the link' }).click();
    await page.getByRole('status').filter({ hasText: 'a link is on its way' }).waitFor();

    await page.goto(await mailedLink('vera@example.com', 'Reset your password', '/reset-password'));
    const set = page.getByRole('form', { name: 'Set the new password' });
    await set.getByLabel('New password').fill(NEW_PASSWORD);
    await set.getByLabel('Repeat the password').fill(NEW_PASSWORD);
    await set.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByRole('status').filter({ hasText: 'Your password is changed.' }).waitFor();
    expect(await axeViolations(page), 'axe on /reset-password (done)').toEqual([]);
    await logIn(page, stack.url, 'vera@example.com', '/chat', NEW_PASSWORD);
    expect((await apiFromPage(page, '/api/me')).status).toBe(200);
    await page.close();
  });

  it('refreshes an expired access token mid-session; with the session gone it goes to log in and back', async () => {
    const page = await browser.context.newPage();
    await logIn(page, stack.url, 'sid@example.com', '/settings/profile');
    await page.getByText('sid@example.com').waitFor();
    // The access cookie turns invalid (as an expired one would): the next call gets 401, refreshes, goes on.
    await browser.context.addCookies([{ name: 'gz_at', value: 'expired.not.valid', url: stack.url }]);
    const refreshed = page.waitForResponse((r) => r.url().endsWith('/api/auth/refresh'));
    await page.getByRole('link', { name: 'API keys' }).click();
    expect((await refreshed).status()).toBe(200);
    await page.getByRole('form', { name: 'Create key' }).waitFor();
    expect(page.url()).toBe(`${stack.url}/settings/api-keys`);
    const at = (await browser.context.cookies(stack.url)).find((c) => c.name === 'gz_at');
    expect(at?.value).not.toBe('expired.not.valid');

    // Both cookies gone (the session ended elsewhere): the next call leads to log-in, which comes back here.
    await browser.context.clearCookies();
    await page.getByRole('link', { name: 'Presets' }).click();
    await page.waitForURL(/\/login\?next=%2Fsettings%2Fpresets/);
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Email').fill('sid@example.com');
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${stack.url}/settings/presets`);
    await card(page, 'Saved presets').waitFor();
    await page.close();
  });

  it('keeps no token or secret in localStorage or sessionStorage after log-in; the session cookies are HttpOnly', async () => {
    const page = await browser.context.newPage();
    await logIn(page, stack.url, 'sid@example.com', '/chat');
    await page.getByRole('textbox', { name: 'Message' }).waitFor();
    await page.waitForLoadState('networkidle');
    const storage = await page.evaluate(() => ({
      local: Object.entries(localStorage),
      session: Object.entries(sessionStorage),
    }));
    const cookies = await browser.context.cookies(); // all paths: the refresh cookie is only sent to /api/auth
    const secrets = cookies.filter((c) => c.name === 'gz_at' || c.name === 'gz_rt');
    expect(secrets.map((c) => [c.name, c.httpOnly])).toEqual(
      expect.arrayContaining([
        ['gz_at', true],
        ['gz_rt', true],
      ]),
    );
    for (const [key, value] of [...storage.local, ...storage.session]) {
      expect(key).not.toMatch(/token|secret|session|auth/i);
      expect(value).not.toMatch(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/); // no JWT
      for (const cookie of secrets) expect(value).not.toContain(cookie.value);
    }
    await page.close();
  });

  it('serves an installable PWA manifest whose icons all answer as images', async () => {
    const response = await fetch(`${stack.url}/manifest.webmanifest`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/(manifest\+)?json/);
    const manifest = (await response.json()) as {
      name?: string;
      start_url?: string;
      display?: string;
      icons?: { src: string; sizes: string; type: string }[];
    };
    expect(manifest).toMatchObject({ name: 'GenZ AI', start_url: '/chat', display: 'standalone' });
    const icons = manifest.icons ?? [];
    expect(icons.map((i) => i.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
    for (const icon of icons) {
      const image = await fetch(new URL(icon.src, stack.url));
      expect(image.status, icon.src).toBe(200);
      expect(image.headers.get('content-type'), icon.src).toMatch(/^image\//);
      expect(image.headers.get('content-type'), icon.src).toContain(icon.type.split('+')[0]);
    }
    // The page links it, so a browser offers to install.
    const page = await other.context.newPage();
    await page.goto(`${stack.url}/login`);
    expect(await page.locator('link[rel="manifest"]').getAttribute('href')).toBe('/manifest.webmanifest');
    await page.close();
  });

  it('speaks German: from Accept-Language, and from the language switch', async () => {
    const html = await (await fetch(`${stack.url}/login`, { headers: { 'accept-language': 'de-DE,de;q=0.9' } })).text();
    expect(html).toContain('<html lang="de"');
    expect(html).toContain('Anmelden');

    const page = await browser.context.newPage();
    await logIn(page, stack.url, 'sid@example.com', '/settings/appearance');
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    await page.getByRole('main').getByLabel('Language').selectOption('de');
    await page.getByRole('heading', { name: 'Einstellungen', level: 1 }).waitFor();
    await page
      .getByRole('navigation', { name: 'Bereiche der Einstellungen' })
      .getByRole('link', { name: 'Vorlagen' })
      .waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('de');
    await page.reload();
    await page.getByRole('heading', { name: 'Einstellungen', level: 1 }).waitFor();
    expect(await axeViolations(page), 'axe in German').toEqual([]);
    await page.getByRole('main').getByLabel('Sprache').selectOption('en');
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    await page.close();
  });
});
