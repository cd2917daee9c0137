import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { executeRows } from '@genz/db';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../http/actor.ts';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { applyMutations, fuzzParams, type Json, limitsOff, type Mutation, mutations } from '../../test/fuzz.ts';
import { createTestUser } from '../../test/users.ts';
import { fakeDeployment, fixture, fixtureEvents, testApiKey } from './testing/index.ts';

/**
 * An upstream that answers well-formed JSON of the wrong shape (a vendor's bug, a proxy in between, a self-hosted
 * server on another version) is the upstream's fault, never GenZ's: each run takes a recorded answer of one vendor,
 * breaks one of its JSON payloads at random places (test/fuzz.ts) and relays it through /v1/chat/completions. The
 * client gets a reply, an error event in the stream or a 5xx naming the upstream, never an internal error; and what
 * the gateway counts from such answers (tokens, cost) stays numbers, so one bad answer cannot corrupt the metrics or
 * make the usage batch it lands in fail for everyone else's requests.
 */

type Vendor = 'openai' | 'anthropic' | 'gemini';
/** Each vendor's recorded streams: a text reply and a tool call. */
const recorded: Record<Vendor, string[]> = {
  openai: ['openai-text.chunks.txt', 'openai-tools.chunks.txt'],
  anthropic: ['anthropic-text.chunks.txt', 'anthropic-tools.chunks.txt'],
  gemini: ['gemini-text.chunks.txt', 'gemini-tools.chunks.txt'],
};
const weather = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

/** An event's lines, with its `data:` payload parsed when it is JSON. */
function split(event: string): { lines: string[]; index: number; json: Json } | undefined {
  const lines = event.trimEnd().split('\n');
  const index = lines.findIndex((l) => l.startsWith('data:'));
  if (index < 0) return undefined;
  try {
    return { lines, index, json: JSON.parse((lines[index] as string).slice(5)) as Json };
  } catch {
    return undefined; // [DONE]
  }
}

/**
 * A vendor's recorded streams, and an arbitrary for one of them broken in one event: `[stream, event, changes]`,
 * turned into the body the upstream sends by `body`.
 */
function brokenStreams(vendor: Vendor) {
  const streams = recorded[vendor].map((name) => {
    const events = fixtureEvents(name);
    const parsed = events.map(split);
    return { events, parsed, positions: parsed.flatMap((p, i) => (p ? [i] : [])) };
  });
  const arbitrary = fc
    .nat(streams.length - 1)
    .chain((k) =>
      fc
        .constantFrom(...(streams[k] as (typeof streams)[number]).positions)
        .chain((i) => fc.tuple(fc.constant(k), fc.constant(i), mutations(streams[k]?.parsed[i]?.json ?? null))),
    );
  /** The broken event's data line, and the whole body with it in place. */
  const body = ([k, i, changes]: [number, number, Mutation[]]) => {
    const { events, parsed } = streams[k] as (typeof streams)[number];
    const p = parsed[i] as NonNullable<(typeof parsed)[number]>;
    const lines = [...p.lines];
    const line = `data: ${JSON.stringify(applyMutations(p.json, changes) ?? null)}`;
    lines[p.index] = line;
    return { line, body: events.map((e, j) => (j === i ? `${lines.join('\n')}\n\n` : e)).join('') };
  };
  return { streams, arbitrary, body };
}

describe('an upstream answer of the wrong shape is the upstream’s fault, never an internal error', () => {
  let t: TestApp;
  let upstream: Server;
  let authorization: string;
  /** What the upstream answers next: a status, a content type and a body. */
  let next = { type: 'application/json', body: '' };

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': next.type });
        res.end(next.body);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    t = await buildTestApp({
      'providers.deployments': [
        fakeDeployment('openai', 'openai', `${origin}/v1`),
        fakeDeployment('anthropic', 'anthropic', `${origin}/v1`),
        fakeDeployment('gemini', 'gemini', `${origin}/v1beta`),
      ],
      'providers.aliases': {
        openai: { deployments: ['openai'] },
        anthropic: { deployments: ['anthropic'] },
        gemini: { deployments: ['gemini'] },
      },
      // Every run is one attempt at a deployment that stays in service, however many answers were bad.
      'providers.routing.maxAttempts': 1,
      'providers.routing.breakerFailureThreshold': 1_000_000,
      ...limitsOff,
    });
    authorization = `Bearer ${await testApiKey(t.app)}`;
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  /** The same question through /v1/chat/completions or /v1/responses (which relays the router's frames as events). */
  const call = (model: Vendor, stream: boolean, api: 'chat' | 'responses' = 'chat') =>
    t.app.inject({
      method: 'POST',
      url: api === 'chat' ? '/v1/chat/completions' : '/v1/responses',
      headers: { authorization },
      payload:
        api === 'chat'
          ? { model, messages: [{ role: 'user', content: 'Hi' }], stream, tools: [weather] }
          : { model, input: 'Hi', stream, tools: [{ type: 'function', ...weather.function }] },
    });

  /** A chat user of the web app. */
  const chatUser = async (): Promise<Actor> => {
    const user = await createTestUser(t.app);
    return { userId: user.id, role: 'user', plan: 'free', scopes: ['chat'], via: 'session' };
  };

  /** One message in a new chat on `model`, and every event of its generation until it ends. */
  async function chatReply(actor: Actor, model: Vendor) {
    const conversation = await t.app.chats.createConversation(actor, { settings: { model } });
    const g = await t.app.chats.sendMessage(actor, conversation.id, { content: 'Hi' });
    const events: { event?: string | undefined; data: string }[] = [];
    for await (const e of t.app.chats.follow(actor, g.generationId, 0, new AbortController().signal)) events.push(e);
    return { conversation, events };
  }

  /** Fails the run on an internal error: anything else is a reply, a stream error event or an upstream error. */
  function expectNoInternalError(res: Awaited<ReturnType<typeof call>>, sent: string) {
    if (res.statusCode === 500 || (res.statusCode >= 500 && res.json().error?.code === 'internal')) {
      throw new Error(`internal error for upstream answer ${sent.slice(0, 600)}: ${res.body.slice(0, 300)}`);
    }
    if (res.statusCode >= 400) expect(typeof res.json().error?.message, res.body).toBe('string');
  }

  it('counts a usage reported as a string, a negative or an absurd number as 0, and still writes the event', async () => {
    const completion = JSON.parse(fixture('openai-text.json')) as Record<string, unknown>;
    const usage = {
      prompt_tokens: '19',
      completion_tokens: -5,
      completion_tokens_details: { reasoning_tokens: 1e300 },
    };
    next = { type: 'application/json', body: JSON.stringify({ ...completion, usage }) };
    const res = await call('openai', false);
    expect(res.statusCode).toBe(200);
    await t.app.usage.writer.flush();
    const [row] = await executeRows<{ input_tokens: number; output_tokens: number; reasoning_tokens: number }>(
      t.db.db,
      sql`select input_tokens, output_tokens, reasoning_tokens from usage_events where request_id = ${res.headers['x-request-id'] as string}`,
    );
    expect(row).toEqual({ input_tokens: 0, output_tokens: 0, reasoning_tokens: 0 });
  });

  it('a chat of the web app whose stream reports a token count that is no number finishes and saves its reply', async () => {
    const actor = await chatUser();
    next = {
      type: 'text/event-stream',
      body: fixtureEvents('openai-text.chunks.txt')
        .map((e) => e.replace('"prompt_tokens":', '"prompt_tokens":"many","was":'))
        .join(''),
    };
    expect(next.body).toContain('"prompt_tokens":"many"');
    const { events } = await chatReply(actor, 'openai');
    expect(JSON.parse(events.at(-1)?.data ?? '{}').status).toBe('complete');
  });

  it.each(['openai', 'anthropic', 'gemini'] as const)('a broken %s stream event', async (vendor) => {
    const { streams, arbitrary, body } = brokenStreams(vendor);
    // Unbroken, each recorded stream is a clean reply through both APIs: the runs below test broken answers only.
    for (const { events } of streams) {
      next = { type: 'text/event-stream', body: events.join('') };
      for (const api of ['chat', 'responses'] as const) {
        const res = await call(vendor, true, api);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.body).not.toMatch(/"error":\{|event: error|"type":"error"/);
      }
    }
    await fc.assert(
      fc.asyncProperty(arbitrary, fc.constantFrom('chat' as const, 'responses' as const), async (broken, api) => {
        const { line, body: sent } = body(broken);
        next = { type: 'text/event-stream', body: sent };
        expectNoInternalError(await call(vendor, true, api), line);
        if (vendor !== 'openai') expectNoInternalError(await call(vendor, false, api), line);
      }),
      fuzzParams(60),
    );
  });

  it.each(['openai', 'anthropic', 'gemini'] as const)('a broken %s stream in a chat of the web app', async (vendor) => {
    const actor = await chatUser();
    const { arbitrary, body } = brokenStreams(vendor);
    await fc.assert(
      fc.asyncProperty(arbitrary, async (broken) => {
        next = { type: 'text/event-stream', body: body(broken).body };
        const { conversation, events } = await chatReply(actor, vendor);
        // The generation ends by itself: an error event (no model answered), or done as complete or error (the stream
        // broke), never by the reaper after a final write that failed. The conversation still reads back.
        const last = events.at(-1);
        expect(last?.event).toMatch(/^(done|error)$/);
        if (last?.event === 'done') expect(JSON.parse(last.data).status).toMatch(/^(complete|error)$/);
        expect((await t.app.chats.getConversation(actor, conversation.id)).id).toBe(conversation.id);
      }),
      fuzzParams(20),
    );
  });

  it('a broken OpenAI non-stream completion', async () => {
    const completion = JSON.parse(fixture('openai-text.json')) as Json;
    next = { type: 'application/json', body: JSON.stringify(completion) };
    expect((await call('openai', false, 'responses')).statusCode).toBe(200);
    await fc.assert(
      fc.asyncProperty(
        mutations(completion),
        fc.constantFrom('chat' as const, 'responses' as const),
        async (changes, api) => {
          const body = JSON.stringify(applyMutations(completion, changes) ?? null);
          next = { type: 'application/json', body };
          expectNoInternalError(await call('openai', false, api), body);
        },
      ),
      fuzzParams(60),
    );
  });

  it('leaves token and cost counters as numbers, and no usage batch failed', async () => {
    await t.app.usage.writer.flush();
    const text = await t.app.metrics.registry.metrics();
    const counted = text.split('\n').filter((l) => /^genz_(provider_tokens_total|provider_cost_usd_total)\{/.test(l));
    expect(counted.length).toBeGreaterThan(0);
    for (const line of counted) expect(Number.isFinite(Number(line.split(' ').at(-1))), line).toBe(true);
    const dropped = text.split('\n').filter((l) => l.startsWith('genz_usage_events_dropped_total{'));
    for (const line of dropped) expect(line).toMatch(/ 0$/);
  });
});
