import { sql } from 'drizzle-orm';
import {
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { createdAtColumn, idColumn, ts } from './columns.ts';
import { users } from './users.ts';

/**
 * Chats (docs/chats.md, ADR 040-042). The DDL is hand-written in drizzle/0002_chats.sql (messages is
 * PARTITION BY HASH (user_id), and the search columns are generated tsvectors drizzle's DSL cannot declare), so this
 * file is listed in drizzle.config.ts `handWrittenSchemaFiles`; migrations.db.test.ts checks these definitions
 * against the database. Every table carries `user_id` and its primary key starts with it (Citus-ready, §6).
 */

/** A generated, read-only tsvector column (search); never written by the app. */
const tsvector = customType<{ data: string; driverData: string }>({ dataType: () => 'tsvector' });

export type MessageRole = 'system' | 'user' | 'assistant' | 'tool';
export type MessageStatus = 'streaming' | 'complete' | 'stopped' | 'interrupted' | 'error';
export type GenerationStatus = MessageStatus;

/** Typed content parts of a message; `text` parts are what search indexes. */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'file'; fileId: string; name?: string; mediaType?: string }
  | { type: 'image'; fileId?: string; url?: string; mediaType?: string }
  | { type: 'citation'; url: string; title?: string; snippet?: string }
  | { type: 'tool_call'; id: string; name: string; arguments: string }
  | { type: 'tool_result'; toolCallId: string; content: string };

/** Per-conversation (and preset) settings. */
export interface ChatSettings {
  systemPrompt?: string;
  model?: string;
  params?: { temperature?: number; maxTokens?: number; topP?: number };
}

export const conversations = pgTable(
  'conversations',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    id: idColumn(),
    /** Null until the first exchange gives it one. */
    title: text('title'),
    /** 'auto' titles may be replaced by a generated one; 'user' titles never are. */
    titleSource: text('title_source', { enum: ['auto', 'user'] })
      .notNull()
      .default('auto'),
    pinned: boolean('pinned').notNull().default(false),
    settings: jsonb('settings').$type<ChatSettings>().notNull().default({}),
    /** The branch the user last looked at or wrote to; listing messages defaults to it. */
    activeLeafId: uuid('active_leaf_id'),
    createdAt: createdAtColumn(),
    updatedAt: ts('updated_at')
      .notNull()
      .defaultNow()
      .$defaultFn(() => new Date()),
    archivedAt: ts('archived_at'),
    deletedAt: ts('deleted_at'),
    titleTsv: tsvector('title_tsv')
      .notNull()
      .generatedAlwaysAs(sql`to_tsvector('simple'::regconfig, coalesce(title, ''))`),
  },
  (t) => [
    primaryKey({ name: 'conversations_pkey', columns: [t.userId, t.id] }),
    index('conversations_list_idx')
      .on(t.userId, t.pinned.desc(), t.updatedAt.desc(), t.id.desc())
      .where(sql`deleted_at is null and archived_at is null`),
    index('conversations_archived_idx')
      .on(t.userId, t.updatedAt.desc(), t.id.desc())
      .where(sql`deleted_at is null and archived_at is not null`),
    index('conversations_deleted_at_idx').on(t.deletedAt).where(sql`deleted_at is not null`),
    index('conversations_title_tsv_idx').using('gin', t.titleTsv),
  ],
);

/**
 * Append-only: a message row is written once, and changed afterwards only while its status is 'streaming' (the
 * generation's checkpoints and its final state). Edits and regenerations are new sibling rows under the same
 * parent. PARTITION BY HASH (user_id), 16 partitions.
 */
export const messages = pgTable(
  'messages',
  {
    userId: uuid('user_id').notNull(),
    id: idColumn(),
    conversationId: uuid('conversation_id').notNull(),
    parentId: uuid('parent_id'),
    role: text('role', { enum: ['system', 'user', 'assistant', 'tool'] }).notNull(),
    content: jsonb('content').$type<ContentPart[]>().notNull().default([]),
    status: text('status', { enum: ['streaming', 'complete', 'stopped', 'interrupted', 'error'] })
      .notNull()
      .default('complete'),
    generationId: uuid('generation_id'),
    model: text('model'),
    provider: text('provider'),
    deployment: text('deployment'),
    tokensIn: integer('tokens_in'),
    tokensOut: integer('tokens_out'),
    costUsd: doublePrecision('cost_usd'),
    error: jsonb('error').$type<{ code: string; detail: string }>(),
    createdAt: createdAtColumn(),
    tsv: tsvector('tsv')
      .notNull()
      .generatedAlwaysAs(
        sql`to_tsvector('simple'::regconfig, jsonb_path_query_array(content, '$[*] ? (@.type == "text").text'::jsonpath))`,
      ),
  },
  (t) => [
    primaryKey({ name: 'messages_pkey', columns: [t.userId, t.id] }),
    index('messages_conversation_parent_idx').on(t.userId, t.conversationId, t.parentId, t.id),
    // A conversation's messages in id (time) order: the tree view, export and share snapshots page through it.
    index('messages_conversation_id_idx').on(t.userId, t.conversationId, t.id),
    index('messages_tsv_idx').using('gin', t.tsv),
  ],
);

/** One server-side generation (an assistant reply being produced), decoupled from any HTTP connection. */
export const generations = pgTable(
  'generations',
  {
    userId: uuid('user_id').notNull(),
    id: idColumn(),
    conversationId: uuid('conversation_id').notNull(),
    userMessageId: uuid('user_message_id'),
    assistantMessageId: uuid('assistant_message_id').notNull(),
    status: text('status', { enum: ['streaming', 'complete', 'stopped', 'interrupted', 'error'] })
      .notNull()
      .default('streaming'),
    /** The replica running it; its heartbeat fences it (a reaped generation's worker stops writing). */
    owner: text('owner').notNull(),
    heartbeatAt: ts('heartbeat_at').notNull(),
    /** Seq of the terminal event once finished (a resume after the buffer expired answers from the row). */
    lastSeq: integer('last_seq').notNull().default(0),
    createdAt: createdAtColumn(),
    finishedAt: ts('finished_at'),
  },
  (t) => [
    primaryKey({ name: 'generations_pkey', columns: [t.userId, t.id] }),
    index('generations_streaming_heartbeat_idx').on(t.heartbeatAt).where(sql`status = 'streaming'`),
  ],
);

/** Saved starting points: system prompt + model + parameters. */
export const presets = pgTable(
  'presets',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    id: idColumn(),
    name: text('name').notNull(),
    settings: jsonb('settings').$type<ChatSettings>().notNull().default({}),
    createdAt: createdAtColumn(),
    updatedAt: ts('updated_at')
      .notNull()
      .defaultNow()
      .$defaultFn(() => new Date()),
  },
  (t) => [primaryKey({ name: 'presets_pkey', columns: [t.userId, t.id] })],
);

/** Idempotency-Key of a message send: the same key and body attach to the same generation. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: uuid('user_id').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    /** Null while the first request is still setting up (a retry then gets 409 idempotency_in_flight). */
    generationId: uuid('generation_id'),
    createdAt: createdAtColumn(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [
    primaryKey({ name: 'idempotency_keys_pkey', columns: [t.userId, t.key] }),
    index('idempotency_keys_expires_at_idx').on(t.expiresAt),
  ],
);

/** A read-only snapshot link. Anonymous readers see `snapshot` and nothing else. */
export const shares = pgTable(
  'shares',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    id: idColumn(),
    /** The public capability: 256 random bits, base64url. */
    token: text('token').notNull(),
    conversationId: uuid('conversation_id').notNull(),
    snapshot: jsonb('snapshot').$type<ShareSnapshot>().notNull(),
    createdAt: createdAtColumn(),
    expiresAt: ts('expires_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [
    primaryKey({ name: 'shares_pkey', columns: [t.userId, t.id] }),
    uniqueIndex('shares_token_key').on(t.token),
    index('shares_user_conversation_idx').on(t.userId, t.conversationId),
  ],
);

export interface ShareSnapshot {
  title: string;
  createdAt: string;
  messages: { role: MessageRole; content: ContentPart[]; createdAt: string; model: string | null }[];
}

export type ConversationRow = typeof conversations.$inferSelect;
export type MessageRow = typeof messages.$inferSelect;
export type GenerationRow = typeof generations.$inferSelect;
export type PresetRow = typeof presets.$inferSelect;
export type ShareRow = typeof shares.$inferSelect;
