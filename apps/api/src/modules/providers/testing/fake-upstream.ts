import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A fake AI provider on 127.0.0.1 that speaks each vendor's real wire format by replaying recorded fixtures
 * (./fixtures/*.chunks.txt: the SSE body as the vendor sent it, one event per blank-line-separated block):
 * - OpenAI and Ollama: POST /v1/chat/completions (SSE or JSON), POST /v1/embeddings, GET /v1/models (Ollama's own
 *   recordings for text, tools, and a vision model's answer to an image);
 * - Anthropic: POST /v1/messages (messages SSE);
 * - Gemini: POST /v1beta/models/{model}:streamGenerateContent?alt=sse.
 * A request that asks for reasoning (`reasoning_effort`, Anthropic `thinking`, Gemini `thinkingConfig`) gets the
 * `*-reasoning` fixture: OpenAI-wire `reasoning_content` deltas, Anthropic thinking blocks, Gemini thought parts.
 * Faults are scriptable per request (queued with `fail()`, or for every request with `failAll()`).
 * Used by the router tests, and reusable by bench/ and the chats module.
 */
export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  | { kind: 'reset-before' }
  | { kind: 'reset-mid'; afterChunks?: number }
  | { kind: 'stall'; afterChunks?: number }
  | { kind: 'malformed'; atChunk?: number }
  | { kind: 'body-error' };

export type Vendor = 'openai' | 'ollama' | 'anthropic' | 'gemini';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

export interface FakeUpstream {
  /** Origin, e.g. http://127.0.0.1:4321. */
  url: string;
  /** The base URL a deployment of this vendor uses (`/v1`, or `/v1beta` for Gemini). */
  baseUrl: string;
  requests: RecordedRequest[];
  /** Faults for the next requests, one each, in order. */
  fail(...faults: Fault[]): void;
  /** A fault for every request until cleared with `failAll(undefined)`. */
  failAll(fault: Fault | undefined): void;
  /** Delay between chunks (a slow model). */
  chunkDelayMs: number;
  close(): Promise<void>;
}

const fixtureDir = new URL('./fixtures/', import.meta.url);
const fixtureCache = new Map<string, string>();

export function fixture(name: string): string {
  let text = fixtureCache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(name, fixtureDir), 'utf8');
    fixtureCache.set(name, text);
  }
  return text;
}

/** The recorded SSE events of a fixture, each with its trailing blank line. */
export function fixtureEvents(name: string): string[] {
  return fixture(name)
    .split(/\n\n/)
    .filter((block) => block.trim() !== '')
    .map((block) => `${block}\n\n`);
}

const inBodyError: Record<Vendor, string> = {
  openai:
    'data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}\n\n',
  ollama:
    'data: {"error":{"message":"model runner has unexpectedly stopped","type":"api_error","param":null,"code":null}}\n\n',
  anthropic: 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
  gemini:
    'data: {"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}\n\n',
};

const malformed: Record<Vendor, string> = {
  openai: 'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"oo\n\n',
  ollama: 'data: {"id":"chatcmpl-x","choices":[{"delta":{"content\n\n',
  anthropic: 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_de\n\n',
  gemini: 'data: {"candidates": [{"content": {"parts": [{"text": "He\n\n',
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function vendorOf(path: string, configured: Vendor): Vendor {
  if (path.startsWith('/v1/messages')) return 'anthropic';
  if (path.startsWith('/v1beta/')) return 'gemini';
  return configured === 'ollama' ? 'ollama' : 'openai';
}

export interface FakeUpstreamOptions {
  vendor?: Vendor;
  chunkDelayMs?: number;
  /** Listen on this port (default: any free one). */
  port?: number;
  /** Keep every request in `requests` (default true; bench/ turns it off so a long run does not grow). */
  record?: boolean;
  /** The fixture a plain (no tools, no reasoning) stream replays instead of `<vendor>-text.chunks.txt`. */
  textFixture?: string;
}

export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const vendor = options.vendor ?? 'openai';
  const record = options.record ?? true;
  const queue: Fault[] = [];
  let always: Fault | undefined;
  const sockets = new Set<Socket>();
  const requests: RecordedRequest[] = [];
  const stalled = new Set<ServerResponse>();

  const fake: FakeUpstream = {
    url: '',
    baseUrl: '',
    requests,
    chunkDelayMs: options.chunkDelayMs ?? 0,
    fail: (...faults) => {
      queue.push(...faults);
    },
    failAll: (fault) => {
      always = fault;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of stalled) res.destroy();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const raw = await readBody(req);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let body: Record<string, unknown> = {};
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad json"}}');
      return;
    }
    if (record) requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body });
    const fault = queue.shift() ?? always;
    const wire = vendorOf(path, vendor);

    if (req.method === 'GET' && path === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: [{ id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'fake' }],
        }),
      );
      return;
    }
    if (fault?.kind === 'reset-before') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      res.writeHead(fault.status, headers);
      res.end(
        fault.body ?? JSON.stringify({ error: { message: `fake upstream ${fault.status}`, type: 'server_error' } }),
      );
      return;
    }

    if (path === '/v1/embeddings') {
      const input = body.input;
      const n = Array.isArray(input) ? input.length : 1;
      const data = Array.from({ length: n }, (_, index) => ({
        object: 'embedding',
        index,
        embedding: [0.1, -0.2, 0.3],
      }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data,
          model: body.model,
          usage: { prompt_tokens: 4 * n, total_tokens: 4 * n },
        }),
      );
      return;
    }

    const tools = Array.isArray(body.tools) && body.tools.length > 0;
    const vision = JSON.stringify(body.messages ?? []).includes('"image_url"');
    // Reasoning asked for, in each vendor's own request field: the reasoning fixtures answer.
    const generationConfig = body.generationConfig as { thinkingConfig?: unknown } | undefined;
    const reasoning =
      body.reasoning_effort !== undefined ||
      body.thinking !== undefined ||
      generationConfig?.thinkingConfig !== undefined;
    const streaming =
      wire === 'anthropic' ? body.stream === true : wire === 'gemini' ? path.includes(':stream') : body.stream === true;
    if (!streaming) {
      if (fault?.kind === 'body-error') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: { message: 'The server had an error while processing your request.', type: 'server_error' },
          }),
        );
        return;
      }
      if (fault?.kind === 'stall') {
        stalled.add(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      if (fault?.kind === 'malformed') res.end('{"id":"chatcmpl-x","choices":[{"message":');
      else if (wire === 'ollama') res.end(fixture(`ollama-${tools ? 'tools' : vision ? 'vision' : 'text'}.json`));
      else res.end(fixture(tools ? 'openai-tools.json' : reasoning ? 'openai-reasoning.json' : 'openai-text.json'));
      return;
    }

    const kind = reasoning && wire !== 'ollama' ? 'reasoning' : tools ? 'tools' : 'text';
    const name =
      kind === 'text' && wire === vendor && options.textFixture ? options.textFixture : `${wire}-${kind}.chunks.txt`;
    let events = fixtureEvents(name);
    if (fault?.kind === 'body-error') events = [inBodyError[wire]];
    if (fault?.kind === 'malformed') {
      const at = fault.atChunk ?? 0;
      events = [...events.slice(0, at), malformed[wire], ...events.slice(at + 1)];
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    const stopAt =
      fault?.kind === 'reset-mid'
        ? (fault.afterChunks ?? 2)
        : fault?.kind === 'stall'
          ? (fault.afterChunks ?? 0)
          : undefined;
    for (const [i, event] of events.entries()) {
      if (stopAt !== undefined && i === stopAt) {
        // Let the bytes already written reach the client before the connection dies.
        await new Promise((r) => setTimeout(r, 25));
        if (fault?.kind === 'reset-mid') res.socket?.destroy();
        else stalled.add(res);
        return;
      }
      if (fake.chunkDelayMs > 0) await new Promise((r) => setTimeout(r, fake.chunkDelayMs));
      if (res.destroyed) return;
      if (stopAt === undefined) res.write(event);
      else await new Promise((r) => res.write(event, r));
    }
    res.end();
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}`;
  fake.baseUrl = `${fake.url}${vendor === 'gemini' ? '/v1beta' : '/v1'}`;
  return fake;
}
