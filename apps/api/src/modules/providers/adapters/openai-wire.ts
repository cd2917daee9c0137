import { Agent, type Dispatcher, request } from 'undici';
import { frameOf, fromOpenAiUsage, parseChunk, tokenCount } from '../frames.ts';
import type {
  Adapter,
  AttemptInput,
  CompletionResult,
  EmbeddingInput,
  Frame,
  FrameSink,
  TappableStream,
} from '../providers.types.ts';
import { eventEnd, parseEventBlock, SseSplitter, singleDataLine } from '../sse.ts';
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

/** An upstream's error answer (status >= 400) as an UpstreamError: kind by status, Retry-After, its message. */
function statusError(status: number, headers: Dispatcher.ResponseData['headers'], text: string): UpstreamError {
  const retryAfterMs = parseRetryAfter(headers['retry-after']);
  const message = errorMessage(text);
  return new UpstreamError(kindForStatus(status), `upstream answered ${status}: ${message}`, {
    status,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    upstreamMessage: message,
  });
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
      throw statusError(res.statusCode, res.headers, text);
    }
    return res;
  }

  return {
    stream(input: AttemptInput): AsyncIterable<Frame> {
      const body = {
        ...input.body,
        model: input.deployment.model,
        stream: true,
        stream_options: { ...input.body.stream_options, include_usage: true },
      };
      return new OpenAiStream(dispatcher, input, JSON.stringify(body));
    },

    async complete(input: AttemptInput): Promise<CompletionResult> {
      // Without stream_options: a rest copy when there are some (not `delete`, which turns the object into a slow
      // dictionary to stringify), else a plain spread (a rest copy with an excluded key is the slower of the two).
      const rest = 'stream_options' in input.body ? withoutStreamOptions(input.body) : input.body;
      const body = { ...rest, model: input.deployment.model, stream: false };
      const answer = await post(dispatcher, input, JSON.stringify(body));
      if (answer.status >= 400) throw statusError(answer.status, answer.headers, answer.text);
      const text = answer.text;
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
      return { body: text, usage: { inputTokens: tokenCount(parsed.usage?.prompt_tokens), outputTokens: 0 } };
    },

    async close() {
      await dispatcher.close();
    },
  };
}

function withoutStreamOptions(body: AttemptInput['body']): Omit<AttemptInput['body'], 'stream_options'> {
  const { stream_options: _streamOptions, ...rest } = body;
  return rest;
}

/** Where a deployment's chat completions are posted (origin and path for undici's dispatch), parsed once per object. */
const chatTargets = new WeakMap<AttemptInput['deployment'], { origin: string; path: string }>();
function chatTarget(deployment: AttemptInput['deployment']): { origin: string; path: string } {
  let target = chatTargets.get(deployment);
  if (!target) {
    const url = new URL(`${deployment.baseUrl}/chat/completions`);
    target = { origin: url.origin, path: `${url.pathname}${url.search}` };
    chatTargets.set(deployment, target);
  }
  return target;
}

/**
 * One non-stream chat completion as an undici dispatch handler: the body is collected into one string as it arrives
 * (no response body stream, no async reads of it; those were a visible share of a /v1 request's CPU). An error
 * status keeps at most MAX_ERROR_BODY bytes of its body, for the message; a failure or abort rejects, classified.
 */
function post(
  dispatcher: Dispatcher,
  input: AttemptInput,
  body: string,
): Promise<{ status: number; headers: Dispatcher.ResponseData['headers']; text: string }> {
  return new Promise((resolve, reject) => {
    const { signal } = input;
    let controller: Dispatcher.DispatchController | null = null;
    let status = 0;
    let headers: Dispatcher.ResponseData['headers'] = {};
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = () => {
      settled = true;
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settle();
      reject(classify(err));
    };
    const answer = () => {
      if (settled) return;
      settle();
      const text = parts.length === 1 ? (parts[0] as Buffer).toString('utf8') : Buffer.concat(parts).toString('utf8');
      resolve({ status, headers, text });
    };
    function onAbort() {
      fail(signal.reason);
      controller?.abort(signal.reason);
    }
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (settled) c.abort(signal.reason ?? new Error('aborted'));
      },
      onResponseStart(_c, statusCode, responseHeaders) {
        if (statusCode < 200) return;
        status = statusCode;
        headers = responseHeaders as Dispatcher.ResponseData['headers'];
      },
      onResponseData(c, chunk) {
        if (settled) return;
        if (status >= 400 && size + chunk.length > MAX_ERROR_BODY) {
          // Enough of an error body for its message: answer with it and drop the rest.
          answer();
          c.abort(new Error('upstream error body too large'));
          return;
        }
        parts.push(chunk);
        size += chunk.length;
      },
      onResponseEnd() {
        answer();
      },
      onResponseError(_c, err) {
        fail(err);
      },
    };
    if (signal.aborted) {
      reject(classify(signal.reason));
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    const { origin, path } = chatTarget(input.deployment);
    try {
      dispatcher.dispatch({ origin, path, method: 'POST', headers: headersOf(input.deployment), body }, handler);
    } catch (err) {
      fail(err);
    }
  });
}

/** Frames, or held reads, ahead of the iterator before the upstream is paused. */
const MAX_QUEUE = 64;

const isDone = (b: Buffer, from: number, end: number) =>
  end - from === 6 &&
  b[from] === 91 && // [
  b[from + 1] === 68 && // D
  b[from + 2] === 79 && // O
  b[from + 3] === 78 && // N
  b[from + 4] === 69 && // E
  b[from + 5] === 93; // ]

/**
 * One streamed chat completion from an OpenAI-wire upstream, as an undici dispatch handler (no body stream, no async
 * iteration of it). Read as an async iterator of Frames until the router commits the first token (events are parsed
 * up to a token, the reads after it held as read); then `tap` hands the held reads and each later upstream read to
 * the relay as slices of the upstream's own bytes, every event in them checked (`data:` JSON, in-body error,
 * finish_reason, usage) but not turned into a Frame.
 * Failure semantics as before: an in-body error, a malformed event, an end before any finish_reason or [DONE] throw
 * (iterator) or reach `sink.error` (tapped), after the events that preceded them.
 */
class OpenAiStream implements TappableStream, AsyncIterable<Frame>, Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  /** Set once: why the request is (to be) aborted. */
  private abortReason: Error | undefined;
  private readonly splitter = new SseSplitter();
  private status = 0;
  private headers: Dispatcher.ResponseData['headers'] = {};
  /** An answer that is not a stream (a status >= 400, or a 200 of another type): its body, for the error. */
  private errorBody: Buffer[] | null = null;
  private errorSize = 0;
  private readonly queue: Frame[] = [];
  /** The queue holds a token (a frame with content or a finish) the reader has not taken. */
  private tokenQueued = false;
  /**
   * Reads that came after a queued token, kept as read: the first token goes out without waiting for them to be
   * parsed, and the relay (`tap`) forwards them as they are, in one write. An iterator parses them as it gets there.
   */
  private readonly held: Buffer[] = [];
  /** The response ended while reads were held: whether it finished is judged once they are read. */
  private endHeld = false;
  private waiter: { resolve: (r: IteratorResult<Frame>) => void; reject: (e: unknown) => void } | null = null;
  /** No event follows: [DONE], the end, a failure, or the reader stopped. */
  private over = false;
  private failure: unknown;
  private failureTaken = false;
  private finished = false;
  /** The upstream response is complete (or failed): nothing more comes from undici. */
  private ended = false;
  private paused = false;
  private sink: FrameSink | null = null;
  private includeUsage = false;
  private readonly removeAbort: () => void;

  constructor(dispatcher: Dispatcher, input: AttemptInput, body: string) {
    const { signal } = input;
    const onAbort = () => {
      this.abort(signal.reason);
      this.fail(classify(signal.reason));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    this.removeAbort = () => signal.removeEventListener('abort', onAbort);
    const { origin, path } = chatTarget(input.deployment);
    try {
      if (signal.aborted) throw signal.reason;
      dispatcher.dispatch({ origin, path, method: 'POST', headers: headersOf(input.deployment), body }, this);
    } catch (err) {
      this.upstreamDone();
      this.fail(classify(err));
    }
  }

  // ---- undici handler ----

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== undefined) controller.abort(this.abortReason);
    else if (this.paused) controller.pause();
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Dispatcher.ResponseData['headers'],
  ): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
    // An HTTP 200 that is not a stream is an error body (some servers answer errors this way).
    if (statusCode >= 400 || !String(headers['content-type'] ?? '').includes('text/event-stream')) this.errorBody = [];
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.errorBody) {
      if (this.errorSize + chunk.length > MAX_ERROR_BODY) {
        this.failWithBody();
        this.abort(this.failure);
      } else {
        this.errorBody.push(chunk);
        this.errorSize += chunk.length;
      }
      return;
    }
    if (this.over) return;
    let events: Buffer | null;
    try {
      events = this.splitter.push(chunk);
    } catch (err) {
      this.fail(new UpstreamError('malformed', (err as Error).message));
      return;
    }
    if (events === null) return;
    if (this.sink) {
      if (!this.forward(events)) this.pause();
    } else this.read(events);
  }

  onResponseEnd(): void {
    this.upstreamDone();
    if (this.errorBody) {
      this.failWithBody();
      return;
    }
    if (this.over) return;
    const rest = this.splitter.flush();
    if (rest) {
      if (this.sink) this.forward(rest);
      else this.read(rest);
    }
    this.judgeEnd();
  }

  /** After the response's end and every event read: a clean end, or a truncation (no finish_reason, no [DONE]). */
  private judgeEnd(): void {
    if (this.over) return;
    if (this.held.length > 0) {
      this.endHeld = true;
      return;
    }
    if (this.finished) this.complete();
    else this.fail(new UpstreamError('truncated', 'upstream stream ended before it finished'));
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.upstreamDone();
    this.fail(classify(err));
  }

  // ---- iterator (until the first token, and for readers that want Frames) ----

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Frame>> {
    if (this.queue.length === 0 && this.held.length > 0) this.unhold();
    const frame = this.queue.shift();
    if (frame) {
      if (this.queue.length === 0) this.tokenQueued = false;
      if (this.paused && this.queue.length < MAX_QUEUE / 2 && this.held.length < MAX_QUEUE / 2) this.resume();
      return Promise.resolve({ value: frame, done: false });
    }
    if (this.over) return this.last();
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<Frame>> {
    this.queue.length = 0;
    this.held.length = 0;
    if (!this.over) {
      const stop = new UpstreamError('aborted', 'the reader stopped');
      this.abort(stop);
      this.fail(stop);
    }
    this.failureTaken = true;
    return Promise.resolve({ value: undefined, done: true });
  }

  /** After the queue: the failure once, then done. */
  private last(): Promise<IteratorResult<Frame>> {
    if (this.failure !== undefined && !this.failureTaken) {
      this.failureTaken = true;
      return Promise.reject(this.failure);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  private wake(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    const frame = this.queue.shift();
    if (frame) {
      this.waiter = null;
      waiter.resolve({ value: frame, done: false });
    } else if (this.over) {
      this.waiter = null;
      this.last().then(waiter.resolve, waiter.reject);
    }
  }

  /** Iterator mode: a read's events parsed into Frames and queued, up to a token; after one, reads are held. */
  private read(events: Buffer): void {
    if (this.tokenQueued || this.held.length > 0) this.hold(events);
    else {
      const rest = this.enqueue(events);
      if (rest !== -1) this.hold(events.subarray(rest));
    }
    if (this.queue.length >= MAX_QUEUE) this.pause();
    this.wake();
  }

  private hold(events: Buffer): void {
    this.held.push(events);
    if (this.held.length >= MAX_QUEUE) this.pause();
  }

  /** The reader took every queued frame: held reads are parsed up to the next token. */
  private unhold(): void {
    while (this.queue.length === 0 && this.held.length > 0) {
      const events = this.held.shift() as Buffer;
      const rest = this.enqueue(events);
      if (rest !== -1) this.held.unshift(events.subarray(rest));
    }
    if (this.held.length === 0 && this.endHeld) {
      this.endHeld = false;
      this.judgeEnd();
    }
  }

  /**
   * Parses events into queued Frames. Returns where the events after a token start (-1: none, or nothing after
   * [DONE] or a failure matters, and then nothing held does either).
   */
  private enqueue(events: Buffer): number {
    for (let start = 0; ; ) {
      const end = eventEnd(events, start);
      if (end === -1) break;
      if (end > start) {
        const from = singleDataLine(events, start, end);
        let data: string | undefined;
        if (from !== -1) data = events.toString('utf8', from, end);
        else data = parseEventBlock(events.toString('utf8', start, end))?.data;
        if (data === '[DONE]') {
          this.complete();
          this.held.length = 0;
          return -1;
        }
        if (data !== undefined) {
          let frame: Frame;
          try {
            frame = frameOf(parseChunk(data), data);
          } catch (err) {
            this.fail(err);
            this.held.length = 0;
            return -1;
          }
          if (frame.finishReason) this.finished = true;
          this.queue.push(frame);
          if (frame.content || frame.finishReason) {
            this.tokenQueued = true;
            return end + 2 < events.length ? end + 2 : -1;
          }
        }
      }
      start = end + 2;
    }
    return -1;
  }

  // ---- push mode (after the first token) ----

  tap(sink: FrameSink, includeUsage: boolean): void {
    this.includeUsage = includeUsage;
    let ready = true;
    for (const frame of this.queue) {
      const usage = fromOpenAiUsage(frame.chunk.usage);
      if (usage) sink.usage(usage);
      if (frame.usageOnly && !includeUsage) continue;
      ready = sink.data(`data: ${frame.data}\n\n`);
    }
    this.queue.length = 0;
    this.sink = sink; // before the held reads are forwarded and before a resume, which may deliver reads at once
    if (this.held.length > 0) {
      const held = this.held.length === 1 ? (this.held[0] as Buffer) : Buffer.concat(this.held);
      this.held.length = 0;
      ready = this.forward(held) && ready;
    }
    if (this.over) {
      // Over before the tap (or ended by what was held): the sink hears it once, if the forward did not tell it.
      const told = this.takeSink();
      if (told) {
        this.failureTaken = true;
        if (this.failure !== undefined) told.error(this.failure);
        else told.end();
      }
      return;
    }
    if (this.endHeld) {
      this.endHeld = false;
      this.judgeEnd();
    } else if (ready) this.resume();
    else this.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.controller?.resume();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.controller?.pause();
  }

  /**
   * Push mode: the read's events go out as the upstream wrote them, in as few slices as possible (one, unless an
   * event is held back: a usage-only one the client did not ask for, [DONE], one of another shape, re-written).
   * Returns whether the sink can take more.
   */
  private forward(events: Buffer): boolean {
    const sink = this.sink as FrameSink;
    let run = 0;
    let ready = true;
    try {
      for (let start = 0; ; ) {
        const end = eventEnd(events, start);
        if (end === -1) break;
        const next = end + 2;
        if (end > start) {
          const from = singleDataLine(events, start, end);
          if (from === -1 || isDone(events, from, end)) {
            if (start > run) ready = sink.data(events.subarray(run, start));
            run = next;
            const data = from === -1 ? parseEventBlock(events.toString('utf8', start, end))?.data : '[DONE]';
            if (data === '[DONE]') {
              this.complete();
              return ready;
            }
            if (data !== undefined && this.check(data)) ready = sink.data(`data: ${data}\n\n`);
          } else {
            let keep: boolean;
            try {
              keep = this.check(events.toString('latin1', from, end));
            } catch (err) {
              // The events before it go out; this one does not.
              if (start > run) sink.data(events.subarray(run, start));
              throw err;
            }
            if (!keep) {
              if (start > run) ready = sink.data(events.subarray(run, start));
              run = next;
            }
          }
        }
        start = next;
      }
    } catch (err) {
      this.fail(err);
      return ready;
    }
    if (events.length > run) ready = sink.data(events.subarray(run));
    return ready;
  }

  /** Push mode: one event's JSON checked (throws as parseChunk); false when it is not for the client (usage-only, not asked for). */
  private check(data: string): boolean {
    const chunk = parseChunk(data);
    if (chunk.choices[0]?.finish_reason) this.finished = true;
    const usage = fromOpenAiUsage(chunk.usage);
    if (usage) {
      (this.sink as FrameSink).usage(usage);
      if (chunk.choices.length === 0 && !this.includeUsage) return false;
    }
    return true;
  }

  // ---- ends ----

  /** A clean end ([DONE], or the end after a finish_reason). The connection stays for reuse when the response ends. */
  private complete(): void {
    if (this.over) return;
    this.over = true;
    const sink = this.takeSink();
    if (sink) sink.end();
    else this.wake();
    if (!this.ended) {
      // [DONE] normally arrives with the response's end; if not, the rest is read (and dropped) unless it lingers.
      queueMicrotask(() => {
        if (!this.ended)
          setTimeout(() => this.abort(new UpstreamError('aborted', 'nothing after [DONE]')), 5000).unref();
      });
    }
  }

  private fail(err: unknown): void {
    if (this.over) return;
    this.over = true;
    this.failure = err;
    if (!this.ended) this.abort(err);
    const sink = this.takeSink();
    if (sink) {
      this.failureTaken = true;
      sink.error(err);
    } else this.wake();
  }

  /**
   * The sink, for telling it the end: it is told once and not held after. A handler stays reachable for a while
   * after its response ends; while it held the sink, every stream's request (reply, limits, frames) survived two
   * scavenges and was promoted: 1.7 MB per scavenge at concurrency 1, scavenges of 4 ms instead of 1.5
   * (docs/benchmarks.md).
   */
  private takeSink(): FrameSink | null {
    const sink = this.sink;
    this.sink = null;
    return sink;
  }

  /** Nothing more comes from undici: its controller is dropped too (see takeSink); aborting an ended request is a no-op. */
  private upstreamDone(): void {
    this.ended = true;
    this.removeAbort();
    this.controller = null;
  }

  private failWithBody(): void {
    const body = this.errorBody as Buffer[];
    this.errorBody = null;
    const text = Buffer.concat(body).toString('utf8');
    this.fail(
      this.status >= 400
        ? statusError(this.status, this.headers, text)
        : new UpstreamError('body_error', `upstream answered 200 without a stream: ${errorMessage(text)}`),
    );
  }

  private abort(reason: unknown): void {
    if (this.ended || this.abortReason !== undefined) return;
    this.abortReason = reason instanceof Error ? reason : new UpstreamError('aborted', String(reason));
    this.controller?.abort(this.abortReason);
  }
}
