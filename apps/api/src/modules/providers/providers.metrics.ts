import { Counter, Gauge, type Registry } from 'prom-client';
import { type HistogramSeries, RequestHistogram } from '../../infra/histogram.ts';
import type { Breakers } from './breaker.ts';
import type { Stats } from './stats.ts';

const circuitValue = { closed: 0, half_open: 1, open: 2 } as const;

/** Per deployment: sums not yet added to their counters, and its latency and TTFT series (see `tally`). */
export interface Tally {
  ok: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latency: HistogramSeries;
  ttft: HistogramSeries;
}

/**
 * The provider metrics of deploy/metrics-contract.json. Labels are bounded: `deployment` and `alias` come from
 * configuration (never from requests), `kind`/`status`/`direction` from fixed sets.
 */
export function createProviderMetrics(
  registry: Registry,
  deploymentIds: () => string[],
  breakers: Breakers,
  stats: Stats,
) {
  const tallies = new Map<string, Tally>();
  const latency = new RequestHistogram(
    'genz_provider_latency_seconds',
    'Upstream attempt duration, request to last byte',
    ['deployment'],
    [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registry,
  );
  const ttft = new RequestHistogram(
    'genz_provider_ttft_seconds',
    'Upstream time to first content token',
    ['deployment'],
    [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registry,
  );
  return {
    /**
     * What every answered attempt adds (requests ok, tokens, cost), kept as plain numbers per deployment and added
     * to the counters when they are read (a scrape, `get()`): a labelled `inc` hashes its labels on every call, four
     * times per request. The latency and TTFT histograms' series of the deployment are resolved here once, for the
     * same reason. `deployment` comes from configuration, so the map stays as small as the deployment list.
     */
    tally(deployment: string): Tally {
      let t = tallies.get(deployment);
      if (!t) {
        const labels = { deployment };
        t = {
          ok: 0,
          inputTokens: 0,
          outputTokens: 0,
          costUsd: 0,
          latency: latency.series(labels),
          ttft: ttft.series(labels),
        };
        tallies.set(deployment, t);
      }
      return t;
    },
    requests: new Counter({
      name: 'genz_provider_requests_total',
      help: 'Upstream attempts by deployment and outcome (ok | error | client_error | aborted)',
      labelNames: ['deployment', 'status'] as const,
      registers: [registry],
      collect() {
        for (const [deployment, t] of tallies) {
          if (t.ok === 0) continue;
          this.inc({ deployment, status: 'ok' }, t.ok);
          t.ok = 0;
        }
      },
    }),
    errors: new Counter({
      name: 'genz_provider_errors_total',
      help: 'Upstream failures by deployment and kind',
      labelNames: ['deployment', 'kind'] as const,
      registers: [registry],
    }),
    retries: new Counter({
      name: 'genz_provider_retries_total',
      help: 'Repeat attempts on a deployment already tried for the same request',
      labelNames: ['deployment'] as const,
      registers: [registry],
    }),
    tokens: new Counter({
      name: 'genz_provider_tokens_total',
      help: 'Provider-reported tokens by direction (input | output)',
      labelNames: ['deployment', 'direction'] as const,
      registers: [registry],
      collect() {
        for (const [deployment, t] of tallies) {
          if (t.inputTokens > 0) this.inc({ deployment, direction: 'input' }, t.inputTokens);
          if (t.outputTokens > 0) this.inc({ deployment, direction: 'output' }, t.outputTokens);
          t.inputTokens = 0;
          t.outputTokens = 0;
        }
      },
    }),
    cost: new Counter({
      name: 'genz_provider_cost_usd_total',
      help: 'Cost in USD from the price table',
      labelNames: ['deployment'] as const,
      registers: [registry],
      collect() {
        for (const [deployment, t] of tallies) {
          if (t.costUsd <= 0) continue;
          this.inc({ deployment }, t.costUsd);
          t.costUsd = 0;
        }
      },
    }),
    fallbacks: new Counter({
      name: 'genz_provider_fallbacks_total',
      help: 'Requests answered by a deployment other than the first tried',
      labelNames: ['alias'] as const,
      registers: [registry],
    }),
    circuit: new Gauge({
      name: 'genz_provider_circuit_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
      labelNames: ['deployment'] as const,
      registers: [registry],
      collect() {
        for (const id of deploymentIds()) this.set({ deployment: id }, circuitValue[breakers.state(id)]);
      },
    }),
    health: new Gauge({
      name: 'genz_provider_health_score',
      help: 'Passive health 0..1 (EWMA of attempt outcomes; 0 while the breaker is open)',
      labelNames: ['deployment'] as const,
      registers: [registry],
      collect() {
        for (const id of deploymentIds()) {
          const state = breakers.state(id);
          this.set({ deployment: id }, state === 'open' ? 0 : Number(stats.get(id).health.toFixed(4)));
        }
      },
    }),
  };
}

export type ProviderMetrics = ReturnType<typeof createProviderMetrics>;
