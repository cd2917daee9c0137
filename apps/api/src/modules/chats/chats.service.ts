import { createHash, randomBytes } from 'node:crypto';
import { type ConversationDto, decodeCursor, encodeCursor } from '@genz/contracts';
import { type Db, uuidv7 } from '@genz/db';
import type { ChatSettings, ContentPart, PresetRow, ShareSnapshot } from '@genz/db/schema';
import type { FastifyBaseLogger } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import type { Actor } from '../../http/actor.ts';
import { DomainError } from '../../http/errors.ts';
import type { ChatMessage, ChatRequest } from '../providers/providers.types.ts';
import { estimateTokens, type ProviderRouter } from '../providers/router.ts';
import { reserveGeneration } from '../rate-limit/generation-guard.ts';
import type { LimitsService } from '../rate-limit/limits.service.ts';
import type { ChatsCache } from './chats.cache.ts';
import {
  conversationNotFound,
  generationNotFound,
  invalidCursor,
  messageNotFound,
  presetNotFound,
  shareNotFound,
} from './chats.errors.ts';
import type { GenerationManager } from './chats.generations.ts';
import * as repo from './chats.repository.ts';
import type { StreamEvent } from './chats.stream.ts';

export type ChatsConfig = AppConfig['chats'];

export interface ChatsContext {
  db: Db;
  providers: ProviderRouter;
  generations: GenerationManager;
  /** Per-plan limits (modules/rate-limit): the generation cap and token/cost reservations /v1 uses too. */
  limits: LimitsService;
  /** First pages (conversation lists, messages); every write below to the user's chats calls `changed` after it commits. */
  chatCache: ChatsCache;
  config: ChatsConfig;
  log: FastifyBaseLogger;
  clock?: () => Date;
}

export interface GenerationOptions {
  temperature?: number;
  maxTokens?: number;
  topP?: number;
}

export interface SendInput {
  content: string;
  parentId?: string | null;
  model?: string;
  options?: GenerationOptions;
}

export interface StartedGeneration {
  generationId: string;
  conversationId: string;
  userMessageId: string | null;
  assistantMessageId: string;
  /** True when an Idempotency-Key matched an earlier send: nothing new was created. */
  replayed: boolean;
}

/** A conversation as the API serialises it (the shared contract). */
export type ConversationView = ConversationDto;

export interface MessageView {
  id: string;
  conversationId: string;
  parentId: string | null;
  role: repo.MessageView['role'];
  content: ContentPart[];
  status: repo.MessageView['status'];
  generationId: string | null;
  model: string | null;
  provider: string | null;
  tokensIn: number | null;
  tokensOut: number | null;
  costUsd: number | null;
  error: { code: string; detail: string } | null;
  createdAt: string;
  /** Every message under the same parent (this one included), oldest first: the branches to switch between. */
  siblingIds: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
/** `siblingIds` of a listed message name at most this many branches (the oldest). */
const MAX_SIBLINGS = 100;

export const conversationView = (c: repo.Conversation): ConversationView => ({
  id: c.id,
  title: c.title,
  pinned: c.pinned,
  archived: c.archivedAt !== null,
  settings: c.settings,
  activeLeafId: c.activeLeafId,
  createdAt: c.createdAt.toISOString(),
  updatedAt: c.updatedAt.toISOString(),
});

export const presetView = (p: PresetRow) => ({
  id: p.id,
  name: p.name,
  settings: p.settings,
  createdAt: p.createdAt.toISOString(),
  updatedAt: p.updatedAt.toISOString(),
});

const textOf = (parts: ContentPart[]) =>
  parts
    .filter((p): p is Extract<ContentPart, { type: 'text' }> => p.type === 'text')
    .map((p) => p.text)
    .join('');

/** A title from the first message: its first line, cut at a word boundary. No model call. */
export function heuristicTitle(content: string, max: number): string {
  const line = (content.split('\n').find((l) => l.trim() !== '') ?? '').replace(/\s+/g, ' ').trim();
  const limit = Math.min(max, 60);
  if (line.length <= limit) return line || 'New chat';
  const cut = line.slice(0, limit);
  const space = cut.lastIndexOf(' ');
  return `${(space > limit / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

/** Prefix search: every word of the query must start a word of the text. Only letters and digits survive. */
export function toPrefixQuery(q: string): string | null {
  const terms = (
    q
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  ).slice(0, 10);
  if (terms.length === 0) return null;
  return terms.map((t) => `${t}:*`).join(' & ');
}

/**
 * The chats service: verbs that take the actor explicitly and know nothing about HTTP. Writes that must agree
 * (a user message, its assistant placeholder, the generation, the conversation's leaf) share one transaction.
 */
export function createChatsService(ctx: ChatsContext) {
  const { db, config } = ctx;
  const now = ctx.clock ?? (() => new Date());

  async function conversationOr404(actor: Actor, id: string, tx: Db = db) {
    if (!isUuid(id)) throw conversationNotFound();
    const c = await repo.getConversation(tx, actor, id);
    if (!c) throw conversationNotFound();
    return c;
  }

  function checkSettings(settings: ChatSettings | undefined) {
    if (!settings) return;
    if ((settings.systemPrompt?.length ?? 0) > config.maxSystemPromptChars) {
      throw new DomainError(
        'validation_failed',
        `The system prompt is longer than ${config.maxSystemPromptChars} characters.`,
        { errors: [{ path: 'body.settings.systemPrompt', message: 'is too long' }] },
      );
    }
    if (settings.model !== undefined) ctx.providers.resolve(settings.model);
  }

  function checkTitle(title: string): string {
    const t = title.trim();
    if (t.length === 0 || t.length > config.maxTitleChars) {
      throw new DomainError('validation_failed', `A title has 1 to ${config.maxTitleChars} characters.`, {
        errors: [{ path: 'body.title', message: 'has a bad length' }],
      });
    }
    return t;
  }

  function checkContent(content: string) {
    if (content.trim().length === 0) {
      throw new DomainError('validation_failed', 'The message is empty.', {
        errors: [{ path: 'body.content', message: 'must not be empty' }],
      });
    }
    if (content.length > config.maxMessageChars) {
      throw new DomainError(
        'payload_too_large',
        `The message has ${content.length} characters; the limit is ${config.maxMessageChars}.`,
      );
    }
  }

  function modelFor(actor: Actor, conversation: repo.Conversation, requested?: string): string {
    const model = requested ?? conversation.settings.model ?? config.defaultModel ?? ctx.providers.aliases()[0]?.name;
    if (!model) throw new DomainError('model_not_found', 'No model is configured.');
    // model_not_found (400) and a model outside the user's plan (403) before anything is written
    ctx.providers.assertAllowed(actor, ctx.providers.resolve(model).name);
    return model;
  }

  function messageView(m: repo.PageMessage): MessageView {
    return {
      id: m.id,
      conversationId: m.conversationId,
      parentId: m.parentId,
      role: m.role,
      content: m.content,
      status: m.status,
      generationId: m.generationId,
      model: m.model,
      provider: m.provider,
      tokensIn: m.tokensIn,
      tokensOut: m.tokensOut,
      costUsd: m.costUsd,
      error: m.error,
      createdAt: m.createdAt.toISOString(),
      siblingIds: m.siblingIds,
    };
  }

  /** A branch page (newest first, as read) as the API answers it: oldest first, the cursor on the oldest's parent. */
  function branchPageView(rows: repo.PageMessage[], limit: number) {
    const oldest = rows.at(-1);
    return {
      items: rows.reverse().map(messageView),
      nextCursor: oldest?.parentId && rows.length === limit ? encodeCursor([oldest.parentId]) : null,
    };
  }

  function historyOf(branch: repo.HistoryMessage[], settings: ChatSettings): ChatMessage[] {
    const out: ChatMessage[] = [];
    if (settings.systemPrompt) out.push({ role: 'system', content: settings.systemPrompt });
    for (const m of branch) {
      const text = textOf(m.content);
      if (m.role === 'system' || text === '') continue;
      out.push({ role: m.role === 'assistant' ? 'assistant' : 'user', content: text });
    }
    return out;
  }

  function requestFor(model: string, history: ChatMessage[], settings: ChatSettings, options?: GenerationOptions) {
    const p = { ...settings.params, ...options };
    const body: ChatRequest = { model, messages: history };
    if (p.temperature !== undefined) body.temperature = p.temperature;
    if (p.topP !== undefined) body.top_p = p.topP;
    if (p.maxTokens !== undefined) body.max_tokens = p.maxTokens;
    return body;
  }

  /**
   * Drops the oldest turns of the history (never the system prompt or the new message) until the request, with its
   * completion budget, fits the model's largest context window: the router would refuse it once the stream is open.
   * Per-message estimates are rounded up, so the sum bounds the router's estimate of the whole.
   */
  function fitContext(request: ChatRequest, contextWindow: number) {
    const first = request.messages[0]?.role === 'system' ? 1 : 0;
    const sizes = request.messages.map((m) => estimateTokens({ model: request.model, messages: [m] }));
    let total = sizes.reduce((a, b) => a + b, 0) + (request.max_tokens ?? 0);
    let drop = 0;
    while (total > contextWindow && first + drop < request.messages.length - 1) {
      total -= sizes[first + drop] ?? 0;
      drop++;
    }
    if (drop > 0) request.messages.splice(first, drop);
  }

  async function maybeRetitle(actor: Actor, conversation: repo.Conversation, userText: string, reply: ContentPart[]) {
    if (!config.titleModel || conversation.title !== null) return;
    const answer = textOf(reply);
    const result = await ctx.providers.completeChat(
      {
        model: config.titleModel,
        max_tokens: 24,
        messages: [
          {
            role: 'system',
            content:
              'Write a short title (at most 6 words) for this conversation. Answer with the title only, no quotes.',
          },
          { role: 'user', content: `User: ${userText.slice(0, 2000)}\n\nAssistant: ${answer.slice(0, 2000)}` },
        ],
      },
      {
        requestId: `title-${conversation.id}`,
        actor,
        startNs: process.hrtime.bigint(),
        signal: AbortSignal.timeout(30_000),
        endpoint: 'chat.completions',
      },
    );
    const parsed = JSON.parse(result.body) as { choices?: { message?: { content?: string } }[] };
    const title = (parsed.choices?.[0]?.message?.content ?? '')
      .replace(/^["'\s]+|["'\s.]+$/g, '')
      .replace(/\s+/g, ' ')
      .slice(0, config.maxTitleChars);
    if (title) {
      await repo.setAutoTitle(db, actor, conversation.id, title, false);
      await ctx.chatCache.changed(actor.userId);
    }
  }

  /** Shared by send and regenerate: one statement (repo.startGeneration), then the worker starts. */
  async function startGeneration(
    actor: Actor,
    conversation: repo.Conversation,
    input: {
      userMessage: { content: string; parentId: string | null } | null;
      replyParentId: string | null;
      model: string;
      options?: GenerationOptions;
      idempotencyKey?: string;
      /** The history's messages (oldest first) when already read with the conversation. */
      branch?: repo.HistoryMessage[];
    },
  ): Promise<StartedGeneration> {
    const gid = uuidv7();
    const historyLeaf = input.userMessage ? input.userMessage.parentId : input.replyParentId;
    const branch =
      input.branch ??
      (historyLeaf
        ? (await repo.branchUpwards(db, actor, conversation.id, historyLeaf, config.maxHistoryMessages)).reverse()
        : []);
    const history = historyOf(branch, conversation.settings);
    if (input.userMessage) history.push({ role: 'user', content: input.userMessage.content });
    const request = requestFor(input.model, history, conversation.settings, input.options);
    fitContext(request, Math.max(...ctx.providers.resolve(input.model).deployments.map((d) => d.contextWindow)));
    // The same reservation and generation slot as /v1 (429/503 before anything is written); the slot lives as
    // long as the reply, not the request.
    const guard = await reserveGeneration(
      { providers: ctx.providers, limits: ctx.limits },
      actor,
      gid,
      {
        model: input.model,
        promptTokens: estimateTokens(request),
        maxTokens: request.max_tokens,
        maxTokensParam: 'options.maxTokens',
        generation: true,
      },
      ctx.log,
    );
    try {
      const at = now();
      const userMessageId = input.userMessage ? uuidv7() : null;
      const assistantMessageId = uuidv7();
      const rows: repo.NewMessage[] = [];
      if (input.userMessage && userMessageId) {
        rows.push({
          id: userMessageId,
          conversationId: conversation.id,
          parentId: input.userMessage.parentId,
          role: 'user',
          content: [{ type: 'text', text: input.userMessage.content }],
          createdAt: at,
        });
      }
      rows.push({
        id: assistantMessageId,
        conversationId: conversation.id,
        parentId: userMessageId ?? input.replyParentId,
        role: 'assistant',
        content: [],
        status: 'streaming',
        generationId: gid,
        model: input.model,
        createdAt: at,
      });
      // One statement: the messages, the generation, the conversation's leaf (and heuristic title), the key.
      const generation = await repo.startGeneration(db, actor, {
        messages: rows,
        generation: { id: gid, conversationId: conversation.id, userMessageId, assistantMessageId },
        owner: ctx.generations.owner,
        at,
        autoTitle:
          conversation.title === null && input.userMessage
            ? heuristicTitle(input.userMessage.content, config.maxTitleChars)
            : null,
        ...(input.idempotencyKey ? { idempotencyKey: input.idempotencyKey } : {}),
      });
      const userText = input.userMessage?.content ?? '';
      const firstExchange = conversation.title === null && input.userMessage !== null;
      // Both before the first event: a client that reloads the list on `message` sees the conversation moved up.
      const listChanged = ctx.chatCache.changed(actor.userId);
      ctx.generations.start({
        actor,
        generation,
        request,
        guard,
        messageEvent: {
          generationId: gid,
          conversationId: conversation.id,
          userMessageId,
          assistantMessageId,
          parentId: userMessageId ?? input.replyParentId,
          model: input.model,
        },
        onFinished: firstExchange
          ? async (status, content) => {
              if (status === 'complete') await maybeRetitle(actor, conversation, userText, content);
            }
          : undefined,
      });
      await listChanged;
      return { generationId: gid, conversationId: conversation.id, userMessageId, assistantMessageId, replayed: false };
    } catch (err) {
      await guard.release();
      throw err;
    }
  }

  async function generationOr404(actor: Actor, gid: string) {
    if (!isUuid(gid)) throw generationNotFound();
    const gen = await repo.getGeneration(db, actor, gid);
    if (!gen) throw generationNotFound();
    return gen;
  }

  const requestHash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('base64url');

  async function resolveParent(actor: Actor, conversation: repo.Conversation, parentId: string | null | undefined) {
    if (parentId === undefined) return conversation.activeLeafId;
    if (parentId === null) return null;
    if (!isUuid(parentId)) throw messageNotFound();
    const parent = await repo.getMessage(db, actor, parentId);
    if (!parent || parent.conversationId !== conversation.id) throw messageNotFound();
    return parent.id;
  }

  /**
   * A page of messages as its JSON body: the first page is kept serialised in the cache, so a hit is sent as it is
   * (GET /api/conversations/:id/messages; no parse, no serialisation).
   */
  async function listMessagesJson(
    actor: Actor,
    conversationId: string,
    opts: { leafId?: string; cursor?: string; limit?: number; view?: 'branch' | 'tree' },
  ): Promise<string> {
    const limit = Math.min(opts.limit ?? config.messagesPageDefault, config.messagesPageMax);
    const load = async () => JSON.stringify(await readMessages(actor, conversationId, opts, limit));
    // A first page (what opening a conversation asks for) is cached under the user's chats version; a load that
    // throws (a foreign, deleted or malformed id: 404) is not stored. Later pages are read each time.
    if (opts.cursor !== undefined || !isUuid(conversationId) || (opts.leafId !== undefined && !isUuid(opts.leafId))) {
      return load();
    }
    return ctx.chatCache.page(
      actor.userId,
      `m:${conversationId}:${opts.view ?? 'branch'}:${opts.leafId ?? ''}:${limit}`,
      load,
    );
  }

  /** A page of messages, read from the database. */
  async function readMessages(
    actor: Actor,
    conversationId: string,
    opts: { leafId?: string; cursor?: string; view?: 'branch' | 'tree' },
    limit: number,
  ): Promise<{ items: ReturnType<typeof messageView>[]; nextCursor: string | null }> {
    if (opts.view !== 'tree' && opts.cursor === undefined && opts.leafId === undefined && isUuid(conversationId)) {
      // The usual first page: the branch from the active leaf in one statement (the leaf is read in it, from the
      // actor's live conversation). No row (no active leaf, or no such conversation): the general path below.
      const leaf = repo.activeLeafSql(actor, conversationId);
      const rows = await repo.branchPage(db, actor, conversationId, leaf, limit, MAX_SIBLINGS);
      if (rows.length > 0) return branchPageView(rows, limit);
    }
    const conversation = await conversationOr404(actor, conversationId);
    if (opts.view === 'tree') {
      let afterId: string | undefined;
      if (opts.cursor !== undefined) {
        const key = decodeCursor(opts.cursor, 1);
        if (!key || !isUuid(key[0])) throw invalidCursor();
        afterId = key[0];
      }
      const rows = await repo.treePage(db, actor, conversationId, limit + 1, MAX_SIBLINGS, afterId);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map(messageView),
        nextCursor: rows.length > limit && last ? encodeCursor([last.id]) : null,
      };
    }
    let start: string | null | undefined;
    if (opts.cursor !== undefined) {
      const key = decodeCursor(opts.cursor, 1);
      if (!key || !isUuid(key[0])) throw invalidCursor();
      start = key[0];
    } else if (opts.leafId !== undefined) {
      if (!isUuid(opts.leafId)) throw messageNotFound();
      start = opts.leafId;
    } else {
      start = conversation.activeLeafId ?? (await repo.latestMessage(db, actor, conversationId))?.id;
    }
    if (!start) return { items: [], nextCursor: null };
    const rows = await repo.branchPage(db, actor, conversationId, start, limit, MAX_SIBLINGS);
    if (rows.length === 0) {
      if (opts.cursor !== undefined) throw invalidCursor();
      throw messageNotFound();
    }
    return branchPageView(rows, limit);
  }

  /**
   * A page of the conversation list as its JSON body: the first page is kept serialised in the cache, so a hit is
   * sent as it is (no parse, no serialisation).
   */
  async function listConversationsJson(
    actor: Actor,
    opts: { archived?: boolean; cursor?: string; limit?: number } = {},
  ): Promise<string> {
    const limit = Math.min(opts.limit ?? config.conversationsPageDefault, config.conversationsPageMax);
    let after: repo.ConversationKey | undefined;
    if (opts.cursor !== undefined) {
      const key = decodeCursor(opts.cursor, 3);
      const [p, u, id] = key ?? [];
      const updatedAt = typeof u === 'string' ? new Date(u) : undefined;
      if ((p !== 0 && p !== 1) || !updatedAt || Number.isNaN(updatedAt.getTime()) || !isUuid(id)) {
        throw invalidCursor();
      }
      after = { pinned: p === 1, updatedAt, id };
    }
    const archived = opts.archived ?? false;
    const load = async () => {
      const rows = await repo.listConversations(db, actor, {
        archived,
        limit: limit + 1,
        ...(after ? { after } : {}),
      });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      // Each item is already the JSON of its conversationView (built by the statement): only the frame is written.
      const nextCursor =
        rows.length > limit && last ? encodeCursor([last.pinned ? 1 : 0, last.updatedAt, last.id]) : null;
      return `{"items":[${page.map((r) => r.json).join(',')}],"nextCursor":${JSON.stringify(nextCursor)}}`;
    };
    // The first page is what every page load asks for: it is cached; later pages are read each time.
    return after ? load() : ctx.chatCache.page(actor.userId, `${archived ? 1 : 0}:${limit}`, load);
  }

  return {
    // ---------------- conversations ----------------
    async createConversation(
      actor: Actor,
      input: { title?: string; settings?: ChatSettings; presetId?: string } = {},
    ): Promise<ConversationView> {
      let settings: ChatSettings = {};
      if (input.presetId !== undefined) {
        if (!isUuid(input.presetId)) throw presetNotFound();
        const preset = await repo.getPreset(db, actor, input.presetId);
        if (!preset) throw presetNotFound();
        settings = { ...preset.settings };
      }
      settings = { ...settings, ...input.settings };
      checkSettings(settings);
      const title = input.title === undefined ? null : checkTitle(input.title);
      const row = await repo.insertConversation(db, actor, {
        title,
        titleSource: title === null ? 'auto' : 'user',
        settings,
        at: now(),
      });
      await ctx.chatCache.changed(actor.userId);
      return conversationView(row);
    },

    /** The conversation list (GET /api/conversations sends listConversationsJson's body as it is). */
    async listConversations(actor: Actor, opts: { archived?: boolean; cursor?: string; limit?: number } = {}) {
      return JSON.parse(await listConversationsJson(actor, opts)) as {
        items: ConversationView[];
        nextCursor: string | null;
      };
    },

    listConversationsJson,

    async getConversation(actor: Actor, id: string): Promise<ConversationView> {
      return conversationView(await conversationOr404(actor, id));
    },

    async updateConversation(
      actor: Actor,
      id: string,
      patch: { title?: string; pinned?: boolean; archived?: boolean; settings?: ChatSettings; activeLeafId?: string },
    ): Promise<ConversationView> {
      const conversation = await conversationOr404(actor, id);
      const set: Parameters<typeof repo.updateConversation>[3] = {};
      if (patch.title !== undefined) {
        set.title = checkTitle(patch.title);
        set.titleSource = 'user';
      }
      if (patch.pinned !== undefined) set.pinned = patch.pinned;
      if (patch.archived !== undefined) set.archivedAt = patch.archived ? (conversation.archivedAt ?? now()) : null;
      if (patch.settings !== undefined) {
        checkSettings(patch.settings);
        set.settings = patch.settings;
      }
      if (patch.activeLeafId !== undefined) {
        set.activeLeafId = await resolveParent(actor, conversation, patch.activeLeafId);
      }
      const row = await repo.updateConversation(db, actor, id, set);
      if (!row) throw conversationNotFound();
      await ctx.chatCache.changed(actor.userId);
      return conversationView(row);
    },

    /** Soft delete: gone from every list and route at once; purged with its messages after the retention window. */
    async deleteConversation(actor: Actor, id: string): Promise<void> {
      await conversationOr404(actor, id);
      const at = now();
      await db.transaction(async (tx) => {
        await repo.updateConversation(tx, actor, id, { deletedAt: at });
        await repo.revokeConversationShares(tx, actor, id, at);
      });
      await ctx.chatCache.changed(actor.userId);
    },

    /** The retention job (every replica may run it; batches keep transactions short). */
    async purgeDeleted(at = now()): Promise<number> {
      const before = new Date(at.getTime() - config.deletedRetentionDays * 86_400_000);
      let total = 0;
      for (;;) {
        const n = await repo.systemPurgeDeleted(db, before, 500);
        total += n;
        if (n < 500) break;
      }
      await repo.systemPurgeIdempotencyKeys(db, at);
      return total;
    },

    // ---------------- messages ----------------

    /**
     * One page of a branch, oldest first within the page. The branch ends at `leafId` (default: the conversation's
     * active leaf); `nextCursor` continues towards the root.
     */
    async listMessages(
      actor: Actor,
      conversationId: string,
      opts: { leafId?: string; cursor?: string; limit?: number; view?: 'branch' | 'tree' },
    ) {
      return JSON.parse(await listMessagesJson(actor, conversationId, opts)) as {
        items: MessageView[];
        nextCursor: string | null;
      };
    },

    listMessagesJson,

    /**
     * Persists the user message and starts the reply. With an Idempotency-Key, a retry of the same send attaches
     * to the same generation; the same key with another body is 422; a send still being set up is 409.
     */
    async sendMessage(
      actor: Actor,
      conversationId: string,
      input: SendInput,
      idempotencyKey?: string,
    ): Promise<StartedGeneration> {
      checkContent(input.content);
      // A reply to the active leaf (the usual send) reads the conversation and its history in one statement.
      let branch: repo.HistoryMessage[] | undefined;
      let conversation: repo.Conversation;
      if (input.parentId === undefined) {
        if (!isUuid(conversationId)) throw conversationNotFound();
        const read = await repo.getConversationWithBranch(db, actor, conversationId, config.maxHistoryMessages);
        if (!read) throw conversationNotFound();
        conversation = read.conversation;
        branch = read.branch;
      } else conversation = await conversationOr404(actor, conversationId);
      const model = modelFor(actor, conversation, input.model);
      if (idempotencyKey !== undefined) {
        const hash = requestHash({
          conversationId,
          content: input.content,
          parentId: input.parentId ?? null,
          model: input.model ?? null,
          options: input.options ?? null,
        });
        const at = now();
        const claim = await repo.claimIdempotencyKey(
          db,
          actor,
          idempotencyKey,
          hash,
          at,
          new Date(at.getTime() + config.idempotencyKeyTtlSec * 1000),
        );
        if (!claim.claimed) {
          if (claim.row.requestHash !== hash) {
            throw new DomainError(
              'idempotency_mismatch',
              'This Idempotency-Key was used for a different message; use a new key for a new message.',
            );
          }
          if (claim.row.generationId) {
            const gen = await repo.getGeneration(db, actor, claim.row.generationId);
            if (!gen) throw generationNotFound();
            return {
              generationId: gen.id,
              conversationId: gen.conversationId,
              userMessageId: gen.userMessageId,
              assistantMessageId: gen.assistantMessageId,
              replayed: true,
            };
          }
          const stale = new Date(at.getTime() - config.idempotencyInFlightTimeoutMs);
          if (!(await repo.retakeIdempotencyKey(db, actor, idempotencyKey, hash, stale, at))) {
            throw new DomainError(
              'idempotency_in_flight',
              'The first request with this Idempotency-Key is still in flight.',
              {
                headers: { 'retry-after': '1' },
              },
            );
          }
        }
      }
      try {
        const parentId = await resolveParent(actor, conversation, input.parentId);
        return await startGeneration(actor, conversation, {
          userMessage: { content: input.content, parentId },
          replyParentId: null,
          model,
          ...(input.options ? { options: input.options } : {}),
          ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
          ...(branch ? { branch } : {}),
        });
      } catch (err) {
        // Nothing was written: free the key so a retry can succeed.
        if (idempotencyKey !== undefined) await repo.releaseIdempotencyKey(db, actor, idempotencyKey).catch(() => {});
        throw err;
      }
    },

    /** A new reply as a sibling: to a user message directly, or next to an assistant message under its parent. */
    async regenerate(
      actor: Actor,
      messageId: string,
      input: { model?: string; options?: GenerationOptions } = {},
    ): Promise<StartedGeneration> {
      if (!isUuid(messageId)) throw messageNotFound();
      const message = await repo.getMessage(db, actor, messageId);
      if (!message) throw messageNotFound();
      const conversation = await conversationOr404(actor, message.conversationId).catch(() => {
        throw messageNotFound();
      });
      const model = modelFor(
        actor,
        conversation,
        input.model ?? (message.role === 'assistant' ? (message.model ?? undefined) : undefined),
      );
      const parentId = message.role === 'assistant' ? message.parentId : message.id;
      return startGeneration(actor, conversation, {
        userMessage: null,
        replyParentId: parentId,
        model,
        ...(input.options ? { options: input.options } : {}),
      });
    },

    // ---------------- generations ----------------

    /** Checks the actor owns the generation (404 otherwise) before any byte of its stream is sent. */
    generation: generationOr404,

    follow(actor: Actor, gid: string, after: number, signal: AbortSignal): AsyncGenerator<StreamEvent> {
      return ctx.generations.follow(actor, gid, after, signal);
    },

    async stopGeneration(actor: Actor, gid: string): Promise<{ generationId: string; status: string }> {
      const gen = await generationOr404(actor, gid);
      if (gen.status === 'streaming') await ctx.generations.stop(gid);
      return { generationId: gid, status: gen.status === 'streaming' ? 'stopping' : gen.status };
    },

    // ---------------- presets ----------------

    async listPresets(actor: Actor) {
      return { items: (await repo.listPresets(db, actor, config.maxPresetsPerUser)).map(presetView), nextCursor: null };
    },

    async createPreset(actor: Actor, input: { name: string; settings: ChatSettings }) {
      checkSettings(input.settings);
      const name = input.name.trim();
      if (name.length === 0 || name.length > config.maxTitleChars) {
        throw new DomainError('validation_failed', `A preset name has 1 to ${config.maxTitleChars} characters.`);
      }
      if ((await repo.countPresets(db, actor)) >= config.maxPresetsPerUser) {
        throw new DomainError('conflict', `You can keep at most ${config.maxPresetsPerUser} presets.`);
      }
      return presetView(await repo.insertPreset(db, actor, name, input.settings));
    },

    async updatePreset(actor: Actor, id: string, patch: { name?: string; settings?: ChatSettings }) {
      if (!isUuid(id)) throw presetNotFound();
      checkSettings(patch.settings);
      const row = await repo.updatePreset(db, actor, id, patch);
      if (!row) throw presetNotFound();
      return presetView(row);
    },

    async deletePreset(actor: Actor, id: string) {
      if (!isUuid(id) || !(await repo.deletePreset(db, actor, id))) throw presetNotFound();
    },

    // ---------------- search ----------------

    async search(actor: Actor, q: string, opts: { cursor?: string; limit?: number } = {}) {
      const tsquery = toPrefixQuery(q);
      if (!tsquery) {
        throw new DomainError('validation_failed', 'The search needs at least one letter or digit.', {
          errors: [{ path: 'querystring.q', message: 'has no searchable word' }],
        });
      }
      const limit = Math.min(opts.limit ?? 20, config.searchMaxResults);
      let beforeId: string | undefined;
      if (opts.cursor !== undefined) {
        const key = decodeCursor(opts.cursor, 1);
        if (!key || !isUuid(key[0])) throw invalidCursor();
        beforeId = key[0];
      }
      const hits = await repo.search(db, actor, tsquery, limit + 1, beforeId);
      const page = hits.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map((h) => ({
          conversationId: h.conversationId,
          title: h.conversationTitle,
          messageId: h.messageId,
          snippet: h.snippet,
          createdAt: h.createdAt.toISOString(),
          link: `/chat/${h.conversationId}${h.messageId ? `?m=${h.messageId}` : ''}`,
        })),
        nextCursor: hits.length > limit && last ? encodeCursor([last.messageId ?? last.conversationId]) : null,
      };
    },

    // ---------------- shares ----------------

    /** A snapshot of the active branch; later messages never leak into it. */
    async createShare(actor: Actor, conversationId: string, input: { expiresInSec?: number } = {}) {
      const conversation = await conversationOr404(actor, conversationId);
      const live = await repo.listShares(db, actor, conversationId);
      if (live.length >= config.maxSharesPerConversation) {
        throw new DomainError('conflict', `A conversation may have at most ${config.maxSharesPerConversation} links.`);
      }
      const leaf = conversation.activeLeafId ?? (await repo.latestMessage(db, actor, conversationId))?.id;
      const branch = leaf
        ? (await repo.branchUpwards(db, actor, conversationId, leaf, config.shareMaxMessages)).reverse()
        : [];
      const snapshot: ShareSnapshot = {
        title: conversation.title ?? 'Shared chat',
        createdAt: now().toISOString(),
        messages: branch
          .filter((m) => m.role !== 'system' && m.status !== 'streaming')
          .map((m) => ({ role: m.role, content: m.content, createdAt: m.createdAt.toISOString(), model: m.model })),
      };
      const at = now();
      const row = await repo.insertShare(db, actor, {
        token: randomBytes(32).toString('base64url'),
        conversationId,
        snapshot,
        expiresAt: input.expiresInSec ? new Date(at.getTime() + input.expiresInSec * 1000) : null,
      });
      return shareView(row);
    },

    async listShares(actor: Actor) {
      return { items: (await repo.listShares(db, actor)).map(shareView), nextCursor: null };
    },

    async revokeShare(actor: Actor, id: string) {
      if (!isUuid(id) || !(await repo.revokeShare(db, actor, id, now()))) throw shareNotFound();
    },

    /**
     * Anonymous: the snapshot and nothing else, with its version (the share id: a snapshot never changes, so a
     * reader may cache it under that version and revalidate on every read). Revoked, expired and unknown tokens are
     * the same 404.
     */
    async readShare(token: string): Promise<{ version: string; snapshot: ShareSnapshot }> {
      const row = await repo.publicShareByToken(db, token, now());
      if (!row) throw shareNotFound();
      return { version: row.id, snapshot: row.snapshot };
    },

    // ---------------- export / import ----------------

    async exportJson(actor: Actor, conversationId?: string) {
      const list = conversationId
        ? [await conversationOr404(actor, conversationId)]
        : await repo.listAllConversations(db, actor, config.exportMaxConversations);
      const out = [];
      for (const c of list) {
        const msgs = await repo.allMessages(db, actor, c.id, config.shareMaxMessages * 10);
        out.push({
          ...conversationView(c),
          messages: msgs.map((m) => ({
            id: m.id,
            parentId: m.parentId,
            role: m.role,
            content: m.content,
            status: m.status,
            model: m.model,
            provider: m.provider,
            tokensIn: m.tokensIn,
            tokensOut: m.tokensOut,
            costUsd: m.costUsd,
            createdAt: m.createdAt.toISOString(),
          })),
        });
      }
      return { format: 'genz-chats', version: 1, exportedAt: now().toISOString(), conversations: out };
    },

    /** Markdown of each conversation's active branch. */
    async exportMarkdown(actor: Actor, conversationId?: string): Promise<string> {
      const list = conversationId
        ? [await conversationOr404(actor, conversationId)]
        : await repo.listAllConversations(db, actor, config.exportMaxConversations);
      const parts: string[] = [];
      for (const c of list) {
        const leaf = c.activeLeafId ?? (await repo.latestMessage(db, actor, c.id))?.id;
        const branch = leaf ? (await repo.branchUpwards(db, actor, c.id, leaf, 100_000)).reverse() : [];
        parts.push(`# ${c.title ?? 'Untitled chat'}\n`);
        for (const m of branch) {
          const who =
            m.role === 'user' ? 'You' : m.role === 'assistant' ? `Assistant${m.model ? ` (${m.model})` : ''}` : m.role;
          const status = m.status === 'complete' ? '' : ` _[${m.status}]_`;
          parts.push(`**${who}:**${status}\n\n${textOf(m.content)}\n`);
        }
      }
      return parts.join('\n');
    },

    /**
     * Imports a ChatGPT export (`conversations.json`). All or nothing: one transaction, and the whole file is
     * validated before the first write.
     */
    async importChatGpt(actor: Actor, data: unknown): Promise<{ imported: number; messages: number }> {
      const convs = parseChatGpt(data, config.importMaxConversations, config.maxMessageChars * 10);
      let messageCount = 0;
      await db.transaction(async (tx) => {
        for (const c of convs) {
          const conv = await repo.insertConversation(tx, actor, {
            title: c.title.slice(0, config.maxTitleChars) || 'Imported chat',
            titleSource: 'user',
            settings: {},
            at: c.updatedAt,
          });
          const idMap = new Map<string, string>();
          const rows: repo.NewMessage[] = [];
          for (const m of c.messages) {
            const id = uuidv7();
            idMap.set(m.sourceId, id);
            rows.push({
              id,
              conversationId: conv.id,
              parentId: m.sourceParent ? (idMap.get(m.sourceParent) ?? null) : null,
              role: m.role,
              content: [{ type: 'text', text: m.text }],
              model: m.model,
              createdAt: m.createdAt,
            });
          }
          for (let i = 0; i < rows.length; i += 500) await repo.insertMessages(tx, actor, rows.slice(i, i + 500));
          messageCount += rows.length;
          const leaf = c.currentNode ? idMap.get(c.currentNode) : rows.at(-1)?.id;
          if (leaf) await repo.updateConversation(tx, actor, conv.id, { activeLeafId: leaf, updatedAt: c.updatedAt });
        }
      });
      await ctx.chatCache.changed(actor.userId);
      return { imported: convs.length, messages: messageCount };
    },
  };
}

export type ChatsService = ReturnType<typeof createChatsService>;

export const shareView = (s: repo.ShareRow) => ({
  id: s.id,
  conversationId: s.conversationId,
  url: `/api/shared/${s.token}`,
  token: s.token,
  createdAt: s.createdAt.toISOString(),
  expiresAt: s.expiresAt?.toISOString() ?? null,
});

// ---------------- ChatGPT import format ----------------

interface ImportedMessage {
  sourceId: string;
  sourceParent: string | null;
  role: 'user' | 'assistant' | 'system';
  text: string;
  model: string | null;
  createdAt: Date;
}

interface ImportedConversation {
  title: string;
  updatedAt: Date;
  currentNode: string | null;
  messages: ImportedMessage[];
}

const bad = (detail: string) => new DomainError('validation_failed', `Not a ChatGPT conversations.json: ${detail}`);

const asRecord = (v: unknown): Record<string, unknown> | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

const seconds = (v: unknown, fallback: Date) =>
  typeof v === 'number' && Number.isFinite(v) ? new Date(v * 1000) : fallback;

/**
 * ChatGPT's format: an array of conversations, each a `mapping` of node id -> { message, parent, children } and a
 * `current_node`. Nodes without a message (the root) or with nothing to show (hidden system/tool messages) are
 * dropped and their children re-attached to the nearest kept ancestor. Messages come out parents first.
 */
export function parseChatGpt(data: unknown, maxConversations: number, maxText: number): ImportedConversation[] {
  if (!Array.isArray(data)) throw bad('the top level must be an array of conversations');
  if (data.length > maxConversations) {
    throw new DomainError(
      'payload_too_large',
      `The file has ${data.length} conversations; the limit is ${maxConversations}.`,
    );
  }
  const epoch = new Date(0);
  return data.map((raw, index) => {
    const c = asRecord(raw);
    const mapping = asRecord(c?.mapping);
    if (!c || !mapping) throw bad(`conversation ${index} has no mapping`);
    const nodes = new Map<string, { parent: string | null; message: Record<string, unknown> | null }>();
    for (const [id, value] of Object.entries(mapping)) {
      const node = asRecord(value);
      if (!node) throw bad(`conversation ${index} node ${id} is not an object`);
      nodes.set(id, {
        parent: typeof node.parent === 'string' ? node.parent : null,
        message: asRecord(node.message),
      });
    }
    const kept = new Map<string, ImportedMessage>();
    const keptParent = (id: string | null): string | null => {
      let cursor = id;
      const seen = new Set<string>();
      while (cursor !== null && !kept.has(cursor)) {
        if (seen.has(cursor)) throw bad(`conversation ${index} has a cycle`);
        seen.add(cursor);
        cursor = nodes.get(cursor)?.parent ?? null;
      }
      return cursor;
    };
    // Parents before children: order by depth.
    const depth = (id: string): number => {
      let d = 0;
      let cursor = nodes.get(id)?.parent ?? null;
      while (cursor !== null && d <= nodes.size) {
        d++;
        cursor = nodes.get(cursor)?.parent ?? null;
      }
      if (d > nodes.size) throw bad(`conversation ${index} has a cycle`);
      return d;
    };
    const ordered = [...nodes.keys()].map((id) => ({ id, d: depth(id) })).sort((a, b) => a.d - b.d);
    const created = seconds(c.create_time, epoch);
    const messages: ImportedMessage[] = [];
    for (const { id } of ordered) {
      const node = nodes.get(id);
      const m = node?.message;
      if (!node || !m) continue;
      const role = asRecord(m.author)?.role;
      const content = asRecord(m.content);
      const parts = Array.isArray(content?.parts) ? content.parts : [];
      const text = parts.filter((p): p is string => typeof p === 'string').join('\n');
      const hidden = asRecord(m.metadata)?.is_visually_hidden_from_conversation === true;
      if ((role !== 'user' && role !== 'assistant') || text.trim() === '' || hidden) continue;
      if (text.length > maxText) throw bad(`conversation ${index} has a message over ${maxText} characters`);
      const slug = asRecord(m.metadata)?.model_slug;
      const msg: ImportedMessage = {
        sourceId: id,
        sourceParent: keptParent(node.parent),
        role,
        text,
        model: typeof slug === 'string' ? slug : null,
        createdAt: seconds(m.create_time, created),
      };
      kept.set(id, msg);
      messages.push(msg);
    }
    const current = typeof c.current_node === 'string' ? keptParent(c.current_node) : null;
    return {
      title: typeof c.title === 'string' ? c.title.trim() : '',
      updatedAt: seconds(c.update_time, created),
      currentNode: current,
      messages,
    };
  });
}
