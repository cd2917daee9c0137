import type { Redis } from 'ioredis';
import type { RedisClient } from '../../infra/redis.ts';

/** The SSE events of a generation (ARCHITECTURE §12). `data` is the serialised JSON written to every client. */
export type StreamEventName = 'message' | 'delta' | 'part' | 'done' | 'error';

export interface StreamEvent {
  /** Counts up from 1 within the generation; the SSE `id:`. */
  seq: number;
  event: StreamEventName;
  data: string;
}

export const isTerminal = (e: StreamEvent): boolean => e.event === 'done' || e.event === 'error';

/**
 * Where a generation's events live while clients follow it: a Redis stream per generation when Redis is configured
 * (any replica can replay and follow it), an in-process buffer otherwise. Entry ids are `0-<seq>`, so an append
 * with a seq that already exists fails: a worker fenced off by the reaper can never interleave with it.
 */
export interface StreamBuffer {
  /** Appends the next event; false when that seq already exists (someone else wrote it). */
  append(gid: string, event: StreamEvent): Promise<boolean>;
  /** Stored events with seq > after, in order ([] when none or expired). */
  range(gid: string, after: number): Promise<StreamEvent[]>;
  /**
   * Live notifications of appended events. Delivery may duplicate or (over Redis pub/sub, during a reconnect) lose
   * events: followers dedupe on seq and fill gaps from range().
   */
  subscribe(gid: string, listener: (event: StreamEvent) => void): Promise<() => void>;
  /** Asks whichever replica runs the generation to stop it. */
  requestStop(gid: string): Promise<void>;
  /** True once a stop was requested (the worker also polls this, in case the notification was lost). */
  stopRequested(gid: string): Promise<boolean>;
  onStop(listener: (gid: string) => void): () => void;
  close(): Promise<void>;
}

export interface StreamBufferOptions {
  ttlSec: number;
  maxEvents: number;
}

// ---------------- in memory ----------------

interface MemoryEntry {
  events: StreamEvent[];
  listeners: Set<(e: StreamEvent) => void>;
  stopped: boolean;
  expires: number;
}

export function memoryStreamBuffer(opts: StreamBufferOptions & { maxGenerations: number }): StreamBuffer {
  const entries = new Map<string, MemoryEntry>();
  const stopListeners = new Set<(gid: string) => void>();

  function entry(gid: string): MemoryEntry {
    let e = entries.get(gid);
    if (!e) {
      e = { events: [], listeners: new Set(), stopped: false, expires: Date.now() + opts.ttlSec * 1000 };
      entries.set(gid, e);
      sweep();
    }
    return e;
  }

  // Expired buffers go first, then the oldest finished ones past the bound (never a live one with followers).
  function sweep() {
    const now = Date.now();
    for (const [gid, e] of entries) if (e.expires <= now && e.listeners.size === 0) entries.delete(gid);
    if (entries.size <= opts.maxGenerations) return;
    for (const [gid, e] of entries) {
      if (entries.size <= opts.maxGenerations) break;
      const last = e.events.at(-1);
      if (e.listeners.size === 0 && last && isTerminal(last)) entries.delete(gid);
    }
  }
  const timer = setInterval(sweep, 30_000);
  timer.unref();

  return {
    async append(gid, event) {
      const e = entry(gid);
      const last = e.events.at(-1);
      if (last && last.seq >= event.seq) return false;
      if (e.events.length >= opts.maxEvents) e.events.shift();
      e.events.push(event);
      e.expires = Date.now() + opts.ttlSec * 1000;
      for (const l of e.listeners) l(event);
      return true;
    },
    async range(gid, after) {
      const e = entries.get(gid);
      if (!e) return [];
      return e.events.filter((ev) => ev.seq > after);
    },
    async subscribe(gid, listener) {
      const e = entry(gid);
      e.listeners.add(listener);
      return () => {
        e.listeners.delete(listener);
      };
    },
    async requestStop(gid) {
      entry(gid).stopped = true;
      for (const l of stopListeners) l(gid);
    },
    async stopRequested(gid) {
      return entries.get(gid)?.stopped ?? false;
    },
    onStop(listener) {
      stopListeners.add(listener);
      return () => {
        stopListeners.delete(listener);
      };
    },
    async close() {
      clearInterval(timer);
      entries.clear();
    },
  };
}

// ---------------- Redis ----------------

// XADD with an explicit id fails when the id is not above the stream's top: the append is then refused (fencing).
// The publish happens only after a successful XADD, so a refused writer's event never reaches followers.
const APPEND_LUA = `
local ok, err = pcall(redis.call, 'XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[2], 'e', ARGV[3], 'd', ARGV[4])
if not ok then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
`;

type AppendCommand = (
  key: string,
  maxLen: string,
  id: string,
  event: string,
  data: string,
  ttl: string,
  channel: string,
  message: string,
) => Promise<number>;

/**
 * Redis streams + pub/sub. `client` runs commands (it has the key prefix); `subscriber` is a separate connection
 * in subscriber mode, shared by every follower and the stop listener of this process. Channels are not keys, so
 * they carry the prefix explicitly.
 */
export function redisStreamBuffer(
  opts: StreamBufferOptions & { client: RedisClient; subscriber: RedisClient; keyPrefix: string },
): StreamBuffer {
  const { client, subscriber, keyPrefix } = opts;
  if (!('chatStreamAppend' in client)) {
    (client as Redis).defineCommand('chatStreamAppend', { numberOfKeys: 1, lua: APPEND_LUA });
  }
  const appendCmd = (client as unknown as { chatStreamAppend: AppendCommand }).chatStreamAppend.bind(client);
  const streamKey = (gid: string) => `gen:${gid}`;
  const stopKey = (gid: string) => `gen:${gid}:stop`;
  const channel = (gid: string) => `${keyPrefix}gen:${gid}`;
  const stopChannel = `${keyPrefix}gen-stop`;

  const listeners = new Map<string, Set<(e: StreamEvent) => void>>();
  const subscribed = new Map<string, Promise<unknown>>();
  const stopListeners = new Set<(gid: string) => void>();
  const local = (gid: string, event: StreamEvent) => {
    for (const l of listeners.get(gid) ?? []) l(event);
  };

  subscriber.on('message', (ch: string, message: string) => {
    if (ch === stopChannel) {
      for (const l of stopListeners) l(message);
      return;
    }
    if (!ch.startsWith(`${keyPrefix}gen:`)) return;
    const gid = ch.slice(keyPrefix.length + 4);
    try {
      const parsed = JSON.parse(message) as StreamEvent;
      local(gid, parsed);
    } catch {
      // not ours
    }
  });
  const stopSubscribed = subscriber.subscribe(stopChannel).catch(() => {});

  function toEvents(entries: [string, string[]][]): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (const [id, fields] of entries) {
      const seq = Number(id.split('-')[1]);
      let event = '';
      let data = '';
      for (let i = 0; i + 1 < fields.length; i += 2) {
        if (fields[i] === 'e') event = fields[i + 1] ?? '';
        else if (fields[i] === 'd') data = fields[i + 1] ?? '';
      }
      out.push({ seq, event: event as StreamEventName, data });
    }
    return out;
  }

  return {
    async append(gid, event) {
      const ok = await appendCmd(
        streamKey(gid),
        String(opts.maxEvents),
        `0-${event.seq}`,
        event.event,
        event.data,
        String(opts.ttlSec),
        channel(gid),
        JSON.stringify(event),
      );
      return ok === 1;
    },
    async range(gid, after) {
      const entries = (await client.xrange(streamKey(gid), `0-${after + 1}`, '+')) as [string, string[]][];
      return toEvents(entries);
    },
    async subscribe(gid, listener) {
      let set = listeners.get(gid);
      if (!set) {
        set = new Set();
        listeners.set(gid, set);
        // A failed subscription only costs latency: followers poll range() when idle.
        subscribed.set(
          gid,
          subscriber.subscribe(channel(gid)).catch(() => {}),
        );
      }
      set.add(listener);
      await subscribed.get(gid);
      return () => {
        const s = listeners.get(gid);
        if (!s) return;
        s.delete(listener);
        if (s.size === 0) {
          listeners.delete(gid);
          subscribed.delete(gid);
          subscriber.unsubscribe(channel(gid)).catch(() => {});
        }
      };
    },
    async requestStop(gid) {
      await client.set(stopKey(gid), '1', 'EX', opts.ttlSec);
      await client.publish(stopChannel, gid);
    },
    async stopRequested(gid) {
      return (await client.exists(stopKey(gid))) === 1;
    },
    onStop(listener) {
      stopListeners.add(listener);
      return () => {
        stopListeners.delete(listener);
      };
    },
    async close() {
      await stopSubscribed;
      listeners.clear();
      stopListeners.clear();
    },
  };
}
