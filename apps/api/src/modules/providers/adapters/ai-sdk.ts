import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import {
  APICallError,
  InvalidArgumentError,
  InvalidPromptError,
  type LanguageModelV4,
  UnsupportedFunctionalityError,
} from '@ai-sdk/provider';
import { type Dispatcher, fetch as undiciFetch } from 'undici';
import type { Adapter, AttemptInput, Deployment, Frame } from '../providers.types.ts';
import { classify, kindForStatus, parseRetryAfter, UpstreamError } from '../upstream-error.ts';
import { aggregate } from './aggregate.ts';
import { streamModel, toCallOptions } from './translate.ts';

/**
 * AI SDK errors as UpstreamErrors: HTTP status and Retry-After from APICallError, network codes from causes. The
 * errors a provider package raises while building its request (a prompt or an argument its vendor cannot take) are
 * the client's: a 400, not a failure of the deployment.
 */
export function classifySdkError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (
    InvalidPromptError.isInstance(error) ||
    InvalidArgumentError.isInstance(error) ||
    UnsupportedFunctionalityError.isInstance(error)
  ) {
    return UpstreamError.badRequest(error.message, undefined, error);
  }
  if (APICallError.isInstance(error)) {
    if (error.statusCode !== undefined && error.statusCode >= 400) {
      const retryAfterMs = parseRetryAfter(error.responseHeaders?.['retry-after']);
      return new UpstreamError(
        kindForStatus(error.statusCode),
        `upstream answered ${error.statusCode}: ${error.message}`,
        {
          status: error.statusCode,
          upstreamMessage: error.message,
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
          cause: error,
        },
      );
    }
    return classify(error.cause ?? error);
  }
  const hasCode = typeof (error as { code?: unknown })?.code === 'string' || (error as { cause?: unknown })?.cause;
  if (hasCode) return classify(error);
  const message = error instanceof Error ? error.message : JSON.stringify(error);
  return new UpstreamError('body_error', `upstream error in stream: ${message?.slice(0, 300)}`, { cause: error });
}

/**
 * Anthropic and Gemini speak their own wires: the AI SDK provider packages translate (they are the maintained
 * reference for those formats). Model instances are cached per deployment object; requests go through the shared undici
 * pool. Every call streams; a non-stream request aggregates the stream into one chat.completion.
 */
export function createAiSdkAdapter(dispatcher: Dispatcher): Adapter {
  // Keyed by the deployment object: a hot reload builds new ones, so a changed key or base URL gets a new model.
  const models = new WeakMap<Deployment, LanguageModelV4>();
  const fetch = ((url: string | URL, init?: RequestInit) =>
    undiciFetch(url, { ...(init as object), dispatcher } as Parameters<
      typeof undiciFetch
    >[1])) as unknown as typeof globalThis.fetch;

  function modelFor(d: Deployment): LanguageModelV4 {
    let model = models.get(d);
    if (!model) {
      const settings = { baseURL: d.baseUrl, apiKey: d.apiKey ?? '', fetch };
      model =
        d.provider === 'anthropic'
          ? createAnthropic(settings).languageModel(d.model)
          : createGoogleGenerativeAI(settings).languageModel(d.model);
      models.set(d, model);
    }
    return model;
  }

  async function* stream(input: AttemptInput): AsyncIterable<Frame> {
    const id = `chatcmpl-${crypto.randomUUID().replaceAll('-', '')}`;
    try {
      yield* streamModel(modelFor(input.deployment), toCallOptions(input.body, input.signal), id);
    } catch (err) {
      throw classifySdkError(err);
    }
  }

  return {
    stream,
    complete: (input) => aggregate(stream(input), input.deployment.model),
  };
}
