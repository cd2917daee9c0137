/**
 * Turns a failed API response into one sentence for a person (ARCHITECTURE §12 Errors): the catalog's message for
 * a known `code`, else the problem's `detail`, else its `title`, else a generic line. Never an object.
 * For the generic codes (`validation_failed`, `conflict`, `bad_request`, `weak_password`) the API's `detail` says more than any
 * fixed sentence ("You already have 10 API keys; revoke one first."), so it wins there.
 */
import type { MessageKey, Translate } from './i18n';

const detailFirst = new Set(['validation_failed', 'conflict', 'bad_request', 'weak_password']);

export interface ParsedProblem {
  status: number;
  code?: string | undefined;
  title?: string | undefined;
  detail?: string | undefined;
  requestId?: string | undefined;
  /** Whole seconds from a valid `Retry-After` header (429, 503); undefined when it is absent or unreadable. */
  retryAfterSec?: number | undefined;
  /** Field errors keyed by field name (`body.password` becomes `password`). */
  fields: Record<string, string>;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** Reads problem+json (or the OpenAI envelope on `/v1`) from any parsed body, tolerating garbage. */
export function parseProblem(body: unknown, status: number): ParsedProblem {
  const problem: ParsedProblem = { status, fields: {} };
  if (typeof body !== 'object' || body === null) return problem;
  const record = body as Record<string, unknown>;
  const envelope = record.error;
  const openAi = typeof envelope === 'object' && envelope !== null ? (envelope as Record<string, unknown>) : undefined;
  problem.code = text(record.code) ?? text(openAi?.code);
  problem.title = text(record.title);
  problem.detail = text(record.detail) ?? text(openAi?.message);
  problem.requestId = text(record.requestId);
  if (Array.isArray(record.errors)) {
    for (const entry of record.errors) {
      if (typeof entry !== 'object' || entry === null) continue;
      const { path, message } = entry as Record<string, unknown>;
      const field = text(path)
        ?.replace(/^\/?(body|query|params)[./]/, '')
        .replace(/^\//, '');
      const said = text(message);
      if (field && said && !(field in problem.fields)) problem.fields[field] = said;
    }
  }
  return problem;
}

/** The catalog's message for an error code, when it has one (`t` answers a missing key with the key itself). */
function catalogMessage(code: string | undefined, t: Translate): string | undefined {
  if (code === undefined) return undefined;
  const key = `errors.${code}` as MessageKey;
  const said = t(key);
  return said === key ? undefined : said;
}

/**
 * `Retry-After` (RFC 9110: delay-seconds or an HTTP date) as whole seconds from now, at least 1; undefined when the
 * header is absent, empty, negative, in the past or not a number or a date, so no "NaN s" ever reaches a person.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  const raw = value?.trim();
  if (!raw) return undefined;
  if (/^\d+$/.test(raw)) {
    const seconds = Number(raw);
    return Number.isSafeInteger(seconds) ? Math.max(1, seconds) : undefined;
  }
  // HTTP dates start with the day's name (`Sun, 06 Nov 1994 08:49:37 GMT` and the two obsolete forms); Date.parse
  // alone would read "2030" or "1.5" as dates.
  const at = /^[A-Za-z]{3,9},? /.test(raw) ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(at) || at <= nowMs) return undefined;
  return Math.max(1, Math.ceil((at - nowMs) / 1000));
}

/** The parsed problem of a failed response, with its `Retry-After`. */
export async function responseProblem(response: Response): Promise<ParsedProblem> {
  const problem = parseProblem(await readJson(response), response.status);
  problem.retryAfterSec = parseRetryAfter(response.headers.get('retry-after'));
  return problem;
}

/** The sentence to show for a parsed problem, in the reader's language where the catalog knows the code. */
export function messageForProblem(problem: ParsedProblem, t: Translate): string {
  // Throttled (by the API, or by a proxy in front of it that sends no problem body): how long to wait when the
  // server said so, else the plain "wait a moment".
  if (problem.status === 429 && (problem.code === undefined || problem.code === 'rate_limited')) {
    const seconds = problem.retryAfterSec;
    return seconds === undefined ? t('errors.rate_limited') : t('errors.rate_limited_wait', { seconds });
  }
  if (problem.code !== undefined && detailFirst.has(problem.code) && problem.detail) return problem.detail;
  const known = catalogMessage(problem.code, t);
  if (known) return known;
  return problem.detail ?? problem.title ?? t('errors.http', { status: problem.status });
}

/** The message for a parsed error body (problem+json, or the OpenAI envelope on `/v1`). */
export function problemMessage(body: unknown, status: number, t: Translate): string {
  return messageForProblem(parseProblem(body, status), t);
}

/** Reads a response body as JSON when it is JSON; undefined for empty or non-JSON bodies. */
export async function readJson(response: Response): Promise<unknown> {
  const raw = await response.text().catch(() => '');
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/** Reads a failed response's body (and `Retry-After`), tolerating bodies that are empty or not JSON. */
export async function responseProblemMessage(response: Response, t: Translate): Promise<string> {
  return messageForProblem(await responseProblem(response), t);
}
