import { executeRows, schema, uuidv7 } from '@genz/db';
import { createTestDb, type TestDb } from '@genz/db/testing';
import { type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Actor } from '../../http/actor.ts';
import * as repo from './chats.repository.ts';

/**
 * The hot queries use their indexes (ARCHITECTURE §6: EXPLAIN checked for hot queries; index use, not exact plans).
 * One user with many conversations and a long conversation among many other users' rows.
 */
let t: TestDb;
const actor = (userId: string): Actor => ({ userId, role: 'user', plan: 'free', scopes: ['chat'], via: 'session' });
let target: Actor;
let longConversation = '';
let leaf = '';

beforeAll(async () => {
  t = await createTestDb();
  const users = Array.from({ length: 400 }, (_, i) => ({ id: uuidv7(), email: `q${i}@example.test`, plan: 'free' }));
  await t.db.insert(schema.users).values(users);
  const first = users[0];
  if (!first) throw new Error('no users');
  target = actor(first.id);
  const convs: (typeof schema.conversations.$inferInsert)[] = [];
  const msgs: (typeof schema.messages.$inferInsert)[] = [];
  for (const [u, user] of users.entries()) {
    const n = u === 0 ? 1500 : 8;
    for (let i = 0; i < n; i++) {
      const id = uuidv7();
      convs.push({ userId: user.id, id, title: `chat ${i} about tides`, pinned: i % 97 === 0 });
      if (u !== 0) {
        const q = uuidv7();
        msgs.push({
          userId: user.id,
          id: q,
          conversationId: id,
          parentId: null,
          role: 'user',
          content: [{ type: 'text', text: `question ${i} about tides and moons` }],
        });
        msgs.push({
          userId: user.id,
          id: uuidv7(),
          conversationId: id,
          parentId: q,
          role: 'assistant',
          content: [{ type: 'text', text: 'an answer about gravity' }],
        });
      }
    }
  }
  const firstConv = convs[0];
  if (!firstConv) throw new Error('no conversations');
  longConversation = firstConv.id ?? '';
  let parent: string | null = null;
  for (let i = 0; i < 300; i++) {
    const id = uuidv7();
    msgs.push({
      userId: target.userId,
      id,
      conversationId: longConversation,
      parentId: parent,
      role: i % 2 === 0 ? 'user' : 'assistant',
      content: [
        { type: 'text', text: i === 7 ? 'the word photosynthesis appears once' : `message ${i} of a long talk` },
      ],
    });
    parent = id;
  }
  leaf = parent ?? '';
  for (let i = 0; i < convs.length; i += 500) await t.db.insert(schema.conversations).values(convs.slice(i, i + 500));
  for (let i = 0; i < msgs.length; i += 500) await t.db.insert(schema.messages).values(msgs.slice(i, i + 500));
  await t.db.execute(sql`analyze conversations`);
  await t.db.execute(sql`analyze messages`);
}, 120_000);
afterAll(() => t?.dispose());

async function plan(q: SQL): Promise<string> {
  return (await executeRows<{ 'QUERY PLAN': string }>(t.db, sql`explain ${q}`)).map((r) => r['QUERY PLAN']).join('\n');
}

it('list conversations: first and later pages come from conversations_list_idx', async () => {
  const page = await repo.listConversations(t.db, target, { archived: false, limit: 21 });
  expect(page).toHaveLength(21);
  const last = page.at(-1);
  for (const after of [
    undefined,
    last ? { pinned: last.pinned, updatedAt: new Date(last.updatedAt), id: last.id } : undefined,
  ]) {
    const st = repo.listConversationsStatement(target, { archived: false, limit: 21, ...(after ? { after } : {}) });
    const p = (await repo.namedRows<{ 'QUERY PLAN': string }>(t.db, undefined, `explain ${st.text}`, st.values))
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    expect(p).toMatch(/Index (Only )?Scan/);
    expect(p).toContain('conversations_list_idx');
    expect(p).not.toContain('Seq Scan on conversations');
  }
});

it('a page of a long branch walks primary keys in one hash partition, siblings from their index', async () => {
  const rows = await repo.branchPage(t.db, target, longConversation, leaf, 50, 100);
  expect(rows).toHaveLength(50);
  expect(rows[0]?.siblingIds).toEqual([leaf]);
  const p = await plan(repo.branchPageSql(target, longConversation, leaf, 50, 100));
  expect(p).toMatch(/Index Scan using messages_p\d\d_pkey/);
  expect(p).toMatch(/Index (Only )?Scan using messages_p\d\d_user_id_conversation_id_parent_id_id_idx/);
  expect(p).not.toMatch(/Seq Scan on messages_p/);
  expect(new Set(p.match(/messages_p\d\d\b/g)).size).toBe(1);
});

it('search reads only the user partition through an index', async () => {
  const hits = await repo.search(t.db, target, 'photosynth:*', 20);
  expect(hits).toHaveLength(1);
  expect(hits[0]?.snippet).toContain('word <mark>photosynthesis</mark> appears once');
  // At this test's size a sequential scan of the small tables is the cheaper plan, so this proves the query *can*
  // be answered from indexes (GIN or the per-user btree) with no sequential scan anywhere.
  const p = await t.db.transaction(async (tx) => {
    await tx.execute(sql`set local enable_seqscan = off`);
    const rows = await executeRows<{ 'QUERY PLAN': string }>(
      tx,
      sql`explain ${repo.searchSql(target, 'photosynth:*', 20)}`,
    );
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
  expect(p).toMatch(/Index|Bitmap/);
  expect(p).not.toMatch(/Seq Scan on (conversations|messages)/);
  expect(new Set(p.match(/messages_p\d\d\b/g)).size).toBe(1);
});

it("the send's statements name the partition PostgreSQL routes each user's messages to", async () => {
  // Every user with messages: the partition resolved from the catalog is the one their rows are in.
  const placed = await executeRows<{ user_id: string; partition: string }>(
    t.db,
    sql`select distinct user_id::text, tableoid::regclass::text as partition from messages`,
  );
  expect(placed.length).toBeGreaterThan(300);
  expect(new Set(placed.map((r) => r.partition)).size).toBeGreaterThan(1);
  for (const { user_id, partition } of placed) {
    expect(partition).toMatch(/^messages_p\d\d$/);
    expect(await repo.messagesPartition(t.db, user_id)).toBe(partition);
  }
  // The send's read walks the branch in that partition: the long conversation's 300 messages, oldest first.
  await t.db.execute(
    sql`update conversations set active_leaf_id = ${leaf}::uuid
         where user_id = ${target.userId}::uuid and id = ${longConversation}::uuid`,
  );
  const read = await repo.getConversationWithBranch(t.db, target, longConversation, 1000);
  expect(read?.branch).toHaveLength(300);
  expect(read?.branch[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'message 0 of a long talk' }] });
  expect(read?.branch[7]?.content).toEqual([{ type: 'text', text: 'the word photosynthesis appears once' }]);
  expect(read?.branch.at(-1)).toEqual({
    role: 'assistant',
    content: [{ type: 'text', text: 'message 299 of a long talk' }],
  });
});
