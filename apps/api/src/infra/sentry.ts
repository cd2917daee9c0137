import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AppConfig } from '../config/index.ts';
import { userIdHash } from './logger.ts';
import { activeTraceIds } from './tracing.ts';

/**
 * Sentry when SENTRY_DSN is set: unexpected errors (the ones answered 5xx) are reported; 4xx are the client's
 * business and never are. The error handler (http/errors.ts) decides, so Sentry sees exactly what is logged as
 * "request failed". The SDK is used as an error transport only: no default integrations (no module patching, no
 * tracer provider beside ours), no PII, and every event is scrubbed of credentials before it leaves.
 * Without a DSN the SDK is never imported.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: AppConfig }) => {
    const { dsn, environment, release } = opts.config.sentry;
    if (dsn === undefined || dsn === '') return;
    const Sentry = await import('@sentry/node');
    Sentry.init({
      dsn,
      environment: environment ?? opts.config.env,
      ...(release ? { release } : {}),
      defaultIntegrations: false,
      // `cause` chains become linked exceptions: a 500 wrapping a driver error shows both.
      integrations: [Sentry.linkedErrorsIntegration()],
      enableRuntimeChannelInjection: false,
      // Whatever an SDK path might collect on its own: no user info, cookies, bodies or query strings.
      dataCollection: { userInfo: false, cookies: false, httpBodies: [], urlQueryParams: false },
      sendClientReports: false,
      beforeSend: (event) => scrubEvent(event),
    });

    app.reportServerError = (error: unknown, request: FastifyRequest) => {
      Sentry.withScope((scope) => {
        scope.setTag('request_id', request.id);
        const route = request.routeOptions.url;
        if (route !== undefined) scope.setTag('route', route);
        if (request.actor) scope.setUser({ id: userIdHash(request.actor.userId) });
        // With tracing on, the Sentry issue links to the OpenTelemetry trace of the failed request.
        const { traceId } = activeTraceIds();
        if (traceId !== undefined) scope.setTag('trace_id', traceId);
        scope.addEventProcessor((event) => ({
          ...event,
          request: {
            method: request.method,
            // The query string can hold one-time tokens; the path and route identify the request.
            url: request.url.split('?')[0] ?? '',
            headers: scrubHeaders(request.headers),
          },
        }));
        Sentry.captureException(error);
      });
    };

    app.addHook('onClose', async () => {
      // Sends what is queued (bounded) and disables the client.
      await Sentry.close(2000);
    });
  },
  { name: 'sentry', dependencies: ['errors'] },
);

const secretHeader = /^(authorization|proxy-authorization|cookie|set-cookie)$|token|secret|api-?key|session|auth/i;

/** Request headers as Sentry may see them: credentials replaced, arrays joined. */
export function scrubHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = secretHeader.test(name) ? '[redacted]' : Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

interface ScrubbableEvent {
  request?: {
    headers?: Record<string, string>;
    cookies?: unknown;
    data?: unknown;
    query_string?: unknown;
    url?: string;
  };
}

/** Last line of defence in `beforeSend`: whatever put request data on the event, no credential leaves. */
export function scrubEvent<T extends ScrubbableEvent>(event: T): T {
  const request = event.request;
  if (request === undefined) return event;
  const { cookies: _cookies, data: _data, query_string: _query, ...rest } = request;
  return {
    ...event,
    request: {
      ...rest,
      ...(rest.headers ? { headers: scrubHeaders(rest.headers) } : {}),
      ...(rest.url ? { url: rest.url.split('?')[0] } : {}),
    },
  };
}
