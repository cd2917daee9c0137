/**
 * The one catalogue of stable error codes. `/api` renders them as RFC 9457 problem+json with
 * `type: /problems/<code>`; the web app maps `code` to its message catalog and falls back to `detail`.
 * Add a code here before throwing it anywhere; never rename one (clients match on it).
 */
export const errorCatalog = {
  bad_request: { status: 400, title: 'Bad request' },
  validation_failed: { status: 400, title: 'Validation failed' },
  invalid_cursor: { status: 400, title: 'Invalid pagination cursor' },
  model_not_found: { status: 400, title: 'Unknown model' },
  context_length_exceeded: { status: 400, title: 'Prompt exceeds the model context window' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  invalid_credentials: { status: 401, title: 'Invalid credentials' },
  token_expired: { status: 401, title: 'Token expired' },
  invalid_token: { status: 400, title: 'The link or token is invalid, used or expired' },
  weak_password: { status: 400, title: 'The password does not meet the policy' },
  forbidden: { status: 403, title: 'Forbidden' },
  insufficient_scope: { status: 403, title: 'API key lacks the required scope' },
  csrf_failed: { status: 403, title: 'Cross-site request refused' },
  account_disabled: { status: 403, title: 'The account is disabled' },
  account_pending: { status: 403, title: 'The account awaits approval' },
  signup_closed: { status: 403, title: 'Sign-up is not open to this request' },
  session_required: { status: 403, title: 'This action needs a signed-in session, not an API key' },
  not_found: { status: 404, title: 'Not found' },
  route_not_found: { status: 404, title: 'Route not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  idempotency_in_flight: { status: 409, title: 'A request with this Idempotency-Key is still in flight' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  idempotency_mismatch: { status: 422, title: 'Idempotency-Key reused with a different body' },
  rate_limited: { status: 429, title: 'Too many requests' },
  quota_exceeded: { status: 429, title: 'Quota exceeded' },
  internal: { status: 500, title: 'Internal error' },
  config_readonly: { status: 409, title: 'Configuration is read-only' },
  bad_gateway: { status: 502, title: 'The API is unreachable' },
  overloaded: { status: 503, title: 'Server overloaded' },
  unavailable: { status: 503, title: 'Service unavailable' },
  upstream_unavailable: { status: 503, title: 'Every provider for this model is unavailable' },
  upstream_timeout: { status: 504, title: 'Upstream timed out' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalog;

export const problemTypeUri = (code: ErrorCode): string => `/problems/${code}`;

/** RFC 9457 problem document as every `/api` error renders it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  requestId: string;
  /** Field-level errors for `validation_failed`: JSON-pointer-ish path and message. */
  errors?: { path: string; message: string }[];
}

export const isErrorCode = (value: string): value is ErrorCode => Object.hasOwn(errorCatalog, value);
