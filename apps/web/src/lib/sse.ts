/**
 * A pure Server-Sent Events parser (WHATWG HTML §9.2 "event stream interpretation"), independent of EventSource so
 * the client can POST, send `Last-Event-ID` on resume and read the stream with fetch.
 *
 * Feed it bytes in chunks of any size: a chunk may end inside a UTF-8 sequence, a `\r\n` pair, a field name or an
 * event. Events come out whole, in order, each with the `id` in force when it was dispatched.
 */
export interface SseEvent {
  /** `event:` field, `message` when absent. */
  event: string;
  /** `data:` lines joined by `\n`. */
  data: string;
  /** The last event id seen so far (persists across events, as the spec says), or undefined. */
  id: string | undefined;
  /** A `retry:` value in milliseconds, when this event carried one. */
  retry?: number;
}

export interface SseParser {
  /** Feeds bytes (or already-decoded text); returns the events completed by this chunk. */
  push(chunk: Uint8Array | string): SseEvent[];
  /** Ends the stream: an event without its blank line is dropped, as the spec requires. */
  end(): SseEvent[];
  /** The last event id seen (for `Last-Event-ID` on reconnect). */
  readonly lastEventId: string | undefined;
}

/** `maxLineLength` bounds memory against a server that never sends a newline. */
export function createSseParser(options: { maxLineLength?: number } = {}): SseParser {
  const maxLine = options.maxLineLength ?? 4 * 1024 * 1024;
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let firstChunk = true;
  let pendingCr = false;
  let data: string[] = [];
  let hasData = false;
  let eventType = '';
  let lastEventId: string | undefined;
  let retry: number | undefined;

  function dispatch(out: SseEvent[]) {
    if (hasData) {
      const event: SseEvent = { event: eventType || 'message', data: data.join('\n'), id: lastEventId };
      if (retry !== undefined) event.retry = retry;
      out.push(event);
    }
    data = [];
    hasData = false;
    eventType = '';
    retry = undefined;
  }

  function line(text: string, out: SseEvent[]) {
    if (text === '') {
      dispatch(out);
      return;
    }
    if (text.startsWith(':')) return; // comment (keep-alive)
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        data.push(value);
        hasData = true;
        break;
      case 'event':
        eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  function consume(text: string, out: SseEvent[]) {
    let input = text;
    if (firstChunk && input.length > 0) {
      firstChunk = false;
      if (input.charCodeAt(0) === 0xfeff) input = input.slice(1);
    }
    // A `\r` that ended the previous chunk already closed its line; a `\n` opening this one belongs to it.
    if (pendingCr && input.startsWith('\n')) input = input.slice(1);
    pendingCr = false;
    buffer += input;
    let start = 0;
    for (let i = 0; i < buffer.length; i += 1) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      line(buffer.slice(start, i), out);
      if (c === 13) {
        if (i + 1 < buffer.length) {
          if (buffer.charCodeAt(i + 1) === 10) i += 1;
        } else {
          pendingCr = true;
        }
      }
      start = i + 1;
    }
    buffer = buffer.slice(start);
    if (buffer.length > maxLine) throw new Error(`SSE line longer than ${maxLine} characters`);
  }

  return {
    push(chunk) {
      const out: SseEvent[] = [];
      consume(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }), out);
      return out;
    },
    end() {
      const out: SseEvent[] = [];
      consume(decoder.decode(), out);
      buffer = '';
      data = [];
      hasData = false;
      return out;
    },
    get lastEventId() {
      return lastEventId;
    },
  };
}

/** Reads a fetch body to the end, calling `onEvent` for each event as soon as it is complete. */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: SseEvent) => void,
  parser: SseParser = createSseParser(),
): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const event of parser.push(value)) onEvent(event);
    }
    for (const event of parser.end()) onEvent(event);
  } finally {
    reader.releaseLock();
  }
}
