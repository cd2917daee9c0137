/**
 * Live replies. `POST /api/conversations/:id/messages` (and `POST /api/messages/:id/regenerate`) answer with an
 * SSE stream: `message` (ids), `delta` (text), `part` (reasoning, citation, tool call, file), then `done` or
 * `error`; every event carries `id: <seq>` (ARCHITECTURE §12).
 *
 * The reply survives a refresh or a dropped connection: after each event the generation id, the last seq and the
 * text so far are kept in sessionStorage (no secret; per tab), and the stream is picked up again with
 * `GET /api/generations/:gid/events` + `Last-Event-ID`, so only the missing events arrive, exactly once.
 */
import { ApiError, type MessagePart, type MessageStatus, NetworkError, request } from './api';
import { parseProblem } from './problem';
import { createSseParser, type SseEvent } from './sse';

export interface LiveReply {
  conversationId: string;
  generationId: string | null;
  userMessageId: string | null;
  assistantMessageId: string | null;
  /** The parent the user message (or regenerated reply) was sent under. */
  parentId: string | null;
  /** The user's text, shown before the server has echoed the message. */
  userText: string | null;
  text: string;
  parts: MessagePart[];
  status: MessageStatus;
  lastEventId: string | undefined;
  error?: { code?: string | undefined; detail?: string | undefined; status: number } | undefined;
  usage?: Record<string, unknown> | undefined;
  /** True while reconnecting after a drop or a reload. */
  resuming: boolean;
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

function parseData(event: SseEvent): Record<string, unknown> {
  try {
    return record(JSON.parse(event.data));
  } catch {
    return { text: event.data };
  }
}

const terminal = new Set<MessageStatus>(['complete', 'stopped', 'interrupted', 'error']);

/** Applies one SSE event to a reply (pure: returns a new object). */
export function applyEvent(reply: LiveReply, event: SseEvent): LiveReply {
  const data = parseData(event);
  const next: LiveReply = { ...reply, lastEventId: event.id ?? reply.lastEventId };
  switch (event.event) {
    case 'message': {
      const user = record(data.userMessage);
      const assistant = record(data.assistantMessage);
      next.userMessageId = str(data.userMessageId) ?? str(user.id) ?? reply.userMessageId;
      next.assistantMessageId = str(data.assistantMessageId) ?? str(assistant.id) ?? reply.assistantMessageId;
      next.generationId = str(data.generationId) ?? reply.generationId;
      next.conversationId = str(data.conversationId) ?? reply.conversationId;
      return next;
    }
    case 'delta': {
      const text = str(data.text) ?? str(data.delta) ?? str(data.content) ?? '';
      next.text = reply.text + text;
      return next;
    }
    case 'part': {
      const part = record(data.part ?? data);
      if (part.type === 'reasoning') {
        // Reasoning streams as pieces: grow the one reasoning part rather than adding many.
        const text = str(part.text) ?? str(part.delta) ?? '';
        const index = reply.parts.findIndex((p) => p.type === 'reasoning');
        const parts = [...reply.parts];
        if (index === -1) parts.unshift({ type: 'reasoning', text });
        else parts[index] = { type: 'reasoning', text: `${(parts[index] as { text: string }).text}${text}` };
        next.parts = parts;
      } else if (typeof part.type === 'string' && part.type !== 'text') {
        next.parts = [...reply.parts, part as MessagePart];
      } else if (part.type === 'text') {
        next.text = reply.text + (str(part.text) ?? '');
      }
      return next;
    }
    case 'done': {
      const status = str(data.status) as MessageStatus | null;
      next.status = status && terminal.has(status) ? status : 'complete';
      next.usage = record(data.usage);
      next.resuming = false;
      return next;
    }
    case 'error': {
      const problem = parseProblem(data, typeof data.status === 'number' ? data.status : 500);
      next.status = 'error';
      next.error = { code: problem.code, detail: problem.detail ?? problem.title, status: problem.status };
      next.resuming = false;
      return next;
    }
    default:
      return next;
  }
}

// ---------- sessionStorage snapshot (per conversation) ----------

const storageKey = (conversationId: string) => `gz_live:${conversationId}`;

export function saveSnapshot(reply: LiveReply): void {
  try {
    if (terminal.has(reply.status) || !reply.generationId) {
      sessionStorage.removeItem(storageKey(reply.conversationId));
      return;
    }
    const { resuming: _resuming, ...rest } = reply;
    sessionStorage.setItem(storageKey(reply.conversationId), JSON.stringify(rest));
  } catch {
    // storage full or disabled: resume then replays from the start
  }
}

export function loadSnapshot(conversationId: string): LiveReply | null {
  try {
    const raw = sessionStorage.getItem(storageKey(conversationId));
    if (!raw) return null;
    const parsed = JSON.parse(raw) as LiveReply;
    return parsed.generationId ? { ...parsed, resuming: true } : null;
  } catch {
    return null;
  }
}

export function clearSnapshot(conversationId: string): void {
  try {
    sessionStorage.removeItem(storageKey(conversationId));
  } catch {
    // nothing stored
  }
}

// ---------- running a stream ----------

export function newReply(conversationId: string, init: Partial<LiveReply> = {}): LiveReply {
  return {
    conversationId,
    generationId: null,
    userMessageId: null,
    assistantMessageId: null,
    parentId: null,
    userText: null,
    text: '',
    parts: [],
    status: 'streaming',
    lastEventId: undefined,
    resuming: false,
    ...init,
  };
}

export interface StreamHandle {
  /** Resolves with the final reply (terminal status) or rejects with ApiError/NetworkError. */
  done: Promise<LiveReply>;
  abort(): void;
}

type Start = (signal: AbortSignal) => Promise<Response>;

/** Reads one SSE response into `reply`, calling `onUpdate` after each event; returns the reply at stream end. */
async function readStream(
  response: Response,
  reply: LiveReply,
  onUpdate: (reply: LiveReply) => void,
): Promise<LiveReply> {
  if (!response.body) return reply;
  const parser = createSseParser();
  const reader = response.body.getReader();
  let current = reply;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const events = parser.push(value);
      if (events.length === 0) continue;
      for (const event of events) current = applyEvent(current, event);
      onUpdate(current);
    }
  } finally {
    reader.releaseLock();
  }
  return current;
}

const RESUME_DELAYS_MS = [300, 1000, 2000, 4000, 8000];

/**
 * Starts (or resumes) a reply and keeps it alive: when the connection ends before `done`/`error`, it reconnects
 * to `/api/generations/:gid/events` with the last seq, with backoff, until the reply ends.
 */
export function runReply(
  initial: LiveReply,
  start: Start | null,
  onUpdate: (reply: LiveReply) => void,
  options: { fetcher?: typeof fetch; sleep?: (ms: number) => Promise<void> } = {},
): StreamHandle {
  const controller = new AbortController();
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const update = (reply: LiveReply) => {
    saveSnapshot(reply);
    onUpdate(reply);
  };
  const resume = (reply: LiveReply, signal: AbortSignal) =>
    request(`/api/generations/${encodeURIComponent(reply.generationId ?? '')}/events`, {
      headers: { accept: 'text/event-stream', ...(reply.lastEventId ? { 'last-event-id': reply.lastEventId } : {}) },
      signal,
      ...(options.fetcher ? { fetcher: options.fetcher } : {}),
    });

  const done = (async () => {
    let reply = initial;
    let attempt = 0;
    // Progress is kept as it arrives, so a stream that breaks mid-way resumes after its last event.
    const track = (next: LiveReply) => {
      reply = next;
      update(next);
    };
    for (;;) {
      // Until the `message` event names the generation, (re)sending is the only way in; afterwards, resuming.
      const sending = start !== null && !reply.generationId;
      try {
        const response = sending ? await start(controller.signal) : await resume(reply, controller.signal);
        reply = await readStream(response, { ...reply, resuming: false }, track);
        if (terminal.has(reply.status)) {
          update(reply);
          return reply;
        }
        if (!reply.generationId) throw new NetworkError(new Error('stream ended before the generation started'));
        attempt = 0; // the stream made progress and ended cleanly: reconnect at once
      } catch (error) {
        if (controller.signal.aborted) throw error;
        const network = error instanceof NetworkError || error instanceof TypeError;
        if (!network && !(error instanceof ApiError)) throw error;
        // A refused send is final (the API said no); so is a generation the server answers 4xx for.
        if (error instanceof ApiError && (sending || error.status < 500)) {
          clearSnapshot(reply.conversationId);
          throw error;
        }
        // A send lost before its first event is retried with the same Idempotency-Key: never a second message.
        if (!reply.generationId) {
          if (!sending || attempt >= 2) throw error;
          attempt += 1;
          await sleep(RESUME_DELAYS_MS[attempt] ?? 1000);
          continue;
        }
      }
      const delay = RESUME_DELAYS_MS[Math.min(attempt, RESUME_DELAYS_MS.length - 1)] ?? 8000;
      attempt += 1;
      reply = { ...reply, resuming: true };
      onUpdate(reply);
      if (attempt > 1) await sleep(delay);
      if (controller.signal.aborted) throw new DOMException('aborted', 'AbortError');
    }
  })();
  return { done, abort: () => controller.abort() };
}

/**
 * Opens the send request; the response is the SSE stream. `parentId` is always sent: `null` starts a new root (the
 * first message, or an edit of it), where an absent one would mean "after the active leaf" to the API.
 */
export function sendMessageStart(
  conversationId: string,
  body: { content: string; parentId?: string | null; model?: string; options?: Record<string, unknown> },
  idempotencyKey: string,
): Start {
  return (signal) =>
    request(`/api/conversations/${encodeURIComponent(conversationId)}/messages`, {
      method: 'POST',
      body: { ...body, parentId: body.parentId ?? null },
      headers: { accept: 'text/event-stream', 'idempotency-key': idempotencyKey },
      signal,
    });
}

export function regenerateStart(messageId: string, body: { model?: string } = {}): Start {
  return (signal) =>
    request(`/api/messages/${encodeURIComponent(messageId)}/regenerate`, {
      method: 'POST',
      body,
      headers: { accept: 'text/event-stream' },
      signal,
    });
}
