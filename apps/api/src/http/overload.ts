import underPressure from '@fastify/under-pressure';
import { errorCatalog, problemTypeUri } from '@genz/contracts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { AppConfig } from '../config/index.ts';
import { openAiErrorBody } from '../openai/errors.ts';
import { isOpenAiSurface } from './errors.ts';

export type ShedReason = 'event_loop_delay' | 'heap' | 'rss' | 'in_flight';

const reasonOf: Record<string, ShedReason> = {
  heapUsedBytes: 'heap',
  rssBytes: 'rss',
};

/** Health probes, metrics and docs always answer: a shedding replica must still look alive and be scraped. */
const exempt = (request: FastifyRequest) => request.routeOptions.config?.infra === true;

/**
 * Load shedding (issue 6, ADR 061), registered first so a shed request costs no auth, no limiter and no body parse.
 * - Event-loop delay (two consecutive samples above the threshold), and heap and RSS through
 *   @fastify/under-pressure, against `server.overload.*`.
 * - An in-flight count: requests that have not sent their headers yet (an open stream has, so streams do not count).
 * Past a threshold a request gets 503 `overloaded` with Retry-After at once, formatted here (problem+json on /api,
 * the OpenAI envelope on /v1) rather than through the error handler, so shedding never logs an error per request.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    const o = opts.config.server.overload;
    let shed: Counter<'reason'> | undefined;
    app.addHook('onReady', async () => {
      // metrics registers after this plugin (it must run first); the counter joins its registry once it exists.
      shed = new Counter({
        name: 'genz_shed_requests_total',
        help: 'Requests refused with 503 by load shedding, by reason (event_loop_delay | heap | rss | in_flight)',
        labelNames: ['reason'] as const,
        registers: [app.metrics.registry],
      });
    });

    /** Sets status and headers of a shed reply and returns its body. */
    function shedBody(request: FastifyRequest, reply: FastifyReply, reason: ShedReason): object {
      shed?.inc({ reason });
      const detail = 'The server is overloaded; retry shortly.';
      reply.code(503).header('retry-after', String(o.retryAfterSec));
      if (isOpenAiSurface(request.url)) {
        reply.type('application/json');
        return openAiErrorBody({ code: 'overloaded', message: detail });
      }
      reply.type('application/problem+json');
      return {
        type: problemTypeUri('overloaded'),
        title: errorCatalog.overloaded.title,
        status: 503,
        detail,
        code: 'overloaded',
        requestId: request.id,
        reason,
      };
    }

    // Heap and RSS: @fastify/under-pressure. Event-loop delay is sampled below instead: under-pressure turns an
    // interval without loop samples into Infinity, so one long block (the boot, one heavy embedded-database query)
    // would shed the next requests; two consecutive slow samples mean sustained lag, which is what overload is.
    await app.register(underPressure, {
      maxHeapUsedBytes: o.maxHeapUsedBytes,
      maxRssBytes: o.maxRssBytes,
      sampleInterval: o.sampleIntervalMs,
      retryAfter: o.retryAfterSec,
      // under-pressure sends whatever the handler returns (its types say void; its code sends a non-null result).
      pressureHandler: ((request: FastifyRequest, reply: FastifyReply, type: string) => {
        if (exempt(request)) return undefined;
        return shedBody(request, reply, reasonOf[type] ?? 'heap');
      }) as unknown as (request: FastifyRequest, reply: FastifyReply, type: string) => void,
    });

    if (o.maxEventLoopDelayMs > 0) {
      let previous = 0;
      let last = 0;
      let expected = performance.now() + o.sampleIntervalMs;
      const sampler = setInterval(() => {
        const t = performance.now();
        previous = last;
        last = Math.max(0, t - expected);
        expected = t + o.sampleIntervalMs;
      }, o.sampleIntervalMs);
      sampler.unref();
      app.addHook('onClose', async () => clearInterval(sampler));
      app.addHook('onRequest', async (request, reply) => {
        if (Math.min(previous, last) <= o.maxEventLoopDelayMs || exempt(request)) return;
        return reply.send(shedBody(request, reply, 'event_loop_delay'));
      });
    }

    if (o.maxInFlight > 0) {
      let inFlight = 0;
      app.addHook('onRequest', async (request, reply) => {
        if (exempt(request)) return;
        if (inFlight >= o.maxInFlight) return reply.send(shedBody(request, reply, 'in_flight'));
        inFlight++;
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          inFlight--;
        };
        answered.set(request, finish);
        reply.raw.once('close', finish);
      });
      const answered = new WeakMap<FastifyRequest, () => void>();
      app.addHook('onSend', async (request) => {
        answered.get(request)?.();
      });
    }
  },
  { name: 'overload' },
);
