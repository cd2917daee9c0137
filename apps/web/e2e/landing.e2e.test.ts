import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, launchBrowser } from './browser';
import { startWebServer, type WebServer } from './web-server';

const EVENT_GAP_MS = 300;
const EVENT_COUNT = 4;

/** Wall-clock times (Date.now) at which the fake API wrote each SSE event, per stream. */
const writes = new Map<string, number[]>();

/** The fake API on the network edge: a slow SSE stream, a failing login and a header echo. */
function fakeApi(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/api/generations/g1/events') {
    const stream = url.searchParams.get('stream') ?? 'default';
    const times: number[] = [];
    writes.set(stream, times);
    // The API's own SSE helper sets no-transform too; this fake leaves it out to prove the proxy adds it.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let id = 0;
    const write = () => {
      times.push(Date.now());
      // Padding above gzip's 1 KiB threshold so the compression middleware would act if it were allowed to.
      res.write(`id: ${id}\nevent: delta\ndata: ${JSON.stringify({ text: `t${id}`, pad: 'x'.repeat(2048) })}\n\n`);
      id += 1;
      if (id === EVENT_COUNT) res.end();
      else setTimeout(write, EVENT_GAP_MS);
    };
    write();
    return;
  }
  if (url.pathname === '/api/auth/login') {
    res.writeHead(401, { 'content-type': 'application/problem+json' });
    res.end(
      JSON.stringify({
        type: '/problems/account_locked',
        title: 'Account locked',
        status: 401,
        detail: 'This account is locked. Ask an administrator to unlock it.',
        code: 'account_locked',
        requestId: 'req-1',
      }),
    );
    return;
  }
  if (url.pathname === '/api/whoami') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ headers: req.headers }));
    return;
  }
  res.writeHead(404, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: '/problems/route_not_found', status: 404, code: 'route_not_found' }));
}

let api: http.Server;
let web: WebServer;
let browser: LaunchedBrowser;

beforeAll(async () => {
  api = http.createServer(fakeApi).listen(0, '127.0.0.1');
  await once(api, 'listening');
  web = await startWebServer({ API_INTERNAL_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}` });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await web?.stop();
  api?.closeAllConnections();
  await new Promise((resolve) => api?.close(resolve));
});

/** Each event must reach the client before the API even writes the next one: nothing waits for the end. */
function expectArrivedOneByOne(arrivals: number[], stream: string): void {
  const written = writes.get(stream) ?? [];
  expect(arrivals).toHaveLength(EVENT_COUNT);
  expect(written).toHaveLength(EVENT_COUNT);
  for (let i = 0; i + 1 < EVENT_COUNT; i += 1) {
    expect(arrivals[i], `event ${i} arrived before event ${i + 1} was written`).toBeLessThan(written[i + 1] ?? 0);
  }
  // Real gaps between arrivals, as the API spaced them (a buffered stream would deliver all at once).
  for (let i = 1; i < EVENT_COUNT; i += 1) {
    expect((arrivals[i] ?? 0) - (arrivals[i - 1] ?? 0)).toBeGreaterThan(EVENT_GAP_MS / 3);
  }
}

describe('web app (standalone build)', () => {
  it('answers GET /livez', async () => {
    const response = await fetch(`${web.url}/livez`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('renders the landing page with an accessible sign-in form and shows the problem detail on error', async () => {
    const page = await browser.context.newPage();
    const response = await page.goto(web.url);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['x-content-type-options']).toBe('nosniff');
    expect(response?.headers()['x-powered-by']).toBeUndefined();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain('Chat with every model');
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Email').fill('ada@example.com');
    await form.getByLabel('Password').fill('correct horse battery');
    await form.getByRole('button', { name: 'Sign in' }).click();
    const alert = form.getByRole('alert');
    await alert.filter({ hasText: 'locked' }).waitFor();
    expect(await alert.textContent()).toBe('This account is locked. Ask an administrator to unlock it.');
    await page.close();
  });

  it('streams SSE through the web server event by event, uncompressed, in the browser', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${web.url}/livez`);
    const result = await page.evaluate(async () => {
      const response = await fetch('/api/generations/g1/events?stream=browser', {
        headers: { accept: 'text/event-stream' },
      });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      const arrivals: number[] = [];
      let buffered = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let end = buffered.indexOf('\n\n');
        while (end !== -1) {
          arrivals.push(Date.now());
          buffered = buffered.slice(end + 2);
          end = buffered.indexOf('\n\n');
        }
      }
      return {
        status: response.status,
        contentType: response.headers.get('content-type'),
        contentEncoding: response.headers.get('content-encoding'),
        cacheControl: response.headers.get('cache-control'),
        arrivals,
      };
    });
    expect(result.status).toBe(200);
    expect(result.contentType).toBe('text/event-stream');
    expect(result.contentEncoding).toBeNull();
    expect(result.cacheControl).toContain('no-transform');
    expectArrivedOneByOne(result.arrivals, 'browser');
    await page.close();
  });

  it('never gzips SSE even when the client asks for it', async () => {
    const arrivals: number[] = [];
    const headers = await new Promise<http.IncomingHttpHeaders>((resolve, reject) => {
      const request = http.get(
        `${web.url}/api/generations/g1/events?stream=raw`,
        { headers: { accept: 'text/event-stream', 'accept-encoding': 'gzip, deflate, br' } },
        (response) => {
          let buffered = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            buffered += chunk;
            let end = buffered.indexOf('\n\n');
            while (end !== -1) {
              arrivals.push(Date.now());
              buffered = buffered.slice(end + 2);
              end = buffered.indexOf('\n\n');
            }
          });
          response.on('end', () => resolve(response.headers));
          response.on('error', reject);
        },
      );
      request.on('error', reject);
    });
    expect(headers['content-encoding']).toBeUndefined();
    expectArrivedOneByOne(arrivals, 'raw');
  });

  it('compresses pages, and appends the real peer to X-Forwarded-For', async () => {
    const page = await fetch(web.url, { headers: { 'accept-encoding': 'gzip' } });
    expect(page.headers.get('content-encoding')).toBe('gzip');

    const response = await fetch(`${web.url}/api/whoami`, { headers: { 'x-forwarded-for': '198.51.100.9' } });
    const { headers } = (await response.json()) as { headers: Record<string, string> };
    // A client-supplied value stays on the left; the address the web server saw is appended for the API to trust.
    expect(headers['x-forwarded-for']).toBe('198.51.100.9, 127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe(new URL(web.url).host);
  });
});
