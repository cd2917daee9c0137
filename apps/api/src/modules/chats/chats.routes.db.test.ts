import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestApiKey, createTestUser, type TestUser } from '../../test/users.ts';
import { demoReply } from '../providers/adapters/demo.ts';
import * as repo from './chats.repository.ts';
import { parseSse } from './chats.testing.ts';

let t: TestApp;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await buildTestApp({
    'providers.demoChunkDelayMs': 1,
    'chats.followerCheckMs': 200,
    'server.shutdownGraceMs': 1000,
  });
  alice = await createTestUser(t.app);
  bob = await createTestUser(t.app);
});
afterAll(() => t?.close());

const post = (user: TestUser, url: string, payload: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, payload: payload as object, headers: { ...user.headers, ...headers } });

async function newConversation(user: TestUser): Promise<string> {
  const res = await post(user, '/api/conversations', {});
  expect(res.statusCode).toBe(201);
  return (res.json() as { id: string }).id;
}

describe('chat routes', () => {
  it('POST messages answers text/event-stream at once with message, delta…, done, each with id: <seq>', async () => {
    const id = await newConversation(alice);
    const res = await post(alice, `/api/conversations/${id}/messages`, { content: 'hello routes' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['cache-control']).toContain('no-transform');
    expect(res.headers['content-encoding']).toBeUndefined();
    const events = parseSse(res.body);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i + 1)));
    expect(events[0]?.event).toBe('message');
    expect(events.at(-1)?.event).toBe('done');
    const text = events
      .filter((e) => e.event === 'delta')
      .map((e) => (JSON.parse(e.data) as { text: string }).text)
      .join('');
    expect(text).toBe(demoReply('hello routes'));
    const gid = res.headers['x-generation-id'];

    // Resume with Last-Event-ID: exactly the rest, byte for byte.
    const resumed = await t.app.inject({
      method: 'GET',
      url: `/api/generations/${gid}/events`,
      headers: { ...alice.headers, 'last-event-id': '3' },
    });
    expect(resumed.statusCode).toBe(200);
    expect(parseSse(resumed.body)).toEqual(events.slice(3));

    const messages = await t.app.inject({ url: `/api/conversations/${id}/messages`, headers: alice.headers });
    expect((messages.json() as { items: unknown[] }).items).toHaveLength(2);
  });

  it('foreign and unknown ids are 404 problem+json on every chat route, never 403', async () => {
    const id = await newConversation(alice);
    const sent = await post(alice, `/api/conversations/${id}/messages`, { content: 'mine' });
    const gid = String(sent.headers['x-generation-id']);
    const msgId = (JSON.parse(parseSse(sent.body)[0]?.data ?? '{}') as { userMessageId: string }).userMessageId;
    const calls = [
      { method: 'GET' as const, url: `/api/conversations/${id}` },
      { method: 'GET' as const, url: `/api/conversations/${id}/messages` },
      { method: 'POST' as const, url: `/api/conversations/${id}/messages`, payload: { content: 'x' } },
      { method: 'GET' as const, url: `/api/generations/${gid}/events` },
      { method: 'POST' as const, url: `/api/generations/${gid}/stop` },
      { method: 'POST' as const, url: `/api/messages/${msgId}/regenerate`, payload: {} },
      { method: 'GET' as const, url: `/api/conversations/${id}/export` },
      { method: 'POST' as const, url: `/api/conversations/${id}/shares`, payload: {} },
      { method: 'GET' as const, url: '/api/conversations/not-a-uuid' },
    ];
    // Alice's first page of messages is cached now (under her user id): Bob still gets 404, and she her page.
    const own = await t.app.inject({ url: `/api/conversations/${id}/messages`, headers: alice.headers });
    expect(own.statusCode).toBe(200);
    expect(own.headers['content-type']).toContain('application/json');
    for (const c of calls) {
      const res = await t.app.inject({ ...c, headers: bob.headers });
      expect(res.statusCode, `${c.method} ${c.url}`).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    const again = await t.app.inject({ url: `/api/conversations/${id}/messages`, headers: alice.headers });
    expect(again.json()).toEqual(own.json());
  });

  it('bad input: 4xx problem+json, nothing written', async () => {
    const id = await newConversation(alice);
    const cases: [unknown, number, string][] = [
      [{ content: '' }, 400, 'validation_failed'],
      [{ content: 'x'.repeat(t.config.chats.maxMessageChars + 1) }, 413, 'payload_too_large'],
      [{ content: 'hi', model: 'nope' }, 400, 'model_not_found'],
      [{ content: 'hi', extra: 1 }, 400, 'validation_failed'],
    ];
    for (const [payload, status, code] of cases) {
      const res = await post(alice, `/api/conversations/${id}/messages`, payload);
      expect(res.statusCode).toBe(status);
      expect((res.json() as { code: string }).code).toBe(code);
    }
    const cursor = await t.app.inject({ url: '/api/conversations?cursor=%%%', headers: alice.headers });
    expect((cursor.json() as { code: string }).code).toBe('invalid_cursor');
    const resume = await t.app.inject({
      url: `/api/generations/${crypto.randomUUID()}/events`,
      headers: { ...alice.headers, 'last-event-id': 'abc' },
    });
    expect(resume.statusCode).toBe(400);
    const notJson = await t.app.inject({
      method: 'POST',
      url: '/api/import/chatgpt',
      payload: '{"broken":',
      headers: { ...alice.headers, 'content-type': 'application/json' },
    });
    expect(notJson.statusCode).toBe(400);
    const messages = await t.app.inject({ url: `/api/conversations/${id}/messages`, headers: alice.headers });
    expect((messages.json() as { items: unknown[] }).items).toEqual([]);
  });

  it('Idempotency-Key over HTTP: a retry replays the same generation, another body is 422', async () => {
    const id = await newConversation(alice);
    const headers = { 'idempotency-key': 'route-key-1' };
    const a = await post(alice, `/api/conversations/${id}/messages`, { content: 'only once' }, headers);
    const b = await post(alice, `/api/conversations/${id}/messages`, { content: 'only once' }, headers);
    expect(b.headers['x-generation-id']).toBe(a.headers['x-generation-id']);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(parseSse(b.body)).toEqual(parseSse(a.body));
    const c = await post(alice, `/api/conversations/${id}/messages`, { content: 'another' }, headers);
    expect(c.statusCode).toBe(422);
    expect((c.json() as { code: string }).code).toBe('idempotency_mismatch');
  });

  it('shares: anonymous read of the snapshot only; a read-only key reads conversations but cannot chat', async () => {
    const id = await newConversation(alice);
    await post(alice, `/api/conversations/${id}/messages`, { content: 'public words' });
    const share = await post(alice, `/api/conversations/${id}/shares`, {});
    const token = (share.json() as { token: string }).token;
    const anon = await t.app.inject({ url: `/api/shared/${token}` });
    expect(anon.statusCode).toBe(200);
    expect(Object.keys(anon.json() as object).sort()).toEqual(['createdAt', 'messages', 'title']);
    // Cached by version, revalidated on every read: the ETag is the share id, a match is a bodiless 304.
    const shareId = (share.json() as { id: string }).id;
    expect(anon.headers.etag).toBe(`"${shareId}"`);
    expect(anon.headers['cache-control']).toBe('no-cache');
    const revalidated = await t.app.inject({
      url: `/api/shared/${token}`,
      headers: { 'if-none-match': `"${shareId}"` },
    });
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.body).toBe('');
    const stale = await t.app.inject({ url: `/api/shared/${token}`, headers: { 'if-none-match': '"other"' } });
    expect(stale.statusCode).toBe(200);
    await t.app.inject({ method: 'DELETE', url: `/api/shares/${shareId}`, headers: alice.headers });
    const revoked = await t.app.inject({ url: `/api/shared/${token}`, headers: { 'if-none-match': `"${shareId}"` } });
    expect(revoked.statusCode).toBe(404);
    const key = await createTestApiKey(t.app, alice, ['read']);
    const listed = await t.app.inject({ url: '/api/conversations', headers: key.headers });
    expect(listed.statusCode).toBe(200);
    expect((listed.json() as { items: { id: string }[] }).items.map((c) => c.id)).toContain(id);
    const messages = await t.app.inject({ url: `/api/conversations/${id}/messages`, headers: key.headers });
    expect(messages.statusCode).toBe(200);
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/conversations',
      headers: key.headers,
      payload: {},
    });
    expect(created.statusCode).toBe(403);
    const sent = await t.app.inject({
      method: 'POST',
      url: `/api/conversations/${id}/messages`,
      headers: key.headers,
      payload: { content: 'no' },
    });
    expect(sent.statusCode).toBe(403);
    expect((sent.json() as { detail: string }).detail).toBe('This needs the "chat" scope.');
  });
});

describe('stream bounds', () => {
  it('idle streams get heartbeat comments; past chats.maxSseConnections a new stream is 503; imports are size-bounded', async () => {
    const b = await buildTestApp({
      'chats.sseHeartbeatMs': 1000,
      'chats.maxSseConnections': 1,
      'chats.staleAfterMs': 1800,
      'chats.reaperIntervalMs': 200,
      'chats.followerCheckMs': 200,
      'chats.importMaxBytes': 2048,
      'server.shutdownGraceMs': 500,
    });
    try {
      const user = await createTestUser(b.app);
      const actor = { userId: user.id, role: 'user' as const, plan: 'free', scopes: [], via: 'session' as const };
      const conv = await b.app.chats.createConversation(actor);
      // A generation whose worker lives elsewhere and then stops beating: followers wait, then get `interrupted`.
      const [msg] = await repo.insertMessages(b.app.db.db, actor, [
        { conversationId: conv.id, parentId: null, role: 'assistant', content: [], status: 'streaming' },
      ]);
      const gen = await repo.insertGeneration(b.app.db.db, actor, {
        id: crypto.randomUUID(),
        conversationId: conv.id,
        userMessageId: null,
        assistantMessageId: msg?.id ?? '',
        owner: 'another-replica',
        at: new Date(),
      });
      const first = b.app.inject({ url: `/api/generations/${gen.id}/events`, headers: user.headers });
      while (b.app.sse.connections < 1) await new Promise((r) => setTimeout(r, 20)); // the first stream is open
      const second = await b.app.inject({ url: `/api/generations/${gen.id}/events`, headers: user.headers });
      expect(second.statusCode).toBe(503);
      expect((second.json() as { code: string }).code).toBe('overloaded');
      expect(second.headers['retry-after']).toBeDefined();
      const res = await first;
      expect(res.body).toContain(': ping\n\n');
      const events = parseSse(res.body);
      expect(events.at(-1)?.event).toBe('done');
      expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({ status: 'interrupted' });

      const big = await b.app.inject({
        method: 'POST',
        url: '/api/import/chatgpt',
        payload: JSON.stringify([{ title: 'x'.repeat(3000), mapping: {} }]),
        headers: { ...user.headers, 'content-type': 'application/json' },
      });
      expect(big.statusCode).toBe(413);
      expect((big.json() as { code: string }).code).toBe('payload_too_large');
      expect((await b.app.chats.listConversations(actor)).items).toHaveLength(1);
    } finally {
      await b.close();
    }
  });
});
