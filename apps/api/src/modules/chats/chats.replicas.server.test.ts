import { testRedisPrefix } from '@genz/db/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Actor } from '../../http/actor.ts';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { waitFor } from '../../test/net.ts';
import { createTestUser } from '../../test/users.ts';
import { ReplyAccumulator } from './chats.generations.ts';
import * as repo from './chats.repository.ts';
import type { StreamEvent } from './chats.stream.ts';

/**
 * Two replicas in one process, on one database and one Redis key prefix. The sender's stream follows its reply in
 * the process that runs it (not through Redis); when another replica's reaper takes the reply over, the worker is
 * fenced and that stream must still end, with the reaper's terminal event from the shared buffer.
 */
let a: TestApp;
let b: TestApp;

const overrides = {
  'providers.demoChunkDelayMs': 60,
  'chats.streamCoalesceMs': 0,
  // The worker never beats during the test, so only the fenced append tells it that it lost the reply.
  'chats.heartbeatMs': 600_000,
  'chats.staleAfterMs': 600,
  'chats.followerCheckMs': 150,
  'chats.reaperIntervalMs': 3_600_000,
  'server.shutdownGraceMs': 500,
};

beforeAll(async () => {
  const keyPrefix = testRedisPrefix();
  a = await buildTestApp(overrides, { redis: true, keyPrefix });
  b = await buildTestApp(overrides, { redis: true, keyPrefix, db: a.db });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

it('a reply taken over by another replica still ends the sender’s in-process stream: interrupted, every seq once', async () => {
  const user = await createTestUser(a.app);
  const actor: Actor = { userId: user.id, role: 'user', plan: 'free', scopes: ['chat'], via: 'session' };
  const conv = await a.app.chats.createConversation(actor);
  const started = await a.app.chats.sendMessage(actor, conv.id, { content: 'tell me a long story about replicas' });

  const events: StreamEvent[] = [];
  let reaped: Promise<number> | undefined;
  for await (const ev of a.app.chats.follow(actor, started.generationId, 0, new AbortController().signal)) {
    events.push(ev);
    // A few deltas in, the other replica's reaper judges the worker dead (its clock is a minute ahead).
    if (events.length === 3) reaped = b.app.generations.reap(new Date(Date.now() + 60_000));
  }
  expect(await reaped).toBe(1);
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  const last = events.at(-1);
  expect(last?.event).toBe('done');
  expect(JSON.parse(last?.data ?? '{}')).toMatchObject({
    status: 'interrupted',
    messageId: started.assistantMessageId,
  });

  const msg = await repo.getMessage(a.app.db.db, actor, started.assistantMessageId);
  expect(msg?.status).toBe('interrupted');
  const acc = new ReplyAccumulator();
  for (const e of events) acc.apply(e);
  const stored = msg?.content.find((p) => p.type === 'text');
  // The stored text is what the stream carried (up to the reaper's snapshot), never more, never twice.
  expect(acc.text.startsWith(stored && 'text' in stored ? stored.text : '')).toBe(true);
  expect(acc.text.length).toBeLessThan(400);
});

it('a messages page cached on one replica is fresh after a write on the other (the cache bus evicts it)', async () => {
  const user = await createTestUser(a.app);
  const actor: Actor = { userId: user.id, role: 'user', plan: 'free', scopes: ['chat'], via: 'session' };
  const conv = await a.app.chats.createConversation(actor);
  const onB = async () => (await b.app.chats.listMessages(actor, conv.id, {})).items;
  expect(await onB()).toEqual([]);
  expect(await onB()).toEqual([]); // now in B's memory
  const started = await a.app.chats.sendMessage(actor, conv.id, { content: 'seen on the other replica' });
  // A correctness deadline, not a timing assertion: the eviction travels over Redis pub/sub.
  const ids = await waitFor(
    async () => {
      const items = await onB();
      return items.length > 0 ? items.map((m) => m.id) : undefined;
    },
    10_000,
    'the send on replica B',
  );
  expect(ids).toEqual([started.userMessageId, started.assistantMessageId]);
  // The reply's end (written by A) shows on B too.
  await a.app.chats.stopGeneration(actor, started.generationId);
  for await (const _ of a.app.chats.follow(actor, started.generationId, 0, new AbortController().signal));
  const status = await waitFor(
    async () => {
      const last = (await onB()).at(-1);
      return last?.status === 'streaming' ? undefined : last?.status;
    },
    10_000,
    'the reply end on replica B',
  );
  expect(status).toBe('stopped');
});
