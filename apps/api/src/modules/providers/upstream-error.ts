/** Why an upstream attempt failed: a bounded set, used as the `kind` metric label. */
export type UpstreamErrorKind =
  | 'connect'
  | 'reset'
  | 'http_5xx'
  | 'http_429'
  | 'http_config'
  | 'http_4xx'
  | 'body_error'
  | 'malformed'
  | 'truncated'
  | 'ttft_timeout'
  | 'idle_timeout'
  | 'total_timeout'
  | 'aborted';

/**
 * An upstream attempt failed. Everything except a client-caused 4xx and a client abort may be retried or failed over
 * (before the first token) and counts against the deployment's health.
 */
export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  /** The upstream's error body for a 4xx, relayed to the client (it describes the client's request). */
  readonly upstreamMessage: string | undefined;
  /** A 4xx raised before sending (the request cannot be put in this vendor's wire format): the field at fault. */
  readonly param: string | undefined;

  constructor(
    kind: UpstreamErrorKind,
    message: string,
    options: { status?: number; retryAfterMs?: number; upstreamMessage?: string; param?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'UpstreamError';
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.upstreamMessage = options.upstreamMessage;
    this.param = options.param;
  }

  /**
   * The client's request cannot be sent to this deployment (a translation adapter refused it): a 400 for the
   * client, never retried and never counted against the deployment, so one bad request cannot open its breaker.
   */
  static badRequest(message: string, param?: string, cause?: unknown): UpstreamError {
    return new UpstreamError('http_4xx', message, {
      upstreamMessage: message,
      ...(param === undefined ? {} : { param }),
      cause,
    });
  }

  get retryable(): boolean {
    return this.kind !== 'http_4xx' && this.kind !== 'aborted';
  }

  /** Counts against the deployment's breaker and health score. */
  get isDeploymentFault(): boolean {
    return this.kind !== 'http_4xx' && this.kind !== 'aborted';
  }
}

export function kindForStatus(status: number): UpstreamErrorKind {
  if (status === 429) return 'http_429';
  if (status === 401 || status === 403 || status === 404) return 'http_config'; // the deployment is misconfigured
  if (status >= 500) return 'http_5xx';
  if (status === 408) return 'http_5xx';
  return 'http_4xx';
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unparseable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const resetCodes = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE']);
const connectCodes = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

/** Any thrown value as an UpstreamError (network errors by their code, anything else as a reset). */
export function classify(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const codes: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (codes.some((c) => connectCodes.has(c)))
    return new UpstreamError('connect', `connect failed: ${message}`, { cause: error });
  if (codes.some((c) => resetCodes.has(c)))
    return new UpstreamError('reset', `connection reset: ${message}`, { cause: error });
  return new UpstreamError('reset', message, { cause: error });
}
