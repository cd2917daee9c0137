import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AppConfig } from '../config/index.ts';
import { DomainError } from '../http/errors.ts';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { registry: Registry };
  }
  interface FastifyContextConfig {
    /** Health, metrics and docs answer even while the database is down or the process is draining. */
    infra?: boolean;
  }
}

const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Every URL no route matched is counted under this one label, so a scanner cannot blow up cardinality. */
export const UNMATCHED_ROUTE = '__unmatched__';

const startTimes = new WeakMap<FastifyRequest, bigint>();

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
    const inFlight = new Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests being served (the HPA custom metric)',
      registers: [registry],
    });

    app.decorate('metrics', { registry });
    app.addHook('onRequest', async (request) => {
      startTimes.set(request, process.hrtime.bigint());
      inFlight.inc();
    });
    app.addHook('onResponse', async (request, reply) => {
      inFlight.dec();
      const start = startTimes.get(request);
      const labels = {
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        method: knownMethods.has(request.method) ? request.method : 'OTHER',
        status: String(reply.statusCode),
      };
      total.inc(labels);
      if (start !== undefined) duration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
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
