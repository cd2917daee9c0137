import { register } from 'node:module';
import { PGlite } from '@electric-sql/pglite';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import {
  type AttributeValue,
  type Context,
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  getRPCMetadata,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import type { Tracing } from './tracing.ts';

/**
 * The OpenTelemetry SDK, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set (see tracing.ts). One trace per
 * request: the HTTP server span (route template and request id on it) -> Fastify request and handler spans ->
 * service spans (`withSpan`) -> DB (pg, or PGlite below), Redis (ioredis) and provider calls (undici / fetch).
 * Exported as OTLP/HTTP JSON in batches; the exporter itself honours OTEL_EXPORTER_OTLP_HEADERS (vendor API keys).
 */
export interface TracingSdkOptions {
  otlpEndpoint: string;
  serviceName: string;
  sampleRatio: number;
  batchDelayMs: number;
  environment: string;
}

/** Probes and scrapes arrive every few seconds on every replica; tracing them would drown the real traffic. */
const untracedPaths = new Set(['/livez', '/metrics']);
const pathOf = (url: string | undefined) => (url ?? '').split('?')[0] ?? '';
export const requestIdAttribute = 'genz.request_id';

export async function startTracingSdk(options: TracingSdkOptions): Promise<Tracing> {
  // The loader hook first: instrumentations hook modules when constructed. The message channel limits the hook to
  // the modules an instrumentation asked for (everything else, our .ts files included, loads untouched).
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);

  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: options.serviceName,
    'deployment.environment.name': options.environment,
  }).merge(detectResources({ detectors: [envDetector] }));
  const exporter = new OTLPTraceExporter({ url: tracesUrl(options.otlpEndpoint) });
  const provider = new TracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
    // Scrubbing runs before the batch processor sees the finished span.
    spanProcessors: [
      new ScrubbingSpanProcessor(),
      new BatchSpanProcessor({ exporter, scheduledDelayMillis: options.batchDelayMs }),
    ],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(provider);

  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => untracedPaths.has(pathOf(request.url)),
        requireParentforOutgoingSpans: true,
      }),
      // Names the server span after the route template (`GET /api/chats/:id`) and adds request/handler spans; one
      // span per lifecycle hook would double the span count for little insight.
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        ignorePaths: (route) => untracedPaths.has(pathOf(route.url)),
        requestHook: (span, request) => {
          // The request id a user quotes from a problem+json body (or x-request-id) finds the trace. The HTTP server
          // span is still the active one here; the request span is Fastify's child of it.
          getRPCMetadata(context.active())?.span?.setAttribute(requestIdAttribute, request.id);
          span.setAttribute(requestIdAttribute, request.id);
        },
        // The default handler span name is the whole plugin chain; the route template reads better.
        lifecycleHook: (span, info) => {
          if (info.hookName === 'handler') span.updateName(`handler ${info.request.routeOptions.url ?? ''}`.trim());
        },
      }),
      // Background work (pool health, cache bus, breaker sync) would make one root span per command: only traced
      // inside a request or a service span.
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
      new UndiciInstrumentation({ requireParentforSpans: true }),
    ],
  });
  instrumentPglite();
  await waitForAllMessagesAcknowledged();

  return {
    async shutdown() {
      await provider.shutdown();
    },
  };
}

/** OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: the traces signal lives under `/v1/traces` (OTLP spec). */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

const urlAttributes = ['url.full', 'url.path', 'http.url', 'http.target'];

/**
 * Query strings can carry one-time tokens (mail links) or provider keys, so they never leave the process: stripped
 * from every URL attribute, whichever instrumentation or semantic-convention version set it.
 */
export class ScrubbingSpanProcessor implements SpanProcessor {
  onStart(_span: Span, _parentContext: Context): void {}
  onEnd(span: ReadableSpan): void {
    // A finished span's attributes are a plain object; mutating it here is how processors enrich or scrub on end.
    const attributes = span.attributes as Record<string, AttributeValue | undefined>;
    delete attributes['url.query'];
    for (const key of urlAttributes) {
      const value = attributes[key];
      if (typeof value === 'string' && value.includes('?')) attributes[key] = value.slice(0, value.indexOf('?'));
    }
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

const maxQueryText = 2048;
let pglitePatched = false;

/**
 * PGlite (the embedded database) has no OpenTelemetry instrumentation, so its two entry points get a client span
 * each, with the same attributes the pg instrumentation gives PostgreSQL. Statements come from Drizzle with `$n`
 * placeholders, so the text holds no values. Statements inside a PGlite transaction run on the transaction object
 * and are covered by the enclosing span only.
 */
function instrumentPglite(): void {
  if (pglitePatched) return;
  pglitePatched = true;
  const tracer = trace.getTracer('genz-pglite');
  const proto = PGlite.prototype as unknown as Record<string, unknown>;
  for (const method of ['query', 'exec', 'transaction'] as const) {
    const original = proto[method];
    if (typeof original !== 'function') continue;
    proto[method] = function traced(this: unknown, ...args: unknown[]): unknown {
      const parent = context.active();
      if (trace.getSpan(parent) === undefined) return Reflect.apply(original, this, args);
      const text = method === 'transaction' ? 'BEGIN' : typeof args[0] === 'string' ? args[0] : '';
      const operation = /^\s*([a-zA-Z]+)/.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';
      const span = tracer.startSpan(
        method === 'transaction' ? 'pglite.transaction' : operation,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'db.system.name': 'postgresql',
            'db.system': 'postgresql',
            'db.operation.name': operation,
            ...(method === 'transaction' ? {} : { 'db.query.text': text.slice(0, maxQueryText) }),
          },
        },
        parent,
      );
      const run = () => Reflect.apply(original, this, args) as Promise<unknown>;
      return context.with(trace.setSpan(parent, span), run).then(
        (result) => {
          span.end();
          return result;
        },
        (err: unknown) => {
          span.recordException(err as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          span.end();
          throw err;
        },
      );
    };
  }
}
