import { testRedisPrefix } from '@genz/db/testing';
import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../../test/app.ts';
import { waitFor } from '../../test/net.ts';

const PROBE_MS = 100;

/** Needs a shared Redis: runs in the server project only. */
describe('probe leader election', () => {
  it('exactly one replica sharing a Redis leads the probes', async () => {
    const keyPrefix = testRedisPrefix();
    const apps = [
      await buildTestApp({ 'providers.routing': { probeIntervalMs: PROBE_MS } }, { redis: true, keyPrefix }),
      await buildTestApp({ 'providers.routing': { probeIntervalMs: PROBE_MS } }, { redis: true, keyPrefix }),
    ];
    try {
      await new Promise((r) => setTimeout(r, 4 * PROBE_MS));
      expect(apps.filter((a) => a.app.providerHealth.isLeader())).toHaveLength(1);
      const leader = apps.find((a) => a.app.providerHealth.isLeader());
      await leader?.close();
      const other = apps.find((a) => a !== leader);
      await waitFor(
        async () => (other?.app.providerHealth.isLeader() ? true : undefined),
        6 * PROBE_MS,
        'failover of the lease',
      );
      await other?.close();
    } catch (err) {
      await Promise.allSettled(apps.map((a) => a.close()));
      throw err;
    }
  });
});
