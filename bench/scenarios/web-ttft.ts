/// <reference lib="dom" />
// The functions handed to page.evaluate run in the browser: DOM types for them (Node types stay as they are).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import type { Scenario } from '../lib/types.ts';
import { fmt, machineBusy, readMachineCpu, startWebSession, summary, type WebSession, webUrl } from '../lib/web.ts';

/**
 * Issue 7 "Performance": time from send to the first visible token in the browser, against calling the API directly.
 *   npm run build -w @genz/web   (once: the bench runs the built web app, apps/web/.next/standalone)
 *   npm run bench -w @genz/bench -- web-ttft [--param sends=40] [--param warmup=5]
 * The API (real PostgreSQL, Redis) has one deployment on the fake OpenAI upstream (bench/baselines/fake-openai.ts, the
 * tests' recorded wire format; 20 ms before each of its 20 events, like a model streaming ~50 tokens/s); the built web
 * server proxies the browser to it. One seeded user, signed in through the log-in form in Debian's Chromium, owns
 * three conversations, one per path, so all grow alike. Each round sends once on every path, interleaved (the order
 * rotates every round, so drift cancels):
 * - browser: performance.now() in the page when the Send button is clicked, a MutationObserver on the document for
 *   the first new assistant message with non-empty text ("dom"), and the requestAnimationFrame after it (the start
 *   of the frame that paints it: "frame"); then waits until the view reloaded the stored reply (idle again). An
 *   init script tees the page's fetch of the POST and notes when the first `delta` arrives ("received"), which
 *   splits the page's time into network and rendering;
 * - direct: Node's fetch of `POST /api/conversations/:id/messages` (bearer token; the page's body: the text and the
 *   `parentId` of the previous reply) on the API's own port, to the first `delta` event with text;
 * - proxy: the same client through the web server (its `/api` proxy, apps/web/src/lib/proxy.ts), which splits the
 *   browser's added cost into the proxy hop and the page (fetch, SSE parsing, React rendering).
 * Reports p50/p95 of each and of the per-round differences. `--param sends=N` measured rounds (default 40) after
 * `--param warmup=N` (default 5).
 * No autocannon rounds: the runner's --duration/--rounds do not apply.
 */

const MODEL = 'gpt-4o-mini';
const PROMPT = 'Say hello.';

interface BrowserTiming {
  /** The page called fetch for the POST, and its response headers arrived. */
  fetched: number;
  headers: number;
  /** The page's fetch saw the first `delta` event with text (read from a tee of the response body). */
  received: number;
  dom: number;
  frame: number;
}

type BenchWindow = { __benchDelta: number; __benchFetch: number; __benchHeaders: number };

/**
 * Installed before any page script: `fetch` answers of a message POST are teed, and one branch is read for the
 * first `delta` event with text, so the in-page time splits into the network (through the proxy) and rendering.
 */
function watchFirstDelta() {
  const w = window as unknown as BenchWindow;
  w.__benchDelta = Number.NaN;
  const original = window.fetch;
  window.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const watched = init?.method === 'POST' && /\/messages$/.test(url);
    if (watched) w.__benchFetch = performance.now();
    const response = await original(input, init);
    if (!watched || !response.body) return response;
    w.__benchHeaders = performance.now();
    const [page, probe] = response.body.tee();
    void (async () => {
      const reader = probe.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (const block of buffer.split('\n\n')) {
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!/^event: delta$/m.test(block) || !data) continue;
          try {
            if ((JSON.parse(data) as { text?: string }).text) {
              w.__benchDelta = performance.now();
              await reader.cancel();
              return;
            }
          } catch {
            // an incomplete block: read on
          }
        }
      }
    })();
    return new Response(page, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** One send from the page; resolves with the in-page timings once the view is idle again. */
async function browserSend(page: Page): Promise<BrowserTiming> {
  await page.getByRole('textbox', { name: 'Message' }).fill(PROMPT);
  // When the reply ends, the view reloads the stored messages (ConversationView `finish`): idle after that.
  const reloaded = page.waitForResponse(
    (r) => r.request().method() === 'GET' && /\/api\/conversations\/[^/]+\/messages\?/.test(r.url()),
    { timeout: 60_000 },
  );
  const timing = await page.evaluate(
    () =>
      new Promise<BrowserTiming>((resolve, reject) => {
        const w = window as unknown as BenchWindow;
        w.__benchDelta = Number.NaN;
        w.__benchFetch = Number.NaN;
        w.__benchHeaders = Number.NaN;
        const assistants = () => [...document.querySelectorAll<HTMLElement>('article.message-assistant')];
        const before = new Set(assistants().map((a) => a.id));
        const button = document.querySelector<HTMLButtonElement>('form.composer button[type=submit]');
        if (!button || button.disabled) {
          reject(new Error('the Send button is not ready'));
          return;
        }
        // The reply's visible text: everything but the role label and the "thinking" placeholder.
        const visibleText = (article: HTMLElement) =>
          [...article.children]
            .filter((c) => !c.classList.contains('message-role') && !c.classList.contains('thinking'))
            .map((c) => c.textContent ?? '')
            .join('')
            .trim();
        let t0 = 0;
        const observer = new MutationObserver(() => {
          for (const article of assistants()) {
            if (before.has(article.id) || !visibleText(article)) continue;
            const dom = performance.now() - t0;
            observer.disconnect();
            clearTimeout(timer);
            requestAnimationFrame(() =>
              resolve({
                fetched: w.__benchFetch - t0,
                headers: w.__benchHeaders - t0,
                received: w.__benchDelta - t0,
                dom,
                frame: performance.now() - t0,
              }),
            );
            return;
          }
        });
        const timer = setTimeout(() => {
          observer.disconnect();
          reject(new Error('no reply text within 30 s'));
        }, 30_000);
        observer.observe(document.body, { childList: true, subtree: true, characterData: true });
        t0 = performance.now();
        button.click();
      }),
  );
  await reloaded;
  await page.locator('form.composer button[type=submit]').waitFor({ timeout: 30_000 });
  return timing;
}

/**
 * One send from a client in Node (to the API, or through the web server's proxy): ms to the first `delta` with
 * text. The body is the page's: the text and the `parentId` it replies to (the previous reply, `null` at first),
 * which the `message` event names for the next send.
 */
const nextParent = new Map<string, string | null>();
async function directSend(
  base: string,
  conversationId: string,
  token: string,
): Promise<{ first: number; headers: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/api/conversations/${conversationId}/messages`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'idempotency-key': randomUUID(),
    },
    body: JSON.stringify({ content: PROMPT, parentId: nextParent.get(conversationId) ?? null }),
  });
  if (res.status !== 200 || !res.body) throw new Error(`direct send: ${res.status} ${await res.text()}`);
  const headers = performance.now() - t0;
  const decoder = new TextDecoder();
  let buffer = '';
  let first = Number.NaN;
  let done = false;
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event === 'done') done = true;
      if (event === 'message' && data) {
        nextParent.set(conversationId, (JSON.parse(data) as { assistantMessageId: string }).assistantMessageId);
      }
      if (Number.isNaN(first) && event === 'delta' && data) {
        const text = (JSON.parse(data) as { text?: unknown }).text;
        if (typeof text === 'string' && text.length > 0) first = performance.now() - t0;
      }
    }
  }
  if (!done || Number.isNaN(first)) throw new Error('direct send: the stream ended without text or done');
  return { first, headers };
}

let session: WebSession | undefined;

export const scenario: Scenario = {
  name: 'web-ttft',
  description:
    'Issue 7 "Performance": time from clicking Send to the first visible reply token in Chromium (the built web ' +
    'app in front of the API), against a client in Node doing the same POST to the API directly and through the web ' +
    'server, interleaved send by send, with a ' +
    'fake OpenAI upstream (20 ms before each of its 20 events). In-page timing: performance.now() at the click, a ' +
    'MutationObserver for the first reply text ("dom") and the animation frame after it ("frame"); direct: the ' +
    'first `delta` SSE event with text.',
  servers: [
    {
      name: 'upstream',
      file: 'bench/baselines/fake-openai.ts',
      env: { CHUNK_DELAY_MS: '20' },
      readyPath: '/v1/models',
    },
  ],
  apiEnv: { PUBLIC_URL: webUrl },
  apiConfigYaml: (urls) => `plans:
  free: { models: ['*'] }
  pro: { models: ['*'] }
limits:
  ipRequests: null
  defaults:
    requests: null
    tokens: null
    tokensPerDay: null
    tokensPerMonth: null
    costPerMonthUsd: null
    concurrentGenerations: null
providers:
  demo: 'off'
  deployments:
    - { id: fake, provider: openai, model: ${MODEL}, baseUrl: '${urls.upstream}/v1', apiKey: sk-fake-upstream-key }
  aliases:
    ${MODEL}: { deployments: [fake] }
chats:
  defaultModel: ${MODEL}
`,
  targets: [],
  async setup(ctx) {
    session = await startWebSession(ctx, 'webttft');
    const auth = { authorization: `Bearer ${session.accessToken}` };
    for (const name of ['browser', 'direct', 'proxy']) {
      const created = await ctx.request('api', 'POST', '/api/conversations', { title: `ttft ${name}` }, auth);
      if (created.status !== 201) throw new Error(`create conversation: ${created.status} ${created.body}`);
      ctx.vars.set(name, (JSON.parse(created.body) as { id: string }).id);
    }
    await session.page.addInitScript(watchFirstDelta);
    await session.page.goto(`${webUrl}/chat/${ctx.vars.get('browser')}`);
    await session.page.getByRole('textbox', { name: 'Message' }).waitFor();
  },
  async measure(ctx) {
    if (!session) throw new Error('no web session');
    const web = session;
    const sends = Number(ctx.params.get('sends') ?? 40);
    const warmup = Number(ctx.params.get('warmup') ?? 5);
    const paths = ['browser', 'direct', 'proxy'] as const;
    type Path = (typeof paths)[number];
    const dom: number[] = [];
    const frame: number[] = [];
    const direct: number[] = [];
    const proxy: number[] = [];
    const added: number[] = [];
    const addedFrame: number[] = [];
    const addedProxy: number[] = [];
    const addedPage: number[] = [];
    const received: number[] = [];
    const fetched: number[] = [];
    const headers: number[] = [];
    const directHeaders: number[] = [];
    const proxyHeaders: number[] = [];
    const render: number[] = [];
    const run = async (path: Path): Promise<{ first: number; headers: number } | BrowserTiming> => {
      if (path === 'browser') return browserSend(web.page);
      const base = path === 'direct' ? (ctx.urls.api as string) : webUrl;
      return directSend(base, ctx.vars.get(path) as string, web.accessToken);
    };
    let cpuFrom = readMachineCpu();
    let started = performance.now();
    for (let i = 0; i < warmup + sends; i++) {
      if (i === warmup) {
        cpuFrom = readMachineCpu();
        started = performance.now();
      }
      const got = new Map<Path, { first: number; headers: number } | BrowserTiming>();
      for (let k = 0; k < paths.length; k++) {
        const path = paths[(i + k) % paths.length] as Path;
        got.set(path, await run(path));
        await sleep(100);
      }
      if (i < warmup) continue;
      const b = got.get('browser') as BrowserTiming;
      const d = got.get('direct') as { first: number; headers: number };
      const proxied = got.get('proxy') as { first: number; headers: number };
      const p = proxied.first;
      dom.push(b.dom);
      frame.push(b.frame);
      direct.push(d.first);
      proxy.push(p);
      added.push(b.dom - d.first);
      addedFrame.push(b.frame - d.first);
      addedProxy.push(p - d.first);
      addedPage.push(b.dom - p);
      received.push(b.received);
      fetched.push(b.fetched);
      headers.push(b.headers);
      directHeaders.push(d.headers);
      proxyHeaders.push(proxied.headers);
      render.push(b.dom - b.received);
      if ((i - warmup + 1) % 10 === 0) console.error(`    ${i - warmup + 1}/${sends} rounds`);
    }
    const seconds = (performance.now() - started) / 1000;
    const busy = machineBusy(cpuFrom, readMachineCpu(), seconds);
    const row = (label: string, xs: number[]) => {
      const s = summary(xs);
      return `  | ${label} | ${s.n} | ${fmt(s.p50)} | ${fmt(s.p95)} | ${fmt(s.max)} | ${fmt(s.mean)} |`;
    };
    const d = summary(direct);
    const b = summary(dom);
    ctx.note(
      [
        `Send → first reply token (ms; ${sends} rounds after ${warmup} warm-up rounds, one send per path each, interleaved; machine busy ${busy.toFixed(0)}% of one core over the measured rounds, all processes):`,
        '',
        '  | path | sends | p50 | p95 | max | mean |',
        '  | --- | ---: | ---: | ---: | ---: | ---: |',
        row('direct API client (first `delta` event)', direct),
        row('the same client through the web server', proxy),
        row('browser, reply text in the DOM', dom),
        row('browser, start of the frame that paints it', frame),
        row('added by the browser (DOM − direct, per round)', added),
        row('added by the browser (frame − direct, per round)', addedFrame),
        row('of which the web proxy (through web − direct)', addedProxy),
        row('of which the page (DOM − through web)', addedPage),
        row('direct client: response headers', directHeaders),
        row('through the web server: response headers', proxyHeaders),
        row('browser: click → fetch called', fetched),
        row('browser: response headers', headers),
        row('browser: its fetch got the first delta (tee of the body)', received),
        row('browser: first delta in its fetch → text in the DOM (SSE parsing, React)', render),
        '',
        `  Difference of the p50s browser (DOM) − direct: ${fmt(b.p50 - d.p50)} ms; of the p95s: ${fmt(b.p95 - d.p95)} ms. ` +
          "All paths include the API's delta coalescing window (`chats.streamCoalesceMs`, 25 ms by default) and the " +
          "upstream's 20 ms before its first event.",
      ].join('\n'),
    );
  },
  async teardown() {
    await session?.stop();
  },
};
