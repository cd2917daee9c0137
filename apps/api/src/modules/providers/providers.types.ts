import type { AppConfig } from '../../config/index.ts';

export type DeploymentConfig = AppConfig['providers']['deployments'][number];
export type RoutingConfig = AppConfig['providers']['routing'];
export type Strategy = NonNullable<AppConfig['providers']['aliases'][string]['strategy']>;
export type ProviderKind = DeploymentConfig['provider'];

/** A deployment as the router uses it: config resolved (base URL, key, price). */
export interface Deployment {
  id: string;
  provider: ProviderKind;
  model: string;
  baseUrl: string;
  apiKey: string | undefined;
  weight: number;
  contextWindow: number;
  capabilities: { tools: boolean; vision: boolean; embeddings: boolean };
  /** USD per token. */
  price: { input: number; output: number; source: string };
}

export interface Alias {
  name: string;
  strategy: Strategy;
  deployments: Deployment[];
  description: string | undefined;
}

// ---- The OpenAI chat-completions wire, as much of it as the router reads ----

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } }
  | { type: string; [key: string]: unknown };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: ChatTool[];
  tool_choice?: ToolChoice;
  response_format?: {
    type: 'text' | 'json_object' | 'json_schema';
    json_schema?: { name?: string; schema?: Record<string, unknown>; strict?: boolean; description?: string };
  };
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  seed?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  [key: string]: unknown;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  reasoningTokens?: number;
}

export interface ChunkChoiceDelta {
  role?: string;
  content?: string | null;
  reasoning_content?: string;
  reasoning?: string;
  tool_calls?: { index: number; id?: string; type?: 'function'; function?: { name?: string; arguments?: string } }[];
}

export interface ChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: number; delta: ChunkChoiceDelta; finish_reason: string | null }[];
  usage?: OpenAiUsage | null;
  error?: unknown;
}

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  completion_tokens_details?: { reasoning_tokens?: number };
}

/**
 * One SSE event of an OpenAI chat-completions stream as it will be written to the client. `data` is the JSON text
 * (proxied bytes for OpenAI-wire upstreams); `chunk` the parsed form the router and the Responses API read.
 */
export interface Frame {
  data: string;
  chunk: ChatChunk;
  /** Carries output the client sees (text, reasoning, a tool call): sending it commits the stream. */
  content: boolean;
  /** A usage-only chunk (empty choices), forwarded only when the client asked for include_usage. */
  usageOnly: boolean;
  finishReason: string | null;
}

/**
 * Where a committed stream's events go once the first token is out (router relay): pushed per upstream read, with no
 * promise or parsed object per event. Calls stop after `end` or `error`.
 */
export interface FrameSink {
  /** Whole SSE events for the client, in order. false: the client is slow; the source pauses until `resume()`. */
  data(sse: Buffer | string): boolean;
  /** Usage the upstream reported (the last report counts). */
  usage(usage: Usage): void;
  /** The upstream finished cleanly (its `[DONE]`, or its end after a finish_reason). */
  end(): void;
  /** The upstream failed (an in-body error, a malformed or truncated stream, a reset, an abort). */
  error(err: unknown): void;
}

/**
 * An adapter stream that can also push (the OpenAI wire): read as an iterator until the first token, then `tap`
 * hands what is still queued and every later read to the sink. Usage-only events reach the client only with
 * `includeUsage`.
 */
export interface TappableStream extends AsyncIterator<Frame> {
  tap(sink: FrameSink, includeUsage: boolean): void;
  resume(): void;
}

export interface AttemptInput {
  deployment: Deployment;
  body: ChatRequest;
  signal: AbortSignal;
}

export interface CompletionResult {
  /** The chat.completion JSON text. */
  body: string;
  usage: Usage | undefined;
}

export interface EmbeddingInput {
  deployment: Deployment;
  body: Record<string, unknown>;
  signal: AbortSignal;
}

/** A vendor wire format. Streams throw UpstreamError (or anything, classified by the router). */
export interface Adapter {
  stream(input: AttemptInput): AsyncIterable<Frame>;
  complete(input: AttemptInput): Promise<CompletionResult>;
  embed?(input: EmbeddingInput): Promise<CompletionResult>;
  close?(): Promise<void>;
}
