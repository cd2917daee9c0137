import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4FilePart,
  LanguageModelV4FunctionTool,
  LanguageModelV4Message,
  LanguageModelV4StreamPart,
  LanguageModelV4TextPart,
  LanguageModelV4ToolChoice,
} from '@ai-sdk/provider';
import { frameOf, tokenCount, toOpenAiUsage } from '../frames.ts';
import type {
  ChatChunk,
  ChatMessage,
  ChatRequest,
  ChunkChoiceDelta,
  ContentPart,
  Frame,
  Usage,
} from '../providers.types.ts';
import { UpstreamError } from '../upstream-error.ts';

const reasoningEfforts = new Set(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']);

/** OpenAI chat-completions request -> AI SDK LanguageModelV4 call options. */
export function toCallOptions(body: ChatRequest, signal: AbortSignal): LanguageModelV4CallOptions {
  const toolNames = new Map<string, string>();
  const prompt: LanguageModelV4Message[] = [];
  body.messages.forEach((m, i) => {
    const message = toMessage(m, i, toolNames);
    if (message) prompt.push(message);
  });
  const options: LanguageModelV4CallOptions = { prompt, abortSignal: signal };
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens !== undefined) options.maxOutputTokens = maxTokens;
  if (body.temperature !== undefined) options.temperature = body.temperature;
  if (body.top_p !== undefined) options.topP = body.top_p;
  if (body.seed !== undefined) options.seed = body.seed;
  if (body.presence_penalty !== undefined) options.presencePenalty = body.presence_penalty;
  if (body.frequency_penalty !== undefined) options.frequencyPenalty = body.frequency_penalty;
  // OpenAI's reasoning_effort -> the SDK's portable `reasoning`, which each provider turns into its own request
  // field (Anthropic `thinking` with a budget, Gemini `thinkingConfig` with includeThoughts).
  const effort = body.reasoning_effort;
  if (typeof effort === 'string' && reasoningEfforts.has(effort)) {
    options.reasoning = effort as NonNullable<LanguageModelV4CallOptions['reasoning']>;
  }
  if (body.stop !== undefined) options.stopSequences = Array.isArray(body.stop) ? body.stop : [body.stop];
  if (body.tools?.length) {
    options.tools = body.tools.map(
      (t): LanguageModelV4FunctionTool => ({
        type: 'function',
        name: t.function.name,
        ...(t.function.description ? { description: t.function.description } : {}),
        inputSchema: (t.function.parameters ?? {
          type: 'object',
          properties: {},
        }) as LanguageModelV4FunctionTool['inputSchema'],
      }),
    );
  }
  const choice = body.tool_choice;
  if (choice !== undefined) {
    options.toolChoice =
      typeof choice === 'string'
        ? ({ type: choice } as LanguageModelV4ToolChoice)
        : { type: 'tool', toolName: choice.function.name };
  }
  const format = body.response_format;
  if (format?.type === 'json_object') options.responseFormat = { type: 'json' };
  else if (format?.type === 'json_schema') {
    options.responseFormat = {
      type: 'json',
      ...(format.json_schema?.schema ? { schema: format.json_schema.schema as never } : {}),
      ...(format.json_schema?.name ? { name: format.json_schema.name } : {}),
      ...(format.json_schema?.description ? { description: format.json_schema.description } : {}),
    };
  }
  return options;
}

function textOf(content: ChatMessage['content']): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((p): p is { type: 'text'; text: string } => p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('');
}

/**
 * A user message's part in the AI SDK's form. What the vendor cannot take (an image URL that is not a URL, a part type
 * other than text and image) is the client's error, a 400 naming the part, and never a failure of the deployment.
 */
function userPart(part: ContentPart, param: string): LanguageModelV4TextPart | LanguageModelV4FilePart {
  if (part.type === 'text' && typeof part.text === 'string') return { type: 'text', text: part.text };
  if (part.type === 'image_url') {
    const url = (part as { image_url?: { url?: unknown } }).image_url?.url;
    if (typeof url !== 'string')
      throw UpstreamError.badRequest(`${param}.image_url.url must be a string`, `${param}.image_url.url`);
    const match = /^data:([^;,]+)(;base64)?,(.*)$/s.exec(url);
    if (match) {
      return { type: 'file', mediaType: match[1] ?? 'image/png', data: { type: 'data', data: match[3] ?? '' } };
    }
    if (!URL.canParse(url)) {
      throw UpstreamError.badRequest(
        `${param}.image_url.url is neither a URL nor a data: URL`,
        `${param}.image_url.url`,
      );
    }
    return { type: 'file', mediaType: 'image/*', data: { type: 'url', url: new URL(url) } };
  }
  throw UpstreamError.badRequest(
    `${param} is a ${JSON.stringify(part.type)} part; this model's provider takes text and image_url parts`,
    `${param}.type`,
  );
}

function toMessage(m: ChatMessage, index: number, toolNames: Map<string, string>): LanguageModelV4Message | undefined {
  switch (m.role) {
    case 'system':
    case 'developer':
      return { role: 'system', content: textOf(m.content) };
    case 'user': {
      const parts =
        typeof m.content === 'string' || m.content == null
          ? [{ type: 'text' as const, text: m.content ?? '' }]
          : m.content.map((part, j) => userPart(part, `messages.${index}.content.${j}`));
      return { role: 'user', content: parts };
    }
    case 'assistant': {
      const content: Extract<LanguageModelV4Message, { role: 'assistant' }>['content'] = [];
      const text = textOf(m.content);
      if (text) content.push({ type: 'text', text });
      for (const call of m.tool_calls ?? []) {
        toolNames.set(call.id, call.function.name);
        let input: unknown = {};
        try {
          input = JSON.parse(call.function.arguments || '{}');
        } catch {
          input = {};
        }
        content.push({ type: 'tool-call', toolCallId: call.id, toolName: call.function.name, input });
      }
      return { role: 'assistant', content };
    }
    case 'tool': {
      const id = m.tool_call_id ?? '';
      return {
        role: 'tool',
        content: [
          {
            type: 'tool-result',
            toolCallId: id,
            toolName: toolNames.get(id) ?? m.name ?? 'tool',
            output: { type: 'text', value: textOf(m.content) },
          },
        ],
      };
    }
    default:
      return undefined;
  }
}

const finishReasons: Record<string, string> = {
  stop: 'stop',
  length: 'length',
  'content-filter': 'content_filter',
  'tool-calls': 'tool_calls',
  error: 'stop',
  interrupted: 'stop',
  other: 'stop',
};

/**
 * AI SDK stream parts -> OpenAI chat.completion.chunk frames. Stateful per stream: tool calls get OpenAI indices,
 * the finish reason and usage arrive in the last two chunks as OpenAI sends them.
 */
export class ChunkTranslator {
  private readonly id: string;
  private readonly model: string;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly toolIndex = new Map<string, number>();
  private readonly toolsWithDeltas = new Set<string>();
  private sentRole = false;
  usage: Usage | undefined;

  constructor(id: string, model: string) {
    this.id = id;
    this.model = model;
  }

  private chunk(delta: ChunkChoiceDelta, finish: string | null = null): Frame {
    if (!this.sentRole) {
      delta = { role: 'assistant', ...delta };
      this.sentRole = true;
    }
    const chunk: ChatChunk = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    };
    return frameOf(chunk);
  }

  translate(part: LanguageModelV4StreamPart): Frame[] {
    switch (part.type) {
      case 'text-delta':
        return part.delta ? [this.chunk({ content: part.delta })] : [];
      case 'reasoning-delta':
        return part.delta ? [this.chunk({ reasoning_content: part.delta })] : [];
      case 'tool-input-start': {
        const index = this.toolIndex.size;
        this.toolIndex.set(part.id, index);
        return [
          this.chunk({
            tool_calls: [{ index, id: part.id, type: 'function', function: { name: part.toolName, arguments: '' } }],
          }),
        ];
      }
      case 'tool-input-delta': {
        const index = this.toolIndex.get(part.id);
        if (index === undefined || !part.delta) return [];
        this.toolsWithDeltas.add(part.id);
        return [this.chunk({ tool_calls: [{ index, function: { arguments: part.delta } }] })];
      }
      case 'tool-call': {
        const known = this.toolIndex.get(part.toolCallId);
        if (known !== undefined && this.toolsWithDeltas.has(part.toolCallId)) return [];
        const index = known ?? this.toolIndex.size;
        this.toolIndex.set(part.toolCallId, index);
        const call =
          known === undefined
            ? {
                index,
                id: part.toolCallId,
                type: 'function' as const,
                function: { name: part.toolName, arguments: part.input },
              }
            : { index, function: { arguments: part.input } };
        return [this.chunk({ tool_calls: [call] })];
      }
      case 'finish': {
        const reasoning = tokenCount(part.usage.outputTokens.reasoning);
        const usage: Usage = {
          inputTokens: tokenCount(part.usage.inputTokens.total),
          outputTokens: tokenCount(part.usage.outputTokens.total),
          ...(reasoning ? { reasoningTokens: reasoning } : {}),
        };
        this.usage = usage;
        const reason =
          this.toolIndex.size > 0 && part.finishReason.unified === 'tool-calls'
            ? 'tool_calls'
            : (finishReasons[part.finishReason.unified] ?? 'stop');
        const finish = this.chunk({}, reason);
        const usageChunk: ChatChunk = {
          id: this.id,
          object: 'chat.completion.chunk',
          created: this.created,
          model: this.model,
          choices: [],
          usage: toOpenAiUsage(usage),
        };
        return [finish, frameOf(usageChunk)];
      }
      default:
        return [];
    }
  }
}

/** Runs a V4 model's stream and yields OpenAI frames; an `error` part throws (the router classifies it). */
export async function* streamModel(
  model: LanguageModelV4,
  options: LanguageModelV4CallOptions,
  id: string,
): AsyncIterable<Frame> {
  const result = await model.doStream(options);
  const translator = new ChunkTranslator(id, model.modelId);
  const reader = result.stream.getReader();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (value.type === 'error') throw value.error;
      if (value.type === 'finish') finished = true;
      yield* translator.translate(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (!finished) throw new UpstreamError('truncated', 'upstream stream ended before it finished');
}
