import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createProxy } from './proxy';

/** What the fake API saw and did, for the assertions. */
interface Seen {
  sseWrites: number;
  headers?: http.IncomingHttpHeaders;
  bodyChunks: string[];
  closed: boolean;
}

const seen: Seen = { sseWrites: 0, bodyChunks: [], closed: false };
let upstream: http.Server;
let base: string;

/** A fake API on the network edge: SSE events 200 ms apart, an echo, cookies, gzip, a slow stream. */
function fakeApi(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  seen.headers = req.headers;
  if (url.pathname === '/api/sse') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let id = 0;
    const write = () => {
      seen.sseWrites += 1;
      res.write(`id: ${id}\nevent: delta\ndata: {"text":"t${id}"}\n\n`);
      id += 1;
      if (id === 3) res.end();
      else setTimeout(write, 200);
    };
    write();
    return;
  }
  if (url.pathname === '/v1/echo') {
    seen.bodyChunks = [];
    req.on('data', (chunk: Buffer) => seen.bodyChunks.push(chunk.toString()));
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-request-id': 'r-1' });
      res.end(JSON.stringify({ method: req.method, path: req.url, body: seen.bodyChunks.join('') }));
    });
    return;
  }
  if (url.pathname === '/api/cookies') {
    res.setHeader('set-cookie', ['a=1; Path=/; HttpOnly', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT']);
    res.writeHead(204);
    res.end();
    return;
  }
  if (url.pathname === '/api/gzip') {
    const body = gzipSync(JSON.stringify({ ok: true }));
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': body.length,
    });
    res.end(body);
    return;
  }
  if (url.pathname === '/api/hang') {
    seen.closed = false;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store, no-transform' });
    res.write(': open\n\n');
    res.on('close', () => {
      seen.closed = true;
    });
    return;
  }
  res.writeHead(404, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: '/problems/route_not_found', status: 404, code: 'route_not_found' }));
}

beforeAll(async () => {
  upstream = http.createServer(fakeApi);
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
});

const proxy = createProxy({ upstream: () => base });
const web = 'http://web.example:3000';
const decoder = new TextDecoder();

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('createProxy', () => {
  it('streams SSE events one at a time, each read before the API writes the next', async () => {
    const response = await proxy(new Request(`${web}/api/sse`, { headers: { accept: 'text/event-stream' } }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    // no-transform makes Next's gzip middleware pass the stream through untouched.
    expect(response.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(response.headers.get('x-accel-buffering')).toBe('no');

    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const events: { text: string; writesSoFar: number }[] = [];
    let buffered = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let end = buffered.indexOf('\n\n');
      while (end !== -1) {
        events.push({ text: buffered.slice(0, end), writesSoFar: seen.sseWrites });
        buffered = buffered.slice(end + 2);
        end = buffered.indexOf('\n\n');
      }
    }
    expect(events.map((event) => event.text)).toEqual([
      'id: 0\nevent: delta\ndata: {"text":"t0"}',
      'id: 1\nevent: delta\ndata: {"text":"t1"}',
      'id: 2\nevent: delta\ndata: {"text":"t2"}',
    ]);
    // Event n reached us while the API had written exactly n + 1 events: nothing waited for the end.
    expect(events.map((event) => event.writesSoFar)).toEqual([1, 2, 3]);
  });

  it('passes method, path, query, status and headers, and streams the request body', async () => {
    let push: (text: string) => void = () => {};
    let close: () => void = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (text) => controller.enqueue(new TextEncoder().encode(text));
        close = () => controller.close();
      },
    });
    const request = new Request(`${web}/v1/echo?x=1&y=%20`, {
      method: 'POST',
      body,
      duplex: 'half',
      headers: {
        'content-type': 'text/plain',
        authorization: 'Bearer k',
        'x-forwarded-for': '203.0.113.7, 127.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'chat.example.com',
        connection: 'x-hop',
        'x-hop': 'secret',
        'keep-alive': 'timeout=5',
      },
    } as RequestInit & { duplex: 'half' });
    const pending = proxy(request);
    push('first,');
    // The API holds the first chunk before the second exists: the body is streamed, not collected first.
    await until(() => seen.bodyChunks.join('') === 'first,');
    push('second');
    close();
    const response = await pending;

    expect(response.status).toBe(201);
    expect(response.headers.get('x-request-id')).toBe('r-1');
    expect(response.headers.has('connection')).toBe(false);
    expect(response.headers.has('keep-alive')).toBe(false);
    expect(await response.json()).toEqual({ method: 'POST', path: '/v1/echo?x=1&y=%20', body: 'first,second' });
    expect(seen.headers).toMatchObject({
      authorization: 'Bearer k',
      'content-type': 'text/plain',
      'x-forwarded-for': '203.0.113.7, 127.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'chat.example.com',
      'accept-encoding': 'identity',
    });
    expect(seen.headers?.['x-hop']).toBeUndefined();
    expect(seen.headers?.host).toBe(new URL(base).host);
  });

  it('keeps every set-cookie separate and returns bodyless statuses without a body', async () => {
    const response = await proxy(new Request(`${web}/api/cookies`, { method: 'POST' }));
    expect(response.status).toBe(204);
    expect(response.headers.getSetCookie()).toEqual([
      'a=1; Path=/; HttpOnly',
      'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT',
    ]);
    expect(response.body).toBeNull();
  });

  it('passes upstream errors through untouched', async () => {
    const response = await proxy(new Request(`${web}/api/missing`));
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'route_not_found' });
  });

  it('drops content-encoding when fetch has already decoded the body', async () => {
    const response = await proxy(new Request(`${web}/api/gzip`));
    expect(response.headers.has('content-encoding')).toBe(false);
    expect(response.headers.has('content-length')).toBe(false);
    expect(await response.json()).toEqual({ ok: true });
  });

  it('keeps an existing no-transform and aborts the upstream request when the client leaves', async () => {
    const client = new AbortController();
    const response = await proxy(new Request(`${web}/api/hang`, { signal: client.signal }));
    expect(response.headers.get('cache-control')).toBe('no-store, no-transform');
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect(decoder.decode((await reader.read()).value)).toBe(': open\n\n');
    client.abort();
    await until(() => seen.closed);
  });

  it('answers 502 problem+json when the API cannot be reached', async () => {
    const dead = http.createServer();
    dead.listen(0, '127.0.0.1');
    await once(dead, 'listening');
    const port = (dead.address() as AddressInfo).port;
    await new Promise((resolve) => dead.close(resolve));

    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const down = createProxy({ upstream: () => `http://127.0.0.1:${port}` });
      const response = await down(new Request(`${web}/api/auth/login`, { method: 'POST', body: '{}' }));
      expect(response.status).toBe(502);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      const problem = await response.json();
      expect(problem).toEqual({
        type: '/problems/bad_gateway',
        title: 'The API is unreachable',
        status: 502,
        detail: expect.any(String),
        code: 'bad_gateway',
      });
      const v1 = await down(new Request(`${web}/v1/models`));
      expect(v1.status).toBe(502);
      expect((await v1.json()).error).toMatchObject({ type: 'api_error', code: 'bad_gateway' });
      expect(JSON.stringify(problem)).not.toContain(String(port));
      expect(logged).toHaveBeenCalledTimes(2);
    } finally {
      logged.mockRestore();
    }
  });

  it('reads the upstream address on every request', async () => {
    let target = 'http://127.0.0.1:1';
    const dynamic = createProxy({ upstream: () => target });
    target = base;
    const response = await dynamic(new Request(`${web}/api/missing`));
    expect(response.status).toBe(404);
  });
});
