import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, jsonSchema, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { type FakeUpstream, fakeDeployment, startFakeUpstream, testApiKey, type Vendor } from './testing/index.ts';

const hello = 'Hello! How can I help you today?';
/** `vision`: the recorded answer to an image (the fixtures of vendors without a vision recording reply `text`). */
const vendors: {
  vendor: Vendor;
  provider: 'openai' | 'anthropic' | 'gemini' | 'openai-compatible';
  text: string;
  vision: string;
}[] = [
  { vendor: 'openai', provider: 'openai', text: hello, vision: hello },
  {
    vendor: 'ollama',
    provider: 'openai-compatible',
    text: hello,
    vision: 'The image is a single pixel of solid red colour, with nothing else in it.',
  },
  { vendor: 'anthropic', provider: 'anthropic', text: hello, vision: hello },
  { vendor: 'gemini', provider: 'gemini', text: hello, vision: hello },
];

/** A chunk index past the first content token but before the end, per fixture. */
const midStreamCut: Record<Vendor, number> = { openai: 3, ollama: 2, anthropic: 5, gemini: 1 };

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe.each(vendors)('/v1/chat/completions against a fake $vendor upstream', ({ vendor, provider, text, vision }) => {
  let fake: FakeUpstream;
  let t: TestApp;
  let client: OpenAI;
  let baseURL: string;

  beforeAll(async () => {
    fake = await startFakeUpstream({ vendor });
    t = await buildTestApp({
      'providers.deployments': [fakeDeployment('up', provider, fake.baseUrl)],
      'providers.aliases': { smart: { deployments: ['up'] } },
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    baseURL = `http://127.0.0.1:${port}/v1`;
    client = new OpenAI({ baseURL, apiKey: await testApiKey(t.app), maxRetries: 0 });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('answers non-stream through the official openai SDK', async () => {
    const res = await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.choices[0]?.message.content).toBe(text);
    expect(res.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(
      fake.requests.at(-1)?.headers.authorization ??
        fake.requests.at(-1)?.headers['x-api-key'] ??
        fake.requests.at(-1)?.headers['x-goog-api-key'],
    ).toContain('sk-fake-upstream-key');
  });

  it('streams through the official openai SDK, with usage when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'smart',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let out = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      out += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(out).toBe(text);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('returns tool calls, streamed and not', async () => {
    const res = await client.chat.completions.create({
      model: 'smart',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool],
    });
    const call = res.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function.name).toBe('get_weather');
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });
    expect(res.choices[0]?.finish_reason).toBe('tool_calls');

    const stream = client.chat.completions.stream({
      model: 'smart',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool],
    });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0]?.message.tool_calls?.[0];
    expect(streamed?.type === 'function' && JSON.parse(streamed.function.arguments)).toEqual({ city: 'Paris' });
  });

  it('forwards image parts to a vision deployment', async () => {
    const image =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const res = await client.chat.completions.create({
      model: 'smart',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: image } },
          ],
        },
      ],
    });
    expect(res.choices[0]?.message.content).toBe(vision);
    expect(JSON.stringify(fake.requests.at(-1)?.body)).toContain('iVBORw0KGgo');
  });

  it('surfaces a mid-stream upstream failure as an SDK error, never a finished reply', async () => {
    fake.fail({ kind: 'reset-mid', afterChunks: midStreamCut[vendor] });
    const stream = await client.chat.completions.create({
      model: 'smart',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    let out = '';
    await expect(
      (async () => {
        for await (const chunk of stream) out += chunk.choices[0]?.delta.content ?? '';
      })(),
    ).rejects.toThrow(/interrupted|incomplete/);
    expect(out.length).toBeGreaterThan(0);
    expect(text.startsWith(out)).toBe(true);
  });

  it('works with @ai-sdk/openai-compatible as a second client, including a mid-stream failure', async () => {
    const genz = createOpenAICompatible({ name: 'genz', baseURL, apiKey: await testApiKey(t.app) });
    const { text: got } = await generateText({ model: genz('smart'), prompt: 'Hi', maxRetries: 0 });
    expect(got).toBe(text);
    const streamed = streamText({ model: genz('smart'), prompt: 'Hi', maxRetries: 0 });
    expect(await streamed.text).toBe(text);
    const withTool = await generateText({
      model: genz('smart'),
      prompt: 'Weather in Paris?',
      maxRetries: 0,
      tools: {
        get_weather: tool({ inputSchema: jsonSchema<{ city: string }>(weatherTool.function.parameters as never) }),
      },
    });
    expect(withTool.toolCalls[0]?.input).toEqual({ city: 'Paris' });
    fake.fail({ kind: 'reset-mid', afterChunks: midStreamCut[vendor] });
    const errors: unknown[] = [];
    const broken = streamText({
      model: genz('smart'),
      prompt: 'Hi',
      maxRetries: 0,
      onError: ({ error }) => void errors.push(error),
    });
    let partial = '';
    for await (const part of broken.fullStream) {
      if (part.type === 'text-delta') partial += part.text;
      if (part.type === 'error') errors.push(part.error);
    }
    expect(errors.length).toBeGreaterThan(0);
    expect(partial).not.toBe(text);
  });
});
