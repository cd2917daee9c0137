import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import { DomainError } from './errors.ts';

/**
 * Server-sent events (ARCHITECTURE §8, §12). One writer for every stream (chat generations, later notifications):
 * - headers that keep proxies from buffering or transforming (`no-transform`, `X-Accel-Buffering: no`); the
 *   response is never compressed (the reply is hijacked, so no compression hook can touch it);
 * - each event written and flushed at once (Nagle off), with back-pressure: `send` waits for `drain`;
 * - a comment line every heartbeatMs on an idle stream, so proxies and load balancers keep it open;
 * - `signal` aborts when the client goes away, so producers stop reading for it at once;
 * - a per-process connection bound (`genz_sse_connections` / `genz_sse_connections_max`): past it, a new stream
 *   is refused with 503 before any byte is written.
 */
export interface SseStream {
  /** Aborted when the client disconnects or the stream ends. */
  readonly signal: AbortSignal;
  send(event: { id?: number | string; event?: string; data: string }): Promise<void>;
  end(): void;
}

export interface SseApi {
  /** Opens a stream on this request (errors must be thrown before this point: after it the status is 200). */
  open(request: FastifyRequest, reply: FastifyReply, options?: { heartbeatMs?: number }): SseStream;
  readonly connections: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    sse: SseApi;
  }
}

/** One SSE event as bytes; multi-line data becomes several `data:` lines (the JSON we send has none). */
export function formatEvent(e: { id?: number | string; event?: string; data: string }): string {
  let out = '';
  if (e.id !== undefined) out += `id: ${e.id}\n`;
  if (e.event !== undefined) out += `event: ${e.event}\n`;
  for (const line of e.data.split('\n')) out += `data: ${line}\n`;
  return `${out}\n`;
}

export default fp(
  async (app: FastifyInstance, opts: { maxConnections: number; heartbeatMs: number }) => {
    let connections = 0;
    const open = new Gauge({
      name: 'genz_sse_connections',
      help: 'Open server-sent-event streams on this instance',
      registers: [app.metrics.registry],
      collect() {
        this.set(connections);
      },
    });
    new Gauge({
      name: 'genz_sse_connections_max',
      help: 'Server-sent-event streams this instance accepts before refusing new ones',
      registers: [app.metrics.registry],
    }).set(opts.maxConnections);
    void open;
    const live = new Set<{ end(): void }>();

    const api: SseApi = {
      get connections() {
        return connections;
      },
      open(request, reply, options = {}) {
        if (connections >= opts.maxConnections) {
          throw new DomainError('overloaded', 'Too many open streams on this server; retry shortly.', {
            headers: { 'retry-after': '2' },
          });
        }
        const res = reply.raw;
        const controller = new AbortController();
        reply.hijack();
        // Each event leaves at once (no Nagle delay); injected test requests have no real socket.
        const socket = request.raw.socket as { setNoDelay?: (on: boolean) => void } | undefined;
        if (typeof socket?.setNoDelay === 'function') socket.setNoDelay(true);
        res.writeHead(200, {
          // Headers the handler set on the reply (hijacking bypasses Fastify's own header writing).
          ...(reply.getHeaders() as Record<string, string>),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'x-request-id': request.id,
        });
        res.flushHeaders();
        connections++;
        let ended = false;
        const heartbeat = setInterval(() => {
          if (!res.writableEnded) res.write(': ping\n\n');
        }, options.heartbeatMs ?? opts.heartbeatMs);
        heartbeat.unref();
        const stream = {
          signal: controller.signal,
          async send(e: { id?: number | string; event?: string; data: string }) {
            if (ended || res.writableEnded || res.destroyed) return;
            if (!res.write(formatEvent(e))) {
              await new Promise<void>((resolve) => {
                const done = () => {
                  res.off('drain', done);
                  controller.signal.removeEventListener('abort', done);
                  resolve();
                };
                res.on('drain', done);
                controller.signal.addEventListener('abort', done, { once: true });
              });
            }
          },
          end() {
            if (ended) return;
            ended = true;
            if (!res.writableEnded) res.end();
            cleanup();
          },
        };
        const cleanup = () => {
          clearInterval(heartbeat);
          if (live.delete(stream)) connections--;
          if (!controller.signal.aborted) controller.abort();
        };
        live.add(stream);
        res.on('close', cleanup);
        return stream;
      },
    };
    app.decorate('sse', api);
    // On shutdown the streams end cleanly (clients resume elsewhere with Last-Event-ID).
    app.addHook('preClose', async () => {
      for (const s of [...live]) s.end();
    });
  },
  { name: 'sse', dependencies: ['metrics'] },
);
