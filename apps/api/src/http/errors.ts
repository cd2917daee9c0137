import { type ErrorCode, errorCatalog, type Problem, problemTypeUri } from '@genz/contracts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { openAiErrorBody } from '../openai/errors.ts';

/**
 * Services throw DomainError (or a subclass) with a catalogued code; this plugin is the one place that turns any
 * error into HTTP: problem+json on /api, the OpenAI envelope on /v1. Unknown errors become a logged 500 whose
 * body reveals nothing.
 */
export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly fieldErrors: { path: string; message: string }[] | undefined;
  /** OpenAI `param` for /v1 answers. */
  readonly param: string | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    options: {
      cause?: unknown;
      headers?: Record<string, string>;
      errors?: { path: string; message: string }[];
      param?: string;
    } = {},
  ) {
    super(detail ?? errorCatalog[code].title, { cause: options.cause });
    this.name = 'DomainError';
    this.code = code;
    this.status = errorCatalog[code].status;
    this.headers = options.headers ?? {};
    this.fieldErrors = options.errors;
    this.param = options.param;
  }
}

export const notFound = (entity: string) => new DomainError('not_found', `${entity} not found`);

interface AjvLikeError {
  instancePath?: string;
  message?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
}

function fieldErrors(error: FastifyError): { path: string; message: string }[] {
  const context = error.validationContext ?? 'body';
  return ((error.validation ?? []) as AjvLikeError[]).map((v) => {
    const base = (v.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    const leaf = v.params?.missingProperty ?? v.params?.additionalProperty;
    const path = [context, base, leaf].filter(Boolean).join('.');
    const message = v.params?.additionalProperty ? 'is not allowed' : (v.message ?? 'is invalid');
    return { path, message };
  });
}

/** Fastify's own errors for bad input, mapped to catalogue codes. */
const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_ASYNC_CONSTRAINT: 'bad_request',
};

export function toDomainError(error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  const fe = error as FastifyError;
  if (fe?.validation) {
    const errors = fieldErrors(fe);
    const detail = errors.map((e) => `${e.path} ${e.message}`).join('; ');
    return new DomainError('validation_failed', detail || fe.message, {
      errors,
      cause: error,
      param: errors[0]?.path.split('.').slice(1).join('.') || undefined,
    });
  }
  const mapped = fe?.code ? fastifyCodes[fe.code] : undefined;
  if (mapped) return new DomainError(mapped, fe.message, { cause: error });
  if (error instanceof SyntaxError && (fe as { statusCode?: number }).statusCode === 400) {
    return new DomainError('bad_request', `Malformed JSON: ${error.message}`, { cause: error });
  }
  const status = fe?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code: ErrorCode =
      status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
    return new DomainError(code, fe.message, { cause: error });
  }
  return new DomainError('internal', 'An unexpected error occurred. Quote the requestId when reporting it.', {
    cause: error,
  });
}

export const isOpenAiSurface = (url: string) => url === '/v1' || url.startsWith('/v1/');

export function sendError(request: FastifyRequest, reply: FastifyReply, error: DomainError) {
  reply.code(error.status).headers(error.headers);
  if (isOpenAiSurface(request.url)) {
    return reply.type('application/json').send(openAiErrorBody(error));
  }
  const body: Problem = {
    type: problemTypeUri(error.code),
    title: errorCatalog[error.code].title,
    status: error.status,
    detail: error.message,
    code: error.code,
    requestId: request.id,
    ...(error.fieldErrors ? { errors: error.fieldErrors } : {}),
  };
  return reply.type('application/problem+json').send(body);
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Where unexpected (5xx) errors go besides the log: Sentry when SENTRY_DSN is set (infra/sentry.ts), else null. */
    reportServerError: ((error: unknown, request: FastifyRequest) => void) | null;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    app.decorate('reportServerError', null);
    app.setErrorHandler((error, request, reply) => {
      const domain = toDomainError(error);
      if (domain.status >= 500) {
        request.log.error({ err: error }, 'request failed');
        app.reportServerError?.(error, request);
      } else request.log.info({ code: domain.code, detail: domain.message }, 'request rejected');
      return sendError(request, reply, domain);
    });
    app.setNotFoundHandler((request, reply) =>
      sendError(
        request,
        reply,
        new DomainError('route_not_found', `No route ${request.method} ${request.url.split('?')[0]}`),
      ),
    );
  },
  { name: 'errors' },
);
