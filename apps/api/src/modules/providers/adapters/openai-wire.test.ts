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

/**
 * A finished stream can stay reachable for a while after its response: at concurrency 1, while it still held its
 * sink, every request behind it (reply, limits, frames) was promoted to the old generation. So the stream is held
 * here on purpose, and what it relayed to must still be collectable.
 */
describe('OpenAI-wire stream after its end', () => {
  it('lets go of the sink it relayed to, so the request behind it can be collected', async () => {
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
