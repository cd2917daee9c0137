import pg from 'pg';

/**
 * Bulk chats for the chats benchmark (issue 5 "Performance"). Like bench/seed/users.ts, rows are generated
 * server-side (INSERT … SELECT over generate_series) so only statements cross the wire. The rows are what the app
 * writes (packages/db/drizzle/0002_chats.sql): UUIDv7 ids of their created_at, messages chained by `parent_id` (a
 * user/assistant exchange per pair, assistant rows with model, provider, tokens and cost), `active_leaf_id` on the
 * last message, and the search columns (`title_tsv`, `tsv`) filled by PostgreSQL itself as generated columns; the
 * messages go to their hash partition by `user_id` on insert.
 *
 * The heavy user holds `conversations` conversations of `messagesPerConversation` messages, plus one conversation of
 * `bigConversationMessages`; `otherUsers` other users hold one small conversation each, so the tables and indexes
 * are not one user's alone.
 */

/** Words the seeded titles and messages are made of (search queries pick from them). */
export const SEED_WORDS = [
  'tide',
  'moon',
  'ocean',
  'river',
  'garden',
  'recipe',
  'bread',
  'coffee',
  'travel',
  'train',
  'budget',
  'invoice',
  'python',
  'rust',
  'docker',
  'kernel',
  'query',
  'index',
  'cache',
  'latency',
  'poem',
  'story',
  'dragon',
  'castle',
  'planet',
  'orbit',
  'photon',
  'quantum',
  'protein',
  'vitamin',
  'running',
  'marathon',
  'guitar',
  'piano',
  'chord',
  'melody',
  'history',
  'empire',
  'treaty',
  'harbor',
  'winter',
  'summer',
  'autumn',
  'spring',
  'mountain',
  'valley',
  'forest',
  'desert',
  'market',
  'pricing',
  'startup',
  'hiring',
  'resume',
  'letter',
  'email',
  'meeting',
  'schedule',
  'weekend',
  'birthday',
  'gift',
  'puzzle',
  'riddle',
  'chess',
  'tennis',
] as const;

export interface ChatSeedOptions {
  databaseUrl: string;
  /** The user who holds the big history (must exist). */
  heavyUserId: string;
  conversations?: number;
  messagesPerConversation?: number;
  bigConversationMessages?: number;
  /** How many other existing users get one small conversation each. */
  otherUsers?: number;
  batch?: number;
  onProgress?: (what: string, done: number, total: number) => void;
}

export interface ChatSeedResult {
  conversations: number;
  messages: number;
  /** The conversation with `bigConversationMessages` messages. */
  bigConversationId: string;
}

const WORDS_SQL = `ARRAY[${SEED_WORDS.map((w) => `'${w}'`).join(',')}]::text[]`;

/**
 * Session-local helpers: a UUIDv7 of a timestamp (48-bit ms, version 7, variant 8, then md5 bits of a salt, like
 * bench/seed/users.ts), and a text of `n` words.
 */
const HELPERS_SQL = [
  `CREATE FUNCTION pg_temp.seed_uuid(at timestamptz, salt text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7' || substr(md5(salt), 1, 3) || '8'
      || substr(md5(salt), 4, 15))::uuid $$`,
  // One word in eight is a SEED_WORD (what searches look for, so a word is in about one message in ten); the rest
  // come from 20,000 filler words (hex), so the search index has a realistic vocabulary.
  `CREATE FUNCTION pg_temp.seed_text(seed int, n int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(CASE WHEN h % 8 = 0 THEN (${WORDS_SQL})[1 + (h / 8) % ${SEED_WORDS.length}]
                           ELSE substr(md5((h % 20000)::text), 1, 3 + h % 6) END, ' ')
    FROM (SELECT hashint8(seed::bigint * 131 + k) & 2147483647 AS h FROM generate_series(1, n) AS k) x $$`,
];

/**
 * Conversations `lo..hi` of one user: conversation j was created j hours (plus a second per message) before `$6`,
 * and last updated at its last message. 2% pinned, 3% archived. `$1` user, `$2` lo, `$3` hi, `$4` messages per
 * conversation, `$5` salt, `$6` the seed's "now".
 */
const CONVERSATIONS_SQL = `
INSERT INTO conversations (user_id, id, title, title_source, pinned, settings, active_leaf_id, created_at, updated_at, archived_at)
SELECT $1::uuid, pg_temp.seed_uuid(c, $5 || ':c:' || j), initcap(pg_temp.seed_text(j, 2 + j % 4)),
  CASE WHEN j % 5 = 0 THEN 'user' ELSE 'auto' END,
  j % 50 = 7, '{}'::jsonb,
  pg_temp.seed_uuid(c + ($4::int - 1) * interval '1 second', $5 || ':m:' || j || ':' || $4::int),
  c, c + ($4::int - 1) * interval '1 second',
  CASE WHEN j % 33 = 11 THEN c + interval '1 day' END
FROM (SELECT j, $6::timestamptz - j * interval '1 hour' - $4::int * interval '1 second' AS c
      FROM generate_series($2::int, $3::int) AS j) g
RETURNING id, created_at`;

/**
 * Messages `lo..hi` (1-based positions) of one conversation: a chain where message k answers k-1; odd positions
 * are the user's, even ones the assistant's (complete, model `demo`, tokens, cost). `$1` user, `$2` conversation id,
 * `$3` conversation created_at, `$4` lo, `$5` hi, `$6` salt (`<salt>:m:<j>`).
 */
const MESSAGES_SQL = `
INSERT INTO messages (user_id, id, conversation_id, parent_id, role, content, status, model, provider, deployment,
  tokens_in, tokens_out, cost_usd, created_at)
SELECT $1::uuid, pg_temp.seed_uuid(at, $6 || ':' || k), $2::uuid,
  CASE WHEN k > 1 THEN pg_temp.seed_uuid(at - interval '1 second', $6 || ':' || (k - 1)) END,
  CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
  jsonb_build_array(jsonb_build_object('type', 'text', 'text', pg_temp.seed_text(k * 7 + hashtext($6) % 1000, CASE WHEN k % 2 = 1 THEN 12 ELSE 60 END))),
  'complete',
  CASE WHEN k % 2 = 0 THEN 'demo' END, CASE WHEN k % 2 = 0 THEN 'demo' END, CASE WHEN k % 2 = 0 THEN 'demo' END,
  CASE WHEN k % 2 = 0 THEN 20 + k % 400 END, CASE WHEN k % 2 = 0 THEN 80 END, CASE WHEN k % 2 = 0 THEN 0 END,
  at
FROM (SELECT k, $3::timestamptz + (k - 1) * interval '1 second' AS at FROM generate_series($4::int, $5::int) AS k) g`;

/**
 * The small conversations of every heavy-user conversation in `lo..hi` at once (each `$4` messages), built like
 * MESSAGES_SQL. `$1` user, `$2` lo, `$3` hi, `$4` messages per conversation, `$5` salt, `$6` the seed's "now".
 */
const SMALL_MESSAGES_SQL = `
INSERT INTO messages (user_id, id, conversation_id, parent_id, role, content, status, model, provider, deployment,
  tokens_in, tokens_out, cost_usd, created_at)
SELECT $1::uuid, pg_temp.seed_uuid(at, $5 || ':m:' || j || ':' || k), pg_temp.seed_uuid(c, $5 || ':c:' || j),
  CASE WHEN k > 1 THEN pg_temp.seed_uuid(at - interval '1 second', $5 || ':m:' || j || ':' || (k - 1)) END,
  CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
  jsonb_build_array(jsonb_build_object('type', 'text', 'text', pg_temp.seed_text(j * 7919 + k, CASE WHEN k % 2 = 1 THEN 12 ELSE 60 END))),
  'complete',
  CASE WHEN k % 2 = 0 THEN 'demo' END, CASE WHEN k % 2 = 0 THEN 'demo' END, CASE WHEN k % 2 = 0 THEN 'demo' END,
  CASE WHEN k % 2 = 0 THEN 20 + k END, CASE WHEN k % 2 = 0 THEN 80 END, CASE WHEN k % 2 = 0 THEN 0 END,
  at
FROM (SELECT j, $6::timestamptz - j * interval '1 hour' - $4::int * interval '1 second' AS c FROM generate_series($2::int, $3::int) AS j) g
CROSS JOIN LATERAL (SELECT k, g.c + (k - 1) * interval '1 second' AS at FROM generate_series(1, $4::int) AS k) m`;

/** One small conversation (4 messages) for each of `$1` other users (not the heavy one, `$2`); `$3` the seed's "now". */
const OTHER_USERS_SQL = `
WITH picked AS (
  SELECT id AS user_id, row_number() OVER () AS n FROM users WHERE id <> $2::uuid ORDER BY id LIMIT $1::int
), convs AS (
  INSERT INTO conversations (user_id, id, title, title_source, settings, active_leaf_id, created_at, updated_at)
  SELECT user_id, pg_temp.seed_uuid($3::timestamptz - n * interval '1 minute', 'o:c:' || n), initcap(pg_temp.seed_text(n::int, 3)),
    'auto', '{}'::jsonb, pg_temp.seed_uuid($3::timestamptz - n * interval '1 minute' + interval '3 seconds', 'o:m:' || n || ':4'),
    $3::timestamptz - n * interval '1 minute', $3::timestamptz - n * interval '1 minute' + interval '3 seconds'
  FROM picked
  RETURNING user_id, id, created_at
)
INSERT INTO messages (user_id, id, conversation_id, parent_id, role, content, status, model, provider, tokens_in,
  tokens_out, cost_usd, created_at)
SELECT c.user_id, pg_temp.seed_uuid(c.created_at + (k - 1) * interval '1 second', 'o:m:' || p.n || ':' || k), c.id,
  CASE WHEN k > 1 THEN pg_temp.seed_uuid(c.created_at + (k - 2) * interval '1 second', 'o:m:' || p.n || ':' || (k - 1)) END,
  CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
  jsonb_build_array(jsonb_build_object('type', 'text', 'text', pg_temp.seed_text(p.n::int * 13 + k, 20))),
  'complete', CASE WHEN k % 2 = 0 THEN 'demo' END, CASE WHEN k % 2 = 0 THEN 'demo' END,
  CASE WHEN k % 2 = 0 THEN 20 END, CASE WHEN k % 2 = 0 THEN 80 END, CASE WHEN k % 2 = 0 THEN 0 END,
  c.created_at + (k - 1) * interval '1 second'
FROM convs c JOIN picked p ON p.user_id = c.user_id
CROSS JOIN generate_series(1, 4) AS k`;

/** Seeds the chat history; migrations and users must exist. */
export async function seedChats(opts: ChatSeedOptions): Promise<ChatSeedResult> {
  const conversations = opts.conversations ?? 10_000;
  const perConversation = opts.messagesPerConversation ?? 4;
  const big = opts.bigConversationMessages ?? 2000;
  const otherUsers = opts.otherUsers ?? 10_000;
  const batch = opts.batch ?? 1000;
  const salt = opts.heavyUserId.slice(-8);
  const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'genz-seed-chats' });
  await client.connect();
  try {
    for (const statement of HELPERS_SQL) await client.query(statement);
    const base = new Date();
    let messages = 0;
    // Conversation 1 is the big one (the most recently active after the pinned ones); 2..N are small.
    const made = await client.query<{ id: string; created_at: Date }>(CONVERSATIONS_SQL, [
      opts.heavyUserId,
      1,
      1,
      big,
      salt,
      base,
    ]);
    const bigConversation = made.rows[0];
    if (!bigConversation) throw new Error('the big conversation was not created');
    for (let lo = 1; lo <= big; lo += batch) {
      const hi = Math.min(big, lo + batch - 1);
      const params = [opts.heavyUserId, bigConversation.id, bigConversation.created_at, lo, hi, `${salt}:m:1`];
      messages += (await client.query(MESSAGES_SQL, params)).rowCount ?? 0;
      opts.onProgress?.('big conversation', hi, big);
    }
    for (let lo = 2; lo <= conversations; lo += batch) {
      const hi = Math.min(conversations, lo + batch - 1);
      await client.query(CONVERSATIONS_SQL, [opts.heavyUserId, lo, hi, perConversation, salt, base]);
      const res = await client.query(SMALL_MESSAGES_SQL, [opts.heavyUserId, lo, hi, perConversation, salt, base]);
      messages += res.rowCount ?? 0;
      opts.onProgress?.('conversations', hi, conversations);
    }
    if (otherUsers > 0) {
      const res = await client.query(OTHER_USERS_SQL, [otherUsers, opts.heavyUserId, base]);
      messages += res.rowCount ?? 0;
      opts.onProgress?.('other users', otherUsers, otherUsers);
    }
    // VACUUM too: it flushes the GIN pending lists the bulk insert filled (autovacuum would, on a live database);
    // until then every search scans them.
    await client.query('VACUUM (ANALYZE) conversations, messages');
    return { conversations: conversations + otherUsers, messages, bigConversationId: bigConversation.id };
  } finally {
    await client.end();
  }
}
