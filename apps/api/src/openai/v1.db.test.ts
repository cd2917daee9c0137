import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FakeUpstream,
  fakeDeployment,
  postV1,
  startFakeUpstream,
  testApiKey,
} from '../modules/providers/testing/index.ts';
import { buildTestApp, type TestApp } from '../test/app.ts';

async function listen(t: TestApp): Promise<OpenAI> {
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: await testApiKey(t.app), maxRetries: 0 });
}

describe('the offline demo model (no provider configured)', () => {
  let t: TestApp;
  let client: OpenAI;
  beforeAll(async () => {
    t = await buildTestApp({ 'providers.demoChunkDelayMs': 0 });
    client = await listen(t);
  });
  afterAll(() => t.close());

  it('streams a deterministic, clearly labelled reply', async () => {
    const stream = await client.chat.completions.create({
      model: 'demo',
      messages: [{ role: 'user', content: 'Hello there' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.startsWith('[demo]')).toBe(true);
    expect(text).toContain('no AI provider is configured');
    expect(text).toContain('"Hello there"');
    const again = await client.chat.completions.create({
      model: 'demo',
      messages: [{ role: 'user', content: 'Hello there' }],
    });
    expect(again.choices[0]?.message.content).toBe(text);
  });

  it('lists it in /v1/models, healthy', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['demo']);
    expect((models.data[0] as unknown as { genz: { health: string } }).genz.health).toBe('healthy');
  });

  it('serves embeddings and the Responses API', async () => {
    const emb = await client.embeddings.create({ model: 'demo', input: ['a', 'b'] });
    expect(emb.data).toHaveLength(2);
    const resp = await client.responses.create({ model: 'demo', input: 'Hi' });
    expect(resp.output_text.startsWith('[demo]')).toBe(true);
  });
});

describe('bad input gets a 400 in the OpenAI envelope naming the parameter', () => {
  let t: TestApp;
  let fake: FakeUpstream;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await buildTestApp({
      'providers.deployments': [
        fakeDeployment('small', 'openai', fake.baseUrl, {
          contextWindow: 1000,
          capabilities: { tools: false, vision: false, embeddings: false },
        }),
      ],
      'providers.aliases': { small: { deployments: ['small'] } },
    });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ['an unknown model', { model: 'nope' }, 'model'],
    ['an unsupported parameter', { frobnicate: true }, 'frobnicate'],
    ['a wrong type', { temperature: 'hot' }, 'temperature'],
    ['a number sent as a string', { temperature: '0.5' }, 'temperature'],
    ['an out-of-range value', { temperature: 7 }, 'temperature'],
    ['n > 1', { n: 2 }, 'n'],
    [
      'an invalid tool schema',
      { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'string' } } }] },
      'tools.0.function.parameters.type',
    ],
    ['a bad tool name', { tools: [{ type: 'function', function: { name: 'has spaces' } }] }, 'tools.0.function.name'],
    ['tools on a model without tools', { tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools'],
    [
      'an image for a model without vision',
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] },
      'messages',
    ],
    [
      'a prompt larger than the context window',
      { messages: [{ role: 'user', content: 'x'.repeat(8000) }] },
      'messages',
    ],
    ['a message with a bad role', { messages: [{ role: 'robot', content: 'hi' }] }, 'messages.0.role'],
    [
      'an image part without a URL',
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: [] }] }] },
      'messages.0.content',
    ],
    [
      'a text part whose text is not a string',
      { messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] },
      'messages.0.content',
    ],
  ];

  it.each(cases)('%s', async (_name, patch, param) => {
    const before = fake.requests.length;
    const res = await postV1(t.app, { model: 'small', messages: [{ role: 'user', content: 'hi' }], ...patch });
    expect(res.statusCode).toBe(400);
    const { error } = res.json();
    expect(error.type).toBe('invalid_request_error');
    expect(error.param).toBe(param);
    expect(typeof error.message).toBe('string');
    expect(fake.requests.length).toBe(before); // never reached the provider
  });

  it('a malformed JSON body', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await testApiKey(t.app)}` },
      payload: '{"model":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.type).toBe('invalid_request_error');
  });
});

describe("a request a translation adapter cannot send is the client's error, not the deployment's", () => {
  let t: TestApp;
  let fake: FakeUpstream;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await buildTestApp({
      'providers.deployments': [
        fakeDeployment('claude', 'anthropic', fake.baseUrl),
        fakeDeployment('gem', 'gemini', `${fake.url}/v1beta`),
      ],
      'providers.aliases': { claude: { deployments: ['claude'] }, gem: { deployments: ['gem'] } },
    });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  const image = (url: string) => ({
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }],
  });
  const cases: [string, Record<string, unknown>, string | null][] = [
    ['an image URL that is not a URL', image('not a url'), 'messages.0.content.0.image_url.url'],
    [
      'a part type the vendor has no form for',
      {
        messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }],
      },
      'messages.0.content.0.type',
    ],
  ];

  // What the vendor's AI SDK provider package refuses while building its request (its own error, no param).
  const refusedBySdk: Record<string, [string, Record<string, unknown>, null]> = {
    claude: ['a media type Anthropic has no form for', image('data:application/x-foo;base64,AAAA'), null],
    gem: [
      'a system message after the conversation began',
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'system', content: 'be brief' },
        ],
      },
      null,
    ],
  };

  it.each(['claude', 'gem'])('on %s: a 400, and the deployment keeps serving', async (model) => {
    const before = fake.requests.length;
    for (const [name, patch, param] of [...cases, refusedBySdk[model] as [string, Record<string, unknown>, null]]) {
      // Three times, as many as the attempts a failover makes: a deployment fault would open the breaker.
      for (let i = 0; i < 3; i++) {
        const res = await postV1(t.app, { model, ...patch });
        expect(res.statusCode, name).toBe(400);
        expect(res.json().error).toMatchObject({ type: 'invalid_request_error', param });
      }
    }
    expect(fake.requests.length).toBe(before); // never sent
    const ok = await postV1(t.app, { model, messages: [{ role: 'user', content: 'hi' }] });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('a Responses content part that is not an object, or text that is not a string, is a 400', async () => {
    for (const [content, param] of [
      [[null], 'input.0.content.0'],
      [[{ type: 'input_text', text: 5 }], 'input.0.content.0.text'],
    ] as const) {
      const res = await postV1(
        t.app,
        { model: 'claude', input: [{ role: 'user', content }] },
        { url: '/v1/responses' },
      );
      expect(res.statusCode).toBe(400);
      expect(res.json().error.param).toBe(param);
    }
  });
});

describe('/v1/responses and /v1/embeddings against a fake OpenAI upstream', () => {
  let t: TestApp;
  let fake: FakeUpstream;
  let client: OpenAI;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await buildTestApp({
      'providers.deployments': [fakeDeployment('up', 'openai', fake.baseUrl)],
      'providers.aliases': { smart: { deployments: ['up'] } },
    });
    client = await listen(t);
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('answers text, non-stream and streaming', async () => {
    const resp = await client.responses.create({ model: 'smart', input: 'Hi', instructions: 'Be brief' });
    expect(resp.output_text).toBe('Hello! How can I help you today?');
    expect(resp.usage?.input_tokens).toBe(19);
    expect(fake.requests.at(-1)?.body.messages).toEqual([
      { role: 'system', content: 'Be brief' },
      { role: 'user', content: 'Hi' },
    ]);
    const stream = await client.responses.create({ model: 'smart', input: 'Hi', stream: true });
    let text = '';
    let completed = false;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = true;
    }
    expect(text).toBe('Hello! How can I help you today?');
    expect(completed).toBe(true);
  });

  it('returns function calls', async () => {
    const tools = [
      {
        type: 'function' as const,
        name: 'get_weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        strict: false,
      },
    ];
    const resp = await client.responses.create({ model: 'smart', input: 'Weather in Paris?', tools });
    const call = resp.output.find((o) => o.type === 'function_call');
    expect(call?.type === 'function_call' && JSON.parse(call.arguments)).toEqual({ city: 'Paris' });
    const stream = await client.responses.create({ model: 'smart', input: 'Weather in Paris?', tools, stream: true });
    let args = '';
    for await (const event of stream)
      if (event.type === 'response.function_call_arguments.done') args = event.arguments;
    expect(JSON.parse(args)).toEqual({ city: 'Paris' });
  });

  it('a mid-stream failure on /v1/responses is an SDK error', async () => {
    fake.fail({ kind: 'reset-mid', afterChunks: 3 });
    const stream = await client.responses.create({ model: 'smart', input: 'Hi', stream: true });
    await expect(
      (async () => {
        for await (const _ of stream) {
          // drain
        }
      })(),
    ).rejects.toThrow();
  });

  it('passes vendor extensions on text and image parts through to an OpenAI-wire upstream', async () => {
    const cache = { type: 'ephemeral' };
    const content = [
      { type: 'text', text: 'What is this?', cache_control: cache },
      { type: 'image_url', image_url: { url: 'https://example.test/cat.png', detail: 'low' }, cache_control: cache },
    ];
    const res = await postV1(t.app, { model: 'smart', messages: [{ role: 'user', content }] });
    expect(res.statusCode, res.body).toBe(200);
    const sent = fake.requests.at(-1)?.body.messages as { content: unknown }[] | undefined;
    expect(sent?.[0]?.content).toEqual(content);
  });

  it('proxies embeddings', async () => {
    const emb = await client.embeddings.create({ model: 'smart', input: 'hello' });
    expect(emb.data[0]?.embedding).toEqual([0.1, -0.2, 0.3]);
    expect(fake.requests.at(-1)?.path).toBe('/v1/embeddings');
    expect(fake.requests.at(-1)?.body.model).toBe('gpt-4o-mini');
  });
});
