import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { AppConfig } from '../config/index.ts';
import { DomainError } from '../http/errors.ts';
import { type HistogramSeries, RequestHistogram } from './histogram.ts';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { registry: Registry };
  }
  interface FastifyRequest {
    /** process.hrtime.bigint() when the request's onRequest hooks reached metrics (0n before). */
    startNs: bigint;
  }
  interface FastifyContextConfig {
    /** Health, metrics and docs answer even while the database is down or the process is draining. */
    infra?: boolean;
  }
}

const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Every URL no route matched is counted under this one label, so a scanner cannot blow up cardinality. */
export const UNMATCHED_ROUTE = '__unmatched__';

export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
    const duration = new RequestHistogram(
      'http_request_duration_seconds',
      'HTTP request duration by route template, method and status',
      ['route', 'method', 'status'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registry,
    );
    /**
     * Per route template, method and status (bounded: templates, known methods, status codes): the duration series
     * and the requests not yet added to the counter, which are added when it is read. A labelled prom-client update
     * hashes its labels on every call; here a response costs three map lookups.
     */
    interface RouteSeries {
      labels: { route: string; method: string; status: string };
      duration: HistogramSeries;
      pending: number;
    }
    const series: RouteSeries[] = [];
    const byRoute = new Map<string, Map<string, Map<number, RouteSeries>>>();
    function seriesOf(route: string, method: string, status: number): RouteSeries {
      let byMethod = byRoute.get(route);
      if (!byMethod) {
        byMethod = new Map();
        byRoute.set(route, byMethod);
      }
      let byStatus = byMethod.get(method);
      if (!byStatus) {
        byStatus = new Map();
        byMethod.set(method, byStatus);
      }
      let s = byStatus.get(status);
      if (!s) {
        const labels = { route, method, status: String(status) };
        s = { labels, duration: duration.series(labels), pending: 0 };
        byStatus.set(status, s);
        series.push(s);
      }
      return s;
    }
    new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route template, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
      collect() {
        for (const s of series) {
          if (s.pending === 0) continue;
          this.inc(s.labels, s.pending);
          s.pending = 0;
        }
      },
    });
    /** Requests being served: a plain number, set on the gauge when it is read (an unlabelled `inc` still hashes). */
    let inFlight = 0;
    new Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests being served (the HPA custom metric)',
      registers: [registry],
      collect() {
        this.set(inFlight);
      },
    });

    app.decorate('metrics', { registry });
    // The start time is a request property (no WeakMap entry per request); /v1 reads it for its overhead header.
    // Both hooks are callback-style: nothing here awaits, so no promise per request.
    app.decorateRequest('startNs', 0n);
    app.addHook('onRequest', (request, _reply, done) => {
      request.startNs = process.hrtime.bigint();
      inFlight++;
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      inFlight--;
      const start = request.startNs;
      const s = seriesOf(
        request.routeOptions.url ?? UNMATCHED_ROUTE,
        knownMethods.has(request.method) ? request.method : 'OTHER',
        reply.statusCode,
      );
      s.pending++;
      if (start !== 0n) s.duration.observe(Number(process.hrtime.bigint() - start) / 1e9);
      done();
    });

    const { port, token } = opts.config.metrics;
    if (port !== undefined) {
      let server: Server | undefined;
      app.addHook('onReady', async () => {
        server = createServer(async (req, res) => {
          if (req.url !== '/metrics') {
            res.writeHead(404).end();
            return;
          }
          res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
        });
        await new Promise<void>((resolve) => server?.listen(port, opts.config.server.host, resolve));
      });
      app.addHook('onClose', async () => {
        await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      });
    } else if (token !== undefined) {
      const expected = Buffer.from(`Bearer ${token}`);
      app.get('/metrics', { config: { infra: true }, schema: { hide: true } }, async (request, reply) => {
        const given = Buffer.from(request.headers.authorization ?? '');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          throw new DomainError('unauthenticated', 'The metrics endpoint needs Authorization: Bearer <METRICS_TOKEN>');
        }
        return reply.type(registry.contentType).send(await registry.metrics());
      });
    }
  },
  { name: 'metrics' },
);
