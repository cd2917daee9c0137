import { schema } from '@genz/db';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { type FakeUpstream, fakeDeployment, postV1, startFakeUpstream, type Vendor } from './testing/index.ts';

const THINKING = 'The user greets me. I should greet back.';

/** Reasoning as each vendor writes it (reasoning_content, thinking blocks, thought parts) and what it reports. */
const vendors: {
  vendor: Vendor;
  provider: 'openai' | 'anthropic' | 'gemini';
  upstreamAsked: (body: Record<string, unknown>) => unknown;
  reasoningTokens: number;
  outputTokens: number;
}[] = [
  {
    vendor: 'openai',
    provider: 'openai',
    upstreamAsked: (b) => b.reasoning_effort,
    reasoningTokens: 24,
    outputTokens: 30,
  },
  // Anthropic counts thinking inside output_tokens and reports no separate figure.
  {
    vendor: 'anthropic',
    provider: 'anthropic',
    upstreamAsked: (b) => b.thinking,
    reasoningTokens: 0,
    outputTokens: 30,
  },
  {
    vendor: 'gemini',
    provider: 'gemini',
    upstreamAsked: (b) => (b.generationConfig as { thinkingConfig?: unknown } | undefined)?.thinkingConfig,
    reasoningTokens: 24,
    outputTokens: 30,
  },
];

describe.each(vendors)('reasoning from a fake $vendor upstream', ({ vendor, provider, upstreamAsked, ...want }) => {
  let fake: FakeUpstream;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeUpstream({ vendor });
    t = await buildTestApp({
      'providers.deployments': [fakeDeployment('up', provider, fake.baseUrl)],
      'providers.aliases': { thinker: { deployments: ['up'] } },
    });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  const ask = (stream: boolean) =>
    postV1(t.app, {
      model: 'thinker',
      stream,
      reasoning_effort: 'low',
      ...(stream ? { stream_options: { include_usage: true } } : {}),
      messages: [{ role: 'user', content: 'Hi' }],
    });

  const usageRow = async (requestId: string) => {
    await t.app.usage.writer.flush();
    const [row] = await t.app.db.db
      .select()
      .from(schema.usageEvents)
      .where(eq(schema.usageEvents.requestId, requestId));
    return row;
  };

  it('streams the reasoning as reasoning_content before the answer, and counts it in usage', async () => {
    const res = await ask(true);
    expect(res.statusCode, res.body).toBe(200);
    expect(upstreamAsked(fake.requests.at(-1)?.body ?? {})).toBeDefined();
    const chunks = res.body
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)));
    const reasoning = chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? '').join('');
    const content = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(reasoning).toBe(THINKING);
    expect(content).toBe('Hello!');
    const firstReasoning = chunks.findIndex((c) => c.choices[0]?.delta?.reasoning_content);
    const firstContent = chunks.findIndex((c) => c.choices[0]?.delta?.content);
    expect(firstReasoning).toBeLessThan(firstContent);
    const usage = chunks.find((c) => c.usage)?.usage;
    expect(usage.completion_tokens).toBe(want.outputTokens);
    expect(usage.completion_tokens_details?.reasoning_tokens ?? 0).toBe(want.reasoningTokens);
    expect(res.body.trimEnd().endsWith('data: [DONE]')).toBe(true);

    const row = await usageRow(String(res.headers['x-request-id']));
    expect(row).toMatchObject({ outputTokens: want.outputTokens, reasoningTokens: want.reasoningTokens, status: 'ok' });
  });

  const respond = (stream: boolean) =>
    postV1(t.app, { model: 'thinker', stream, reasoning: { effort: 'low' }, input: 'Hi' }, { url: '/v1/responses' });

  it('streams the reasoning on /v1/responses as a reasoning item before the message, and counts it', async () => {
    const res = await respond(true);
    expect(res.statusCode, res.body).toBe(200);
    expect(upstreamAsked(fake.requests.at(-1)?.body ?? {})).toBeDefined();
    const events = res.body
      .split('\n\n')
      .filter((e) => e.includes('data: '))
      .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
    const of = (type: string) => events.filter((e) => e.type === type);
    expect(
      of('response.reasoning_text.delta')
        .map((e) => e.delta)
        .join(''),
    ).toBe(THINKING);
    expect(
      of('response.output_text.delta')
        .map((e) => e.delta)
        .join(''),
    ).toBe('Hello!');
    const added = of('response.output_item.added').map((e) => [e.output_index, e.item.type]);
    expect(added).toEqual([
      [0, 'reasoning'],
      [1, 'message'],
    ]);
    // The reasoning item is complete before the answer starts.
    const types = events.map((e) => e.type);
    expect(types.indexOf('response.reasoning_text.done')).toBeLessThan(types.indexOf('response.output_text.delta'));
    const completed = of('response.completed')[0].response;
    expect(completed.output[0]).toMatchObject({
      type: 'reasoning',
      content: [{ type: 'reasoning_text', text: THINKING }],
    });
    expect(completed.usage).toMatchObject({
      output_tokens: want.outputTokens,
      output_tokens_details: { reasoning_tokens: want.reasoningTokens },
    });
    const row = await usageRow(String(res.headers['x-request-id']));
    expect(row).toMatchObject({ outputTokens: want.outputTokens, reasoningTokens: want.reasoningTokens, status: 'ok' });
  });

  it('returns the reasoning as the first output item of a non-stream /v1/responses reply, and counts it', async () => {
    const res = await respond(false);
    expect(res.statusCode, res.body).toBe(200);
    expect(upstreamAsked(fake.requests.at(-1)?.body ?? {})).toBeDefined();
    const body = res.json();
    expect(body.output.map((o: { type: string }) => o.type)).toEqual(['reasoning', 'message']);
    expect(body.output[0].content).toEqual([{ type: 'reasoning_text', text: THINKING }]);
    expect(body.output_text).toBe('Hello!');
    expect(body.usage).toMatchObject({
      output_tokens: want.outputTokens,
      output_tokens_details: { reasoning_tokens: want.reasoningTokens },
    });
    const row = await usageRow(String(res.headers['x-request-id']));
    expect(row).toMatchObject({ outputTokens: want.outputTokens, reasoningTokens: want.reasoningTokens });
  });

  it('returns the reasoning on the message of a non-stream reply, and counts it in usage', async () => {
    const res = await ask(false);
    expect(res.statusCode, res.body).toBe(200);
    const message = res.json().choices[0].message;
    expect(message.reasoning_content).toBe(THINKING);
    expect(message.content).toBe('Hello!');
    const row = await usageRow(String(res.headers['x-request-id']));
    expect(row).toMatchObject({ outputTokens: want.outputTokens, reasoningTokens: want.reasoningTokens });
  });
});
