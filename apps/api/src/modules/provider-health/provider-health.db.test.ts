import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { waitFor } from '../../test/net.ts';
import { type FakeUpstream, fakeDeployment, postV1, startFakeUpstream } from '../providers/testing/index.ts';

const OPEN_MS = 500;
const PROBE_MS = 100;

describe('active provider probes', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await buildTestApp({
      'providers.deployments': [fakeDeployment('a', 'openai', fake.baseUrl)],
      'providers.aliases': { smart: { deployments: ['a'] } },
      'providers.routing': {
        breakerFailureThreshold: 1,
        breakerOpenMs: OPEN_MS,
        probeIntervalMs: PROBE_MS,
        maxAttempts: 1,
      },
    });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('bring a recovered deployment back without any client traffic, through a half-open probe', async () => {
    fake.failAll({ kind: 'status', status: 500 });
    const res = await postV1(t.app, { model: 'smart', messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.statusCode).toBe(503);
    // The breaker write is off the response path (a Redis round trip on the server backend).
    await waitFor(
      async () => (t.app.providers.circuitState('a') === 'open' ? true : undefined),
      1000,
      'breaker to open',
    );
    // Still dead: probes keep failing, the breaker re-opens each time.
    await new Promise((r) => setTimeout(r, OPEN_MS + 3 * PROBE_MS));
    expect(t.app.providers.circuitState('a')).not.toBe('closed');
    const probesWhileDead = fake.requests.length;
    expect(probesWhileDead).toBeGreaterThan(1);
    fake.failAll(undefined);
    await waitFor(
      async () => (t.app.providers.circuitState('a') === 'closed' ? true : undefined),
      OPEN_MS + 2000,
      'probe to close the breaker',
    );
    expect(fake.requests.at(-1)?.body.max_tokens).toBe(1);
  });
});
