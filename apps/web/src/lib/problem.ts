/**
 * Turns a failed API response into one sentence for a person (ARCHITECTURE §12 Errors): the web app's own
 * message for a known `code`, else the problem's `detail`, else its `title`, else a generic line. Never an object.
 */
const messages: Record<string, string> = {
  invalid_credentials: 'That email and password do not match an account.',
  rate_limited: 'Too many attempts. Wait a moment and try again.',
  unavailable: 'GenZ AI is not reachable right now. Try again in a moment.',
  bad_gateway: 'GenZ AI is not reachable right now. Try again in a moment.',
};

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** The message for a parsed error body (problem+json, or the OpenAI envelope on `/v1`). */
export function problemMessage(body: unknown, status: number): string {
  if (typeof body === 'object' && body !== null) {
    const record = body as Record<string, unknown>;
    const code = text(record.code);
    const known = code === undefined ? undefined : messages[code];
    const envelope = record.error;
    const openAi =
      typeof envelope === 'object' && envelope !== null
        ? text((envelope as Record<string, unknown>).message)
        : undefined;
    const message = known ?? text(record.detail) ?? text(record.title) ?? openAi;
    if (message !== undefined) return message;
  }
  return `The request failed (HTTP ${status}). Try again.`;
}

/** Reads a failed response's body, tolerating bodies that are empty or not JSON. */
export async function responseProblemMessage(response: Response): Promise<string> {
  const raw = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = raw === '' ? undefined : JSON.parse(raw);
  } catch {
    body = undefined;
  }
  return problemMessage(body, response.status);
}
