import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorCatalog, problemTypeUri } from '@genz/contracts';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { AppConfig } from '../config/index.ts';
import { openAiErrorBody } from '../openai/errors.ts';
import { isOpenAiSurface } from './errors.ts';
import { genRequestId } from './request-id.ts';

export type ShedReason = 'event_loop_delay' | 'heap' | 'rss' | 'in_flight';
type Thresholds = AppConfig['server']['overload'];

const DETAIL = 'The server is overloaded; retry shortly.';

/**
 * The shedding decision, free of Fastify: event-loop delay (two consecutive timer-drift samples above the threshold:
 * one long block, such as the boot, is not overload), heap and RSS (sampled on the same timer), and the count of
 * admitted requests that have not sent their response headers (an open stream has, so streams do not count).
 */
export function createOverloadGate(o: Thresholds) {
  let previousLag = 0;
  let lastLag = 0;
  let memory: ShedReason | null = null;
  const inFlight = new Set<ServerResponse>();
  const sampleMemory = o.maxHeapUsedBytes > 0 || o.maxRssBytes > 0;

  let expected = performance.now() + o.sampleIntervalMs;
  const sample = () => {
    const t = performance.now();
    previousLag = lastLag;
    lastLag = Math.max(0, t - expected);
    expected = t + o.sampleIntervalMs;
    if (sampleMemory) {
      const m = process.memoryUsage();
      memory =
        o.maxHeapUsedBytes > 0 && m.heapUsed > o.maxHeapUsedBytes
          ? 'heap'
          : o.maxRssBytes > 0 && m.rss > o.maxRssBytes
            ? 'rss'
            : null;
    }
  };
  const sampler = o.maxEventLoopDelayMs > 0 || sampleMemory ? setInterval(sample, o.sampleIntervalMs) : undefined;
  sampler?.unref();

  return {
    /** Why a new request must be refused now, or null to admit it (and count it in flight until its headers go). */
    admit(res: ServerResponse): ShedReason | null {
      if (o.maxEventLoopDelayMs > 0 && Math.min(previousLag, lastLag) > o.maxEventLoopDelayMs)
        return 'event_loop_delay';
      if (memory) return memory;
      if (o.maxInFlight > 0) {
        if (inFlight.size >= o.maxInFlight) {
          // Streams that have sent their headers since they were admitted leave the count.
          for (const r of inFlight) if (r.headersSent) inFlight.delete(r);
          if (inFlight.size >= o.maxInFlight) return 'in_flight';
        }
        inFlight.add(res);
        res.once('close', () => inFlight.delete(res));
      }
      return null;
    },
    stop: () => clearInterval(sampler),
  };
}

/**
 * Load shedding (issue 6, ADR 061) at the HTTP server's `request` event, ahead of Fastify: a shed request costs no
 * routing, no request object, no hooks, no body parse, no authentication and no database; it gets 503 `overloaded`
 * with Retry-After at once (problem+json on /api, the OpenAI envelope on /v1). Routes marked `infra` (health,
 * metrics, docs) are never shed. Because it sits on the server, `app.inject` (which skips the server) is not shed.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    const o = opts.config.server.overload;
    const gate = createOverloadGate(o);
    app.addHook('onClose', async () => gate.stop());

    // Paths of infra routes, exact or (for wildcard and parametric routes such as the docs) by prefix.
    const exactExempt = new Set<string>();
    const prefixExempt: string[] = [];
    app.addHook('onRoute', (route) => {
      if ((route.config as { infra?: boolean } | undefined)?.infra !== true) return;
      const cut = route.url.search(/[:*]/);
      if (cut < 0) exactExempt.add(route.url);
      else prefixExempt.push(route.url.slice(0, cut));
    });
    const exempt = (url: string) => {
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      return exactExempt.has(path) || prefixExempt.some((p) => path.startsWith(p));
    };

    let shedTotal: Counter<'reason'> | undefined;
    app.addHook('onReady', async () => {
      // metrics registers after this plugin (it must come first); the counter joins its registry once it exists.
      shedTotal = new Counter({
        name: 'genz_shed_requests_total',
        help: 'Requests refused with 503 by load shedding, by reason (event_loop_delay | heap | rss | in_flight)',
        labelNames: ['reason'] as const,
        registers: [app.metrics.registry],
      });
    });

    const openAiBody = JSON.stringify(openAiErrorBody({ code: 'overloaded', message: DETAIL }));
    const retryAfter = String(o.retryAfterSec);
    function shed(req: IncomingMessage, res: ServerResponse, reason: ShedReason) {
      shedTotal?.inc({ reason });
      const url = req.url ?? '/';
      const requestId = genRequestId(req);
      const body = isOpenAiSurface(url)
        ? openAiBody
        : JSON.stringify({
            type: problemTypeUri('overloaded'),
            title: errorCatalog.overloaded.title,
            status: 503,
            detail: DETAIL,
            code: 'overloaded',
            requestId,
            reason,
          });
      res.writeHead(503, {
        'content-type': isOpenAiSurface(url) ? 'application/json; charset=utf-8' : 'application/problem+json',
        'content-length': Buffer.byteLength(body),
        'retry-after': retryAfter,
        'x-request-id': requestId,
      });
      res.end(body);
    }

    // Fastify's server has one `request` listener, its router; the gate goes in front of it.
    const server = app.server;
    const [route] = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    if (!route) throw new Error('overload: the HTTP server has no request listener to guard');
    server.removeListener('request', route);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const reason = exempt(req.url ?? '/') ? null : gate.admit(res);
      if (reason) shed(req, res, reason);
      else route(req, res);
    });
  },
  { name: 'overload' },
);
