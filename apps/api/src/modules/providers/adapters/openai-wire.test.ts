import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../config/index.ts';
import { buildRegistry } from '../providers.registry.ts';
import type { Frame, FrameSink, TappableStream } from '../providers.types.ts';
import { type FakeUpstream, startFakeUpstream } from '../testing/index.ts';
import { createDispatcher, createOpenAiWireAdapter } from './openai-wire.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let upstream: FakeUpstream;
beforeAll(async () => {
  upstream = await startFakeUpstream();
});
afterAll(() => upstream.close());

function open() {
  const config = loadConfig({
    env: {},
    overrides: {
      'providers.deployments': [
        { id: 'up', provider: 'openai', model: 'm', baseUrl: upstream.baseUrl, apiKey: 'sk-test' },
      ],
      'providers.aliases': { m: { deployments: ['up'] } },
    },
  });
  const deployment = buildRegistry(config.providers).deployments.get('up');
  if (!deployment) throw new Error('no deployment');
  const adapter = createOpenAiWireAdapter(createDispatcher(1000));
  const body = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }] };
  const stream = adapter.stream({ deployment, body, signal: new AbortController().signal }) as TappableStream &
    AsyncIterable<Frame>;
  return { adapter, stream };
}

const textOf = (frames: Frame[]) => frames.map((f) => f.chunk.choices[0]?.delta?.content ?? '').join('');

/**
 * Read as an iterator (the /v1/responses and chat relays), the stream parses only up to the next token; the reads
 * after it wait as they were read (the relay path forwards them unparsed). Every frame still comes, in order.
 */
describe('OpenAI-wire stream read as an iterator', () => {
  it('yields every event in order and ends cleanly', async () => {
    const { adapter, stream } = open();
    const frames: Frame[] = [];
    for await (const frame of stream) frames.push(frame);
    expect(textOf(frames)).toBe('Hello! How can I help you today?');
    expect(frames.some((f) => f.finishReason === 'stop')).toBe(true);
    await adapter.close?.();
  });

  it('yields the events before a malformed one after the first token, then fails', async () => {
    upstream.fail({ kind: 'malformed', atChunk: 3 });
    const { adapter, stream } = open();
    const frames: Frame[] = [];
    await expect(
      (async () => {
        for await (const frame of stream) frames.push(frame);
      })(),
    ).rejects.toMatchObject({ kind: 'malformed' });
    expect(frames).toHaveLength(3);
    expect(textOf(frames).length).toBeGreaterThan(0);
    await adapter.close?.();
  });
});

/**
 * A finished stream can stay reachable for a while after its response: at concurrency 1, while it still held its
 * sink, every request behind it (reply, limits, frames) was promoted to the old generation. So the stream is held
 * here on purpose, and what it relayed to must still be collectable.
 */
describe('OpenAI-wire stream after its end', () => {
  it('lets go of the sink it relayed to, so the request behind it can be collected', async () => {
    const { adapter, stream } = open();
    const iterator = stream[Symbol.asyncIterator]();
    // Until the first token, as the router reads it; then the rest is pushed into the sink.
    for (;;) {
      const next = await iterator.next();
      if (next.done || next.value.content) break;
    }
    let sinkRef: WeakRef<FrameSink> | undefined;
    const ended = new Promise<string>((resolve, reject) => {
      const written: string[] = [];
      const sink: FrameSink = {
        data: (sse) => written.push(String(sse)) > 0,
        usage: () => {},
        end: () => resolve(written.join('')),
        error: reject,
      };
      sinkRef = new WeakRef(sink);
      stream.tap(sink, false);
    });
    expect(await ended).toMatch(/"finish_reason":"stop"/);
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(stream).toBeDefined(); // still held here
    expect(sinkRef?.deref()).toBeUndefined();
    await adapter.close?.();
  });
});
