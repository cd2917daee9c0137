import { schema } from '@genz/db';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../http/actor.ts';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestApiKey, createTestUser } from '../../test/users.ts';
import { demoReply } from '../providers/adapters/demo.ts';
import { ReplyAccumulator } from './chats.generations.ts';
import * as repo from './chats.repository.ts';
import type { StreamEvent } from './chats.stream.ts';

let t: TestApp;
let alice: Actor;
let bob: Actor;

const actorOf = (id: string): Actor => ({
  userId: id,
  role: 'user',
  plan: 'free',
  scopes: ['chat', 'read', 'inference'],
  via: 'session',
});

beforeAll(async () => {
  t = await buildTestApp({
    'providers.demoChunkDelayMs': 2,
    'chats.heartbeatMs': 100,
    'chats.staleAfterMs': 600,
    'chats.followerCheckMs': 150,
    'chats.reaperIntervalMs': 3_600_000,
    'server.shutdownGraceMs': 2000,
  });
  alice = actorOf((await createTestUser(t.app)).id);
  bob = actorOf((await createTestUser(t.app)).id);
});
afterAll(() => t?.close());

async function collect(it: AsyncGenerator<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

const follow = (actor: Actor, gid: string, after = 0) =>
  collect(t.app.chats.follow(actor, gid, after, new AbortController().signal));

const textOf = (events: StreamEvent[]) => {
  const acc = new ReplyAccumulator();
  for (const e of events) acc.apply(e);
  return acc.text;
};

const data = (e: StreamEvent | undefined) => JSON.parse(e?.data ?? '{}') as Record<string, unknown>;

async function countMessages(actor: Actor, conversationId: string) {
  return (await repo.allMessages(t.app.db.db, actor, conversationId, 10_000)).length;
}

describe('conversations', () => {
  it('create, rename, pin, archive, list newest first with pinned first, keyset pages', async () => {
    const svc = t.app.chats;
    const user = actorOf((await createTestUser(t.app)).id);
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await svc.createConversation(user, { title: `chat ${i}` }));
    await new Promise((r) => setTimeout(r, 5));
    await svc.updateConversation(user, made[1]?.id ?? '', { pinned: true });
    await svc.updateConversation(user, made[3]?.id ?? '', { archived: true });
    const renamed = await svc.updateConversation(user, made[0]?.id ?? '', { title: '  Renamed  ' });
    expect(renamed.title).toBe('Renamed');

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await svc.listConversations(user, { limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((c) => c.title ?? ''));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    // pinned first, then most recently updated (the rename touched nothing else's order: updated_at by activity)
    expect(seen[0]).toBe('chat 1');
    expect(seen).toHaveLength(4);
    expect(new Set(seen)).toEqual(new Set(['chat 1', 'Renamed', 'chat 2', 'chat 4']));
    const archived = await svc.listConversations(user, { archived: true });
    expect(archived.items.map((c) => c.title)).toEqual(['chat 3']);
    // A listed conversation (its JSON is built by the list statement) is exactly the conversation's own view.
    await svc.updateConversation(user, made[4]?.id ?? '', { title: 'Quote " back\\slash\ttab\u0001 ünï 😀 </script>' });
    const set = await svc.updateConversation(user, made[2]?.id ?? '', {
      settings: { systemPrompt: 'Be "brief".\nÜnïcode ok', params: { temperature: 0.25, maxTokens: 64 } },
    });
    for (const opts of [
      {},
      { archived: true },
      { limit: 1, cursor: (await svc.listConversations(user, { limit: 1 })).nextCursor ?? '' },
    ]) {
      for (const item of (await svc.listConversations(user, opts)).items) {
        expect(item).toEqual(await svc.getConversation(user, item.id));
      }
    }
    expect((await svc.listConversations(user)).items.find((c) => c.id === set.id)).toEqual(set);

    await expect(svc.listConversations(user, { cursor: 'not-a-cursor' })).rejects.toMatchObject({
      code: 'invalid_cursor',
    });
    // Another user: the same ids are simply not there.
    await expect(svc.getConversation(bob, made[0]?.id ?? '')).rejects.toMatchObject({ code: 'not_found' });
    await expect(svc.updateConversation(bob, made[0]?.id ?? '', { pinned: true })).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(svc.deleteConversation(bob, made[0]?.id ?? '')).rejects.toMatchObject({ code: 'not_found' });
    expect((await svc.listConversations(bob)).items).toEqual([]);
  });

  it('soft delete hides at once; the retention job purges with the messages after the window', async () => {
    const svc = t.app.chats;
    const c = await svc.createConversation(alice, { title: 'doomed' });
    const g = await svc.sendMessage(alice, c.id, { content: 'hello there zyzzyva' });
    await follow(alice, g.generationId);
    const found = async () => (await svc.search(alice, 'zyzzyva')).items.map((i) => i.conversationId);
    expect(await found()).toContain(c.id);
    await svc.deleteConversation(alice, c.id);
    await expect(svc.getConversation(alice, c.id)).rejects.toMatchObject({ code: 'not_found' });
    expect(await found()).toEqual([]); // search leaves deleted conversations out at once
    expect(await svc.purgeDeleted(new Date())).toBe(0); // within the retention window
    expect(await countMessages(alice, c.id)).toBe(2);
    const later = new Date(Date.now() + (t.config.chats.deletedRetentionDays + 1) * 86_400_000);
    expect(await svc.purgeDeleted(later)).toBeGreaterThanOrEqual(1);
    expect(await countMessages(alice, c.id)).toBe(0);
  });

  it('presets start conversations with their settings', async () => {
    const svc = t.app.chats;
    const p = await svc.createPreset(alice, {
      name: 'Pirate',
      settings: { systemPrompt: 'Talk like a pirate.', model: 'demo', params: { temperature: 0.2 } },
    });
    const c = await svc.createConversation(alice, { presetId: p.id });
    expect(c.settings).toEqual(p.settings);
    await expect(svc.createConversation(bob, { presetId: p.id })).rejects.toMatchObject({ code: 'not_found' });
    expect((await svc.listPresets(alice)).items.map((x) => x.id)).toContain(p.id);
    await expect(svc.deletePreset(bob, p.id)).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('generation', () => {
  it('streams message, deltas, done with sequential ids and persists the reply, tokens and a title', async () => {
    const svc = t.app.chats;
    const c = await svc.createConversation(alice);
    const g = await svc.sendMessage(alice, c.id, { content: 'Tell me about tides\nplease' });
    const events = await follow(alice, g.generationId);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]?.event).toBe('message');
    expect(data(events[0])).toMatchObject({ generationId: g.generationId, assistantMessageId: g.assistantMessageId });
    expect(events.at(-1)?.event).toBe('done');
    expect(data(events.at(-1))).toMatchObject({ status: 'complete', messageId: g.assistantMessageId });
    const expected = demoReply('Tell me about tides\nplease');
    expect(textOf(events)).toBe(expected);

    const msg = await repo.getMessage(t.app.db.db, alice, g.assistantMessageId);
    expect(msg).toMatchObject({ status: 'complete', role: 'assistant', deployment: 'demo', provider: 'demo' });
    expect(msg?.content).toEqual([{ type: 'text', text: expected }]);
    expect(msg?.tokensOut).toBeGreaterThan(0);
    expect((await svc.getConversation(alice, c.id)).title).toBe('Tell me about tides');

    // A late follower (another tab) gets the same bytes; a resume gets exactly the rest.
    expect(await follow(alice, g.generationId)).toEqual(events);
    expect(await follow(alice, g.generationId, 5)).toEqual(events.slice(5));
    // Another user: 404 before any event.
    await expect(svc.generation(bob, g.generationId)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('branches: regenerate and edit make siblings, and the client can list and switch them', async () => {
    const svc = t.app.chats;
    const c = await svc.createConversation(alice);
    const first = await svc.sendMessage(alice, c.id, { content: 'one' });
    await follow(alice, first.generationId);
    const second = await svc.sendMessage(alice, c.id, { content: 'two' });
    await follow(alice, second.generationId);
    const regen = await svc.regenerate(alice, second.assistantMessageId);
    await follow(alice, regen.generationId);

    let page = await svc.listMessages(alice, c.id, {});
    expect(page.items.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(page.items.at(-1)?.id).toBe(regen.assistantMessageId);
    expect(page.items.at(-1)?.siblingIds).toEqual([second.assistantMessageId, regen.assistantMessageId]);

    // Edit the second user message: a sibling under the first reply.
    const edit = await svc.sendMessage(alice, c.id, { content: 'two, edited', parentId: first.assistantMessageId });
    await follow(alice, edit.generationId);
    page = await svc.listMessages(alice, c.id, {});
    expect(page.items[2]?.siblingIds).toEqual([second.userMessageId, edit.userMessageId]);
    // Switch back to the old branch by its leaf; pages walk towards the root.
    const old = await svc.listMessages(alice, c.id, { leafId: second.assistantMessageId, limit: 2 });
    expect(old.items.map((m) => m.id)).toEqual([second.userMessageId, second.assistantMessageId]);
    const older = await svc.listMessages(alice, c.id, { cursor: old.nextCursor ?? '', limit: 2 });
    expect(older.items.map((m) => m.id)).toEqual([first.userMessageId, first.assistantMessageId]);
    expect(older.nextCursor).toBeNull();
    // The history sent to the model is the branch: the regenerated reply answered "two", not "two, edited".
    const regenMsg = await repo.getMessage(t.app.db.db, alice, regen.assistantMessageId);
    expect(JSON.stringify(regenMsg?.content)).toContain('You said: \\"two\\"');
    // The whole tree, oldest first, in pages.
    const tree = await svc.listMessages(alice, c.id, { view: 'tree', limit: 5 });
    const rest = await svc.listMessages(alice, c.id, { view: 'tree', limit: 5, cursor: tree.nextCursor ?? '' });
    expect([...tree.items, ...rest.items].map((m) => m.id)).toEqual(
      [first, second]
        .flatMap((g) => [g.userMessageId, g.assistantMessageId])
        .concat([regen.assistantMessageId, edit.userMessageId, edit.assistantMessageId]),
    );
    expect(rest.nextCursor).toBeNull();
    await expect(svc.listMessages(bob, c.id, {})).rejects.toMatchObject({ code: 'not_found' });
    await expect(svc.regenerate(bob, regen.assistantMessageId)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('stop ends the reply as stopped, keeping the text so far', async () => {
    const slow = await buildTestApp({ 'providers.demoChunkDelayMs': 40, 'server.shutdownGraceMs': 500 });
    try {
      const user = actorOf((await createTestUser(slow.app)).id);
      const c = await slow.app.chats.createConversation(user);
      const g = await slow.app.chats.sendMessage(user, c.id, { content: 'a long answer please' });
      const events: StreamEvent[] = [];
      for await (const e of slow.app.chats.follow(user, g.generationId, 0, new AbortController().signal)) {
        events.push(e);
        if (events.length === 2) {
          const streaming = await slow.app.chats.listMessages(user, c.id, {});
          expect(streaming.items.at(-1)?.status).toBe('streaming');
        }
        if (events.length === 4) await slow.app.chats.stopGeneration(user, g.generationId);
      }
      expect(data(events.at(-1))).toMatchObject({ status: 'stopped' });
      // The first page, cached while the reply streamed, shows it stopped.
      expect((await slow.app.chats.listMessages(user, c.id, {})).items.at(-1)?.status).toBe('stopped');
      const msg = await repo.getMessage(slow.app.db.db, user, g.assistantMessageId);
      expect(msg?.status).toBe('stopped');
      const text = textOf(events);
      expect(text.length).toBeGreaterThan(0);
      expect(demoReply('a long answer please').startsWith(text)).toBe(true);
      expect(msg?.content).toEqual([{ type: 'text', text }]);
    } finally {
      await slow.close();
    }
  });

  it('two tabs follow one live generation and get the same events; shutdown persists a running reply as interrupted', async () => {
    const slow = await buildTestApp({ 'providers.demoChunkDelayMs': 25, 'server.shutdownGraceMs': 100 });
    const user = actorOf((await createTestUser(slow.app)).id);
    const c = await slow.app.chats.createConversation(user);
    const g = await slow.app.chats.sendMessage(user, c.id, { content: 'two tabs' });
    const tabs = await Promise.all([
      collect(slow.app.chats.follow(user, g.generationId, 0, new AbortController().signal)),
      collect(slow.app.chats.follow(user, g.generationId, 0, new AbortController().signal)),
    ]);
    expect(tabs[0]).toEqual(tabs[1]);
    expect(data(tabs[0].at(-1)), tabs[0].at(-1)?.data).toMatchObject({ status: 'complete' });

    const running = await slow.app.chats.sendMessage(user, c.id, { content: 'cut short by a restart' });
    await new Promise((r) => setTimeout(r, 150));
    const db = slow.app.db.db;
    await slow.app.close(); // the generation outlives the grace period: stopped and stored as interrupted
    const msg = await repo.getMessage(db, user, running.assistantMessageId);
    expect(msg?.status).toBe('interrupted');
    const text = msg?.content[0]?.type === 'text' ? msg.content[0].text : '';
    expect(text.length).toBeGreaterThan(0);
    expect(demoReply('cut short by a restart').startsWith(text)).toBe(true);
    // (slow's database is disposed by the TestApp; close() above already released the app)
    await slow.close().catch(() => {});
  });

  it('with chats.titleModel set, that model titles the conversation from the first exchange', async () => {
    const titled = await buildTestApp({
      'chats.titleModel': 'demo',
      'chats.maxTitleChars': 40,
      'providers.demoChunkDelayMs': 1,
    });
    try {
      const user = actorOf((await createTestUser(titled.app)).id);
      const c = await titled.app.chats.createConversation(user);
      const g = await titled.app.chats.sendMessage(user, c.id, { content: 'name this chat' });
      await collect(titled.app.chats.follow(user, g.generationId, 0, new AbortController().signal));
      const { waitFor } = await import('../../test/net.ts');
      const title = await waitFor(
        async () => {
          const conv = await titled.app.chats.getConversation(user, c.id);
          return conv.title?.startsWith('[demo]') ? conv.title : undefined;
        },
        15_000,
        'the generated title',
      );
      expect(title.length).toBeLessThanOrEqual(40);
      // A title the user set is never replaced.
      await titled.app.chats.updateConversation(user, c.id, { title: 'Mine' });
      expect((await titled.app.chats.getConversation(user, c.id)).title).toBe('Mine');
    } finally {
      await titled.close();
    }
  });

  it('the reaper marks a generation whose worker died interrupted, keeping its checkpointed text', async () => {
    const db = t.app.db.db;
    const c = await t.app.chats.createConversation(alice);
    const at = new Date(Date.now() - 60_000);
    const [user] = await repo.insertMessages(db, alice, [
      { conversationId: c.id, parentId: null, role: 'user', content: [{ type: 'text', text: 'q' }] },
    ]);
    const [assistant] = await repo.insertMessages(db, alice, [
      {
        conversationId: c.id,
        parentId: user?.id ?? null,
        role: 'assistant',
        content: [{ type: 'text', text: 'half an ans' }],
        status: 'streaming',
      },
    ]);
    const gen = await repo.insertGeneration(db, alice, {
      id: crypto.randomUUID(),
      conversationId: c.id,
      userMessageId: null,
      assistantMessageId: assistant?.id ?? '',
      owner: 'a-replica-that-died',
      at,
    });
    const follower = follow(alice, gen.id);
    expect(await t.app.generations.reap()).toBe(1);
    const events = await follower;
    expect(events.at(-1)?.event).toBe('done');
    expect(data(events.at(-1))).toMatchObject({ status: 'interrupted', messageId: assistant?.id });
    const msg = await repo.getMessage(db, alice, assistant?.id ?? '');
    expect(msg?.status).toBe('interrupted');
    expect(msg?.content).toEqual([{ type: 'text', text: 'half an ans' }]);
    expect(await t.app.generations.reap()).toBe(0);
    // A resume after the fact ends at once with the same terminal event.
    expect((await follow(alice, gen.id, 1)).at(-1)).toEqual(events.at(-1));
  });

  it('caps simultaneous generations with the plan cap /v1 shares, 429 problem+json, and frees the slot', async () => {
    const capped = await buildTestApp({
      'providers.demoChunkDelayMs': 30,
      'limits.defaults.concurrentGenerations': 1,
      'server.shutdownGraceMs': 500,
    });
    try {
      const owner = await createTestUser(capped.app);
      const user = actorOf(owner.id);
      const c = await capped.app.chats.createConversation(user);
      const g = await capped.app.chats.sendMessage(user, c.id, { content: 'first' });
      const before = await countMessages(user, c.id);
      await expect(capped.app.chats.sendMessage(user, c.id, { content: 'second' })).rejects.toMatchObject({
        code: 'rate_limited',
        status: 429,
      });
      const res = await capped.app.inject({
        method: 'POST',
        url: `/api/conversations/${c.id}/messages`,
        headers: owner.headers,
        payload: { content: 'second' },
      });
      expect(res.statusCode).toBe(429);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ status: 429, code: 'rate_limited' });
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // One cap for chats and /v1 (modules/rate-limit): the running reply holds the slot /v1 would need.
      const key = await createTestApiKey(capped.app, owner);
      const v1 = await capped.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: key.headers,
        payload: { model: 'demo', messages: [{ role: 'user', content: 'hi' }] },
      });
      expect(v1.statusCode).toBe(429);
      const usage = await capped.app.limits.usage(user);
      expect(usage.items.find((i) => i.policy === 'user_generations')).toMatchObject({ limit: 1, used: 1 });
      expect(await countMessages(user, c.id)).toBe(before); // nothing half-written
      await capped.app.chats.stopGeneration(user, g.generationId);
      await collect(capped.app.chats.follow(user, g.generationId, 0, new AbortController().signal));
      const next = await capped.app.chats.sendMessage(user, c.id, { content: 'second' });
      expect(next.generationId).not.toBe(g.generationId);
    } finally {
      await capped.close();
    }
  });
});

describe('long conversations', () => {
  it('a history longer than the context window sends the newest turns that fit, and the reply completes', async () => {
    const svc = t.app.chats;
    // A user of its own: this one reply reserves about 31,000 tokens of the per-minute limit.
    const carol = actorOf((await createTestUser(t.app)).id);
    const c = await svc.createConversation(carol, { settings: { systemPrompt: 'Be brief.' } });
    // Four earlier turns of ~15,000 tokens each: 60,000 tokens, more than the demo model's 32,768.
    const rows: repo.NewMessage[] = [];
    let parentId: string | null = null;
    for (let i = 0; i < 4; i++) {
      const id = crypto.randomUUID();
      const role = i % 2 === 0 ? 'user' : 'assistant';
      rows.push({
        id,
        conversationId: c.id,
        parentId,
        role,
        content: [{ type: 'text', text: `${i} `.repeat(30_000) }],
      });
      parentId = id;
    }
    await repo.insertMessages(t.app.db.db, carol, rows);
    await svc.updateConversation(carol, c.id, { activeLeafId: parentId ?? '' });
    const g = await svc.sendMessage(carol, c.id, { content: 'and now?' });
    const events = await follow(carol, g.generationId);
    expect(events.at(-1)?.event).toBe('done');
    expect(data(events.at(-1))).toMatchObject({ status: 'complete' });
    // The system prompt, the two newest earlier turns and the new message were sent (the usage the model reported).
    const sent = (data(events.at(-1)).usage as { inputTokens: number }).inputTokens;
    expect(sent).toBeGreaterThan(25_000);
    expect(sent).toBeLessThan(32_768);
  });
});

describe('conversation list cache', () => {
  it('serves the first page from the cache, and every write shows in the next list at once', async () => {
    const svc = t.app.chats;
    const user = actorOf((await createTestUser(t.app)).id);
    const titles = async () => (await svc.listConversations(user)).items.map((c) => c.title);
    const hits = async () => {
      const metric = await t.app.metrics.registry.getSingleMetric('cache_requests_total')?.get();
      return metric?.values.find((v) => v.labels.tier === 'l1' && v.labels.result === 'hit')?.value ?? 0;
    };
    const a = await svc.createConversation(user, { title: 'a' });
    const b = await svc.createConversation(user, { title: 'b' });
    expect(await titles()).toEqual(['b', 'a']);
    const before = await hits();
    expect(await titles()).toEqual(['b', 'a']);
    expect(await hits()).toBeGreaterThanOrEqual(before + 2); // the version and the page
    await svc.updateConversation(user, a.id, { title: 'a2' });
    expect(await titles()).toEqual(['b', 'a2']);
    await svc.updateConversation(user, a.id, { pinned: true });
    await svc.updateConversation(user, a.id, { pinned: false });
    // A reply moves its conversation to the top, when it is sent and again when it ends.
    const g = await svc.sendMessage(user, a.id, { content: 'move up' });
    expect(await titles()).toEqual(['a2', 'b']);
    await svc.sendMessage(user, b.id, { content: 'and back' }).then((x) => follow(user, x.generationId));
    await follow(user, g.generationId);
    const order = (await svc.listConversations(user)).items.map((c) => c.updatedAt);
    expect(order).toEqual([...order].sort().reverse());
    await svc.updateConversation(user, b.id, { archived: true });
    expect(await titles()).toEqual(['a2']);
    expect((await svc.listConversations(user, { archived: true })).items.map((c) => c.title)).toEqual(['b']);
    await svc.deleteConversation(user, a.id);
    expect(await titles()).toEqual([]);
    await svc.importChatGpt(user, [{ title: 'imported', mapping: {} }]);
    expect(await titles()).toEqual(['imported']);
  });
});

describe('messages first-page cache', () => {
  const l1Hits = async () => {
    const metric = await t.app.metrics.registry.getSingleMetric('cache_requests_total')?.get();
    return metric?.values.find((v) => v.labels.tier === 'l1' && v.labels.result === 'hit')?.value ?? 0;
  };

  it('serves the first page from the cache, and every write to the conversation shows in the next page at once', async () => {
    const svc = t.app.chats;
    const user = actorOf((await createTestUser(t.app)).id);
    const c = await svc.createConversation(user);
    const page = (opts: { leafId?: string; view?: 'branch' | 'tree' } = {}) => svc.listMessages(user, c.id, opts);
    const ids = async () => (await page()).items.map((m) => m.id);
    expect((await page()).items).toEqual([]);
    const before = await l1Hits();
    expect((await page()).items).toEqual([]);
    expect(await l1Hits()).toBeGreaterThanOrEqual(before + 2); // the version and the page
    // Send: the user message and the reply's placeholder.
    const first = await svc.sendMessage(user, c.id, { content: 'first' });
    expect(await ids()).toEqual([first.userMessageId, first.assistantMessageId]);
    expect((await page()).items[1]?.status).toBe('streaming');
    // The reply's end.
    await follow(user, first.generationId);
    expect((await page()).items[1]).toMatchObject({
      status: 'complete',
      content: [{ type: 'text', text: demoReply('first') }],
    });
    const tree = async () => (await page({ view: 'tree' })).items.map((m) => m.id);
    const firstLeafSiblings = async () =>
      (await page({ leafId: first.assistantMessageId })).items.at(-1)?.siblingIds ?? [];
    expect(await tree()).toHaveLength(2);
    const siblingsBefore = await firstLeafSiblings();
    // Regenerate: a sibling reply becomes the leaf (and the other variants see it too).
    const regen = await svc.regenerate(user, first.assistantMessageId);
    expect(await ids()).toEqual([first.userMessageId, regen.assistantMessageId]);
    expect(await tree()).toHaveLength(3);
    expect(await firstLeafSiblings()).toEqual(expect.arrayContaining([...siblingsBefore, regen.assistantMessageId]));
    await follow(user, regen.generationId);
    // Edit: a new user message next to the first one, with its reply.
    const edited = await svc.sendMessage(user, c.id, { content: 'first, edited', parentId: null });
    expect(await ids()).toEqual([edited.userMessageId, edited.assistantMessageId]);
    await follow(user, edited.generationId);
    expect((await page()).items.at(-1)).toMatchObject({ id: edited.assistantMessageId, status: 'complete' });
    // Branch switch: the active leaf moves back.
    await svc.updateConversation(user, c.id, { activeLeafId: regen.assistantMessageId });
    expect(await ids()).toEqual([first.userMessageId, regen.assistantMessageId]);
    // Delete: the conversation is gone from every page.
    await svc.deleteConversation(user, c.id);
    await expect(page()).rejects.toMatchObject({ code: 'not_found' });
    await expect(page({ view: 'tree' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('a cached page is served only to its owner: another user gets 404, and the 404 is not stored', async () => {
    const svc = t.app.chats;
    const owner = actorOf((await createTestUser(t.app)).id);
    const other = actorOf((await createTestUser(t.app)).id);
    const c = await svc.createConversation(owner);
    const g = await svc.sendMessage(owner, c.id, { content: 'mine' });
    await follow(owner, g.generationId);
    const variants = [{}, { view: 'tree' as const }, { leafId: g.assistantMessageId }];
    const pages = [];
    for (const opts of variants) pages.push(await svc.listMessages(owner, c.id, opts));
    for (const opts of variants) {
      await expect(svc.listMessages(other, c.id, opts)).rejects.toMatchObject({ code: 'not_found' });
      await expect(svc.listMessages(other, c.id, opts)).rejects.toMatchObject({ code: 'not_found' });
    }
    for (const [i, opts] of variants.entries()) expect(await svc.listMessages(owner, c.id, opts)).toEqual(pages[i]);
    // The other user's own empty conversation under the same variant is theirs, not the owner's page.
    const theirs = await svc.createConversation(other);
    expect((await svc.listMessages(other, theirs.id, {})).items).toEqual([]);
    await expect(svc.listMessages(owner, theirs.id, {})).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('coalesced deltas', () => {
  it('merges deltas up to chats.streamCoalesceMaxChars; the text, the ids and a resume are unchanged', async () => {
    // A window longer than the reply: only the size bound (and the end of the reply) closes a batch.
    const merged = await buildTestApp({
      'providers.demoChunkDelayMs': 1,
      'chats.streamCoalesceMs': 600_000,
      'chats.streamCoalesceMaxChars': 40,
    });
    try {
      const user = actorOf((await createTestUser(merged.app)).id);
      const c = await merged.app.chats.createConversation(user);
      const g = await merged.app.chats.sendMessage(user, c.id, { content: 'coalesce me' });
      const signal = new AbortController().signal;
      const events = await collect(merged.app.chats.follow(user, g.generationId, 0, signal));
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(textOf(events)).toBe(demoReply('coalesce me'));
      const deltas = events.filter((e) => e.event === 'delta').map((e) => (data(e).text as string).length);
      const words = demoReply('coalesce me').split(/(?<= )/);
      expect(deltas.length).toBeLessThan(words.length);
      for (const length of deltas.slice(0, -1)) expect(length).toBeGreaterThanOrEqual(40);
      expect(events.at(-1)?.event).toBe('done');
      // Resuming after any event gives exactly the rest.
      for (const after of [1, 2, events.length - 1]) {
        expect(await collect(merged.app.chats.follow(user, g.generationId, after, signal))).toEqual(
          events.slice(after),
        );
      }
    } finally {
      await merged.close();
    }
  });
});

describe('idempotency', () => {
  it('the same key and body attach to the same generation; another body is 422; a send in flight is 409', async () => {
    const svc = t.app.chats;
    const c = await svc.createConversation(alice);
    const a = await svc.sendMessage(alice, c.id, { content: 'once' }, 'key-1');
    const b = await svc.sendMessage(alice, c.id, { content: 'once' }, 'key-1');
    expect(b).toEqual({ ...a, replayed: true });
    expect(await countMessages(alice, c.id)).toBe(2);
    await expect(svc.sendMessage(alice, c.id, { content: 'twice' }, 'key-1')).rejects.toMatchObject({
      code: 'idempotency_mismatch',
      status: 422,
    });
    // Keys are per user: bob's key-1 is his own.
    const bc = await svc.createConversation(bob);
    await svc.sendMessage(bob, bc.id, { content: 'once' }, 'key-1');

    // A first request still setting up (key claimed, no generation yet).
    const body = { conversationId: c.id, content: 'pending', parentId: null, model: null, options: null };
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256').update(JSON.stringify(body)).digest('base64url');
    await repo.claimIdempotencyKey(t.app.db.db, alice, 'key-2', hash, new Date(), new Date(Date.now() + 60_000));
    await expect(svc.sendMessage(alice, c.id, { content: 'pending' }, 'key-2')).rejects.toMatchObject({
      code: 'idempotency_in_flight',
      status: 409,
    });
    await follow(alice, a.generationId);
  });
});

describe('bad input', () => {
  it('empty, oversized, unknown model, foreign parent: a 4xx and nothing written', async () => {
    const svc = t.app.chats;
    const c = await svc.createConversation(alice);
    await expect(svc.sendMessage(alice, c.id, { content: '   ' })).rejects.toMatchObject({ status: 400 });
    await expect(
      svc.sendMessage(alice, c.id, { content: 'x'.repeat(t.config.chats.maxMessageChars + 1) }),
    ).rejects.toMatchObject({ code: 'payload_too_large', status: 413 });
    await expect(svc.sendMessage(alice, c.id, { content: 'hi', model: 'no-such-model' })).rejects.toMatchObject({
      code: 'model_not_found',
      status: 400,
    });
    await expect(svc.sendMessage(alice, c.id, { content: 'hi', parentId: crypto.randomUUID() })).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(svc.sendMessage(alice, c.id, { content: 'hi' }, 'k-bad')).resolves.toBeDefined();
    const rows = await t.app.db.db
      .select()
      .from(schema.messages)
      .where(and(eq(schema.messages.userId, alice.userId), eq(schema.messages.conversationId, c.id)));
    expect(rows).toHaveLength(2); // only the one good send
    await expect(svc.sendMessage(bob, c.id, { content: 'hi' })).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('plans', () => {
  it('a model outside the user plan is 403 before anything is written', async () => {
    const p = await buildTestApp({ plans: { free: { models: ['*'] }, basic: { models: ['nothing-*'] } } });
    try {
      const user = await createTestUser(p.app, { plan: 'basic' });
      const a: Actor = { ...actorOf(user.id), plan: 'basic' };
      const c = await p.app.chats.createConversation(a);
      await expect(p.app.chats.sendMessage(a, c.id, { content: 'hi', model: 'demo' })).rejects.toMatchObject({
        code: 'forbidden',
        status: 403,
      });
      expect(await repo.allMessages(p.app.db.db, a, c.id, 10)).toEqual([]);
    } finally {
      await p.close();
    }
  });
});

describe('search, shares, export, import', () => {
  it('finds the user own titles and messages by prefix, with highlighted snippets linking to the message', async () => {
    const svc = t.app.chats;
    const c = await svc.createConversation(alice, { title: 'Volcano notes' });
    const g = await svc.sendMessage(alice, c.id, { content: 'Explain photosynthesis in chloroplasts' });
    await follow(alice, g.generationId);
    const hits = await svc.search(alice, 'photosynth chloro');
    const hit = hits.items.find((h) => h.messageId === g.userMessageId);
    expect(hit?.snippet).toContain('<mark>photosynthesis</mark>');
    expect(hit?.link).toBe(`/chat/${c.id}?m=${g.userMessageId}`);
    expect((await svc.search(alice, 'volc')).items.some((h) => h.conversationId === c.id && !h.messageId)).toBe(true);
    expect((await svc.search(bob, 'photosynth')).items).toEqual([]);
    await expect(svc.search(alice, '!!!')).rejects.toMatchObject({ status: 400 });
  });

  it('search answers newest first, a page at a time, and the cursor continues with no hit twice', async () => {
    const svc = t.app.chats;
    const carol = actorOf((await createTestUser(t.app)).id);
    const c = await svc.createConversation(carol, { title: 'Quokka facts' });
    const ids: string[] = [];
    let parentId: string | null = null;
    for (let i = 0; i < 5; i++) {
      const text = i === 2 ? 'nothing to see' : `quokka number ${i}`;
      const [m] = await repo.insertMessages(t.app.db.db, carol, [
        { conversationId: c.id, parentId, role: 'user', content: [{ type: 'text', text }] },
      ]);
      if (!m) throw new Error('no message');
      if (i !== 2) ids.push(m.id);
      parentId = m.id;
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await svc.search(carol, 'quokk', { limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((h) => h.messageId ?? `title ${h.conversationId}`));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    // the messages newest first, then the title (the conversation is older than its messages)
    expect(seen).toEqual([...ids].reverse().concat(`title ${c.id}`));
    await expect(svc.search(carol, 'quokka', { cursor: 'bm9wZQ' })).rejects.toMatchObject({ status: 400 });
  });

  it('shares are snapshots, anonymous, revocable and expiring', async () => {
    const svc = t.app.chats;
    const c = await svc.createConversation(alice, { title: 'Shared one' });
    const g = await svc.sendMessage(alice, c.id, { content: 'share me' });
    await follow(alice, g.generationId);
    const share = await svc.createShare(alice, c.id);
    const later = await svc.sendMessage(alice, c.id, { content: 'private follow-up' });
    await follow(alice, later.generationId);
    const { version, snapshot: snap } = await svc.readShare(share.token);
    expect(version).toBe(share.id);
    expect(snap.title).toBe('Shared one');
    expect(snap.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(JSON.stringify(snap)).not.toContain('private follow-up');
    expect(Object.keys(snap).sort()).toEqual(['createdAt', 'messages', 'title']);
    await expect(svc.createShare(bob, c.id)).rejects.toMatchObject({ code: 'not_found' });
    await expect(svc.revokeShare(bob, share.id)).rejects.toMatchObject({ code: 'not_found' });
    await svc.revokeShare(alice, share.id);
    await expect(svc.readShare(share.token)).rejects.toMatchObject({ code: 'not_found' });
    const expiring = await svc.createShare(alice, c.id, { expiresInSec: 60 });
    await t.app.db.db
      .update(schema.shares)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(schema.shares.id, expiring.id));
    await expect(svc.readShare(expiring.token)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('exports JSON and Markdown, and imports a ChatGPT conversations.json all or nothing', async () => {
    const svc = t.app.chats;
    const user = actorOf((await createTestUser(t.app)).id);
    const gpt = [
      {
        title: 'Imported trip',
        create_time: 1_700_000_000,
        update_time: 1_700_000_100,
        current_node: 'c',
        mapping: {
          root: { id: 'root', message: null, parent: null, children: ['s'] },
          s: {
            id: 's',
            parent: 'root',
            message: { author: { role: 'system' }, content: { content_type: 'text', parts: [''] } },
          },
          a: {
            id: 'a',
            parent: 's',
            message: {
              author: { role: 'user' },
              create_time: 1_700_000_001,
              content: { content_type: 'text', parts: ['Plan a trip to Lisbon'] },
            },
          },
          b: {
            id: 'b',
            parent: 'a',
            message: {
              author: { role: 'assistant' },
              metadata: { model_slug: 'gpt-4o' },
              content: { content_type: 'text', parts: ['Day 1: Alfama'] },
            },
          },
          c: {
            id: 'c',
            parent: 'a',
            message: { author: { role: 'assistant' }, content: { content_type: 'text', parts: ['Day 1: Belém'] } },
          },
        },
      },
    ];
    expect(await svc.importChatGpt(user, gpt)).toEqual({ imported: 1, messages: 3 });
    const [conv] = (await svc.listConversations(user)).items;
    expect(conv?.title).toBe('Imported trip');
    const page = await svc.listMessages(user, conv?.id ?? '', {});
    expect(page.items.map((m) => m.content)).toEqual([
      [{ type: 'text', text: 'Plan a trip to Lisbon' }],
      [{ type: 'text', text: 'Day 1: Belém' }],
    ]);
    expect(page.items[1]?.siblingIds).toHaveLength(2);

    const md = await svc.exportMarkdown(user, conv?.id);
    expect(md).toContain('# Imported trip');
    expect(md).toContain('Day 1: Belém');
    const json = await svc.exportJson(user);
    expect(json.conversations).toHaveLength(1);
    expect(json.conversations[0]?.messages).toHaveLength(3);

    // A bad file writes nothing, even when the bad conversation comes after good ones.
    await expect(svc.importChatGpt(user, { not: 'an array' })).rejects.toMatchObject({ status: 400 });
    await expect(svc.importChatGpt(user, [gpt[0], { title: 'broken' }])).rejects.toMatchObject({ status: 400 });
    expect((await svc.listConversations(user)).items).toHaveLength(1);
    await expect(svc.exportJson(bob, conv?.id)).rejects.toMatchObject({ code: 'not_found' });
  });
});
