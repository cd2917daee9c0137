import type { Db } from '@genz/db';
import type { ContentPart, GenerationRow, MessageRow } from '@genz/db/schema';
import type { FastifyBaseLogger } from 'fastify';
import type { Actor } from '../../http/actor.ts';
import { DomainError } from '../../http/errors.ts';
import { fromOpenAiUsage } from '../providers/frames.ts';
import type { ChatRequest, Frame, Usage } from '../providers/providers.types.ts';
import type { ProviderRouter } from '../providers/router.ts';
import type { GenerationGuard } from '../rate-limit/generation-guard.ts';
import type { ChatsCache } from './chats.cache.ts';
import * as repo from './chats.repository.ts';
import { isTerminal, type StreamBuffer, type StreamEvent, type StreamEventName } from './chats.stream.ts';

export type TerminalStatus = 'complete' | 'stopped' | 'interrupted' | 'error';

export interface GenerationTimings {
  heartbeatMs: number;
  staleAfterMs: number;
  followerCheckMs: number;
  maxEvents: number;
  /** Text deltas (and reasoning) are merged for up to this long, or until coalesceMaxChars, into one event. */
  coalesceMs: number;
  coalesceMaxChars: number;
}

type Emit = (event: StreamEventName, payload: Record<string, unknown>) => Promise<void>;

/**
 * Merges consecutive text deltas (or reasoning parts) into one event, written when the batch is `windowMs` old or
 * holds `maxChars`, or before any other event (the terminal one included). Only whole events reach the buffer, so
 * sequence numbers, resumes and exactly-once delivery are unchanged; there are just fewer of them (one Redis
 * append, one notification and one SSE write per batch instead of per token). Writes are serialised.
 */
export class DeltaCoalescer {
  private pending: { event: 'delta' | 'part'; reasoning: boolean; text: string } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failed: unknown;
  private readonly windowMs: number;
  private readonly maxChars: number;
  private readonly emit: Emit;

  constructor(windowMs: number, maxChars: number, emit: Emit) {
    this.windowMs = windowMs;
    this.maxChars = maxChars;
    this.emit = emit;
  }

  async push(event: StreamEventName, payload: Record<string, unknown>): Promise<void> {
    if (this.failed !== undefined) throw this.failed;
    const reasoning = event === 'part' && payload.type === 'reasoning';
    const text = typeof payload.text === 'string' && (event === 'delta' || reasoning) ? payload.text : undefined;
    if (text === undefined) {
      await this.flush();
      return this.write(event, payload);
    }
    const p = this.pending;
    if (p && p.event === event && p.reasoning === reasoning) p.text += text;
    else {
      await this.flush();
      this.pending = { event: event as 'delta' | 'part', reasoning, text };
      if (this.windowMs > 0) {
        this.timer = setTimeout(() => {
          this.flush().catch((err: unknown) => {
            this.failed = err;
          });
        }, this.windowMs);
      }
    }
    if (this.windowMs === 0 || (this.pending?.text.length ?? 0) >= this.maxChars) await this.flush();
  }

  /** Writes the batch in progress, if any (idempotent). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.pending;
    this.pending = null;
    if (p) await this.write(p.event, p.reasoning ? { type: 'reasoning', text: p.text } : { text: p.text });
    else await this.chain;
    if (this.failed !== undefined) throw this.failed;
  }

  private write(event: StreamEventName, payload: Record<string, unknown>): Promise<void> {
    const done = this.chain.then(() => this.emit(event, payload));
    this.chain = done.catch(() => {});
    return done;
  }
}

/** Stores a worker's event for, and hands it to, the followers in its process. */
function deliver(running: Running, ev: StreamEvent): void {
  running.events.push(ev);
  for (const l of running.listeners) l(ev);
}

/** Rebuilds the content parts of a reply from its events (the worker, the reaper and tests share it). */
export class ReplyAccumulator {
  text = '';
  reasoning = '';
  readonly toolCalls = new Map<number, { id: string; name: string; arguments: string }>();
  readonly extra: ContentPart[] = [];

  apply(event: StreamEvent): void {
    if (event.event === 'delta') {
      this.text += (JSON.parse(event.data) as { text: string }).text;
    } else if (event.event === 'part') {
      const part = JSON.parse(event.data) as Record<string, unknown>;
      if (part.type === 'reasoning' && typeof part.text === 'string') this.reasoning += part.text;
      else if (part.type === 'tool_call' && typeof part.index === 'number') {
        const call = this.toolCalls.get(part.index) ?? { id: '', name: '', arguments: '' };
        if (typeof part.id === 'string') call.id = part.id;
        if (typeof part.name === 'string') call.name += part.name;
        if (typeof part.arguments === 'string') call.arguments += part.arguments;
        this.toolCalls.set(part.index, call);
      } else this.extra.push(part as ContentPart);
    }
  }

  parts(): ContentPart[] {
    const out: ContentPart[] = [];
    if (this.reasoning) out.push({ type: 'reasoning', text: this.reasoning });
    if (this.text) out.push({ type: 'text', text: this.text });
    for (const [, c] of [...this.toolCalls].sort((a, b) => a[0] - b[0])) out.push({ type: 'tool_call', ...c });
    out.push(...this.extra);
    return out;
  }
}

/**
 * The terminal event, built only from the finished rows, so the worker, the reaper and a follower that finds the
 * generation finished without its event all produce the same bytes.
 */
export function terminalEvent(
  gen: Pick<GenerationRow, 'id' | 'status'>,
  msg: repo.FinishedMessage,
  seq: number,
): StreamEvent {
  const status = gen.status === 'streaming' ? 'interrupted' : gen.status;
  if (status === 'error') {
    return {
      seq,
      event: 'error',
      data: JSON.stringify({
        status,
        generationId: gen.id,
        messageId: msg.id,
        code: msg.error?.code ?? 'internal',
        detail: msg.error?.detail ?? 'The reply failed.',
      }),
    };
  }
  return {
    seq,
    event: 'done',
    data: JSON.stringify({
      status,
      generationId: gen.id,
      messageId: msg.id,
      model: msg.model,
      provider: msg.provider,
      deployment: msg.deployment,
      usage: { inputTokens: msg.tokensIn ?? 0, outputTokens: msg.tokensOut ?? 0 },
      costUsd: msg.costUsd ?? 0,
    }),
  };
}

interface Running {
  actor: Actor;
  controller: AbortController;
  stopRequested: boolean;
  /**
   * The events this worker stored, in order, and the followers in this process: they read and hear them here,
   * with no Redis round trip (the buffer still gets every event, for resumes on any replica).
   */
  events: StreamEvent[];
  listeners: Set<(event: StreamEvent) => void>;
}

export interface StartInput {
  actor: Actor;
  generation: GenerationRow;
  request: ChatRequest;
  /** The `message` event payload (seq 1). */
  messageEvent: Record<string, unknown>;
  /** The generation slot and token reservation (modules/rate-limit): settled by the router, released at the end. */
  guard: GenerationGuard;
  /** Runs after the reply is final (title generation), with the content just stored (no need to read it back). */
  onFinished?: (status: TerminalStatus, content: ContentPart[]) => Promise<void>;
}

/**
 * Runs generations server-side, decoupled from any HTTP connection: the worker streams from the AI router into the
 * stream buffer, beats a heartbeat (and checkpoints the text) into the database, and persists the final message.
 * Followers (the sender's SSE and any resume, on any replica) read the buffer. A reaper finishes the generations
 * whose worker died as `interrupted`, keeping the text.
 */
export class GenerationManager {
  private readonly running = new Map<string, Running>();
  private readonly db: Db;
  private readonly providers: ProviderRouter;
  private readonly buffer: StreamBuffer;
  private readonly chatCache: ChatsCache;
  private readonly timings: GenerationTimings;
  private readonly log: FastifyBaseLogger;
  readonly owner: string;
  private readonly unsubscribeStop: () => void;
  private readonly tasks = new Set<Promise<void>>();
  private closing = false;

  constructor(deps: {
    db: Db;
    providers: ProviderRouter;
    buffer: StreamBuffer;
    chatCache: ChatsCache;
    timings: GenerationTimings;
    log: FastifyBaseLogger;
    owner: string;
  }) {
    this.db = deps.db;
    this.providers = deps.providers;
    this.buffer = deps.buffer;
    this.chatCache = deps.chatCache;
    this.timings = deps.timings;
    this.log = deps.log;
    this.owner = deps.owner;
    this.unsubscribeStop = this.buffer.onStop((gid) => this.stopLocal(gid));
  }

  /** Generations this replica runs right now. */
  get active(): number {
    return this.running.size;
  }

  private stopLocal(gid: string): void {
    const r = this.running.get(gid);
    if (!r) return;
    r.stopRequested = true;
    r.controller.abort(new DomainError('bad_request', 'stopped by the user'));
  }

  /**
   * Hands the `message` event to this process's followers and starts the worker, which appends that event to the
   * buffer before anything else. Resolves at once: the sender's stream gets `message` without waiting for the
   * buffer. This is the one event delivered before it is stored: a new stream has no writer to fence it (the
   * append cannot be refused), and a follower elsewhere that subscribes before it lands fills the hole from the
   * buffer, as for any late notification. A failed append is logged, as before, and the reply goes on.
   */
  start(input: StartInput): void {
    const gid = input.generation.id;
    const running: Running = {
      actor: input.actor,
      controller: new AbortController(),
      stopRequested: false,
      events: [],
      listeners: new Set(),
    };
    this.running.set(gid, running);
    const ev: StreamEvent = { seq: 1, event: 'message', data: JSON.stringify(input.messageEvent) };
    deliver(running, ev);
    const task = this.buffer
      .append(gid, ev)
      .catch((err: unknown) => this.log.warn({ err, generationId: gid }, 'stream buffer append failed'))
      .then(() => this.run(input, running))
      .finally(() => {
        this.running.delete(gid);
        this.tasks.delete(task);
      });
    this.tasks.add(task);
  }

  private async run(input: StartInput, running: Running): Promise<void> {
    const { actor, generation } = input;
    const gid = generation.id;
    const acc = new ReplyAccumulator();
    let seq = 1;
    let fenced = false;
    let bufferFailed = false;
    let checkpointed = '';

    const emit = async (event: StreamEventName, payload: Record<string, unknown>) => {
      if (fenced) return;
      const ev: StreamEvent = { seq: seq + 1, event, data: JSON.stringify(payload) };
      if (ev.seq >= this.timings.maxEvents) {
        throw new DomainError(
          'payload_too_large',
          'The reply exceeded the stream buffer bound (chats.streamMaxEvents).',
        );
      }
      seq = ev.seq;
      acc.apply(ev);
      try {
        if (!(await this.buffer.append(gid, ev))) {
          fenced = true;
          running.controller.abort(new DomainError('conflict', 'generation taken over'));
          return;
        }
      } catch (err) {
        if (!bufferFailed)
          this.log.warn({ err, generationId: gid }, 'stream buffer append failed; other replicas may stall');
        bufferFailed = true;
      }
      deliver(running, ev);
    };

    const beat = async () => {
      try {
        const alive = await repo.heartbeatGeneration(this.db, actor, gid, this.owner, new Date());
        if (!alive) {
          fenced = true;
          running.controller.abort(new DomainError('conflict', 'generation taken over'));
          return;
        }
        const snapshot = JSON.stringify(acc.parts());
        if (snapshot !== checkpointed) {
          await repo.updateStreamingMessage(this.db, actor, generation.assistantMessageId, { content: acc.parts() });
          checkpointed = snapshot;
          // The checkpointed text is in the reply row, so in the cached messages page (a reload shows it).
          await this.chatCache.changed(actor.userId);
        }
        if (!running.stopRequested && (await this.buffer.stopRequested(gid))) this.stopLocal(gid);
      } catch (err) {
        this.log.warn({ err, generationId: gid }, 'generation heartbeat failed');
      }
    };
    const heartbeat = setInterval(() => void beat(), this.timings.heartbeatMs);
    const out = new DeltaCoalescer(this.timings.coalesceMs, this.timings.coalesceMaxChars, emit);

    let status: TerminalStatus = 'complete';
    let error: { code: string; detail: string } | null = null;
    let usage: Usage = { inputTokens: 0, outputTokens: 0 };
    let deployment: { id: string; provider: string; model: string; price: { input: number; output: number } } | null =
      null;
    try {
      const result = await this.providers.streamChat(
        { ...input.request, stream: true, stream_options: { include_usage: true } },
        {
          requestId: gid,
          actor,
          startNs: process.hrtime.bigint(),
          signal: running.controller.signal,
          endpoint: 'chat.completions',
          onUsage: input.guard.onUsage,
        },
      );
      deployment = result.deployment;
      for await (const frame of result.frames) {
        usage = fromOpenAiUsage(frame.chunk.usage) ?? usage;
        await this.relayFrame(frame, (event, payload) => out.push(event, payload));
      }
      await out.flush();
      if (running.stopRequested) status = 'stopped';
    } catch (err) {
      if (running.stopRequested) status = 'stopped';
      else if (this.closing) status = 'interrupted';
      else if (!fenced) {
        status = 'error';
        const d = err instanceof DomainError ? err : null;
        error = d
          ? { code: d.code, detail: d.message }
          : {
              code: 'upstream_unavailable',
              detail: `The model stream failed after it started (${(err as Error).message}); the reply is incomplete.`,
            };
        if (!d) this.log.warn({ err, generationId: gid }, 'generation failed');
      }
    } finally {
      clearInterval(heartbeat);
      // The text received before a stop or a failure is kept (a failing write was logged or ended the reply).
      await out.flush().catch(() => {});
      // Frees the slot; refunds the reservation only when no model answered (the router settled it otherwise).
      await input.guard.release();
    }
    if (fenced) return; // the reaper finished it; writing now would contradict what followers saw

    const cost = deployment
      ? usage.inputTokens * deployment.price.input + usage.outputTokens * deployment.price.output
      : 0;
    const content = acc.parts();
    const finished = await this.finish(actor, generation, {
      status,
      content,
      seq: seq + 1,
      guard: { owner: this.owner },
      message: {
        model: input.request.model,
        provider: deployment?.provider ?? null,
        deployment: deployment?.id ?? null,
        tokensIn: usage.inputTokens,
        tokensOut: usage.outputTokens,
        costUsd: cost,
        error,
      },
    }).catch((err: unknown) => {
      this.log.error({ err, generationId: gid }, 'could not persist the final reply; the reaper will retry');
      return undefined;
    });
    if (finished && input.onFinished) {
      await input
        .onFinished(status, content)
        .catch((err: unknown) => this.log.warn({ err }, 'after-reply hook failed'));
    }
  }

  private async relayFrame(frame: Frame, emit: Emit): Promise<void> {
    const delta = frame.chunk.choices?.[0]?.delta;
    if (!delta) return;
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === 'string' && reasoning.length > 0)
      await emit('part', { type: 'reasoning', text: reasoning });
    if (typeof delta.content === 'string' && delta.content.length > 0) await emit('delta', { text: delta.content });
    for (const call of delta.tool_calls ?? []) {
      await emit('part', {
        type: 'tool_call',
        index: call.index,
        ...(call.id ? { id: call.id } : {}),
        ...(call.function?.name ? { name: call.function.name } : {}),
        ...(call.function?.arguments ? { arguments: call.function.arguments } : {}),
      });
    }
  }

  /**
   * Persists the final message and generation state in one statement (guarded: only a still-live generation
   * finishes; repo.finishReply), then appends the terminal event built from those rows.
   */
  private async finish(
    actor: Actor,
    generation: GenerationRow,
    f: {
      status: TerminalStatus;
      content: ContentPart[];
      seq: number;
      guard: { owner: string } | { staleBefore: Date };
      message: Partial<
        Pick<MessageRow, 'model' | 'provider' | 'deployment' | 'tokensIn' | 'tokensOut' | 'costUsd' | 'error'>
      >;
    },
  ): Promise<StreamEvent | undefined> {
    const rows = await repo.finishReply(
      this.db,
      actor,
      generation,
      { status: f.status, lastSeq: f.seq, at: new Date(), content: f.content, message: f.message },
      f.guard,
    );
    if (!rows) return undefined;
    await this.chatCache.changed(actor.userId); // the reply's final row; the conversation moved up (updated_at)
    const ev = terminalEvent(rows.generation, rows.message, f.seq);
    const stored = await this.buffer.append(generation.id, ev).catch((err: unknown) => {
      this.log.warn({ err, generationId: generation.id }, 'terminal event not buffered; followers read the row');
      return true;
    });
    // The worker's own followers (the reaper runs no generation of this process).
    const running = 'owner' in f.guard ? this.running.get(generation.id) : undefined;
    if (running && stored) deliver(running, ev);
    return ev;
  }

  /** Asks the generation to stop, wherever it runs. */
  async stop(gid: string): Promise<void> {
    this.stopLocal(gid);
    await this.buffer.requestStop(gid);
  }

  /**
   * Events of a generation after `after`, exactly once and in order: the stored ones, then live ones as they come.
   * Ends after the terminal event, or when `signal` aborts. Gaps (a lost notification) are filled from the buffer;
   * when nothing arrives for followerCheckMs the generation row is read, so a finished generation whose terminal
   * event never reached the buffer still ends the stream (with the event rebuilt from the row).
   */
  async *follow(actor: Actor, gid: string, after: number, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const queue: StreamEvent[] = [];
    let wake: (() => void) | undefined;
    const listener = (ev: StreamEvent) => {
      queue.push(ev);
      wake?.();
    };
    // A generation this process runs (the sender's own stream, always) is followed here, without Redis: its
    // events reach `local` only once stored in the buffer. If its worker ends without the terminal event (fenced
    // by another replica's reaper), the buffer and the row take over below.
    const local = this.running.get(gid);
    let unsubscribe: () => void;
    if (local) {
      local.listeners.add(listener);
      unsubscribe = () => local.listeners.delete(listener);
    } else unsubscribe = await this.buffer.subscribe(gid, listener);
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    const buffer = this.buffer;
    const running = this.running;
    const localLive = () => local !== undefined && running.get(gid) === local;
    let last = after;
    const stored = async (): Promise<StreamEvent[]> => {
      if (local) {
        const mine = local.events.filter((ev) => ev.seq > last);
        if (mine.length > 0 || localLive()) return mine;
      }
      return buffer.range(gid, last);
    };
    // The next events stored in the buffer, as long as they follow on without a hole (never skip ahead).
    async function* contiguous(): AsyncGenerator<StreamEvent> {
      for (const ev of await stored()) {
        if (ev.seq !== last + 1) return;
        last = ev.seq;
        yield ev;
      }
    }
    const wait = () =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), this.timings.followerCheckMs);
        wake = () => {
          clearTimeout(timer);
          resolve(false);
        };
      }).finally(() => {
        wake = undefined;
      });
    try {
      for await (const ev of contiguous()) {
        yield ev;
        if (isTerminal(ev)) return;
      }
      if (last === after && !localLive()) {
        // Nothing buffered: a generation that finished long ago (its log expired) answers from its row at once.
        const ending = await this.endingOf(actor, gid, last, queue);
        if (ending) {
          yield* ending;
          return;
        }
      }
      while (!signal.aborted) {
        queue.sort((a, b) => a.seq - b.seq);
        while (queue.length > 0 && (queue[0]?.seq ?? 0) <= last + 1) {
          const ev = queue.shift();
          if (!ev || ev.seq <= last) continue;
          last = ev.seq;
          yield ev;
          if (isTerminal(ev)) return;
        }
        if (queue.length > 0) {
          // A hole before the queued events (a lost notification): fill it from the buffer.
          for await (const ev of contiguous()) {
            yield ev;
            if (isTerminal(ev)) return;
          }
          if ((queue[0]?.seq ?? 0) <= last + 1) continue;
        }
        const timedOut = await wait();
        if (signal.aborted) return;
        if (!timedOut) continue;
        const before = last;
        for await (const ev of contiguous()) {
          yield ev;
          if (isTerminal(ev)) return;
        }
        if (last !== before) continue;
        if (localLive()) continue; // its worker is here and alive: it will deliver the terminal event
        // Nothing new for a while: has the generation finished (its worker may have died)?
        const ending = await this.endingOf(actor, gid, last, queue);
        if (!ending) continue;
        yield* ending;
        return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  }

  /**
   * When the generation has finished: what the buffer still holds past a hole that will never fill, then the
   * terminal event (rebuilt from the row if it never reached the buffer). Undefined while it still runs.
   */
  private async endingOf(
    actor: Actor,
    gid: string,
    after: number,
    queue: StreamEvent[],
  ): Promise<StreamEvent[] | undefined> {
    const gen = await repo.getGeneration(this.db, actor, gid);
    if (!gen || gen.status === 'streaming') return undefined;
    const rest = new Map<number, StreamEvent>();
    for (const ev of [...(await this.buffer.range(gid, after)), ...queue]) if (ev.seq > after) rest.set(ev.seq, ev);
    const out: StreamEvent[] = [];
    let last = after;
    for (const ev of [...rest.values()].sort((a, b) => a.seq - b.seq)) {
      out.push(ev);
      last = ev.seq;
      if (isTerminal(ev)) return out;
    }
    const synthetic = await this.finishedWithoutEvent(actor, gid, last);
    if (synthetic) out.push(synthetic);
    return out;
  }

  private async finishedWithoutEvent(actor: Actor, gid: string, last: number): Promise<StreamEvent | undefined> {
    const gen = await repo.getGeneration(this.db, actor, gid);
    if (!gen || gen.status === 'streaming') return undefined;
    const msg = await repo.getMessage(this.db, actor, gen.assistantMessageId);
    if (!msg) return undefined;
    return terminalEvent(gen, msg, Math.max(last + 1, gen.lastSeq));
  }

  /**
   * The reaper: generations whose heartbeat is older than staleAfterMs are finished as `interrupted` with the text
   * the buffer holds (or the last checkpoint, without Redis). Every replica runs it; the guarded update makes one
   * of them win each generation.
   */
  async reap(now = new Date()): Promise<number> {
    const staleBefore = new Date(now.getTime() - this.timings.staleAfterMs);
    const stale = await repo.systemStaleGenerations(this.db, staleBefore, 100);
    let reaped = 0;
    for (const gen of stale) {
      if (this.running.has(gen.id)) continue; // ours and alive (a slow heartbeat); it will beat again
      const actor: Actor = { userId: gen.userId, role: 'user', plan: '', scopes: [], via: 'session' };
      const events = await this.buffer.range(gen.id, 0).catch(() => [] as StreamEvent[]);
      let content: ContentPart[] | undefined;
      let lastSeq = 0;
      if (events.length > 0) {
        const acc = new ReplyAccumulator();
        for (const ev of events) {
          if (ev.seq !== lastSeq + 1 || isTerminal(ev)) break;
          acc.apply(ev);
          lastSeq = ev.seq;
        }
        content = acc.parts();
      }
      if (!content) {
        const msg = await repo.getMessage(this.db, actor, gen.assistantMessageId);
        content = msg?.content ?? [];
        lastSeq = Math.max(lastSeq, 1);
      }
      const done = await this.finish(actor, gen, {
        status: 'interrupted',
        content,
        seq: lastSeq + 1,
        guard: { staleBefore },
        message: {},
      }).catch((err: unknown) => {
        this.log.warn({ err, generationId: gen.id }, 'reaper could not finish a generation');
        return undefined;
      });
      if (done) {
        reaped++;
        this.log.info({ generationId: gen.id, owner: gen.owner }, 'generation interrupted: its worker stopped');
      }
    }
    return reaped;
  }

  /**
   * Shutdown: running generations get `graceMs` to finish; the rest are stopped and persisted as `interrupted`
   * with their text (rather than waiting for another replica's reaper).
   */
  async close(graceMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.unsubscribeStop();
    if (this.tasks.size > 0) {
      await Promise.race([Promise.allSettled([...this.tasks]), new Promise((r) => setTimeout(r, graceMs))]);
    }
    for (const [, r] of this.running) r.controller.abort(new DomainError('unavailable', 'server shutting down'));
    await Promise.allSettled([...this.tasks]);
  }
}
