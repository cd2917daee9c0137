/**
 * deploy/grafana: every panel query (and variable query) parses with promtool after Grafana's variables are
 * substituted, and refers only to metrics in deploy/metrics-contract.json or to the project's recording rules.
 * Provisioning points at the dashboards and the datasource uid the panels use.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPromQL, deployPath, knownSeriesNames, metricNamesIn, readYaml } from '../test/tools.ts';

// biome-ignore lint/suspicious/noExplicitAny: dashboard JSON is untyped
type Any = any;

const dir = deployPath('grafana', 'dashboards');
const dashboards: [string, Any][] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => [f, JSON.parse(readFileSync(join(dir, f), 'utf8'))]);

const recordingRules = readdirSync(deployPath('prometheus', 'rules')).flatMap((f) =>
  readYaml<Any>(deployPath('prometheus', 'rules', f)).groups.flatMap((g: Any) =>
    g.rules.filter((r: Any) => r.record).map((r: Any) => r.record as string),
  ),
);

/** Grafana's built-ins become concrete durations; dashboard variables become a match-anything regex. */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1h')
    .replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}/g, '.*')
    .replace(/\$[A-Za-z_][A-Za-z0-9_]*/g, '.*');
}

function panelsOf(d: Any): Any[] {
  return (d.panels ?? []).flatMap((p: Any) => [p, ...(p.panels ?? [])]);
}

/** label_values(metric{...}, label) -> the selector part, which is PromQL. */
function variableSelector(q: Any): string | undefined {
  const text = typeof q === 'string' ? q : q?.query;
  const m = /^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$/.exec(String(text ?? '').trim());
  return m?.[1];
}

function allExprs(): { name: string; expr: string }[] {
  const out: { name: string; expr: string }[] = [];
  for (const [file, d] of dashboards) {
    for (const p of panelsOf(d))
      for (const t of p.targets ?? [])
        out.push({ name: `${file} / ${p.title} / ${t.refId}`, expr: substituteGrafanaVariables(t.expr) });
    for (const v of d.templating?.list ?? []) {
      const sel = variableSelector(v.query);
      if (v.type === 'query') {
        expect(sel, `${file} variable ${v.name}: only label_values(selector, label) is supported`).toBeDefined();
        out.push({ name: `${file} / $${v.name}`, expr: substituteGrafanaVariables(sel ?? '') });
      }
    }
  }
  return out;
}

describe('grafana dashboards', () => {
  it('ships overview, providers, data and realtime dashboards with unique uids', () => {
    expect(dashboards.map(([f]) => f).sort()).toEqual([
      'data.json',
      'overview.json',
      'providers.json',
      'realtime.json',
    ]);
    const uids = dashboards.map(([, d]) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const [f, d] of dashboards) expect(panelsOf(d).length, f).toBeGreaterThan(2);
  });

  it('each dashboard shows what issue 8 lists for it (judged by the series its panels read)', () => {
    // topic -> a pattern one panel query of that dashboard must match
    const wanted: Record<string, Record<string, RegExp>> = {
      'overview.json': {
        RPS: /rate\(http_requests_total/,
        'p50 by route': /histogram_quantile\(0\.50?, sum by \(le, route\) \(rate\(http_request_duration_seconds_bucket/,
        'p95 by route': /histogram_quantile\(0\.95, sum by \(le, route\) \(rate\(http_request_duration_seconds_bucket/,
        'p99 by route': /histogram_quantile\(0\.99, sum by \(le, route\) \(rate\(http_request_duration_seconds_bucket/,
        'error rate': /http_requests_total\{[^}]*status=~"5\.\."/,
        'saturation: in-flight': /http_requests_in_flight/,
        'saturation: CPU': /process_cpu_seconds_total/,
        'saturation: event loop': /nodejs_eventloop_lag/,
      },
      'providers.json': {
        latency: /genz_provider_latency_seconds_bucket/,
        TTFT: /genz_provider_ttft_seconds_bucket/,
        tokens: /genz_provider_tokens_total/,
        cost: /genz_provider_cost_usd_total/,
        'circuit state': /genz_provider_circuit_state/,
        fallbacks: /genz_provider_fallbacks_total/,
      },
      'data.json': {
        'DB pool': /db_pool_connections/,
        'query time': /db_query_duration_seconds_bucket/,
        'replica lag': /pg_replication_lag_seconds/,
        'cache hit ratio per tier': /sum by \(tier\) \(rate\(cache_requests_total\{result="hit"\}/,
        Redis: /redis_memory_used_bytes|redis_commands_processed_total/,
      },
      'realtime.json': {
        'SSE connections': /genz_sse_connections\b/,
        'generations in flight': /genz_generations_in_flight/,
      },
    };
    const missing: string[] = [];
    for (const [file, topics] of Object.entries(wanted)) {
      const exprs = allExprs()
        .filter((e) => e.name.startsWith(`${file} / `))
        .map((e) => e.expr);
      for (const [topic, re] of Object.entries(topics))
        if (!exprs.some((e) => re.test(e))) missing.push(`${file}: ${topic}`);
    }
    expect(missing).toEqual([]);
  });

  it('every panel query parses (promtool check rules on a generated rule file)', () => {
    const exprs = allExprs();
    expect(exprs.length).toBeGreaterThan(30);
    const r = checkPromQL(exprs);
    expect(r.code, r.output).toBe(0);
  });

  it('every metric a panel reads is exported by the API or a named exporter (metrics-contract.json) or recorded', () => {
    const known = knownSeriesNames(recordingRules);
    const unknown = allExprs().flatMap((e) =>
      metricNamesIn(e.expr)
        .filter((n) => !known.has(n))
        .map((n) => `${e.name}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  it('panels use the provisioned datasource, and provisioning loads this folder', () => {
    const ds = readYaml<Any>(deployPath('grafana', 'provisioning', 'datasources', 'prometheus.yml')).datasources[0];
    for (const [f, d] of dashboards) {
      for (const p of panelsOf(d)) {
        expect(p.datasource?.uid, `${f} / ${p.title}`).toBe(ds.uid);
        for (const t of p.targets ?? []) expect(t.datasource?.uid ?? ds.uid).toBe(ds.uid);
      }
    }
    const prov = readYaml<Any>(deployPath('grafana', 'provisioning', 'dashboards', 'genz.yml')).providers[0];
    const compose = readFileSync(deployPath('compose', 'docker-compose.yml'), 'utf8');
    expect(compose).toContain(`../grafana/dashboards:${prov.options.path}`);
    expect(compose).toContain('../grafana/provisioning:/etc/grafana/provisioning');
  });

  it('the checks are real: a bad expression fails promtool and an unknown metric is caught', () => {
    expect(
      checkPromQL([
        { name: 'bad', expr: substituteGrafanaVariables('sum(rate(http_requests_total[$__rate_interval])') },
      ]).code,
    ).not.toBe(0);
    const known = knownSeriesNames(recordingRules);
    expect(metricNamesIn('sum(rate(http_requests_totl{route=~".*"}[5m]))').filter((n) => !known.has(n))).toEqual([
      'http_requests_totl',
    ]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable, not a JS template
    expect(substituteGrafanaVariables('x{a=~"$route",b=~"${instance:regex}"}[$__rate_interval]')).toBe(
      'x{a=~".*",b=~".*"}[5m]',
    );
  });
});
