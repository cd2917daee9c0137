import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { errorCatalog, problemTypeUri } from '@genz/contracts';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Histogram } from 'prom-client';
import type { AppConfig } from '../config/index.ts';
import { openAiErrorBody } from '../openai/errors.ts';
import { isOpenAiSurface } from './errors.ts';
import { genRequestId } from './request-id.ts';
import { SHED_REASONS, type ShedReason } from './shed-reasons.ts';

type Thresholds = AppConfig['server']['overload'];

const DETAIL = 'The server is overloaded; retry shortly.';

/**
 * The shedding decision, free of Fastify: the loop-turn budget (a request that arrives when the current event-loop
 * turn has already run `maxLoopTurnMs` is refused, so turns stay short and shed requests are read soon; ADR 062),
 * event-loop delay (two consecutive timer-drift samples above the threshold:
 * one long block is not overload; sampling starts with `start`, after the boot), event-loop utilisation (the share of each sample interval the
 * loop spent running JavaScript and native callbacks rather than waiting for I/O, `performance.eventLoopUtilization`;
 * the same two-sample rule), heap and RSS (sampled on the same timer), and the count of admitted requests that have
 * not sent their response headers (an open stream has, so streams do not count).
 */
export function createOverloadGate(o: Thresholds) {
  let previousLag = 0;
  let lastLag = 0;
  const sampleElu = o.maxEventLoopUtilization > 0;
  let eluMark = performance.eventLoopUtilization();
  let previousElu = 0;
  let lastElu = 0;
  let memory: ShedReason | null = null;
  const inFlight = new Set<ServerResponse>();
  const sampleMemory = o.maxHeapUsedBytes > 0 || o.maxRssBytes > 0;

  // The loop-turn budget. `turnStart` is when the current event-loop turn's work began: the previous turn's check
  // phase (a setImmediate), or, when no such callback is pending, the first request of this turn. While the chain of
  // immediates runs, the next poll does not block, so now − turnStart is work, not an idle wait. The chain re-arms
  // only after a turn that saw requests, so an idle server's poll still blocks (no spinning).
  const turnBudget = o.maxLoopTurnMs;
  let turnStart = 0;
  let armed = false;
  let requestsThisTurn = 0;
  const onCheck = () => {
    turnStart = performance.now();
    if (requestsThisTurn > 0) {
      requestsThisTurn = 0;
      setImmediate(onCheck);
    } else armed = false;
  };

  let expected = 0;
  const sample = () => {
    const t = performance.now();
    previousLag = lastLag;
    lastLag = Math.max(0, t - expected);
    expected = t + o.sampleIntervalMs;
    if (sampleElu) {
      // Busy share of the time since the previous sample (a late timer's window includes the long turn that made it late).
      const now = performance.eventLoopUtilization();
      previousElu = lastElu;
      lastElu = performance.eventLoopUtilization(now, eluMark).utilization;
      eluMark = now;
    }
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
  const sampled = o.maxEventLoopDelayMs > 0 || sampleElu || sampleMemory;
  let sampler: NodeJS.Timeout | undefined;
  let stopped = false;

  return {
    /**
     * Starts sampling, from nothing: what the loop did before (the boot: imports, compiling, migrations on an
     * embedded database) blocks it for seconds on a busy host, twice in a row as easily as once, and is not load.
     */
    start(): void {
      if (!sampled || sampler || stopped) return;
      expected = performance.now() + o.sampleIntervalMs;
      eluMark = performance.eventLoopUtilization();
      sampler = setInterval(sample, o.sampleIntervalMs);
      sampler.unref();
    },
    /** Why a new request must be refused now, or null to admit it (and count it in flight until its headers go). */
    admit(res: ServerResponse): ShedReason | null {
      if (turnBudget > 0) {
        requestsThisTurn++;
        if (!armed) {
          armed = true;
          turnStart = performance.now();
          setImmediate(onCheck);
        } else if (performance.now() - turnStart > turnBudget) return 'loop_turn';
      }
      if (o.maxEventLoopDelayMs > 0 && Math.min(previousLag, lastLag) > o.maxEventLoopDelayMs)
        return 'event_loop_delay';
      if (sampleElu && Math.min(previousElu, lastElu) > o.maxEventLoopUtilization) return 'event_loop_utilization';
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
    stop(): void {
      stopped = true;
      clearInterval(sampler);
    },
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
    // The delay, utilisation and memory signals count from when the app and its database are ready (the boot is
    // not load); the loop-turn budget and the in-flight cap hold from the first request.
    app.addHook('onReady', async () => {
      void app.dbReadyPromise.then(gate.start, gate.start);
    });
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

    let total: Counter<'reason'> | undefined;
    let duration: Histogram<'reason'> | undefined;
    app.addHook('onReady', async () => {
      // metrics registers after this plugin (it must come first); the metrics join its registry once it exists.
      const registers = [app.metrics.registry];
      total = new Counter({
        name: 'genz_shed_requests_total',
        help: 'Requests refused with 503 by load shedding, by reason (loop_turn | event_loop_delay | event_loop_utilization | heap | rss | in_flight)',
        labelNames: ['reason'] as const,
        registers,
      });
      duration = new Histogram({
        name: 'genz_http_shed_duration_seconds',
        help:
          'Server-side time of a shed request, from the HTTP server reading it (its request event, the first point ' +
          'JavaScript sees it) to the 503 handed to the socket, by reason. Time spent in the kernel before the busy ' +
          'event loop read the request is not in it (see nodejs_eventloop_lag_seconds).',
        labelNames: ['reason'] as const,
        buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
        registers,
      });
    });

    // The answers, serialised once: only the request id varies (genRequestId's ids need no JSON escaping).
    const openAiBody = Buffer.from(JSON.stringify(openAiErrorBody({ code: 'overloaded', message: DETAIL })));
    const retryAfter = String(o.retryAfterSec);
    const problemParts = Object.fromEntries(
      SHED_REASONS.map((reason) => {
        const json = JSON.stringify({
          type: problemTypeUri('overloaded'),
          title: errorCatalog.overloaded.title,
          status: 503,
          detail: DETAIL,
          code: 'overloaded',
          reason,
          requestId: '',
        });
        const cut = json.lastIndexOf('""') + 1;
        return [reason, { head: json.slice(0, cut), tail: json.slice(cut) }];
      }),
    ) as Record<ShedReason, { head: string; tail: string }>;
    function shed(req: IncomingMessage, res: ServerResponse, reason: ShedReason, start: bigint) {
      const url = req.url ?? '/';
      const requestId = genRequestId(req);
      const openAi = isOpenAiSurface(url);
      const body = openAi ? openAiBody : problemParts[reason].head + requestId + problemParts[reason].tail;
      res.writeHead(503, [
        'content-type',
        openAi ? 'application/json; charset=utf-8' : 'application/problem+json',
        'content-length',
        String(Buffer.byteLength(body)),
        'retry-after',
        retryAfter,
        'x-request-id',
        requestId,
      ]);
      res.end(body);
      total?.inc({ reason });
      duration?.observe({ reason }, Number(process.hrtime.bigint() - start) / 1e9);
    }

    // Fastify's server has one `request` listener, its router; the gate goes in front of it.
    const server = app.server;
    const [route] = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    if (!route) throw new Error('overload: the HTTP server has no request listener to guard');
    server.removeListener('request', route);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // The earliest point a request is visible to JavaScript: the parser emits `request` as it reads the headers.
      const start = process.hrtime.bigint();
      const reason = exempt(req.url ?? '/') ? null : gate.admit(res);
      if (reason) shed(req, res, reason, start);
      else route(req, res);
    });
  },
  { name: 'overload' },
);
