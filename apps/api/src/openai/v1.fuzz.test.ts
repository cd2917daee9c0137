import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FakeUpstream,
  fakeDeployment,
  postV1,
  startFakeUpstream,
  testApiKey,
} from '../modules/providers/testing/index.ts';
import { buildTestApp, type TestApp } from '../test/app.ts';
import { applyMutations, fuzzParams, type Json, limitsOff, mutations } from '../test/fuzz.ts';

/**
 * Bad input never reaches a 500 (issue 4, "Bad input"). Each run takes a valid request for one of the /v1 POST
 * routes, breaks it at one to three random places (a value replaced by any JSON value, a key removed, a key added)
 * and sends it, to each vendor's adapter in turn (OpenAI wire, Anthropic and Gemini translation): the answer is a
 * success or a 4xx in the OpenAI error envelope, never a 5xx. The fake upstream answers every vendor's wire format
 * and never fails, so a 5xx could only come from GenZ itself.
 */

const chatBody = (model: string): Json => ({
  model,
  messages: [
    { role: 'system', content: 'Be brief.' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in this picture, and what is the weather in Paris?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
      ],
    },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
    },
    { role: 'tool', tool_call_id: 'call_1', content: '{"celsius":21}' },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'weather',
        description: 'Weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ],
  tool_choice: 'auto',
  response_format: {
    type: 'json_schema',
    json_schema: { name: 'answer', schema: { type: 'object', properties: { text: { type: 'string' } } } },
  },
  stream_options: { include_usage: true },
  max_tokens: 64,
  temperature: 0.5,
  top_p: 0.9,
  stop: ['\n\n'],
  seed: 7,
  logit_bias: { '50256': -100 },
  metadata: { purpose: 'fuzz' },
  user: 'fuzzer',
});

const responsesBody = (model: string): Json => ({
  model,
  instructions: 'Be brief.',
  input: [
    {
      role: 'user',
      content: [
        { type: 'input_text', text: 'Weather in Paris?' },
        { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=' },
      ],
    },
    { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' },
    { type: 'function_call_output', call_id: 'call_1', output: '{"celsius":21}' },
  ],
  tools: [
    {
      type: 'function',
      name: 'weather',
      description: 'Weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
    },
  ],
  tool_choice: 'auto',
  max_output_tokens: 64,
  temperature: 0.5,
  text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' } } },
  reasoning: { effort: 'low' },
  metadata: { purpose: 'fuzz' },
});

const embeddingsBody = (model: string): Json => ({
  model,
  input: ['first text', 'second text'],
  encoding_format: 'float',
  dimensions: 8,
  user: 'fuzzer',
});

const models = ['gpt', 'claude', 'gem'] as const;
const routes = [
  { url: '/v1/chat/completions', body: chatBody, streams: true },
  { url: '/v1/responses', body: responsesBody, streams: true },
  // Embeddings only on the OpenAI wire (the fake's other vendors have none).
  { url: '/v1/embeddings', body: embeddingsBody, streams: false },
] as const;

describe('/v1 answers any broken request with a success or a 4xx, never a 5xx', () => {
  let t: TestApp;
  let fake: FakeUpstream;
  let authorization: string;
  beforeAll(async () => {
    fake = await startFakeUpstream({ record: false });
    t = await buildTestApp({
      'providers.deployments': [
        fakeDeployment('gpt', 'openai', fake.baseUrl, { contextWindow: 100_000 }),
        fakeDeployment('claude', 'anthropic', fake.baseUrl, { contextWindow: 100_000 }),
        fakeDeployment('gem', 'gemini', `${fake.url}/v1beta`, { contextWindow: 100_000 }),
      ],
      'providers.aliases': {
        gpt: { deployments: ['gpt'] },
        claude: { deployments: ['claude'] },
        gem: { deployments: ['gem'] },
      },
      ...limitsOff,
    });
    authorization = `Bearer ${await testApiKey(t.app)}`;
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  for (const route of routes) {
    const targets = route.url === '/v1/embeddings' ? (['gpt'] as const) : models;
    for (const model of targets) {
      it(`${route.url} on ${model}`, async () => {
        const base = route.body(model);
        // The unbroken request succeeds: the runs below test bad input, not a broken setup.
        const ok = await postV1(t.app, base as object, { url: route.url, headers: { authorization } });
        expect(ok.statusCode, ok.body).toBe(200);
        await fc.assert(
          fc.asyncProperty(mutations(base), fc.boolean(), async (changes, stream) => {
            const body = applyMutations(base, changes);
            if (route.streams && stream && body !== null && typeof body === 'object' && !Array.isArray(body)) {
              body.stream = true;
            }
            const res = await t.app.inject({
              method: 'POST',
              url: route.url,
              headers: { authorization, 'content-type': 'application/json' },
              payload: body === undefined ? '' : JSON.stringify(body),
            });
            if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${JSON.stringify(body)}: ${res.body}`);
            if (res.statusCode >= 400) {
              const { error } = res.json() as { error?: { message?: unknown; type?: unknown } };
              expect(typeof error?.message, res.body).toBe('string');
              expect(typeof error?.type, res.body).toBe('string');
            }
          }),
          fuzzParams(120),
        );
      });
    }
  }

  it('a body that is not JSON, or not an object, is a 400 in the envelope', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes.map((r) => r.url)),
        fc.oneof(
          fc.string(),
          fc.json().filter((s) => !s.startsWith('{')),
        ),
        async (url, payload) => {
          const res = await t.app.inject({
            method: 'POST',
            url,
            headers: { authorization, 'content-type': 'application/json' },
            payload,
          });
          expect(res.statusCode, `${url} ${JSON.stringify(payload)}: ${res.body}`).toBe(400);
          expect(typeof res.json().error.message).toBe('string');
        },
      ),
      fuzzParams(120),
    );
  });
});
