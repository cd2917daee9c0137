import type { ErrorCode } from '@genz/contracts';

/** The OpenAI error envelope `{ error: { message, type, param, code } }` that every /v1 error uses. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const openAiType: Partial<Record<ErrorCode, string>> = {
  unauthenticated: 'invalid_request_error',
  invalid_credentials: 'invalid_request_error',
  forbidden: 'invalid_request_error',
  insufficient_scope: 'invalid_request_error',
  rate_limited: 'rate_limit_exceeded',
  quota_exceeded: 'insufficient_quota',
  internal: 'api_error',
  overloaded: 'api_error',
  unavailable: 'api_error',
  upstream_unavailable: 'api_error',
  upstream_timeout: 'api_error',
};

/** OpenAI's own `code` strings where one exists, so SDK users can branch on them. */
const openAiCode: Partial<Record<ErrorCode, string>> = {
  unauthenticated: 'invalid_api_key',
  invalid_credentials: 'invalid_api_key',
  rate_limited: 'rate_limit_exceeded',
  quota_exceeded: 'insufficient_quota',
  route_not_found: 'unknown_url',
};

export function openAiErrorBody(error: {
  code: ErrorCode;
  message: string;
  param?: string | undefined;
}): OpenAiErrorBody {
  return {
    error: {
      message: error.message,
      type: openAiType[error.code] ?? 'invalid_request_error',
      param: error.param ?? null,
      code: openAiCode[error.code] ?? error.code,
    },
  };
}
