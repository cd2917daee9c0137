import type { FastifyInstance } from 'fastify';

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

/** POST `payload` (JSON) to a /v1 route, chat completions unless `url` says otherwise, with {@link testApiKey}. */
export async function postV1(app: FastifyInstance, payload: object, url = '/v1/chat/completions') {
  return app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${await testApiKey(app)}` }, payload });
}

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
