import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../http/actor.ts';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestUser } from '../../test/users.ts';
import { estimateTokens } from '../providers/router.ts';
import { type FakeUpstream, fakeDeployment, startFakeUpstream } from '../providers/testing/index.ts';
import * as repo from './chats.repository.ts';
import type { StreamEvent } from './chats.stream.ts';

/** Generations against a fake OpenAI upstream (the network edge): usage and cost, and failures before and after the first token. */
let fake: FakeUpstream;
let t: TestApp;
let actor: Actor;

beforeAll(async () => {
  fake = await startFakeUpstream({ vendor: 'openai' });
  t = await buildTestApp({
    'providers.deployments': [
      fakeDeployment('up', 'openai', fake.baseUrl, { inputPricePerMTok: 1, outputPricePerMTok: 2 }),
    ],
    'providers.aliases': { smart: { deployments: ['up'] } },
    'providers.routing.maxAttempts': 1,
    'server.shutdownGraceMs': 500,
  });
  actor = { userId: (await createTestUser(t.app)).id, role: 'user', plan: 'free', scopes: ['chat'], via: 'session' };
});
afterAll(async () => {
  await t?.close();
  await fake?.close();
});

async function run(content: string) {
  const c = await t.app.chats.createConversation(actor, { settings: { model: 'smart' } });
  const g = await t.app.chats.sendMessage(actor, c.id, { content });
  const events: StreamEvent[] = [];
  for await (const e of t.app.chats.follow(actor, g.generationId, 0, new AbortController().signal)) events.push(e);
  const msg = await repo.getMessage(t.app.db.db, actor, g.assistantMessageId);
  return { events, msg, request: fake.requests.at(-1) };
}

it('streams from the upstream with usage, cost and the conversation history', async () => {
  const { events, msg, request } = await run('hello upstream');
  expect(events.at(-1)?.event).toBe('done');
  const done = JSON.parse(events.at(-1)?.data ?? '{}') as { status: string; usage: { outputTokens: number } };
  expect(done.status).toBe('complete');
  expect(msg?.status).toBe('complete');
  expect(msg?.model).toBe('smart');
  expect(msg?.deployment).toBe('up');
  expect(msg?.tokensOut).toBeGreaterThan(0);
  expect(msg?.costUsd).toBeCloseTo(((msg?.tokensIn ?? 0) * 1 + (msg?.tokensOut ?? 0) * 2) / 1e6, 12);
  expect(request?.body).toMatchObject({ stream: true, messages: [{ role: 'user', content: 'hello upstream' }] });
});

it('an upstream that fails before the first token ends with an error event and an error message, no hang', async () => {
  fake.fail({ kind: 'status', status: 500 });
  const { events, msg } = await run('this will fail');
  expect(events.at(-1)?.event).toBe('error');
  expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({ status: 'error', code: 'upstream_unavailable' });
  expect(msg?.status).toBe('error');
  expect(msg?.error?.code).toBe('upstream_unavailable');
});

it('an upstream that dies mid-stream keeps the text so far, status error', async () => {
  fake.fail({ kind: 'reset-mid', afterChunks: 3 });
  const { events, msg } = await run('this will break');
  expect(events.at(-1)?.event).toBe('error');
  const text = events
    .filter((e) => e.event === 'delta')
    .map((e) => (JSON.parse(e.data) as { text: string }).text)
    .join('');
  expect(text.length).toBeGreaterThan(0);
  expect(msg?.status).toBe('error');
  expect(msg?.content).toEqual([{ type: 'text', text }]);
});

describe('limits (modules/rate-limit): a reply counts against the user tokens like a /v1 call', () => {
  const tokensToday = async (who: Actor) =>
    (await t.app.limits.usage(who)).items.find((i) => i.policy === 'user_tokens_day')?.used ?? Number.NaN;

  it('reserves the prompt estimate plus max tokens while it runs, then reconciles with the reported usage', async () => {
    const who: Actor = { ...actor, userId: (await createTestUser(t.app)).id };
    const c = await t.app.chats.createConversation(who, { settings: { model: 'smart' } });
    // Reconciled: after a finished reply the day quota holds exactly what the upstream reported.
    const first = await t.app.chats.sendMessage(who, c.id, { content: 'count me' });
    for await (const _ of t.app.chats.follow(who, first.generationId, 0, new AbortController().signal));
    const msg = await repo.getMessage(t.app.db.db, who, first.assistantMessageId);
    const used = (msg?.tokensIn ?? 0) + (msg?.tokensOut ?? 0);
    expect(used).toBeGreaterThan(0);
    expect(await tokensToday(who)).toBe(used);

    // Reserved: a reply in flight holds its estimate (prompt from the history sent, plus options.maxTokens).
    fake.fail({ kind: 'stall', afterChunks: 1 });
    const content = 'x'.repeat(400);
    const second = await t.app.chats.sendMessage(who, c.id, { content, options: { maxTokens: 300 } });
    const answer = msg?.content.map((p) => (p.type === 'text' ? p.text : '')).join('') ?? '';
    const history = [
      { role: 'user' as const, content: 'count me' },
      { role: 'assistant' as const, content: answer },
      { role: 'user' as const, content },
    ];
    expect(await tokensToday(who)).toBe(used + estimateTokens({ model: 'smart', messages: history }) + 300);
    await t.app.chats.stopGeneration(who, second.generationId);
    for await (const _ of t.app.chats.follow(who, second.generationId, 0, new AbortController().signal));
  });

  it('a reply the quota cannot cover is 429 quota_exceeded before anything is written', async () => {
    const admin = await createTestUser(t.app, { role: 'admin' });
    const who: Actor = { ...actor, userId: (await createTestUser(t.app)).id };
    await t.app.limits.setOverrides(
      { ...actor, userId: admin.id, role: 'admin' },
      who.userId,
      { tokensPerDay: 50 },
      null,
    );
    const c = await t.app.chats.createConversation(who, { settings: { model: 'smart' } });
    await expect(t.app.chats.sendMessage(who, c.id, { content: 'too dear' })).rejects.toMatchObject({
      code: 'quota_exceeded',
      status: 429,
    });
    expect(await repo.allMessages(t.app.db.db, who, c.id, 10)).toEqual([]);
    expect(await tokensToday(who)).toBe(0);
  });
});
