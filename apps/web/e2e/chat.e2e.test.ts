import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoReply } from '../../api/src/modules/providers/adapters/demo.ts';
import { apiFromPage, axeViolations, type LaunchedBrowser, launchBrowser, PASSWORD, send, signUp } from './browser';
import { STACK_START_MS, type Stack, setUpAdmin, startStack } from './stack';

/**
 * Chat against the real API (PGlite) and its offline demo model, slowed to 100 ms a word so a reply can be
 * reloaded or stopped half-way. Everything else a user sees comes from the API too: conversations imported
 * through `POST /api/import/chatgpt` (a long one, and one with rich markdown) stand in for history.
 */
const screenshots = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/screenshots');
const LONG_CHAT = 2000;

let stack: Stack;
let browser: LaunchedBrowser;

beforeAll(async () => {
  stack = await startStack({ demoChunkDelayMs: 100 });
  await setUpAdmin(stack, 'root@example.com', PASSWORD);
  browser = await launchBrowser();
  await mkdir(screenshots, { recursive: true });
  const page = await browser.context.newPage();
  await signUp(page, stack.url, 'ada@example.com');
  await page.close();
}, STACK_START_MS);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function newChat(): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(`${stack.url}/chat`);
  await page.getByRole('textbox', { name: 'Message' }).waitFor();
  return page;
}

/** The last reply finished: its whole demo text is there and its actions are back. */
async function replyDone(page: Page): Promise<void> {
  const last = page.locator('.message-assistant').last();
  await last.getByText('and restart.').waitFor({ timeout: 30_000 });
  await last.getByRole('button', { name: 'Regenerate' }).waitFor();
}

const replyText = async (page: Page, nth: 'first' | 'last' = 'last') =>
  ((await page.locator('.message-assistant')[nth]().locator('.markdown').textContent()) ?? '').trim();

/** A ChatGPT `conversations.json` entry: one chain of messages, alternating user and assistant unless given. */
function chatGptExport(title: string, texts: { role: 'user' | 'assistant'; text: string }[]) {
  const mapping: Record<string, unknown> = {};
  let parent: string | null = null;
  texts.forEach(({ role, text }, index) => {
    const id = `node-${index}`;
    mapping[id] = {
      id,
      parent,
      children: index + 1 < texts.length ? [`node-${index + 1}`] : [],
      message: {
        id,
        author: { role },
        content: { content_type: 'text', parts: [text] },
        create_time: 1_700_000_000 + index,
      },
    };
    parent = id;
  });
  return {
    title,
    create_time: 1_700_000_000,
    update_time: 1_700_000_000 + texts.length,
    mapping,
    current_node: parent,
  };
}

async function importChat(page: Page, title: string, texts: { role: 'user' | 'assistant'; text: string }[]) {
  const imported = await apiFromPage(page, '/api/import/chatgpt', { body: [chatGptExport(title, texts)] });
  expect(imported.status).toBe(201);
  const list = await apiFromPage<{ items: { id: string; title: string }[] }>(page, '/api/conversations?limit=100');
  const found = list.body.items.find((c) => c.title === title);
  if (!found) throw new Error(`imported conversation “${title}” not listed`);
  return found.id;
}

describe('chat in the browser (real API, demo model)', () => {
  it('streams the demo reply, survives a reload mid-reply and completes the same reply exactly once', async () => {
    const page = await newChat();
    expect(await axeViolations(page), 'axe on /chat (empty)').toEqual([]);
    const prompt = 'Tell me a slow story about tides, lighthouses and the keepers who watched the sea at night';
    await send(page, prompt);
    const reply = page.locator('.message-assistant').last();
    await reply.getByText('[demo]').waitFor();
    expect(await reply.textContent()).not.toContain('and restart.');
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);

    // After the reload the page picks the generation up again after the last event it had.
    const resumed = page.waitForRequest((r) => /^\/api\/generations\/[^/]+\/events$/.test(new URL(r.url()).pathname));
    await page.reload();
    expect((await resumed).headers()['last-event-id']).toMatch(/^\d+$/);
    await replyDone(page);
    // Exactly the demo reply: no word lost or repeated across the reconnect.
    expect(await replyText(page)).toBe(demoReply(prompt));
    expect(await page.locator('.message-user .message-text').last().textContent()).toBe(prompt);
    await page.close();
  });

  it('stops a reply half-way; the stored reply keeps its text and says so after a reload', async () => {
    const page = await newChat();
    await send(page, 'Say something I will interrupt');
    const reply = page.locator('.message-assistant').last();
    await reply.getByText('[demo]').waitFor();
    await page.getByRole('button', { name: 'Stop' }).click();
    await reply.getByText('Stopped.').waitFor();
    const kept = await replyText(page);
    expect(kept).not.toContain('and restart.');
    expect(demoReply('Say something I will interrupt').startsWith(kept)).toBe(true);
    await page.reload();
    await page.locator('.message-assistant').last().getByText('Stopped.').waitFor();
    expect(await replyText(page)).toBe(kept);
    await page.close();
  });

  it('edit makes a branch, < 1/2 > switches, regenerate adds a reply, and the tree survives a reload', async () => {
    const page = await newChat();
    await send(page, 'What is the capital of France?');
    await replyDone(page);
    const user = page.locator('.message-user').first();
    await user.getByRole('button', { name: 'Edit' }).click();
    await user.getByLabel('Edit your message').fill('What is the capital of Italy?');
    await user.getByRole('button', { name: 'Save and send' }).click();
    await replyDone(page);
    expect(await replyText(page)).toBe(demoReply('What is the capital of Italy?'));
    await page.locator('.message-user').first().getByText('Branch 2 of 2').waitFor();

    await page.getByRole('button', { name: 'Previous branch' }).click();
    await page.locator('.message-user').first().getByText('Branch 1 of 2').waitFor();
    expect(await page.locator('.message-user').first().locator('.message-text').textContent()).toBe(
      'What is the capital of France?',
    );
    expect(await replyText(page)).toBe(demoReply('What is the capital of France?'));

    await page.locator('.message-assistant').last().getByRole('button', { name: 'Regenerate' }).click();
    await page.locator('.message-assistant').last().getByText('Branch 2 of 2').waitFor({ timeout: 30_000 });
    await replyDone(page);

    // Loaded with view=tree: every branch is there after a reload, opened on the branch last shown.
    const conversationId = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    await page.reload();
    await page.locator('.message-assistant').last().getByText('Branch 2 of 2').waitFor();
    await page.locator('.message-user').first().getByText('Branch 1 of 2').waitFor();
    await page.locator('.message-assistant').last().getByRole('button', { name: 'Previous branch' }).click();
    await page.locator('.message-assistant').last().getByText('Branch 1 of 2').waitFor();
    const tree = await apiFromPage<{ items: unknown[] }>(
      page,
      `/api/conversations/${conversationId}/messages?view=tree`,
    );
    expect(tree.body.items).toHaveLength(5);
    await page.close();
  });

  it('renders markdown with code, tables and math, and keeps raw HTML and javascript: links inert', async () => {
    const page = await newChat();
    const alerts: string[] = [];
    page.on('dialog', (dialog) => {
      alerts.push(dialog.message());
      void dialog.dismiss();
    });
    const id = await importChat(page, 'Show me markdown', [
      { role: 'user', text: 'Show me markdown' },
      {
        role: 'assistant',
        text:
          'Here is a **rich** answer with code:\n\n```ts\nconst answer: number = 42;\n```\n\n| a | b |\n| - | - |\n| 1 | 2 |\n\n' +
          'And math: $e^{i\\pi} + 1 = 0$.\n\nRaw: <img src=x onerror="window.__xss=1"> and ' +
          '[click me](javascript:window.__xss=2) and [safe](https://example.com) and ![pixel](https://tracker.example/p.gif)',
      },
    ]);
    await page.goto(`${stack.url}/chat/${id}`);
    const reply = page.locator('.message-assistant').last();
    await reply.locator('.katex').first().waitFor();
    expect(await reply.locator('table').count()).toBe(1);
    expect(await reply.locator('.hljs-keyword').count()).toBeGreaterThan(0);
    expect(await reply.getByRole('button', { name: 'Copy code' }).isVisible()).toBe(true);
    expect(await reply.locator('img').count()).toBe(0);
    expect(await reply.locator('a[href^="javascript"]').count()).toBe(0);
    expect(await reply.textContent()).toContain('<img src=x onerror="window.__xss=1">');
    const safe = reply.getByRole('link', { name: 'safe' });
    expect(await safe.getAttribute('rel')).toContain('noopener');
    expect(await safe.getAttribute('target')).toBe('_blank');
    await reply.getByText('click me (link removed)').click();
    expect(await axeViolations(page), 'axe on /chat/:id').toEqual([]);

    // The same payload typed by the user and echoed by the model while it streams (in a new chat, so the one
    // above stays as it is for the screenshots).
    await page.goto(`${stack.url}/chat`);
    const payload = '<img src=x onerror=alert(1)> and [click me](javascript:alert(2))';
    await send(page, payload);
    await replyDone(page);
    expect(await page.locator('.message-user .message-text').last().textContent()).toBe(payload);
    const echo = page.locator('.message-assistant').last();
    expect(await echo.textContent()).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('.messages img').count()).toBe(0);
    expect(await page.locator('.messages a[href^="javascript"]').count()).toBe(0);
    await echo.getByText('click me (link removed)').click();
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(alerts).toEqual([]);
    await page.close();
  });

  it(`opens a ${LONG_CHAT}-message conversation at its newest message with only a window of rows in the DOM`, async () => {
    const page = await newChat();
    const texts = Array.from({ length: LONG_CHAT }, (_, i) => ({
      role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
      text: i === 2 ? 'Message 3 mentions the zeppelin hangar.' : `Message ${i + 1} of the long chat.`,
    }));
    const id = await importChat(page, 'The long chat', texts);
    // The newest message paints from one request (the newest page of the active branch): the tree pages (older
    // messages, other branches) are held back here until it shows, so it cannot have waited for them.
    const views: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (/^\/api\/conversations\/[^/]+\/messages$/.test(url.pathname)) views.push(url.searchParams.get('view') ?? '');
    });
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const treePage = /\/messages\?.*view=tree/;
    await page.route(treePage, async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(`${stack.url}/chat/${id}`);
    await page.getByText(`Message ${LONG_CHAT} of the long chat.`).waitFor();
    expect(views[0]).toBe('branch');
    expect(views.filter((view) => view === 'branch')).toHaveLength(1);
    const treeLoaded = page.waitForResponse(
      async (response) => treePage.test(response.url()) && (await response.json()).nextCursor === null,
    );
    release();
    await treeLoaded;
    await page.unroute(treePage);
    expect(views.filter((view) => view === 'tree')).toHaveLength(LONG_CHAT / 200);
    // Stays at the bottom once every row near it is measured (rows start at an estimated height).
    await page.waitForFunction(() => {
      const el = document.querySelector('.messages');
      return el !== null && el.scrollHeight - el.scrollTop - el.clientHeight < 2;
    });
    const rows = await page.locator('.message-slot').count();
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(60);
    expect(await page.getByText('Message 1 of the long chat.').count()).toBe(0);

    // Scrolling up leaves the bottom (other rows replace these) and offers the way back.
    await page.locator('.messages').hover();
    await page.mouse.wheel(0, -3000);
    const jump = page.getByRole('button', { name: 'Jump to the latest message' });
    await jump.waitFor();
    await page.getByText(`Message ${LONG_CHAT} of the long chat.`).waitFor({ state: 'detached' });
    expect(await page.locator('.message-slot').count()).toBeLessThan(60);
    await jump.click();
    await page.getByText(`Message ${LONG_CHAT} of the long chat.`).waitFor();
    await jump.waitFor({ state: 'detached' });
    await page.close();
  });

  it('search finds an old message, highlights the match and jumps to it', async () => {
    const page = await newChat();
    await page.getByRole('searchbox', { name: 'Search conversations' }).fill('zeppelin');
    const results = page.getByRole('region', { name: 'Search results' });
    const hit = results.getByRole('link', { name: /The long chat/ });
    await hit.waitFor();
    expect(await hit.locator('mark').first().textContent()).toMatch(/^zeppelin$/i);
    await hit.click();
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}\?m=/);
    const target = page.locator('.message-hit');
    await target.waitFor();
    expect(await target.textContent()).toContain('zeppelin hangar');
    expect(await target.isVisible()).toBe(true);
    const box = await target.boundingBox();
    const viewport = page.viewportSize();
    expect(box && viewport && box.y >= 0 && box.y + box.height <= viewport.height).toBe(true);
    expect(await page.locator('.message-slot').count()).toBeLessThan(60);
    await page.close();
  });

  it('renames, pins, archives, and deletes with undo from the sidebar', async () => {
    const page = await newChat();
    const ids: Record<string, string> = {};
    for (const title of ['Alpha plans', 'Beta notes', 'Gamma list']) {
      const created = await apiFromPage<{ id: string }>(page, '/api/conversations', { body: { title } });
      ids[title] = created.body.id;
    }
    await page.reload();
    const sidebar = page.getByRole('navigation', { name: 'Conversations' });
    const menu = async (title: string, action: string) => {
      await sidebar.getByLabel(`Actions for “${title}”`).first().click();
      await sidebar
        .getByRole('group', { name: `Actions for “${title}”` })
        .getByRole('button', { name: action, exact: true })
        .click();
    };
    await sidebar.getByRole('link', { name: 'Gamma list' }).waitFor();

    await menu('Beta notes', 'Rename');
    const rename = sidebar.getByLabel('New title');
    await rename.fill('Beta renamed');
    await rename.press('Enter');
    await sidebar.getByRole('link', { name: 'Beta renamed' }).waitFor();
    const renamed = await apiFromPage<{ title: string }>(page, `/api/conversations/${ids['Beta notes']}`);
    expect(renamed.body.title).toBe('Beta renamed');

    await menu('Gamma list', 'Pin');
    const pinned = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Pinned' }) });
    await pinned.getByRole('link', { name: /Gamma list/ }).waitFor();

    await menu('Alpha plans', 'Archive');
    await sidebar.getByRole('link', { name: 'Alpha plans' }).waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Show archived' }).click();
    await sidebar.getByRole('link', { name: 'Alpha plans' }).waitFor();
    await page.getByRole('button', { name: 'Hide archived' }).click();
    await sidebar.getByRole('link', { name: 'Beta renamed' }).waitFor();

    await menu('Beta renamed', 'Delete');
    await sidebar.getByRole('link', { name: 'Beta renamed' }).waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Undo' }).click();
    await sidebar.getByRole('link', { name: 'Beta renamed' }).waitFor();
    expect((await apiFromPage(page, `/api/conversations/${ids['Beta notes']}`)).status).toBe(200);

    await menu('Beta renamed', 'Delete');
    await sidebar.getByRole('link', { name: 'Beta renamed' }).waitFor({ state: 'detached' });
    // Once the undo window has passed the API has it deleted.
    await page.waitForFunction(
      async (id) => (await fetch(`/api/conversations/${id}`)).status === 404,
      ids['Beta notes'],
      { polling: 500, timeout: 15_000 },
    );
    await page.reload();
    await sidebar.getByRole('link', { name: 'Gamma list' }).waitFor();
    expect(await sidebar.getByRole('link', { name: 'Beta renamed' }).count()).toBe(0);
    await page.close();
  });

  it('works on a 375 px phone: drawer sidebar, chatting, no horizontal scroll', async () => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${stack.url}/chat`);
    await send(page, 'Hello from a phone');
    await replyDone(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('link', { name: /Hello from a phone/ }).waitFor();
    await page.screenshot({ path: path.join(screenshots, 'chat-mobile-light.png') });
    await page.close();
  });

  it('saves screenshots of the main screens, light and dark', async () => {
    for (const theme of ['light', 'dark'] as const) {
      await browser.context.addCookies([{ name: 'gz_theme', value: theme, url: stack.url }]);
      const page = await browser.context.newPage();
      await page.goto(stack.url);
      await page.screenshot({ path: path.join(screenshots, `landing-${theme}.png`) });
      await page.goto(`${stack.url}/chat`);
      await page.getByRole('link', { name: 'Show me markdown' }).click();
      await page.locator('.katex').first().waitFor();
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(screenshots, `chat-${theme}.png`) });
      await page.goto(`${stack.url}/settings/api-keys`);
      await page.getByRole('heading', { name: 'API keys', level: 2 }).waitFor();
      // The key list, not its loading line: the screenshot shows the page as a user sees it once it has loaded.
      await page.getByText('Loading…').waitFor({ state: 'detached' });
      await page.screenshot({ path: path.join(screenshots, `settings-${theme}.png`) });
      await page.close();
    }
    await browser.context.clearCookies({ name: 'gz_theme' });
  });
});

/** Splits SSE text into events (`event:` name and parsed `data:`), ignoring comments and keep-alives. */
function sseEvents(text: string): { event: string; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .map((block) => ({
      event: /^event: (.+)$/m.exec(block)?.[1] ?? '',
      data: /^data: (.+)$/m.exec(block)?.[1] ?? '',
    }))
    .filter((e) => e.event !== '' && e.data !== '')
    .map((e) => ({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> }));
}

/** The reply the browser streamed through the web server, replayed by the raw client after it. */
let streamed: { generationId: string; prompt: string } | undefined;

describe('the web server in front of the real API (port 3000 → API)', () => {
  it('answers GET /livez', async () => {
    const response = await fetch(`${stack.url}/livez`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('renders the landing page with an accessible sign-in form and shows the API problem on error', async () => {
    const page = await browser.context.newPage();
    const response = await page.goto(stack.url);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['x-content-type-options']).toBe('nosniff');
    expect(response?.headers()['x-powered-by']).toBeUndefined();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain('Chat with every model');
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Email').fill('nobody@example.com');
    await form.getByLabel('Password').fill('correct horse battery');
    await form.getByRole('button', { name: 'Sign in' }).click();
    const alert = form.getByRole('alert');
    await alert.filter({ hasText: 'do not match' }).waitFor();
    expect(await alert.textContent()).toBe('That email and password do not match an account.');
    await page.close();
  });

  it('streams a live reply through the web server event by event, uncompressed, in the browser', async () => {
    const page = await newChat();
    // A long prompt makes a long reply (the demo quotes it): seconds between the first word and the last, ample
    // for the one status read below even on a busy machine.
    const prompt =
      'Stream this through the web server one word at a time, so that every word of the reply crosses port 3000 ' +
      'on its own and none of them waits for the end';
    const result = await page.evaluate(async (prompt) => {
      const created = await fetch('/api/conversations', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      const conversationId = ((await created.json()) as { id: string }).id;
      const response = await fetch(`/api/conversations/${conversationId}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ content: prompt, parentId: null }),
      });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let text = '';
      let statusAtFirstDelta: unknown;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        if (statusAtFirstDelta === undefined && text.includes('event: delta')) {
          // The API sends `done` only after the reply is stored as finished: while it still says "streaming",
          // the last event has not been written, so this first one was not held back until the end.
          const listed = await fetch(`/api/conversations/${conversationId}/messages?view=tree`);
          const { items } = (await listed.json()) as { items: { role: string; status: string }[] };
          statusAtFirstDelta = items.find((m) => m.role === 'assistant')?.status ?? null;
        }
      }
      return {
        status: response.status,
        contentType: response.headers.get('content-type'),
        contentEncoding: response.headers.get('content-encoding'),
        cacheControl: response.headers.get('cache-control'),
        statusAtFirstDelta,
        text,
      };
    }, prompt);
    expect(result.status).toBe(200);
    expect(result.contentType).toMatch(/^text\/event-stream/);
    expect(result.contentEncoding).toBeNull();
    expect(result.cacheControl).toContain('no-transform');
    expect(result.statusAtFirstDelta, 'the reply was still streaming when its first word arrived').toBe('streaming');
    const events = sseEvents(result.text);
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { status: 'complete' } });
    const deltas = events.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((e) => e.data.text).join('')).toBe(demoReply(prompt));
    const generationId = events.find((e) => e.event === 'message')?.data.generationId;
    expect(generationId).toEqual(expect.any(String));
    streamed = { generationId: String(generationId), prompt };
    await page.close();
  });

  it('never gzips SSE even when the client asks for it', async () => {
    // The finished reply of the test above, replayed from its start: its whole stream at once, well over the
    // compression threshold, asked for with gzip.
    expect(streamed).toBeDefined();
    const { generationId, prompt } = streamed ?? { generationId: '', prompt: '' };
    const cookie = (await browser.context.cookies(stack.url)).map((c) => `${c.name}=${c.value}`).join('; ');
    const { status, responseHeaders, text } = await new Promise<{
      status: number;
      responseHeaders: http.IncomingHttpHeaders;
      text: string;
    }>((resolve, reject) => {
      const request = http.get(
        `${stack.url}/api/generations/${generationId}/events`,
        { headers: { cookie, accept: 'text/event-stream', 'accept-encoding': 'gzip, deflate, br' } },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, responseHeaders: response.headers, text: body }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
    });
    expect(status).toBe(200);
    expect(responseHeaders['content-encoding']).toBeUndefined();
    expect(text.length).toBeGreaterThan(1024);
    const deltas = sseEvents(text).filter((e) => e.event === 'delta');
    expect(deltas.map((e) => e.data.text).join('')).toBe(demoReply(prompt));
  });

  it('compresses pages, and forwards the client address for the API to see', async () => {
    const page = await fetch(stack.url, { headers: { 'accept-encoding': 'gzip' } });
    expect(page.headers.get('content-encoding')).toBe('gzip');

    // The web server appends the peer it saw to X-Forwarded-For (lib/proxy.test.ts checks the exact header); the
    // API trusts its loopback hop and records the address left of it as the client's.
    const login = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.url, 'x-forwarded-for': '198.51.100.9' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const sessions = await fetch(`${stack.url}/api/me/sessions`, { headers: { cookie } });
    const { items } = (await sessions.json()) as { items: { ip: string | null; current?: boolean }[] };
    expect(items.find((s) => s.current)?.ip).toBe('198.51.100.9');
  });
});
