import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AppConfig } from '../config/index.ts';
import { DomainError } from '../http/errors.ts';

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
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route template, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    const total = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route template, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
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
      const labels = {
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        method: knownMethods.has(request.method) ? request.method : 'OTHER',
        status: String(reply.statusCode),
      };
      total.inc(labels);
      if (start !== 0n) duration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
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
