/**
 * Run-time reverse proxy from the web server to the API (ARCHITECTURE §12, ADR 004).
 *
 * Request and response bodies are streamed, never buffered: a chat reply over SSE reaches the browser event by
 * event. `next.config.ts` turns on gzip for pages; the `compression` middleware Next uses skips any response whose
 * Cache-Control contains `no-transform`, so SSE responses always get it here.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1) are meaningful for one connection only and are never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Methods whose requests carry no body; fetch refuses a body on them. */
const BODYLESS_METHODS = new Set(['GET', 'HEAD']);
/** Statuses whose responses have no body; `new Response(body)` throws for them. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

export const DEFAULT_API_INTERNAL_URL = 'http://127.0.0.1:8080';

export interface ProxyOptions {
  /** Base URL of the API, resolved on every request so it is read at run time, never inlined at build time. */
  upstream: () => string;
}

export type ProxyHandler = (request: Request) => Promise<Response>;

/** Names listed in the Connection header are hop-by-hop too. */
function connectionTokens(headers: Headers): Set<string> {
  const value = headers.get('connection');
  if (!value) return new Set();
  return new Set(
    value
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
}

function requestHeaders(incoming: Headers): Headers {
  const dropped = connectionTokens(incoming);
  const out = new Headers();
  for (const [name, value] of incoming) {
    if (HOP_BY_HOP.has(name) || dropped.has(name) || name === 'host') continue;
    out.append(name, value);
  }
  // fetch() transparently decodes compressed bodies; loopback compression only costs CPU. The web server
  // compresses for the browser where that helps (never for SSE).
  out.set('accept-encoding', 'identity');
  return out;
}

function responseHeaders(upstream: Response): Headers {
  const dropped = connectionTokens(upstream.headers);
  const out = new Headers();
  for (const [name, value] of upstream.headers) {
    if (HOP_BY_HOP.has(name) || dropped.has(name) || name === 'set-cookie') continue;
    out.append(name, value);
  }
  // Each cookie stays its own header line; joining them with commas would corrupt Expires dates.
  for (const cookie of upstream.headers.getSetCookie()) out.append('set-cookie', cookie);
  // fetch() has already decoded a compressed body, so its encoding and length no longer describe what we send.
  if (upstream.headers.has('content-encoding')) {
    out.delete('content-encoding');
    out.delete('content-length');
  }
  if (isEventStream(out)) {
    const cacheControl = out.get('cache-control');
    if (!cacheControl) out.set('cache-control', 'no-cache, no-transform');
    else if (!/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(cacheControl)) {
      out.set('cache-control', `${cacheControl}, no-transform`);
    }
    // Tells nginx-style buffering proxies in front of the web server to pass events through as they come.
    out.set('x-accel-buffering', 'no');
  }
  return out;
}

function isEventStream(headers: Headers): boolean {
  return (headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
}

const UNREACHABLE = 'The API is not reachable right now. Try again in a moment.';

/**
 * The API cannot be reached: RFC 9457 problem+json (code `bad_gateway` from the contracts catalogue), or the OpenAI
 * error envelope on /v1 so SDK clients parse it as they parse every other /v1 error.
 */
function unreachable(pathname: string): Response {
  const headers = { 'cache-control': 'no-store' };
  if (pathname === '/v1' || pathname.startsWith('/v1/')) {
    return Response.json(
      { error: { message: UNREACHABLE, type: 'api_error', param: null, code: 'bad_gateway' } },
      { status: 502, headers },
    );
  }
  return Response.json(
    {
      type: '/problems/bad_gateway',
      title: 'The API is unreachable',
      status: 502,
      detail: UNREACHABLE,
      code: 'bad_gateway',
    },
    { status: 502, headers: { ...headers, 'content-type': 'application/problem+json' } },
  );
}

/** Builds a handler that forwards any request to the same path and query on the upstream API. */
export function createProxy(options: ProxyOptions): ProxyHandler {
  return async (request) => {
    const incoming = new URL(request.url);
    const configured = options.upstream();
    if (!URL.canParse(configured)) {
      console.error(`[web] API_INTERNAL_URL is not a URL: ${configured}`);
      return unreachable(incoming.pathname);
    }
    const base = new URL(configured);
    const target = new URL(`${incoming.pathname}${incoming.search}`, base);
    const method = request.method.toUpperCase();
    const hasBody = !BODYLESS_METHODS.has(method) && request.body !== null;

    // `duplex` is in Node's fetch but not yet in the DOM RequestInit type.
    const init: RequestInit & { duplex: 'half' } = {
      method,
      headers: requestHeaders(request.headers),
      body: hasBody ? request.body : null,
      // Streams the request body instead of reading it all first (required by fetch for a stream body).
      duplex: 'half',
      redirect: 'manual',
      // The client going away aborts the upstream request, so the API sees the disconnect.
      signal: request.signal,
    };
    let upstream: Response;
    try {
      upstream = await fetch(target, init);
    } catch (error) {
      if (request.signal.aborted) return new Response(null, { status: 499 });
      const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      console.error(`[web] proxy ${method} ${incoming.pathname} -> ${base.origin} failed: ${reason}`);
      return unreachable(incoming.pathname);
    }

    const nullBody = NULL_BODY_STATUSES.has(upstream.status) || method === 'HEAD';
    return new Response(nullBody ? null : upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: responseHeaders(upstream),
    });
  };
}
