import type { FastifyInstance } from 'fastify';

export {
  type FakeUpstream,
  type Fault,
  fixture,
  fixtureEvents,
  startFakeUpstream,
  type Vendor,
} from './fake-upstream.ts';

/**
 * The bearer key /v1 tests send. PLACEHOLDER until modules/auth lands: it returns a fixed string that nothing checks
 * yet. When auth exists, this must mint a real `gz_` key with the `inference` scope for a test user of `app`, and
 * every /v1 test keeps passing unchanged.
 */
export async function testApiKey(_app: FastifyInstance): Promise<string> {
  return 'gz_test_placeholder_until_auth_lands';
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
