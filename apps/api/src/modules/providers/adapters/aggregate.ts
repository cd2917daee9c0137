import { fromOpenAiUsage, toOpenAiUsage } from '../frames.ts';
import type { ChatChunk, CompletionResult, Frame, ToolCall, Usage } from '../providers.types.ts';

/** Folds a stream of chunk frames into one OpenAI chat.completion (for non-stream requests to streaming adapters). */
export async function aggregate(frames: AsyncIterable<Frame>, model: string): Promise<CompletionResult> {
  let content = '';
  let reasoning = '';
  let finish = 'stop';
  let usage: Usage | undefined;
  let first: ChatChunk | undefined;
  const calls: ToolCall[] = [];
  for await (const frame of frames) {
    first ??= frame.chunk;
    if (frame.chunk.usage) usage = fromOpenAiUsage(frame.chunk.usage);
    const choice = frame.chunk.choices[0];
    if (!choice) continue;
    if (choice.finish_reason) finish = choice.finish_reason;
    content += choice.delta.content ?? '';
    reasoning += choice.delta.reasoning_content ?? '';
    for (const tc of choice.delta.tool_calls ?? []) {
      const existing = calls[tc.index];
      if (existing) existing.function.arguments += tc.function?.arguments ?? '';
      else {
        calls[tc.index] = {
          id: tc.id ?? `call_${tc.index}`,
          type: 'function',
          function: { name: tc.function?.name ?? '', arguments: tc.function?.arguments ?? '' },
        };
      }
    }
  }
  const message = {
    role: 'assistant',
    content: content || (calls.length > 0 ? null : ''),
    refusal: null,
    ...(reasoning ? { reasoning_content: reasoning } : {}),
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  };
  const body = {
    id: first?.id ?? `chatcmpl-${crypto.randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion',
    created: first?.created ?? Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
    ...(usage ? { usage: toOpenAiUsage(usage) } : {}),
  };
  return { body: JSON.stringify(body), usage };
}
