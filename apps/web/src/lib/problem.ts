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

/** The sentence to show for a parsed problem, in the reader's language where the catalog knows the code. */
export function messageForProblem(problem: ParsedProblem, t: Translate): string {
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

/** Reads a failed response's body, tolerating bodies that are empty or not JSON. */
export async function responseProblemMessage(response: Response, t: Translate): Promise<string> {
  return problemMessage(await readJson(response), response.status, t);
}
