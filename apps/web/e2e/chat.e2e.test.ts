import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import axe from 'axe-core';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, launchBrowser } from './browser';
import { type FakeApi, startFakeApi } from './fake-api';
import { startWebServer, type WebServer } from './web-server';

const screenshots = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/screenshots');
const PASSWORD = 'a long enough password';

let api: FakeApi;
let web: WebServer;
let browser: LaunchedBrowser;

beforeAll(async () => {
  api = await startFakeApi();
  api.replies.set('slow story', `Once upon a time ${'there was a streamed token. '.repeat(40)}The end.`);
  api.replies.set(
    'xss please',
    'Raw: <img src=x onerror="window.__xss=1"> and [click me](javascript:window.__xss=2) and ' +
      '[safe](https://example.com) and ![pixel](https://tracker.example/p.gif)',
  );
  web = await startWebServer({ API_INTERNAL_URL: api.url });
  browser = await launchBrowser();
  await mkdir(screenshots, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await web?.stop();
  await api?.close();
});

async function signUp(page: Page, email: string) {
  await page.goto(`${web.url}/signup`);
  const form = page.getByRole('form', { name: 'Create account' });
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await form.getByLabel('Repeat the password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${web.url}/chat`);
  await page.getByRole('textbox', { name: 'Message' }).waitFor();
}

async function send(page: Page, text: string) {
  const input = page.getByRole('textbox', { name: 'Message' });
  await input.fill(text);
  await input.press('Enter');
}

async function axeScan(page: Page, label: string) {
  await page.addScriptTag({ content: axe.source });
  const result = await page.evaluate(async () => {
    const run = (window as unknown as { axe: typeof axe }).axe.run;
    const r = await run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  expect(result, `axe on ${label}`).toEqual([]);
}

describe('chat in the browser (fake API at the network edge)', () => {
  it('validates sign-up like the API does, before sending', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${web.url}/signup`);
    const form = page.getByRole('form', { name: 'Create account' });
    await form.getByLabel('Email').fill('not-an-email');
    await form.getByLabel('Password', { exact: true }).fill('short');
    await form.getByRole('button', { name: 'Create account' }).click();
    await expect(form.getByText('Enter an email address like name@example.com.').isVisible()).resolves.toBe(true);
    await expect(form.getByText('The password must be at least 10 characters.').isVisible()).resolves.toBe(true);
    await axeScan(page, '/signup');
    await page.close();
  });

  it('signs up, streams a reply, survives a reload mid-reply and completes it', async () => {
    const page = await browser.context.newPage();
    await signUp(page, 'ada@example.com');
    await axeScan(page, '/chat (empty)');
    await send(page, 'Tell me a slow story');
    const reply = page.locator('.message-assistant').last();
    await reply.getByText('Once upon a time').waitFor();
    const early = (await reply.textContent()) ?? '';
    expect(early).not.toContain('The end.');
    expect(page.url()).toMatch(/\/chat\/[0-9a-f-]{36}$/);

    await page.reload();
    const resumed = page.locator('.message-assistant').last();
    await resumed.getByText('The end.').waitFor({ timeout: 20_000 });
    const text = (await resumed.locator('.markdown').textContent()) ?? '';
    // Exactly once: no token duplicated across the reconnect.
    expect(text).toBe(`Once upon a time ${'there was a streamed token. '.repeat(40)}The end.`.trim());
    await page.getByRole('link', { name: /Tell me a slow story/ }).waitFor();
    await page.close();
  });

  it('renders markdown with code, tables and math, and keeps raw HTML and javascript: links inert', async () => {
    const page = await browser.context.newPage();
    await signUp(page, 'bob@example.com');
    await send(page, 'Show me markdown');
    const reply = page.locator('.message-assistant').last();
    await reply.locator('.katex').first().waitFor();
    await expect(reply.locator('table').count()).resolves.toBe(1);
    await expect(reply.locator('.hljs-keyword').count()).resolves.toBeGreaterThan(0);
    await expect(reply.getByRole('button', { name: 'Copy code' }).isVisible()).resolves.toBe(true);

    await send(page, 'xss please');
    const evil = page.locator('.message-assistant').last();
    await evil.getByText('and safe', { exact: false }).waitFor();
    await page.waitForTimeout(300);
    expect(await evil.locator('img').count()).toBe(0);
    expect(await evil.locator('a[href^="javascript"]').count()).toBe(0);
    expect(await evil.textContent()).toContain('<img src=x onerror="window.__xss=1">');
    const safe = evil.getByRole('link', { name: 'safe' });
    expect(await safe.getAttribute('rel')).toContain('noopener');
    expect(await safe.getAttribute('target')).toBe('_blank');
    await evil.getByText('click me (link removed)').click();
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await axeScan(page, '/chat/:id');
    await page.close();
  });

  it('works on a 375 px phone: drawer sidebar, chatting, no horizontal scroll', async () => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 375, height: 740 });
    await signUp(page, 'cy@example.com');
    await send(page, 'Hello from a phone');
    await page.locator('.message-assistant').last().getByText('streamed').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const menu = page.getByRole('button', { name: 'Menu' });
    await menu.click();
    await page.getByRole('link', { name: /Hello from a phone/ }).waitFor();
    await page.screenshot({ path: path.join(screenshots, 'chat-mobile-light.png') });
    await page.close();
  });

  it('saves screenshots of the main screens, light and dark', async () => {
    const login = await browser.context.newPage();
    await login.goto(`${web.url}/login`);
    const form = login.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Email').fill('bob@example.com');
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await login.waitForURL(`${web.url}/chat`);
    await login.close();
    for (const theme of ['light', 'dark'] as const) {
      await browser.context.addCookies([{ name: 'gz_theme', value: theme, url: web.url }]);
      const page = await browser.context.newPage();
      await page.goto(web.url);
      await page.screenshot({ path: path.join(screenshots, `landing-${theme}.png`) });
      await page.goto(`${web.url}/chat`);
      const first = page.locator('.conv-link').first();
      await first.waitFor();
      await page.getByRole('link', { name: /Show me markdown/ }).click();
      await page.locator('.katex').first().waitFor();
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(screenshots, `chat-${theme}.png`) });
      await page.goto(`${web.url}/settings/api-keys`);
      await page.getByRole('heading', { name: 'API keys', level: 2 }).waitFor();
      await page.screenshot({ path: path.join(screenshots, `settings-${theme}.png`) });
      await page.close();
    }
    await browser.context.clearCookies({ name: 'gz_theme' });
  });
});
