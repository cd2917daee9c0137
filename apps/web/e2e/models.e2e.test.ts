import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, fakeDeployment, startFakeUpstream } from '../../api/src/modules/providers/testing/index.ts';
import { apiFromPage, axeViolations, type LaunchedBrowser, launchBrowser, PASSWORD, send, signUp } from './browser';
import { STACK_START_MS, type Stack, setUpAdmin, startStack } from './stack';

/**
 * What the demo model never sends, against the real API: a reasoning model and a model that is down.
 * - `thinker` (the default model here) is an OpenAI-wire fake upstream replaying a recorded reasoning stream
 *   (`reasoning_content` deltas, then "Hello!"), the same recording the API's router tests use.
 * - `offline` is a fake upstream that answers 503 to everything; one failed request opens its breaker
 *   (threshold 1, open for 10 minutes, so no half-open probe in the test) and /api/models reports it down.
 */
const REASONING = 'The user greets me. I should greet back.';

let stack: Stack;
let browser: LaunchedBrowser;
let thinker: FakeUpstream;
let offline: FakeUpstream;

beforeAll(async () => {
  thinker = await startFakeUpstream({ textFixture: 'openai-reasoning.chunks.txt' });
  offline = await startFakeUpstream();
  offline.failAll({ kind: 'status', status: 503 });
  const noEmbeddings = { capabilities: { tools: false, vision: false, embeddings: false } };
  stack = await startStack({
    demoChunkDelayMs: 30,
    providers: {
      deployments: [
        fakeDeployment('thinker-1', 'openai', thinker.baseUrl, noEmbeddings),
        fakeDeployment('offline-1', 'openai', offline.baseUrl, noEmbeddings),
      ],
      aliases: { thinker: { deployments: ['thinker-1'] }, offline: { deployments: ['offline-1'] } },
      routing: { maxAttempts: 1, breakerFailureThreshold: 1, breakerOpenMs: 600_000 },
    },
    config: { chats: { defaultModel: 'thinker' } },
  });
  // Sign-up opens once the first admin exists.
  await setUpAdmin(stack, 'root@example.com', PASSWORD);
  browser = await launchBrowser();
  const page = await browser.context.newPage();
  await signUp(page, stack.url, 'grace@example.com');
  await page.close();
}, STACK_START_MS);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await thinker?.close();
  await offline?.close();
});

async function newChat(): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(`${stack.url}/chat`);
  await page.getByRole('textbox', { name: 'Message' }).waitFor();
  return page;
}

describe('reasoning, citations and model health in the browser (real API, fake upstreams)', () => {
  it('shows a reasoning model’s reasoning collapsed above the reply, streamed and after a reload', async () => {
    const page = await newChat();
    await send(page, 'Hello there');
    const reply = page.locator('.message-assistant').last();
    await reply.locator('.markdown').getByText('Hello!').waitFor();
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    expect(thinker.requests.some((r) => r.path === '/v1/chat/completions')).toBe(true);

    for (const stage of ['streamed', 'reloaded']) {
      const details = page.locator('.message-assistant').last().locator('details.reasoning');
      await details.waitFor();
      expect(await details.count(), stage).toBe(1);
      expect(await details.evaluate((d) => (d as HTMLDetailsElement).open), stage).toBe(false);
      await expect(details.locator('summary').textContent()).resolves.toBe('Reasoning');
      // Collapsed: in the page but not shown until asked for.
      expect(await details.locator('.reasoning-text').textContent(), stage).toBe(REASONING);
      expect(await details.locator('.reasoning-text').isVisible(), stage).toBe(false);
      // The reply itself does not repeat the reasoning.
      expect(await page.locator('.message-assistant').last().locator('.markdown').textContent()).toBe('Hello!');
      await details.locator('summary').click();
      await details.locator('.reasoning-text').waitFor({ state: 'visible' });
      if (stage === 'streamed') await page.reload();
    }
    expect(await axeViolations(page), 'axe on a reply with reasoning').toEqual([]);
    await page.close();
  });

  it('renders citations as links that open safely, and a javascript: citation as plain text', async () => {
    // No upstream adapter of the API produces citation parts yet (the contract and the message store carry them:
    // packages/contracts/src/chats.ts). So the real API's message pages are read and the assistant reply gets
    // citation parts added on the way to the page, as a web-search model would have stored them.
    const page = await newChat();
    await send(page, 'Cite your sources');
    await page.locator('.message-assistant').last().locator('.markdown').getByText('Hello!').waitFor();
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    await page.route(/\/api\/conversations\/[^/]+\/messages(\?|$)/, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const response = await route.fetch();
      const page = (await response.json()) as { items: { role: string; content: unknown[] }[] };
      for (const message of page.items) {
        if (message.role !== 'assistant') continue;
        message.content.push(
          { type: 'citation', url: 'https://example.com/tides', title: 'Tide tables' },
          { type: 'citation', url: 'javascript:window.__cited=1', title: 'Run me' },
          { type: 'citation', url: 'https://example.com/tides', title: 'Tide tables (again)' },
        );
      }
      await route.fulfill({ response, json: page });
    });
    await page.reload();
    const citations = page.locator('.message-assistant').last().locator('.citations');
    await citations.waitFor();
    await expect(citations.getByRole('heading').textContent()).resolves.toBe('Sources');
    const link = citations.getByRole('link');
    expect(await link.count()).toBe(1); // the repeated URL is listed once
    expect(await link.getAttribute('href')).toBe('https://example.com/tides');
    expect(await link.getAttribute('target')).toBe('_blank');
    expect((await link.getAttribute('rel'))?.split(' ')).toEqual(
      expect.arrayContaining(['noopener', 'noreferrer', 'nofollow']),
    );
    // The javascript: one is shown as text, not as a link anything could click.
    await citations.getByText('Run me').waitFor();
    expect(await citations.locator('a[href^="javascript:"]').count()).toBe(0);
    expect(await page.locator('a[href^="javascript:"]').count()).toBe(0);
    await citations.getByText('Run me').click();
    expect(await page.evaluate(() => (window as unknown as { __cited?: number }).__cited)).toBeUndefined();
    await page.close();
  });

  it('disables a model that is down in the picker, and says so', async () => {
    const page = await newChat();
    // One reply on `offline`, through the page's own session: the upstream answers 503 and the breaker opens.
    const created = await apiFromPage<{ id: string }>(page, '/api/conversations', {
      body: { settings: { model: 'offline' } },
    });
    expect(created.status).toBe(201);
    const sent = await page.evaluate(async (id) => {
      const response = await fetch(`/api/conversations/${id}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ content: 'Are you there?' }),
      });
      return { status: response.status, body: await response.text() };
    }, created.body.id);
    // The failure reaches the user (an error event or a problem), never a silent empty reply.
    expect(`${sent.status} ${sent.body}`).toMatch(/error|unavailable/i);
    expect(offline.requests.some((r) => r.path === '/v1/chat/completions')).toBe(true);
    let health: Record<string, string> = {};
    for (const deadline = Date.now() + 15_000; health.offline !== 'down'; ) {
      const models = await apiFromPage<{ items: { id: string; health: string }[] }>(page, '/api/models');
      health = Object.fromEntries(models.body.items.map((m) => [m.id, m.health]));
      if (health.offline !== 'down' && Date.now() > deadline) throw new Error(`offline is ${health.offline}`);
      if (health.offline !== 'down') await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(health.thinker).toBe('healthy');

    // A fresh page (the picker caches the model list for 30 s), on the conversation that chose the model.
    await page.goto(`${stack.url}/chat/${created.body.id}`);
    await page.getByRole('button', { name: 'Conversation settings' }).click();
    const picker = page.getByRole('form', { name: 'Conversation settings' }).getByLabel('Model');
    await picker.locator('option[value="thinker"]').waitFor({ state: 'attached' });
    const options = await picker.locator('option').evaluateAll((list) =>
      list.map((o) => ({
        value: (o as HTMLOptionElement).value,
        label: o.textContent,
        disabled: (o as HTMLOptionElement).disabled,
      })),
    );
    expect(options).toContainEqual({ value: 'offline', label: 'offline (down)', disabled: true });
    expect(options).toContainEqual({ value: 'thinker', label: 'thinker', disabled: false });
    // A disabled option cannot be chosen: picking the healthy one works, the down one is refused by the browser.
    await picker.selectOption('thinker');
    expect(await picker.inputValue()).toBe('thinker');
    await expect(picker.selectOption('offline', { timeout: 2000 })).rejects.toThrow();
    expect(await picker.inputValue()).toBe('thinker');
    await page.close();
  });
});
