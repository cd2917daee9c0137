import { type Attributes, INVALID_SPAN_CONTEXT, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import type { AppConfig } from '../config/index.ts';

/**
 * Tracing is opt-in: with `tracing.otlpEndpoint` unset nothing below `./tracing-sdk.ts` is ever imported, so the
 * SDK, the exporter and the module loader hook cost nothing. The OpenTelemetry API used by `withSpan` is a no-op
 * until a tracer provider is registered.
 */
export interface Tracing {
  /** Ends the SDK: flushes spans still batched to the collector (bounded), then stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Starts the SDK when configured. Must run before fastify, pg, ioredis and undici are imported: ESM bindings are
 * wrapped by the import-in-the-middle loader hook only for modules loaded after it is registered. server.ts calls
 * this first and only then imports app.ts.
 */
export async function startTracing(config: AppConfig): Promise<Tracing | null> {
  const { otlpEndpoint } = config.tracing;
  if (otlpEndpoint === undefined || otlpEndpoint === '') return null;
  const { startTracingSdk } = await import('./tracing-sdk.ts');
  return startTracingSdk({ ...config.tracing, otlpEndpoint, environment: config.env });
}

const tracer = trace.getTracer('genz-api');

/** What the no-op tracer would hand out: one shared span that records nothing. */
const nonRecording = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
let lastDelegate: unknown;
let lastOff = true;
/**
 * Whether no tracer provider is registered (the API's proxy still delegates to its no-op): then withSpan skips the
 * span, context and closure it would build per call (~1% of a /v1 request's CPU). Checked per call, remembered per
 * delegate, so a provider registered later (the SDK, tests) is honoured at once.
 */
function tracingOff(): boolean {
  const delegate = (trace.getTracerProvider() as { getDelegate?: () => unknown }).getDelegate?.();
  if (delegate !== lastDelegate) {
    lastDelegate = delegate;
    lastOff = (delegate as { constructor?: { name?: string } } | undefined)?.constructor?.name === 'NoopTracerProvider';
  }
  return lastOff;
}

/**
 * Runs `work` inside an internal span named after a service verb (`chats.sendMessage`), so a trace reads
 * HTTP -> service -> DB / provider. Failures mark the span as an error and rethrow. A no-op without tracing.
 */
export function withSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  if (tracingOff()) return work(nonRecording);
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Ids of the active span for log correlation (`traceId`, `spanId`), or an empty object outside a sampled span. */
export function activeTraceIds(): { traceId?: string; spanId?: string } {
  const ctx = trace.getActiveSpan()?.spanContext();
  if (ctx === undefined || (ctx.traceFlags & 1) === 0) return {};
  return { traceId: ctx.traceId, spanId: ctx.spanId };
}
