import { StringDecoder } from 'node:string_decoder';
import { Agent, type Dispatcher, request } from 'undici';
import { frameOf, fromOpenAiUsage, parseChunk } from '../frames.ts';
import type { Adapter, AttemptInput, CompletionResult, EmbeddingInput, Frame } from '../providers.types.ts';
import { SseParser } from '../sse.ts';
import { classify, kindForStatus, parseRetryAfter, UpstreamError } from '../upstream-error.ts';

const MAX_ERROR_BODY = 64 * 1024;

/**
 * One keep-alive pool for every upstream; connect timeout from routing config. Connections per origin are not capped:
 * a stream holds its connection until the reply ends, so a cap would queue new requests (and their first token)
 * behind unrelated long replies; the requests in flight are already bounded by the overload and generation limits.
 */
export function createDispatcher(connectTimeoutMs: number): Agent {
  return new Agent({
    connect: { timeout: connectTimeoutMs },
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connections: null,
    headersTimeout: 0,
    bodyTimeout: 0,
  });
}

async function readText(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      body.destroy();
      break;
    }
    parts.push(buf);
  }
  return Buffer.concat(parts).toString('utf8');
}

function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const e = parsed.error;
    if (typeof e === 'string') return e;
    if (e && typeof e.message === 'string') return e.message;
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: use the text
  }
  return text.slice(0, 500);
}

/** Request headers per deployment, built once (a hot reload brings new Deployment objects, so new entries). */
const upstreamHeaders = new WeakMap<AttemptInput['deployment'], Record<string, string>>();
function headersOf(deployment: AttemptInput['deployment']): Record<string, string> {
  let headers = upstreamHeaders.get(deployment);
  if (!headers) {
    headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(deployment.apiKey ? { authorization: `Bearer ${deployment.apiKey}` } : {}),
    };
    upstreamHeaders.set(deployment, headers);
  }
  return headers;
}

/**
 * OpenAI chat-completions wire (OpenAI, Ollama, vLLM, OpenRouter, Groq...): a lean undici passthrough. The body is
 * forwarded with only `model` replaced (and usage requested on streams, so accounting never depends on the client);
 * chunks are parsed only to learn what failover and usage need, and forwarded as the upstream wrote them.
 */
export function createOpenAiWireAdapter(dispatcher: Dispatcher): Adapter {
  async function send(
    input: { deployment: AttemptInput['deployment']; signal: AbortSignal },
    path: string,
    body: unknown,
  ) {
    const { deployment } = input;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${deployment.baseUrl}${path}`, {
        method: 'POST',
        dispatcher,
        signal: input.signal,
        headers: headersOf(deployment),
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw classify(err);
    }
    if (res.statusCode >= 400) {
      const text = await readText(res.body, MAX_ERROR_BODY).catch(() => '');
      const kind = kindForStatus(res.statusCode);
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      throw new UpstreamError(kind, `upstream answered ${res.statusCode}: ${errorMessage(text)}`, {
        status: res.statusCode,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        upstreamMessage: errorMessage(text),
      });
    }
    return res;
  }

  return {
    async *stream(input: AttemptInput): AsyncIterable<Frame> {
      const body = {
        ...input.body,
        model: input.deployment.model,
        stream: true,
        stream_options: { ...input.body.stream_options, include_usage: true },
      };
      const res = await send(input, '/chat/completions', body);
      const contentType = String(res.headers['content-type'] ?? '');
      if (!contentType.includes('text/event-stream')) {
        // An HTTP 200 that is not a stream is an error body (some servers answer errors this way).
        const text = await readText(res.body, MAX_ERROR_BODY).catch(() => '');
        throw new UpstreamError('body_error', `upstream answered 200 without a stream: ${errorMessage(text)}`);
      }
      const decoder = new StringDecoder('utf8');
      const parser = new SseParser();
      let done = false;
      let finished = false;
      try {
        for await (const chunk of res.body) {
          for (const event of parser.push(decoder.write(chunk as Buffer))) {
            if (event.data === '[DONE]') {
              done = true;
              break;
            }
            const frame = frameOf(parseChunk(event.data), event.data);
            if (frame.finishReason) finished = true;
            yield frame;
          }
          if (done) break;
        }
        if (!done) {
          for (const event of parser.flush()) {
            if (event.data === '[DONE]') done = true;
            else yield frameOf(parseChunk(event.data), event.data);
          }
        }
      } catch (err) {
        throw classify(err);
      } finally {
        if (!done) res.body.destroy();
      }
      if (!done && !finished) throw new UpstreamError('truncated', 'upstream stream ended before it finished');
    },

    async complete(input: AttemptInput): Promise<CompletionResult> {
      // Without stream_options; a rest copy, not `delete`, which turns the object into a slow dictionary to stringify.
      const { stream_options: _streamOptions, ...rest } = input.body;
      const body = { ...rest, model: input.deployment.model, stream: false };
      const res = await send(input, '/chat/completions', body);
      let text: string;
      try {
        text = await res.body.text();
      } catch (err) {
        throw classify(err);
      }
      let parsed: { choices?: unknown; usage?: Parameters<typeof fromOpenAiUsage>[0]; error?: { message?: string } };
      try {
        parsed = JSON.parse(text);
      } catch (cause) {
        throw new UpstreamError('malformed', 'upstream answered with invalid JSON', { cause });
      }
      if (parsed.error) throw new UpstreamError('body_error', `upstream error: ${parsed.error.message ?? 'unknown'}`);
      if (!Array.isArray(parsed.choices)) throw new UpstreamError('malformed', 'upstream completion has no choices');
      return { body: text, usage: fromOpenAiUsage(parsed.usage) };
    },

    async embed(input: EmbeddingInput): Promise<CompletionResult> {
      const res = await send(input, '/embeddings', { ...input.body, model: input.deployment.model });
      const text = await res.body.text().catch((err: unknown) => {
        throw classify(err);
      });
      let parsed: { data?: unknown; usage?: { prompt_tokens?: number } };
      try {
        parsed = JSON.parse(text);
      } catch (cause) {
        throw new UpstreamError('malformed', 'upstream answered with invalid JSON', { cause });
      }
      if (!Array.isArray(parsed.data)) throw new UpstreamError('body_error', 'upstream embeddings have no data');
      return { body: text, usage: { inputTokens: parsed.usage?.prompt_tokens ?? 0, outputTokens: 0 } };
    },

    async close() {
      await dispatcher.close();
    },
  };
}
