import type { FastifyInstance } from 'fastify';
import { Counter, Registry } from 'prom-client';
import type { UsageEvent } from '../usage.ts';

export {
  type FakeUpstream,
  type Fault,
  fixture,
  fixtureEvents,
  startFakeUpstream,
  type Vendor,
} from './fake-upstream.ts';

const keys = new WeakMap<FastifyInstance, Promise<string>>();

/**
 * The bearer key /v1 tests send: a real `gz_` key with the `inference` scope, of a fresh test user of `app`, minted
 * once per app through the accounts module. Before that module is registered (it landed alongside this one), it
 * falls back to a placeholder nothing checks.
 */
export function testApiKey(app: FastifyInstance): Promise<string> {
  let key = keys.get(app);
  if (!key) {
    key = (async () => {
      if (!('accounts' in app)) return 'gz_test_placeholder_until_auth_lands';
      const { createTestApiKey, createTestUser } = await import('../../../test/users.ts');
      const user = await createTestUser(app);
      return (await createTestApiKey(app, user, ['inference'])).key;
    })();
    keys.set(app, key);
  }
  return key;
}

/**
 * POST `payload` (JSON) to a /v1 route, chat completions unless `url` says otherwise, as `headers` (a key's own)
 * or else with {@link testApiKey}.
 */
export async function postV1(
  app: FastifyInstance,
  payload: object,
  opts: { url?: string; headers?: Record<string, string> } = {},
) {
  const headers = opts.headers ?? { authorization: `Bearer ${await testApiKey(app)}` };
  return app.inject({ method: 'POST', url: opts.url ?? '/v1/chat/completions', headers, payload });
}

/**
 * A chat-completions body for the built-in `demo` model: the user says "hello there" (11 characters, a prompt
 * estimate of 3 tokens), with `max_tokens` and `stream` when given.
 */
export const demoChat = (max_tokens?: number, stream = false) => ({
  model: 'demo',
  messages: [{ role: 'user', content: 'hello there' }],
  ...(max_tokens === undefined ? {} : { max_tokens }),
  ...(stream ? { stream: true } : {}),
});

/** A deployment entry (config shape) for a fake upstream. */
export function fakeDeployment(
  id: string,
  provider: 'openai' | 'anthropic' | 'gemini' | 'openai-compatible',
  baseUrl: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const model =
    provider === 'anthropic' ? 'claude-sonnet-4-5' : provider === 'gemini' ? 'gemini-2.5-flash' : 'gpt-4o-mini';
  return {
    id,
    provider,
    model,
    baseUrl,
    apiKey: 'sk-fake-upstream-key',
    capabilities: { tools: true, vision: true, embeddings: provider === 'openai' },
    ...extra,
  };
}

/** Usage event number `i` (its request id and input tokens), for the usage writer's tests. */
export const usageEvent = (i: number, overrides: Partial<UsageEvent> = {}): UsageEvent => ({
  requestId: `req-${i}`,
  at: new Date(),
  userId: null,
  apiKeyId: null,
  alias: 'smart',
  deployment: 'primary',
  endpoint: 'chat.completions',
  status: 'ok',
  inputTokens: i,
  outputTokens: 1,
  reasoningTokens: 0,
  costUsd: 0,
  priceVersion: 'unpriced',
  latencyMs: 5,
  ttftMs: 2,
  ...overrides,
});

/** A usage writer's `dropped` counter on a registry of its own. */
export const droppedCounter = () =>
  new Counter({ name: 'dropped', help: 'x', labelNames: ['reason'] as const, registers: [new Registry()] });
