import { type Db, executeRows, schema } from '@genz/db';
import type {
  ChatSettings,
  ContentPart,
  ConversationRow,
  GenerationRow,
  GenerationStatus,
  MessageRow,
  PresetRow,
  ShareRow,
  ShareSnapshot,
} from '@genz/db/schema';
import { and, asc, desc, eq, gt, inArray, isNull, lt, or, type SQL, sql } from 'drizzle-orm';
import type { Actor } from '../../http/actor.ts';

/**
 * Drizzle queries only. Every function takes the actor and filters on `actor.userId` (authorization by
 * construction: there is no way to read another user's row through here), and accepts `db` or a transaction.
 * The few `system*` functions serve background jobs (reaper, retention) and never answer a request.
 */

const { conversations, messages, generations, presets, idempotencyKeys, shares } = schema;

export type { ConversationRow, GenerationRow, MessageRow, PresetRow, ShareRow };

// ---------------- conversations ----------------

export interface ConversationKey {
  pinned: boolean;
  updatedAt: Date;
  id: string;
}

export async function insertConversation(
  db: Db,
  actor: Actor,
  values: { id?: string; title: string | null; titleSource?: 'auto' | 'user'; settings: ChatSettings; at?: Date },
): Promise<ConversationRow> {
  const at = values.at ?? new Date();
  const [row] = await db
    .insert(conversations)
    .values({
      userId: actor.userId,
      ...(values.id ? { id: values.id } : {}),
      title: values.title,
      titleSource: values.titleSource ?? 'auto',
      settings: values.settings,
      createdAt: at,
      updatedAt: at,
    })
    .returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

/** A live (not deleted) conversation of the actor. */
export async function getConversation(db: Db, actor: Actor, id: string): Promise<ConversationRow | undefined> {
  const [row] = await db
    .select()
    .from(conversations)
    .where(and(eq(conversations.userId, actor.userId), eq(conversations.id, id), isNull(conversations.deletedAt)))
    .limit(1);
  return row;
}

/**
 * A statement run by its fixed text under `name`: on PostgreSQL a named prepared statement (parsed and planned once
 * per connection, then only bound and executed; no `name`: an unnamed one), on PGlite a plain query. The rows come back as the driver parses
 * them, with no ORM mapping: callers select text where they want text.
 */
type RawClient = {
  query(
    query: { name?: string; text: string; values: unknown[] } | string,
    values?: unknown[],
  ): Promise<{ rows: unknown[] }>;
};

export async function namedRows<T>(db: Db, name: string | undefined, text: string, values: unknown[]): Promise<T[]> {
  const client = (db as unknown as { $client: RawClient }).$client;
  // node-postgres' Pool (it counts its clients); PGlite takes the text and values as arguments
  if ('totalCount' in client) {
    return (await client.query(name === undefined ? { text, values } : { name, text, values })).rows as T[];
  }
  return (await client.query(text, values)).rows as T[];
}

/**
 * The partition of `messages` that holds a user's rows (messages is PARTITION BY HASH (user_id); 0002_chats.sql),
 * for the send's statements. Named directly, a statement has no partitions to prune: its generic plan is as cheap
 * as a custom one, so PostgreSQL plans it once per connection instead of on every execution (a custom plan of the
 * partitioned parent costs more planning than executing; a forced generic plan of it walks the whole partition).
 * Read from the catalog once per user and process (hash and bounds are PostgreSQL's own); `messages` itself when
 * the table is not hash-partitioned.
 */
const PARTITION_OF = `select c.oid::regclass::text as name
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
   cross join lateral regexp_match(pg_get_expr(c.relpartbound, c.oid), 'modulus (\\d+), remainder (\\d+)') b
   where i.inhparent = 'messages'::regclass
     and satisfies_hash_partition('messages'::regclass, b[1]::int, b[2]::int, $1::uuid)`;
const partitionsByDb = new WeakMap<object, Map<string, string>>();
const MAX_CACHED_PARTITIONS = 100_000;

export async function messagesPartition(db: Db, userId: string): Promise<string> {
  let partitions = partitionsByDb.get(db);
  if (!partitions) {
    partitions = new Map();
    partitionsByDb.set(db, partitions);
  }
  const known = partitions.get(userId);
  if (known !== undefined) return known;
  const [row] = await namedRows<{ name: string }>(db, 'chats_messages_partition', PARTITION_OF, [userId]);
  // Interpolated into statement texts and names: only a plain lower-case identifier is taken.
  const name = row && /^[a-z0-9_]{1,40}$/.test(row.name) ? row.name : 'messages';
  if (partitions.size >= MAX_CACHED_PARTITIONS) partitions.clear();
  partitions.set(userId, name);
  return name;
}

/** An ISO 8601 timestamp in UTC with milliseconds, as `Date.prototype.toISOString` writes it. */
const iso = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * One listed conversation as the API answers it (service conversationView), written by PostgreSQL as compact JSON
 * text, keys in the view's order (json_build_object would add a space around every colon).
 */
const conversationJson = `'{"id":"' || id::text || '","title":' || coalesce(to_json(title)::text, 'null') ||
  ',"pinned":' || pinned::text || ',"archived":' || (archived_at is not null)::text ||
  ',"settings":' || settings::text || ',"activeLeafId":' || coalesce('"' || active_leaf_id::text || '"', 'null') ||
  ',"createdAt":"' || ${iso('created_at')} || '","updatedAt":"' || ${iso('updated_at')} || '"}'`;

/** The list statements, by (archived, keyset): fixed texts, so each is prepared once per connection. */
const listStatements = new Map<string, string>();
for (const archived of [false, true]) {
  for (const after of [false, true]) {
    const keyset = !after
      ? ''
      : archived
        ? 'and (updated_at, id) < ($3::timestamptz, $4::uuid)'
        : 'and (pinned, updated_at, id) < ($5::boolean, $3::timestamptz, $4::uuid)';
    const order = archived ? 'updated_at desc, id desc' : 'pinned desc, updated_at desc, id desc';
    listStatements.set(
      `chats_list_${archived ? 'archived' : 'live'}${after ? '_after' : ''}`,
      `select ${conversationJson} as json, pinned, ${iso('updated_at')} as "updatedAt", id
         from conversations
        where user_id = $1::uuid and deleted_at is null and archived_at is ${archived ? 'not null' : 'null'} ${keyset}
        order by ${order}
        limit $2::int`,
    );
  }
}

/** A listed conversation: its JSON (the API's view of it) and its keyset key. */
export interface ListedConversation {
  json: string;
  pinned: boolean;
  /** ISO 8601, as in the JSON (the cursor's form). */
  updatedAt: string;
  id: string;
}

/** The list statement for these options: its name, fixed text and values (EXPLAIN in chats.queries.db.test.ts). */
export function listConversationsStatement(
  actor: Actor,
  opts: { archived: boolean; limit: number; after?: ConversationKey },
): { name: string; text: string; values: unknown[] } {
  const name = `chats_list_${opts.archived ? 'archived' : 'live'}${opts.after ? '_after' : ''}`;
  const a = opts.after;
  const values: unknown[] = [actor.userId, opts.limit];
  if (a) {
    values.push(a.updatedAt.toISOString(), a.id);
    if (!opts.archived) values.push(a.pinned);
  }
  return { name, text: listStatements.get(name) ?? '', values };
}

/**
 * Newest activity first, pinned first (archived lists are by activity only). Keyset on (pinned, updated_at, id).
 * One prepared statement; each row comes back as the JSON the API sends (no ORM mapping, no serialisation here).
 */
export async function listConversations(
  db: Db,
  actor: Actor,
  opts: { archived: boolean; limit: number; after?: ConversationKey },
): Promise<ListedConversation[]> {
  const st = listConversationsStatement(actor, opts);
  return namedRows<ListedConversation>(db, st.name, st.text, st.values);
}

export async function updateConversation(
  db: Db,
  actor: Actor,
  id: string,
  patch: Partial<
    Pick<
      ConversationRow,
      'title' | 'titleSource' | 'pinned' | 'archivedAt' | 'deletedAt' | 'settings' | 'activeLeafId' | 'updatedAt'
    >
  >,
): Promise<ConversationRow | undefined> {
  const [row] = await db
    .update(conversations)
    .set(patch)
    .where(and(eq(conversations.userId, actor.userId), eq(conversations.id, id), isNull(conversations.deletedAt)))
    .returning();
  return row;
}

/** Sets an automatic title only if the conversation still has an automatic one (a user rename wins). */
export async function setAutoTitle(db: Db, actor: Actor, id: string, title: string, onlyIfNull: boolean) {
  await db
    .update(conversations)
    .set({ title })
    .where(
      and(
        eq(conversations.userId, actor.userId),
        eq(conversations.id, id),
        eq(conversations.titleSource, 'auto'),
        onlyIfNull ? isNull(conversations.title) : undefined,
      ),
    );
}

export async function listAllConversations(
  db: Db,
  actor: Actor,
  limit: number,
  ids?: string[],
): Promise<ConversationRow[]> {
  return db
    .select()
    .from(conversations)
    .where(
      and(
        eq(conversations.userId, actor.userId),
        isNull(conversations.deletedAt),
        ids ? inArray(conversations.id, ids) : undefined,
      ),
    )
    .orderBy(desc(conversations.updatedAt), desc(conversations.id))
    .limit(limit);
}

/** Retention: hard-deletes conversations soft-deleted before `before` (messages, generations, shares cascade). */
export async function systemPurgeDeleted(db: Db, before: Date, batch: number): Promise<number> {
  const rows = await executeRows<{ n: number }>(
    db,
    sql`with doomed as (
          select user_id, id from conversations
           where deleted_at is not null and deleted_at < ${before.toISOString()}::timestamptz
           limit ${batch}
        ), gone as (
          delete from conversations c using doomed d where c.user_id = d.user_id and c.id = d.id returning 1
        )
        select count(*)::int as n from gone`,
  );
  return rows[0]?.n ?? 0;
}

// ---------------- messages ----------------

export interface NewMessage {
  id?: string;
  conversationId: string;
  parentId: string | null;
  role: MessageRow['role'];
  content: ContentPart[];
  status?: MessageRow['status'];
  generationId?: string | null;
  model?: string | null;
  createdAt?: Date;
}

export async function insertMessages(db: Db, actor: Actor, rows: NewMessage[]): Promise<MessageRow[]> {
  if (rows.length === 0) return [];
  return db
    .insert(messages)
    .values(
      rows.map((m) => ({
        userId: actor.userId,
        ...(m.id ? { id: m.id } : {}),
        conversationId: m.conversationId,
        parentId: m.parentId,
        role: m.role,
        content: m.content,
        status: m.status ?? 'complete',
        generationId: m.generationId ?? null,
        model: m.model ?? null,
        ...(m.createdAt ? { createdAt: m.createdAt } : {}),
      })),
    )
    .returning();
}

export async function getMessage(db: Db, actor: Actor, id: string): Promise<MessageRow | undefined> {
  const [row] = await db
    .select()
    .from(messages)
    .where(and(eq(messages.userId, actor.userId), eq(messages.id, id)))
    .limit(1);
  return row;
}

/** The newest message of a conversation (the default leaf when none is recorded). */
export async function latestMessage(db: Db, actor: Actor, conversationId: string): Promise<MessageRow | undefined> {
  const [row] = await db
    .select()
    .from(messages)
    .where(and(eq(messages.userId, actor.userId), eq(messages.conversationId, conversationId)))
    .orderBy(desc(messages.id))
    .limit(1);
  return row;
}

const messageColumnList =
  'user_id, id, conversation_id, parent_id, role, content, status, generation_id, model, provider, deployment, ' +
  'tokens_in, tokens_out, cost_usd, error, created_at';
const messageColumns = sql.raw(messageColumnList);

type RawMessage = {
  user_id: string;
  id: string;
  conversation_id: string;
  parent_id: string | null;
  role: MessageRow['role'];
  content: ContentPart[];
  status: MessageRow['status'];
  generation_id: string | null;
  model: string | null;
  provider: string | null;
  deployment: string | null;
  tokens_in: number | null;
  tokens_out: number | null;
  cost_usd: number | null;
  error: { code: string; detail: string } | null;
  created_at: string | Date;
};

function fromRaw(r: RawMessage): Omit<MessageRow, 'tsv'> {
  return {
    userId: r.user_id,
    id: r.id,
    conversationId: r.conversation_id,
    parentId: r.parent_id,
    role: r.role,
    content: typeof r.content === 'string' ? (JSON.parse(r.content) as ContentPart[]) : r.content,
    status: r.status,
    generationId: r.generation_id,
    model: r.model,
    provider: r.provider,
    deployment: r.deployment,
    tokensIn: r.tokens_in,
    tokensOut: r.tokens_out,
    costUsd: r.cost_usd === null ? null : Number(r.cost_usd),
    error: r.error,
    createdAt: r.created_at instanceof Date ? r.created_at : new Date(r.created_at),
  };
}

export type MessageView = Omit<MessageRow, 'tsv'>;

/**
 * A branch: from `leafId` up through parent_id, newest first, at most `limit` messages. PostgreSQL evaluates the
 * recursive CTE lazily, so a page costs `limit` primary-key lookups however long the conversation is; the constant
 * user_id in both terms prunes the hash partitions at plan time.
 */
export function branchSql(actor: Actor, conversationId: string, leafId: string | SQL, limit: number): SQL {
  const leaf = typeof leafId === 'string' ? sql`${leafId}::uuid` : leafId;
  return sql`with recursive branch as (
          select ${messageColumns}, 1 as depth from messages
           where user_id = ${actor.userId}::uuid and id = ${leaf} and conversation_id = ${conversationId}::uuid
          union all
          select m.user_id, m.id, m.conversation_id, m.parent_id, m.role, m.content, m.status, m.generation_id,
                 m.model, m.provider, m.deployment, m.tokens_in, m.tokens_out, m.cost_usd, m.error, m.created_at,
                 b.depth + 1
            from branch b join messages m on m.id = b.parent_id
           where m.user_id = ${actor.userId}::uuid and b.depth < ${limit}
        )
        select * from branch limit ${limit}`;
}

export async function branchUpwards(
  db: Db,
  actor: Actor,
  conversationId: string,
  leafId: string,
  limit: number,
): Promise<MessageView[]> {
  const rows = await executeRows<RawMessage>(db, branchSql(actor, conversationId, leafId, limit));
  return rows.map(fromRaw);
}

/** A conversation as the service uses it (every column but the search vector). */
export type Conversation = Omit<ConversationRow, 'titleTsv'>;

/**
 * The branch as a reply's history needs it (role and content only, no other column turned into JSON and back):
 * a prepared statement's text, $1 user, $2 conversation, $3 limit; `table` is the user's messages partition.
 */
const BRANCH_TEXT = (leaf: string, table: string) => `with recursive branch as (
    select id, parent_id, role, content, 1 as depth from ${table}
     where user_id = $1::uuid and id = ${leaf} and conversation_id = $2::uuid
    union all
    select m.id, m.parent_id, m.role, m.content, b.depth + 1
      from branch b join ${table} m on m.id = b.parent_id
     where m.user_id = $1::uuid and b.depth < $3::int
  )
  select role, content, depth from branch limit $3::int`;

const CONVERSATION_WITH_BRANCH = (
  table: string,
) => `select c.user_id, c.id, c.title, c.title_source, c.pinned, c.settings, c.active_leaf_id,
       c.created_at, c.updated_at, c.archived_at, c.deleted_at,
       (select coalesce(json_agg(json_build_object('role', b.role, 'content', b.content) order by b.depth desc),
                        '[]'::json)
          from (${BRANCH_TEXT('c.active_leaf_id', table)}) b) as branch
  from conversations c
 where c.user_id = $1::uuid and c.id = $2::uuid and c.deleted_at is null`;

/** A message of a reply's history: what the model request is built from. */
export type HistoryMessage = Pick<MessageView, 'role' | 'content'>;

/**
 * A conversation and its active branch (at most `limit` messages, oldest first) in one prepared statement: what a
 * send reads before it writes (the reply's history), one round trip instead of two.
 */
export async function getConversationWithBranch(
  db: Db,
  actor: Actor,
  id: string,
  limit: number,
): Promise<{ conversation: Conversation; branch: HistoryMessage[] } | undefined> {
  const table = await messagesPartition(db, actor.userId);
  const [r] = await namedRows<{
    user_id: string;
    id: string;
    title: string | null;
    title_source: 'auto' | 'user';
    pinned: boolean;
    settings: ChatSettings;
    active_leaf_id: string | null;
    created_at: Date;
    updated_at: Date;
    archived_at: Date | null;
    deleted_at: Date | null;
    branch: HistoryMessage[] | string;
  }>(db, `chats_conversation_with_branch_${table}`, CONVERSATION_WITH_BRANCH(table), [actor.userId, id, limit]);
  if (!r) return undefined;
  return {
    conversation: {
      userId: r.user_id,
      id: r.id,
      title: r.title,
      titleSource: r.title_source,
      pinned: r.pinned,
      settings: r.settings,
      activeLeafId: r.active_leaf_id,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      archivedAt: r.archived_at,
      deletedAt: r.deleted_at,
    },
    branch: typeof r.branch === 'string' ? (JSON.parse(r.branch) as HistoryMessage[]) : r.branch,
  };
}

/** A message as a page lists it: with every message under the same parent (itself included), oldest first. */
export type PageMessage = MessageView & { siblingIds: string[] };

/**
 * `rows` (a statement selecting message columns) with each row's siblings, ordered by `order` (a column of `r`):
 * one statement, each row's siblings an index range of `(user_id, conversation_id, parent_id, id)`.
 */
function withSiblings(actor: Actor, conversationId: string, rows: SQL, order: SQL, maxSiblings: number): SQL {
  const siblings = (parent: SQL) =>
    sql`array(select s.id from messages s where s.user_id = ${actor.userId}::uuid
          and s.conversation_id = ${conversationId}::uuid and ${parent} order by s.id limit ${maxSiblings})`;
  return sql`select r.*, case when r.parent_id is null then ${siblings(sql`s.parent_id is null`)}
                              else ${siblings(sql`s.parent_id = r.parent_id`)} end as sibling_ids
               from (${rows}) r
              order by ${order}`;
}

async function pageRows(db: Db, query: SQL): Promise<PageMessage[]> {
  const rows = await executeRows<RawMessage & { sibling_ids: string[] }>(db, query);
  return rows.map((r) => ({ ...fromRaw(r), siblingIds: r.sibling_ids }));
}

/** A page of a branch (branchSql) with each message's siblings, newest first. */
export function branchPageSql(
  actor: Actor,
  conversationId: string,
  leafId: string | SQL,
  limit: number,
  maxSiblings: number,
): SQL {
  const branch = branchSql(actor, conversationId, leafId, limit);
  return withSiblings(actor, conversationId, branch, sql`r.depth`, maxSiblings);
}

export async function branchPage(
  db: Db,
  actor: Actor,
  conversationId: string,
  leafId: string | SQL,
  limit: number,
  maxSiblings: number,
): Promise<PageMessage[]> {
  return pageRows(db, branchPageSql(actor, conversationId, leafId, limit, maxSiblings));
}

/** The leaf a conversation's first page starts from: its active leaf, if it is the actor's and not deleted. */
export function activeLeafSql(actor: Actor, conversationId: string): SQL {
  return sql`(select active_leaf_id from conversations
               where user_id = ${actor.userId}::uuid and id = ${conversationId}::uuid and deleted_at is null)`;
}

/** Every branch at once: a conversation's messages in creation order, keyset on id (the client builds the tree). */
export async function treePage(
  db: Db,
  actor: Actor,
  conversationId: string,
  limit: number,
  maxSiblings: number,
  afterId?: string,
): Promise<PageMessage[]> {
  const rows = sql`select ${messageColumns} from messages
                    where user_id = ${actor.userId}::uuid and conversation_id = ${conversationId}::uuid
                      ${afterId ? sql`and id > ${afterId}::uuid` : sql``}
                    order by id limit ${limit}`;
  return pageRows(db, withSiblings(actor, conversationId, rows, sql`r.id`, maxSiblings));
}

/** Every message of a conversation, oldest first (export, share snapshots). */
export async function allMessages(db: Db, actor: Actor, conversationId: string, limit: number): Promise<MessageRow[]> {
  return db
    .select()
    .from(messages)
    .where(and(eq(messages.userId, actor.userId), eq(messages.conversationId, conversationId)))
    .orderBy(asc(messages.id))
    .limit(limit);
}

/** Final (or checkpoint) state of an assistant message that is still streaming. */
export async function updateStreamingMessage(
  db: Db,
  actor: Actor,
  id: string,
  patch: Partial<
    Pick<
      MessageRow,
      'content' | 'status' | 'model' | 'provider' | 'deployment' | 'tokensIn' | 'tokensOut' | 'costUsd' | 'error'
    >
  >,
): Promise<MessageRow | undefined> {
  const [row] = await db
    .update(messages)
    .set(patch)
    .where(and(eq(messages.userId, actor.userId), eq(messages.id, id), eq(messages.status, 'streaming')))
    .returning();
  return row;
}

// ---------------- generations ----------------

export async function insertGeneration(
  db: Db,
  actor: Actor,
  values: {
    id: string;
    conversationId: string;
    userMessageId: string | null;
    assistantMessageId: string;
    owner: string;
    at: Date;
  },
): Promise<GenerationRow> {
  const [row] = await db
    .insert(generations)
    .values({ userId: actor.userId, ...values, heartbeatAt: values.at, createdAt: values.at })
    .returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

/**
 * The start of a reply in ONE statement (one round trip, atomic as a statement): the user message (if any) and
 * the assistant placeholder, the generation, the conversation's leaf and activity time (and its heuristic title
 * while it has none), and the Idempotency-Key's generation. The search index (the generated `tsv`) is written with
 * the rows. Nothing is read back: the caller built every value.
 */
export async function startGeneration(
  db: Db,
  actor: Actor,
  s: {
    messages: NewMessage[];
    generation: { id: string; conversationId: string; userMessageId: string | null; assistantMessageId: string };
    owner: string;
    at: Date;
    /** Set as the title when the conversation still has none (and its title is automatic). */
    autoTitle: string | null;
    idempotencyKey?: string;
  },
): Promise<GenerationRow> {
  const table = await messagesPartition(db, actor.userId);
  const at = s.at.toISOString();
  const g = s.generation;
  const values: unknown[] = [actor.userId, at];
  const p = (value: unknown) => `$${values.push(value)}`;
  const rows = s.messages.map(
    (m) =>
      `($1::uuid, ${p(m.id ?? null)}::uuid, ${p(m.conversationId)}::uuid, ${p(m.parentId)}::uuid, ${p(m.role)}, ` +
      `${p(JSON.stringify(m.content))}::jsonb, ${p(m.status ?? 'complete')}, ${p(m.generationId ?? null)}::uuid, ` +
      `${p(m.model ?? null)}, ${p((m.createdAt ?? s.at).toISOString())}::timestamptz)`,
  );
  const title =
    s.autoTitle === null
      ? 'title'
      : `case when title is null and title_source = 'auto' then ${p(s.autoTitle)} else title end`;
  const conv = p(g.conversationId);
  const key =
    s.idempotencyKey === undefined
      ? ''
      : `, k as (update idempotency_keys set generation_id = ${p(g.id)}::uuid
                  where user_id = $1::uuid and key = ${p(s.idempotencyKey)})`;
  const assistant = p(g.assistantMessageId);
  // One fixed text per shape (how many messages, a title or not, a key or not): a prepared statement each.
  const name = `chats_start_${s.messages.length}${s.autoTitle === null ? '' : '_t'}${key ? '_k' : ''}_${table}`;
  await namedRows(
    db,
    name,
    `with m as (insert into ${table} (user_id, id, conversation_id, parent_id, role, content, status, generation_id,
                                      model, created_at) values ${rows.join(', ')}),
          c as (update conversations set active_leaf_id = ${assistant}::uuid, updated_at = $2::timestamptz,
                       title = ${title}
                 where user_id = $1::uuid and id = ${conv}::uuid and deleted_at is null)${key}
     insert into generations (user_id, id, conversation_id, user_message_id, assistant_message_id, status, owner,
                              heartbeat_at, last_seq, created_at)
     values ($1::uuid, ${p(g.id)}::uuid, ${conv}::uuid, ${p(g.userMessageId)}::uuid, ${assistant}::uuid, 'streaming',
             ${p(s.owner)}, $2::timestamptz, 0, $2::timestamptz)`,
    values,
  );
  return {
    userId: actor.userId,
    ...g,
    status: 'streaming',
    owner: s.owner,
    heartbeatAt: s.at,
    lastSeq: 0,
    createdAt: s.at,
    finishedAt: null,
  };
}

/** What a finished reply's terminal event is built from (chats.generations.ts terminalEvent). */
export type FinishedMessage = Pick<
  MessageRow,
  'id' | 'status' | 'tokensIn' | 'tokensOut' | 'costUsd' | 'model' | 'provider' | 'deployment' | 'error'
>;

/**
 * The end of a reply in ONE statement: moves a live generation to its terminal status (guarded: `owner` fences
 * the worker, `staleBefore` lets the reaper take only a generation whose heartbeat is old), and only if
 * that happened, writes the assistant message (its final content, so its search index, and status) and the
 * conversation's activity time. Undefined when someone else finished it. A live generation whose message is no
 * longer streaming fails the whole statement (nothing is written), as the transaction it replaces did.
 */
export async function finishReply(
  db: Db,
  actor: Actor,
  gen: Pick<GenerationRow, 'id' | 'conversationId' | 'assistantMessageId'>,
  values: {
    status: GenerationStatus;
    lastSeq: number;
    at: Date;
    content: ContentPart[];
    message: Partial<
      Pick<MessageRow, 'model' | 'provider' | 'deployment' | 'tokensIn' | 'tokensOut' | 'costUsd' | 'error'>
    >;
  },
  guard: { owner: string } | { staleBefore: Date },
): Promise<{ generation: Pick<GenerationRow, 'id' | 'status'>; message: FinishedMessage } | undefined> {
  const table = await messagesPartition(db, actor.userId);
  const m = values.message;
  const params: unknown[] = [actor.userId, values.at.toISOString(), gen.id, values.status];
  const p = (value: unknown) => `$${params.push(value)}`;
  const set = [`content = ${p(JSON.stringify(values.content))}::jsonb`, 'status = $4'];
  // The columns written differ (the reaper writes none of them): the statement's name says which, so each shape
  // is a prepared statement of its own.
  let shape = '';
  const column = (name: string, value: unknown, cast = '') => {
    shape += value === undefined ? '0' : '1';
    if (value !== undefined) set.push(`${name} = ${p(value)}${cast}`);
  };
  column('model', m.model);
  column('provider', m.provider);
  column('deployment', m.deployment);
  column('tokens_in', m.tokensIn, '::int');
  column('tokens_out', m.tokensOut, '::int');
  column('cost_usd', m.costUsd, '::float8');
  column('error', m.error === undefined ? undefined : m.error === null ? null : JSON.stringify(m.error), '::jsonb');
  const live =
    'owner' in guard
      ? `owner = ${p(guard.owner)}`
      : `heartbeat_at < ${p(guard.staleBefore.toISOString())}::timestamptz`;
  const name = `chats_finish_${'owner' in guard ? 'o' : 's'}_${shape}_${table}`;
  const rows = await namedRows<{
    id: string;
    status: GenerationStatus;
    m_id: string | null;
    m_status: MessageRow['status'];
    model: string | null;
    provider: string | null;
    deployment: string | null;
    tokens_in: number | null;
    tokens_out: number | null;
    cost_usd: number | string | null;
    error: { code: string; detail: string } | string | null;
  }>(
    db,
    name,
    `with g as (
          update generations set status = $4, last_seq = ${p(values.lastSeq)}::int, finished_at = $2::timestamptz
           where user_id = $1::uuid and id = $3::uuid and status = 'streaming' and ${live}
          returning id, status),
        m as (
          update ${table} set ${set.join(', ')}
           where user_id = $1::uuid and id = ${p(gen.assistantMessageId)}::uuid and status = 'streaming'
             and exists (select 1 from g)
          returning id, status, model, provider, deployment, tokens_in, tokens_out, cost_usd, error),
        c as (
          update conversations set updated_at = $2::timestamptz
           where user_id = $1::uuid and id = ${p(gen.conversationId)}::uuid and deleted_at is null
             and exists (select 1 from g))
        select g.id, g.status, m.id as m_id, m.status as m_status, m.model, m.provider, m.deployment, m.tokens_in,
               m.tokens_out, m.cost_usd, m.error,
               -- fails the statement (so nothing above is written) when the message was not streaming
               case when m.id is null then (g.id::text || ': assistant message of a live generation is not streaming')::int end as broken
          from g left join m on true`,
    params,
  );
  const r = rows[0];
  if (!r || r.m_id === null) return undefined;
  return {
    generation: { id: r.id, status: r.status },
    message: {
      id: r.m_id,
      status: r.m_status,
      model: r.model,
      provider: r.provider,
      deployment: r.deployment,
      tokensIn: r.tokens_in,
      tokensOut: r.tokens_out,
      costUsd: r.cost_usd === null ? null : Number(r.cost_usd),
      error: typeof r.error === 'string' ? (JSON.parse(r.error) as { code: string; detail: string }) : r.error,
    },
  };
}

export async function getGeneration(db: Db, actor: Actor, id: string): Promise<GenerationRow | undefined> {
  const [row] = await db
    .select()
    .from(generations)
    .where(and(eq(generations.userId, actor.userId), eq(generations.id, id)))
    .limit(1);
  return row;
}

/** The worker's heartbeat; false when it no longer owns a live generation (the reaper took it: stop writing). */
export async function heartbeatGeneration(db: Db, actor: Actor, id: string, owner: string, at: Date): Promise<boolean> {
  const rows = await db
    .update(generations)
    .set({ heartbeatAt: at })
    .where(
      and(
        eq(generations.userId, actor.userId),
        eq(generations.id, id),
        eq(generations.status, 'streaming'),
        eq(generations.owner, owner),
      ),
    )
    .returning({ id: generations.id });
  return rows.length === 1;
}

/** Live generations whose worker stopped beating (any user: the reaper's scan). */
export async function systemStaleGenerations(db: Db, staleBefore: Date, limit: number): Promise<GenerationRow[]> {
  return db
    .select()
    .from(generations)
    .where(and(eq(generations.status, 'streaming'), lt(generations.heartbeatAt, staleBefore)))
    .orderBy(asc(generations.heartbeatAt))
    .limit(limit);
}

// ---------------- idempotency ----------------

export type IdempotencyRow = typeof idempotencyKeys.$inferSelect;

/** Inserts the key; returns the existing row instead when the key is taken. */
export async function claimIdempotencyKey(
  db: Db,
  actor: Actor,
  key: string,
  requestHash: string,
  at: Date,
  expiresAt: Date,
): Promise<{ claimed: true } | { claimed: false; row: IdempotencyRow }> {
  const inserted = await db
    .insert(idempotencyKeys)
    .values({ userId: actor.userId, key, requestHash, createdAt: at, expiresAt })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  if (inserted.length === 1) return { claimed: true };
  const [row] = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.userId, actor.userId), eq(idempotencyKeys.key, key)))
    .limit(1);
  if (!row) return claimIdempotencyKey(db, actor, key, requestHash, at, expiresAt); // expired and purged meanwhile
  return { claimed: false, row };
}

/** Takes over a key whose first request died while setting up (still no generation after the timeout). */
export async function retakeIdempotencyKey(
  db: Db,
  actor: Actor,
  key: string,
  requestHash: string,
  olderThan: Date,
  at: Date,
): Promise<boolean> {
  const rows = await db
    .update(idempotencyKeys)
    .set({ createdAt: at })
    .where(
      and(
        eq(idempotencyKeys.userId, actor.userId),
        eq(idempotencyKeys.key, key),
        eq(idempotencyKeys.requestHash, requestHash),
        isNull(idempotencyKeys.generationId),
        lt(idempotencyKeys.createdAt, olderThan),
      ),
    )
    .returning({ key: idempotencyKeys.key });
  return rows.length === 1;
}

export async function releaseIdempotencyKey(db: Db, actor: Actor, key: string) {
  await db
    .delete(idempotencyKeys)
    .where(
      and(eq(idempotencyKeys.userId, actor.userId), eq(idempotencyKeys.key, key), isNull(idempotencyKeys.generationId)),
    );
}

export async function systemPurgeIdempotencyKeys(db: Db, now: Date): Promise<void> {
  await db.delete(idempotencyKeys).where(lt(idempotencyKeys.expiresAt, now));
}

// ---------------- presets ----------------

export async function listPresets(db: Db, actor: Actor, limit: number): Promise<PresetRow[]> {
  return db.select().from(presets).where(eq(presets.userId, actor.userId)).orderBy(desc(presets.id)).limit(limit);
}

export async function countPresets(db: Db, actor: Actor): Promise<number> {
  const rows = await executeRows<{ n: number }>(
    db,
    sql`select count(*)::int as n from presets where user_id = ${actor.userId}::uuid`,
  );
  return rows[0]?.n ?? 0;
}

export async function getPreset(db: Db, actor: Actor, id: string): Promise<PresetRow | undefined> {
  const [row] = await db
    .select()
    .from(presets)
    .where(and(eq(presets.userId, actor.userId), eq(presets.id, id)))
    .limit(1);
  return row;
}

export async function insertPreset(db: Db, actor: Actor, name: string, settings: ChatSettings): Promise<PresetRow> {
  const [row] = await db.insert(presets).values({ userId: actor.userId, name, settings }).returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

export async function updatePreset(
  db: Db,
  actor: Actor,
  id: string,
  patch: { name?: string; settings?: ChatSettings },
): Promise<PresetRow | undefined> {
  const [row] = await db
    .update(presets)
    .set({ ...patch, updatedAt: new Date() })
    .where(and(eq(presets.userId, actor.userId), eq(presets.id, id)))
    .returning();
  return row;
}

export async function deletePreset(db: Db, actor: Actor, id: string): Promise<boolean> {
  const rows = await db
    .delete(presets)
    .where(and(eq(presets.userId, actor.userId), eq(presets.id, id)))
    .returning({ id: presets.id });
  return rows.length === 1;
}

// ---------------- search ----------------

export interface SearchHit {
  conversationId: string;
  conversationTitle: string | null;
  messageId: string | null;
  snippet: string;
  createdAt: Date;
}

/**
 * Full-text search over the actor's live conversations: titles and message text, newest first (message or
 * conversation id descending: UUIDv7, so creation order), keyset on that id. `query` is a tsquery built by the
 * service (prefix terms); snippets come from ts_headline with <mark> around hits.
 *
 * Recency order bounds the work per page (ADR 041): each branch is `order by id desc limit n`, so for a common word
 * PostgreSQL walks the user's primary key (user_id, id) backwards and stops after `n` hits, and for a rare word it
 * takes the GIN bitmap and sorts the few hits; nothing is ranked. ts_headline (it re-parses the text: the expensive
 * part) runs for the page only.
 */
export function searchSql(actor: Actor, tsquery: string, limit: number, beforeId?: string): SQL {
  const opts = 'StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MaxWords=20, MinWords=5';
  // Deleted conversations are an anti-join (a few rows, if any), not a join on every hit's conversation. The tsquery
  // is inlined (not a CTE) so the planner can use it as a GIN index condition and estimate its selectivity.
  const q = sql`to_tsquery('simple', ${tsquery})`;
  const before = (column: SQL) => (beforeId ? sql`and ${column} < ${beforeId}::uuid` : sql``);
  return sql`with page as (
          (select m.conversation_id, m.id as message_id, m.id as sort_id, m.created_at, m.content, null::text as title
             from messages m
            where m.user_id = ${actor.userId}::uuid and m.tsv @@ ${q} ${before(sql`m.id`)}
              and not exists (select 1 from conversations d where d.user_id = m.user_id and d.id = m.conversation_id
                               and d.deleted_at is not null)
            order by m.id desc
            limit ${limit})
          union all
          (select c.id, null, c.id, c.created_at, null, c.title
             from conversations c
            where c.user_id = ${actor.userId}::uuid and c.deleted_at is null and c.title_tsv @@ ${q} ${before(sql`c.id`)}
            order by c.id desc
            limit ${limit})
          order by sort_id desc
          limit ${limit}
        )
        select p.conversation_id, c.title, p.message_id, p.created_at,
               case when p.message_id is null then ts_headline('simple', coalesce(p.title, ''), ${q}, ${opts})
                    else ts_headline('simple',
                      (select string_agg(x, ' ') from jsonb_array_elements_text(
                         jsonb_path_query_array(p.content, '$[*] ? (@.type == "text").text'::jsonpath)) as x),
                      ${q}, ${opts})
               end as snippet
          from page p
          join conversations c on c.user_id = ${actor.userId}::uuid and c.id = p.conversation_id
         order by p.sort_id desc`;
}

export async function search(
  db: Db,
  actor: Actor,
  tsquery: string,
  limit: number,
  beforeId?: string,
): Promise<SearchHit[]> {
  const rows = await executeRows<{
    conversation_id: string;
    title: string | null;
    message_id: string | null;
    snippet: string;
    created_at: string | Date;
  }>(db, searchSql(actor, tsquery, limit, beforeId));
  return rows.map((r) => ({
    conversationId: r.conversation_id,
    conversationTitle: r.title,
    messageId: r.message_id,
    snippet: r.snippet,
    createdAt: r.created_at instanceof Date ? r.created_at : new Date(r.created_at),
  }));
}

// ---------------- shares ----------------

export async function insertShare(
  db: Db,
  actor: Actor,
  values: { token: string; conversationId: string; snapshot: ShareSnapshot; expiresAt: Date | null },
): Promise<ShareRow> {
  const [row] = await db
    .insert(shares)
    .values({ userId: actor.userId, ...values })
    .returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

export async function listShares(db: Db, actor: Actor, conversationId?: string): Promise<ShareRow[]> {
  return db
    .select()
    .from(shares)
    .where(
      and(
        eq(shares.userId, actor.userId),
        isNull(shares.revokedAt),
        conversationId ? eq(shares.conversationId, conversationId) : undefined,
      ),
    )
    .orderBy(desc(shares.id))
    .limit(500);
}

export async function revokeShare(db: Db, actor: Actor, id: string, at: Date): Promise<boolean> {
  const rows = await db
    .update(shares)
    .set({ revokedAt: at })
    .where(and(eq(shares.userId, actor.userId), eq(shares.id, id), isNull(shares.revokedAt)))
    .returning({ id: shares.id });
  return rows.length === 1;
}

export async function revokeConversationShares(db: Db, actor: Actor, conversationId: string, at: Date) {
  await db
    .update(shares)
    .set({ revokedAt: at })
    .where(and(eq(shares.userId, actor.userId), eq(shares.conversationId, conversationId), isNull(shares.revokedAt)));
}

/** The anonymous read: by capability token only, live and unexpired. */
export async function publicShareByToken(db: Db, token: string, now: Date): Promise<ShareRow | undefined> {
  const [row] = await db
    .select()
    .from(shares)
    .where(
      and(eq(shares.token, token), isNull(shares.revokedAt), or(isNull(shares.expiresAt), gt(shares.expiresAt, now))),
    )
    .limit(1);
  return row;
}
