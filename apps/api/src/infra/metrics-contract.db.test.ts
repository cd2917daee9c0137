import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { buildTestApp } from '../test/app.ts';

interface ContractEntry {
  name: string;
  type: string;
  source: string;
}

const contract = JSON.parse(
  readFileSync(new URL('../../../../deploy/metrics-contract.json', import.meta.url), 'utf8'),
) as { metrics: ContractEntry[] };

/**
 * Contract metrics whose module has not landed yet, each with the issue that adds it. When a module starts
 * exporting one, this test fails until the entry is removed here, so the list can only shrink honestly.
 */
const pending: Record<string, string> = {};

/** deploy/ (alerts, dashboards, HPA, canary) may only query metrics the API really exports, and vice versa. */
it('/metrics exports exactly the API metrics in deploy/metrics-contract.json', async () => {
  const t = await buildTestApp({ 'metrics.token': 'contract-test-token-000' });
  try {
    await t.app.inject({ url: '/readyz' });
    await t.app.inject({ url: '/nope' });
    const res = await t.app.inject({ url: '/metrics', headers: { authorization: 'Bearer contract-test-token-000' } });
    const exported = new Map([...res.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
    const apiEntries = contract.metrics.filter((m) => m.source === 'api');
    const documented = new Set(apiEntries.map((m) => m.name));
    // prom-client's defaults beyond the contract are allowed (process_*, nodejs_*), our own metrics are not.
    const ours = [...exported.keys()].filter((n) => !n.startsWith('process_') && !n.startsWith('nodejs_'));
    expect(
      ours.filter((n) => !documented.has(n)),
      'exported but missing from the contract',
    ).toEqual([]);
    const missing = apiEntries.filter((m) => !exported.has(m.name)).map((m) => m.name);
    expect(missing.sort(), 'in the contract but not exported (and not pending)').toEqual(Object.keys(pending).sort());
    for (const m of apiEntries.filter((e) => exported.has(e.name))) {
      expect(exported.get(m.name), `type of ${m.name}`).toBe(m.type);
    }
  } finally {
    await t.close();
  }
});
