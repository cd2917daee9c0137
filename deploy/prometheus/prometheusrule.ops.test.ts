/**
 * deploy/k8s/base/prometheusrule.yaml is generated from deploy/prometheus/rules (prometheusrule.ts): the committed file
 * must be what the generator makes now, pass strict validation against the PrometheusRule schema (unknown fields
 * rejected, deploy/test/k8s-validate.ts), carry rules promtool accepts, and be rendered by both overlays.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type K8sObject, loadCrdValidators, validateObject } from '../test/k8s-validate.ts';
import { deployPath, readYaml, readYamlDocs, requireTool, run, tempDir } from '../test/tools.ts';
import { buildPrometheusRule, OUTPUT, renderPrometheusRule } from './prometheusrule.ts';

describe('PrometheusRule generated from the rule files', () => {
  it('the committed file is up to date (edit the rules, then `node deploy/prometheus/prometheusrule.ts --write`)', () => {
    expect(readFileSync(OUTPUT, 'utf8')).toBe(renderPrometheusRule());
  });

  it('carries every group and rule of the rule files, unchanged', () => {
    const rule = readYaml<{ spec: { groups: unknown[] } }>(OUTPUT);
    const fromFiles = ['alerts.yml', 'recording.yml'].flatMap(
      (f) => readYaml<{ groups: unknown[] }>(deployPath('prometheus', 'rules', f)).groups,
    );
    expect(rule.spec.groups).toEqual(fromFiles);
  });

  it('passes strict schema validation, and a typo in a rule fails it', async () => {
    const crds = loadCrdValidators(deployPath('k8s', 'crds'));
    const obj = readYaml<K8sObject>(OUTPUT);
    expect((await validateObject(obj, crds)).errors).toEqual([]);

    const bad = structuredClone(buildPrometheusRule()) as unknown as {
      spec: { groups: { rules: Record<string, unknown>[] }[] };
    };
    const first = bad.spec.groups[0]?.rules[0] as Record<string, unknown>;
    first.expresion = first.expr;
    const f = await validateObject(bad as unknown as K8sObject, crds);
    expect(f.errors.join('; ')).toMatch(/unknown field "expresion"/);
  });

  it('promtool accepts the rules it carries (spec.groups as a rule file)', () => {
    const promtool = requireTool('promtool');
    const dir = tempDir('prometheusrule');
    const file = join(dir, 'rules.yml');
    writeFileSync(file, stringify({ groups: buildPrometheusRule().spec.groups }));
    const r = run(promtool, ['check', 'rules', file]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('both overlays render it (prod into the genz namespace)', () => {
    const kubectl = requireTool('kubectl');
    for (const overlay of ['dev', 'prod']) {
      const r = run(kubectl, ['kustomize', deployPath('k8s', 'overlays', overlay)]);
      expect(r.code, r.output).toBe(0);
      const objs = readYamlDocs(r.stdout) as K8sObject[];
      const rule = objs.find((o) => o.kind === 'PrometheusRule');
      expect(rule?.metadata?.name).toBe('genz-rules');
      if (overlay === 'prod') expect(rule?.metadata?.namespace).toBe('genz');
    }
  });
});
