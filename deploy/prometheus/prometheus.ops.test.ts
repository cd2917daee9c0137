/**
 * deploy/prometheus checked by the real promtool (Debian package "prometheus"):
 * rules parse, every alert has firing and not-firing unit tests that pass, the scrape config is valid,
 * and every metric the rules read is in deploy/metrics-contract.json.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deployPath, knownSeriesNames, metricNamesIn, readYaml, requireTool, run, tempDir } from '../test/tools.ts';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

const rulesDir = deployPath('prometheus', 'rules');
const ruleFiles = readdirSync(rulesDir)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(rulesDir, f));
const rules = ruleFiles.flatMap((f) => readYaml<RuleFile>(f).groups.flatMap((g) => g.rules));
const alerts = rules.filter((r) => r.alert).map((r) => r.alert as string);
const records = rules.filter((r) => r.record).map((r) => r.record as string);
const testFile = deployPath('prometheus', 'tests', 'alerts.test.yml');

let promtool: string;
beforeAll(() => {
  promtool = requireTool('promtool');
});

describe('prometheus rules (promtool)', () => {
  it('promtool check rules accepts every rule file', () => {
    const r = run(promtool, ['check', 'rules', ...ruleFiles]);
    expect(r.code, r.output).toBe(0);
  });

  it('ships the seed alerts and the issue-8 alerts', () => {
    for (const name of [
      'HighLatency',
      'HighErrorRate',
      'HighMemoryUsage',
      'ProviderCircuitOpen',
      'ProviderErrorRatio',
      'RateLimitRedisFallback',
      'DbPoolSaturation',
      'ReplicaLag',
      'EventLoopLag',
      'SseConnectionSaturation',
      'ErrorBudgetBurnFast',
      'ErrorBudgetBurnSlow',
    ]) {
      expect(alerts, `alert ${name} missing from deploy/prometheus/rules`).toContain(name);
    }
  });

  it('promtool test rules passes', () => {
    const r = run(promtool, ['test', 'rules', testFile], { timeoutMs: 120_000 });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('every alert is tested firing (non-empty exp_alerts) and not firing (empty exp_alerts)', () => {
    const t = readYaml<{ tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] }>(testFile);
    const cases = t.tests.flatMap((x) => x.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${a}: no firing case in alerts.test.yml`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${a}: no not-firing case in alerts.test.yml`,
      ).toBe(true);
    }
  });

  it("the unit tests catch the seed's unaggregated error-rate expression (mutation check)", () => {
    const dir = tempDir('prom-mutant');
    cpSync(deployPath('prometheus', 'rules'), join(dir, 'rules'), { recursive: true });
    cpSync(deployPath('prometheus', 'tests'), join(dir, 'tests'), { recursive: true });
    const file = join(dir, 'rules', 'alerts.yml');
    const fixed = readFileSync(file, 'utf8');
    const seed = fixed.replace(
      /sum by \(route\) \(rate\(http_requests_total\{status=~"5\.\."\}\[1m\]\)\)\s*\/ sum by \(route\) \(rate\(http_requests_total\[1m\]\)\)/,
      'rate(http_requests_total{status=~"5.."}[1m]) / rate(http_requests_total[1m])',
    );
    expect(seed, 'mutation did not apply: HighErrorRate expression changed shape').not.toBe(fixed);
    writeFileSync(file, seed);
    const r = run(promtool, ['test', 'rules', join(dir, 'tests', 'alerts.test.yml')], { timeoutMs: 120_000 });
    expect(r.code, 'promtool test rules should FAIL with the seed expression').not.toBe(0);
    expect(r.output).toContain('HighErrorRate');
  });

  it('every metric a rule reads is in metrics-contract.json or is a recording rule', () => {
    const known = knownSeriesNames(records);
    const unknown = rules.flatMap((r) =>
      metricNamesIn(r.expr)
        .filter((n) => !known.has(n))
        .map((n) => `${r.alert ?? r.record}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  it('every alert has a runbook section in docs/operations.md', () => {
    const ops = readFileSync(deployPath('..', 'docs', 'operations.md'), 'utf8').toLowerCase();
    for (const f of ruleFiles) {
      for (const g of readYaml<RuleFile & { groups: { rules: { annotations?: { runbook?: string } }[] }[] }>(f)
        .groups) {
        for (const r of g.rules as (Rule & { annotations?: { runbook?: string } })[]) {
          if (!r.alert) continue;
          const anchor = r.annotations?.runbook?.split('#')[1];
          expect(anchor, `${r.alert}: no runbook annotation`).toBeTruthy();
          expect(ops.includes(`### ${anchor}`), `${r.alert}: docs/operations.md has no "### ${anchor}" heading`).toBe(
            true,
          );
        }
      }
    }
  });

  it('promtool check config accepts prometheus.yml and the rule files it names', () => {
    const r = run(promtool, ['check', 'config', deployPath('prometheus', 'prometheus.yml')]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS: 2 rule files found/);
  });

  it('promtool check config rejects a broken config (the check is real)', () => {
    const dir = tempDir('prom-bad');
    writeFileSync(join(dir, 'prometheus.yml'), 'global:\n  scrape_intervall: 15s\n');
    const r = run(promtool, ['check', 'config', join(dir, 'prometheus.yml')]);
    expect(r.code).not.toBe(0);
  });
});
