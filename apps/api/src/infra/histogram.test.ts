import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestHistogram } from './histogram.ts';

const buckets = [0.005, 0.01, 0.025, 0.1, 1];
const observations: [Record<string, string>, number][] = [
  [{ route: '/v1/chat/completions', method: 'POST', status: '200' }, 0.003],
  [{ route: '/v1/chat/completions', method: 'POST', status: '200' }, 0.005],
  [{ route: '/v1/chat/completions', method: 'POST', status: '200' }, 0.0051],
  [{ route: '/livez', method: 'GET', status: '200' }, 0.7],
  [{ route: '/livez', method: 'GET', status: '200' }, 3],
  [{ route: '/v1/chat/completions', method: 'POST', status: '429' }, 0.02],
];

/** The same observations through prom-client's Histogram and through RequestHistogram, each in a registry of its own. */
function both() {
  const reference = new Registry();
  const theirs = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['route', 'method', 'status'],
    buckets,
    registers: [reference],
  });
  const registry = new Registry();
  const ours = new RequestHistogram(
    'http_request_duration_seconds',
    'HTTP request duration',
    ['route', 'method', 'status'],
    buckets,
    registry,
  );
  for (const [labels, value] of observations) {
    theirs.observe(labels, value);
    ours.series(labels).observe(value);
  }
  return { reference, registry, ours };
}

describe('RequestHistogram', () => {
  it('is exposed exactly as prom-client exposes the same observations, as text and as JSON', async () => {
    const { reference, registry } = both();
    expect(await registry.metrics()).toBe(await reference.metrics());
    // JSON: the same series, labels and values (prom-client adds empty exemplar fields, which carry nothing).
    const json = async (r: Registry) =>
      (await r.getMetricsAsJSON()).map((m) => ({
        ...m,
        values: m.values.map((v) => ({
          labels: v.labels,
          value: v.value,
          metricName: (v as { metricName?: string }).metricName,
        })),
      }));
    expect(await json(registry)).toEqual(await json(reference));
    expect(await registry.metrics()).toContain(
      'http_request_duration_seconds_bucket{le="0.01",route="/v1/chat/completions",method="POST",status="200"} 3',
    );
  });

  it('hands out one series per label set, keeps handles working across a reset, and refuses a missing label', async () => {
    const { registry, ours } = both();
    const a = ours.series({ route: '/livez', method: 'GET', status: '200' });
    expect(ours.series({ status: '200', method: 'GET', route: '/livez' })).toBe(a);
    registry.resetMetrics();
    a.observe(0.002);
    const text = await registry.metrics();
    expect(text).toContain('http_request_duration_seconds_count{route="/livez",method="GET",status="200"} 1');
    expect(text).toContain('http_request_duration_seconds_sum{route="/livez",method="GET",status="200"} 0.002');
    expect(() => ours.series({ route: '/livez', method: 'GET' })).toThrow(/no label status/);
  });
});
