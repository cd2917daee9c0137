import { DomainError } from '../http/errors.ts';
import { fromOpenAiUsage } from '../modules/providers/frames.ts';
import type {
  ChatMessage,
  ChatRequest,
  ChunkChoiceDelta,
  ContentPart,
  Frame,
  Usage,
} from '../modules/providers/providers.types.ts';

/** The Responses API request, as far as GenZ serves it (text, images, function tools). */
export interface ResponsesRequest {
  model: string;
  input: string | Record<string, unknown>[];
  instructions?: string | null;
  stream?: boolean | null;
  tools?: {
    type: 'function';
    name: string;
    description?: string | null;
    parameters?: Record<string, unknown> | null;
  }[];
  tool_choice?: 'auto' | 'none' | 'required' | { type: 'function'; name: string };
  max_output_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  text?: { format?: { type?: string; name?: string; schema?: Record<string, unknown>; strict?: boolean } };
  /** Reasoning models: `effort` becomes chat `reasoning_effort`, which each adapter maps to its vendor's field. */
  reasoning?: { effort?: string | null; summary?: string | null } | null;
}

function partsOf(content: unknown, index: number): string | ContentPart[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content))
    throw new DomainError('validation_failed', 'content must be a string or a list', {
      param: `input.${index}.content`,
    });
  return content.map((raw, j) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new DomainError('validation_failed', 'a content part must be an object', {
        param: `input.${index}.content.${j}`,
      });
    }
    const p = raw as { type?: unknown; text?: unknown; image_url?: unknown };
    if (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') {
      if (typeof p.text !== 'string') {
        throw new DomainError('validation_failed', 'text must be a string', {
          param: `input.${index}.content.${j}.text`,
        });
      }
      return { type: 'text', text: p.text };
    }
    if (p.type === 'input_image') {
      const url =
        typeof p.image_url === 'string' ? p.image_url : (p.image_url as { url?: unknown } | null | undefined)?.url;
      if (typeof url !== 'string' || url === '')
        throw new DomainError('validation_failed', 'input_image needs image_url', {
          param: `input.${index}.content.${j}`,
        });
      return { type: 'image_url', image_url: { url } };
    }
    throw new DomainError('validation_failed', `content part type ${String(p.type)} is not supported`, {
      param: `input.${index}.content.${j}.type`,
    });
  });
}

/** Responses request -> chat-completions request (the router speaks one shape). */
export function toChatRequest(r: ResponsesRequest): ChatRequest {
  const messages: ChatMessage[] = [];
  if (r.instructions) messages.push({ role: 'system', content: r.instructions });
  if (typeof r.input === 'string') messages.push({ role: 'user', content: r.input });
  else {
    r.input.forEach((item, i) => {
      const type = item.type ?? 'message';
      if (type === 'message') {
        const role = item.role as ChatMessage['role'];
        if (!['user', 'assistant', 'system', 'developer'].includes(String(role))) {
          throw new DomainError('validation_failed', `role ${String(role)} is not supported`, {
            param: `input.${i}.role`,
          });
        }
        messages.push({ role, content: partsOf(item.content, i) });
      } else if (type === 'function_call') {
        const call = {
          id: String(item.call_id),
          type: 'function' as const,
          function: { name: String(item.name), arguments: String(item.arguments ?? '{}') },
        };
        const last = messages.at(-1);
        if (last?.role === 'assistant' && last.tool_calls) last.tool_calls.push(call);
        else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      } else if (type === 'function_call_output') {
        messages.push({
          role: 'tool',
          tool_call_id: String(item.call_id),
          content: typeof item.output === 'string' ? item.output : JSON.stringify(item.output),
        });
      } else {
        throw new DomainError('validation_failed', `input item type ${String(type)} is not supported`, {
          param: `input.${i}.type`,
        });
      }
    });
  }
  const chat: ChatRequest = { model: r.model, messages };
  if (r.tools?.length) {
    chat.tools = r.tools.map((t) => ({
      type: 'function',
      function: {
        name: t.name,
        ...(t.description ? { description: t.description } : {}),
        ...(t.parameters ? { parameters: t.parameters } : {}),
      },
    }));
  }
  if (r.tool_choice)
    chat.tool_choice =
      typeof r.tool_choice === 'string' ? r.tool_choice : { type: 'function', function: { name: r.tool_choice.name } };
  if (r.max_output_tokens != null) chat.max_tokens = r.max_output_tokens;
  if (r.temperature != null) chat.temperature = r.temperature;
  if (r.top_p != null) chat.top_p = r.top_p;
  if (r.reasoning?.effort) chat.reasoning_effort = r.reasoning.effort;
  const format = r.text?.format;
  if (format?.type === 'json_object') chat.response_format = { type: 'json_object' };
  if (format?.type === 'json_schema') {
    chat.response_format = {
      type: 'json_schema',
      json_schema: { name: format.name ?? 'output', ...(format.schema ? { schema: format.schema } : {}) },
    };
  }
  return chat;
}

interface OutputState {
  id: string;
  model: string;
  createdAt: number;
  /** The model's reasoning as the vendor streamed it (chat `reasoning_content`, thinking blocks, thought parts). */
  reasoning: string;
  text: string;
  calls: { id: string; callId: string; name: string; arguments: string }[];
  usage: Usage | undefined;
}

/** Reasoning text of a chat delta or message: `reasoning_content` (OpenAI wire, the adapters) or `reasoning`. */
const reasoningOf = (d: Pick<ChunkChoiceDelta, 'reasoning_content' | 'reasoning'> | undefined) =>
  d?.reasoning_content || d?.reasoning || '';

/** The Responses `reasoning` output item, carrying the model's reasoning as `reasoning_text` content. */
const reasoningItem = (s: OutputState, text: string) => ({
  type: 'reasoning',
  id: `rs_${s.id.slice(5)}`,
  summary: [],
  content: [{ type: 'reasoning_text', text }],
});

function responseObject(s: OutputState, status: 'in_progress' | 'completed' | 'failed') {
  const output: Record<string, unknown>[] = [];
  if (s.reasoning) output.push(reasoningItem(s, s.reasoning));
  if (s.text || s.calls.length === 0) {
    output.push({
      type: 'message',
      id: `msg_${s.id.slice(5)}`,
      status: status === 'in_progress' ? 'in_progress' : 'completed',
      role: 'assistant',
      content: status === 'in_progress' ? [] : [{ type: 'output_text', text: s.text, annotations: [] }],
    });
  }
  for (const c of s.calls) {
    output.push({
      type: 'function_call',
      id: c.id,
      call_id: c.callId,
      name: c.name,
      arguments: c.arguments,
      status: 'completed',
    });
  }
  return {
    id: s.id,
    object: 'response',
    created_at: s.createdAt,
    status,
    model: s.model,
    output: status === 'in_progress' ? [] : output,
    output_text: s.text,
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    error: null,
    incomplete_details: null,
    usage: s.usage
      ? {
          input_tokens: s.usage.inputTokens,
          output_tokens: s.usage.outputTokens,
          total_tokens: s.usage.inputTokens + s.usage.outputTokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens_details: { reasoning_tokens: s.usage.reasoningTokens ?? 0 },
        }
      : null,
  };
}

const newState = (model: string): OutputState => ({
  id: `resp_${crypto.randomUUID().replaceAll('-', '')}`,
  model,
  createdAt: Math.floor(Date.now() / 1000),
  reasoning: '',
  text: '',
  calls: [],
  usage: undefined,
});

/** A non-stream chat.completion JSON -> Responses object. */
export function fromCompletion(body: string, model: string, usage: Usage | undefined) {
  const parsed = JSON.parse(body) as {
    choices?: {
      message?: {
        content?: string | null;
        reasoning_content?: string;
        reasoning?: string;
        tool_calls?: { id: string; function: { name: string; arguments: string } }[];
      };
    }[];
  };
  const s = newState(model);
  const message = parsed.choices?.[0]?.message;
  s.reasoning = reasoningOf(message);
  s.text = message?.content ?? '';
  s.calls = (message?.tool_calls ?? []).map((c) => ({
    id: `fc_${c.id}`,
    callId: c.id,
    name: c.function.name,
    arguments: c.function.arguments,
  }));
  s.usage = usage;
  return responseObject(s, 'completed');
}

/**
 * Chat chunk frames -> Responses streaming events (`event: <type>` + data with a sequence_number). Output items come
 * in the order the model produced them: its reasoning (a `reasoning` item of `reasoning_text`, closed when the answer
 * begins), the message text, then function calls. A failure after the stream started becomes an `error` event
 * followed by `response.failed`, never `response.completed`.
 */
export async function* toResponseEvents(frames: AsyncIterable<Frame>, model: string): AsyncGenerator<string> {
  const s = newState(model);
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const msgId = `msg_${s.id.slice(5)}`;
  const rsId = `rs_${s.id.slice(5)}`;
  let nextIndex = 0;
  let reasoningIndex = -1;
  let reasoningOpen = false;
  let textIndex = -1;
  const callByIndex = new Map<number, OutputState['calls'][number] & { outputIndex: number }>();
  function* closeReasoning() {
    if (!reasoningOpen) return;
    reasoningOpen = false;
    yield ev('response.reasoning_text.done', {
      item_id: rsId,
      output_index: reasoningIndex,
      content_index: 0,
      text: s.reasoning,
    });
    yield ev('response.output_item.done', { output_index: reasoningIndex, item: reasoningItem(s, s.reasoning) });
  }
  yield ev('response.created', { response: responseObject(s, 'in_progress') });
  yield ev('response.in_progress', { response: responseObject(s, 'in_progress') });
  try {
    for await (const frame of frames) {
      if (frame.chunk.usage) s.usage = fromOpenAiUsage(frame.chunk.usage);
      const delta = frame.chunk.choices[0]?.delta;
      if (!delta) continue;
      const thought = reasoningOf(delta);
      if (thought) {
        if (reasoningIndex < 0) {
          reasoningIndex = nextIndex++;
          reasoningOpen = true;
          yield ev('response.output_item.added', {
            output_index: reasoningIndex,
            item: { type: 'reasoning', id: rsId, summary: [], content: [] },
          });
        }
        s.reasoning += thought;
        yield ev('response.reasoning_text.delta', {
          item_id: rsId,
          output_index: reasoningIndex,
          content_index: 0,
          delta: thought,
        });
      }
      if (delta.content) {
        yield* closeReasoning();
        if (textIndex < 0) {
          textIndex = nextIndex++;
          yield ev('response.output_item.added', {
            output_index: textIndex,
            item: { type: 'message', id: msgId, status: 'in_progress', role: 'assistant', content: [] },
          });
          yield ev('response.content_part.added', {
            item_id: msgId,
            output_index: textIndex,
            content_index: 0,
            part: { type: 'output_text', text: '', annotations: [] },
          });
        }
        s.text += delta.content;
        yield ev('response.output_text.delta', {
          item_id: msgId,
          output_index: textIndex,
          content_index: 0,
          delta: delta.content,
          logprobs: [],
        });
      }
      for (const tc of delta.tool_calls ?? []) {
        yield* closeReasoning();
        let call = callByIndex.get(tc.index);
        if (!call) {
          const callId = tc.id ?? `call_${tc.index}`;
          call = {
            id: `fc_${callId}`,
            callId,
            name: tc.function?.name ?? '',
            arguments: '',
            outputIndex: nextIndex++,
          };
          callByIndex.set(tc.index, call);
          s.calls.push(call);
          yield ev('response.output_item.added', {
            output_index: call.outputIndex,
            item: {
              type: 'function_call',
              id: call.id,
              call_id: callId,
              name: call.name,
              arguments: '',
              status: 'in_progress',
            },
          });
        }
        const args = tc.function?.arguments ?? '';
        if (args) {
          call.arguments += args;
          yield ev('response.function_call_arguments.delta', {
            item_id: call.id,
            output_index: call.outputIndex,
            delta: args,
          });
        }
      }
    }
  } catch {
    yield ev('error', {
      code: 'upstream_stream_interrupted',
      message: 'The upstream stream failed after it started; the reply is incomplete.',
      param: null,
    });
    yield ev('response.failed', {
      response: {
        ...responseObject(s, 'in_progress'),
        status: 'failed',
        error: { code: 'server_error', message: 'upstream stream interrupted' },
      },
    });
    return;
  }
  yield* closeReasoning();
  if (textIndex >= 0) {
    const part = { type: 'output_text', text: s.text, annotations: [] };
    yield ev('response.output_text.done', {
      item_id: msgId,
      output_index: textIndex,
      content_index: 0,
      text: s.text,
      logprobs: [],
    });
    yield ev('response.content_part.done', { item_id: msgId, output_index: textIndex, content_index: 0, part });
    yield ev('response.output_item.done', {
      output_index: textIndex,
      item: { type: 'message', id: msgId, status: 'completed', role: 'assistant', content: [part] },
    });
  }
  for (const call of callByIndex.values()) {
    yield ev('response.function_call_arguments.done', {
      item_id: call.id,
      output_index: call.outputIndex,
      arguments: call.arguments,
    });
    yield ev('response.output_item.done', {
      output_index: call.outputIndex,
      item: {
        type: 'function_call',
        id: call.id,
        call_id: call.callId,
        name: call.name,
        arguments: call.arguments,
        status: 'completed',
      },
    });
  }
  yield ev('response.completed', { response: responseObject(s, 'completed') });
}
