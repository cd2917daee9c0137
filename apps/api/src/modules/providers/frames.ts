import type { ChatChunk, Frame, OpenAiUsage, Usage } from './providers.types.ts';
import { UpstreamError } from './upstream-error.ts';

/** Builds a Frame from a parsed chunk; `data` is kept as given so proxied bytes are forwarded untouched. */
export function frameOf(chunk: ChatChunk, data: string = JSON.stringify(chunk)): Frame {
  const choice = chunk.choices?.[0];
  const delta = choice?.delta;
  const content = Boolean(
    delta &&
      ((typeof delta.content === 'string' && delta.content.length > 0) ||
        (delta.tool_calls && delta.tool_calls.length > 0) ||
        delta.reasoning_content ||
        delta.reasoning),
  );
  return {
    data,
    chunk,
    content,
    usageOnly: (chunk.choices?.length ?? 0) === 0 && chunk.usage != null,
    finishReason: choice?.finish_reason ?? null,
  };
}

/** Parses one OpenAI-wire SSE data payload; an error object or invalid JSON throws (malformed/body_error). */
export function parseChunk(data: string): ChatChunk {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (cause) {
    throw new UpstreamError('malformed', `malformed chunk from upstream: ${data.slice(0, 80)}`, { cause });
  }
  if (typeof value !== 'object' || value === null) throw new UpstreamError('malformed', 'chunk is not an object');
  const record = value as Record<string, unknown>;
  if (record.error !== undefined && record.error !== null) {
    const message = (record.error as { message?: unknown }).message;
    throw new UpstreamError(
      'body_error',
      `upstream error in stream: ${typeof message === 'string' ? message : 'unknown'}`,
    );
  }
  if (!Array.isArray(record.choices)) throw new UpstreamError('malformed', 'chunk has no choices array');
  return value as ChatChunk;
}

/** PostgreSQL's integer, the usage_events token columns. */
const MAX_TOKENS = 2_147_483_647;

/**
 * A token count as a vendor reported it, made safe to count, charge and store: anything but a finite number from 0 to
 * a PostgreSQL integer (a string, null, a negative or absurd number: a vendor's bug, not a count) is 0. One such
 * value used to fail the whole usage batch it landed in, and with it the events of everyone else's requests.
 */
export function tokenCount(value: unknown): number {
  return typeof value === 'number' && value >= 0 && value <= MAX_TOKENS ? Math.round(value) : 0;
}

export function fromOpenAiUsage(usage: OpenAiUsage | null | undefined): Usage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const reasoning = tokenCount(usage.completion_tokens_details?.reasoning_tokens);
  return {
    inputTokens: tokenCount(usage.prompt_tokens),
    outputTokens: tokenCount(usage.completion_tokens),
    ...(reasoning ? { reasoningTokens: reasoning } : {}),
  };
}

export function toOpenAiUsage(usage: Usage): OpenAiUsage {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
    ...(usage.reasoningTokens ? { completion_tokens_details: { reasoning_tokens: usage.reasoningTokens } } : {}),
  };
}
