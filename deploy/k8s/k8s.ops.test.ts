/**
 * deploy/k8s: `kubectl kustomize` renders each overlay; every object is validated offline against the Kubernetes
 * schemas with unknown fields rejected (deploy/test/k8s-validate.ts), CRs against the vendored Flagger CRD; negative
 * fixtures with typos must fail; then the properties issue 8 asks for are asserted on the rendered objects.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, envBindings, loadConfig } from '../../apps/api/src/config/index.ts';
import { type K8sObject, loadCrdValidators, validateObject, validateYaml } from '../test/k8s-validate.ts';
import {
  checkPromQL,
  deployPath,
  knownSeriesNames,
  metricNamesIn,
  metricsContract,
  readYaml,
  readYamlDocs,
  repoPath,
  requireTool,
  run,
  tempDir,
} from '../test/tools.ts';

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped JSON
type Obj = Omit<K8sObject, 'metadata'> & { apiVersion: string; kind: string } & Record<string, any>;

let kubectl: string;
let crds: Map<string, ValidateFunction>;
const rendered: Record<string, Obj[]> = {};

function render(dir: string): { code: number | null; objs: Obj[]; text: string; output: string } {
  const r = run(kubectl, ['kustomize', dir]);
  return {
    code: r.code,
    objs: r.code === 0 ? (readYamlDocs(r.stdout) as Obj[]) : [],
    text: r.stdout,
    output: r.output,
  };
}
const find = (objs: Obj[], kind: string, name: string): Obj => {
  const o = objs.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`${kind}/${name} not rendered`);
  return o;
};

beforeAll(() => {
  kubectl = requireTool('kubectl');
  crds = loadCrdValidators(deployPath('k8s', 'crds'));
  for (const overlay of ['dev', 'prod']) {
    const r = render(deployPath('k8s', 'overlays', overlay));
    if (r.code !== 0) throw new Error(`kubectl kustomize overlays/${overlay} failed:\n${r.output}`);
    rendered[overlay] = r.objs;
  }
});

describe.each(['dev', 'prod'])('overlay %s', (overlay) => {
  it('every rendered object passes strict schema validation', async () => {
    const objs = rendered[overlay] ?? [];
    expect(objs.length).toBeGreaterThan(10);
    const bad = [];
    for (const o of objs) {
      const f = await validateObject(o, crds);
      if (f.errors.length) bad.push(`${f.id}: ${f.errors.join('; ')}`);
    }
    expect(bad).toEqual([]);
  });

  it('Deployments follow the seed strategy and leave replicas to the HPA', () => {
    for (const name of ['genz-api', 'genz-web']) {
      const d = find(rendered[overlay] ?? [], 'Deployment', name);
      expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 5, maxUnavailable: 2 } });
      expect(d.spec.minReadySeconds).toBe(30);
      expect(d.spec.revisionHistoryLimit).toBe(5);
      expect(d.spec.replicas, `${name} must not set replicas (the HPA owns it)`).toBeUndefined();
      const hpa = (rendered[overlay] ?? []).find(
        (x) => x.kind === 'HorizontalPodAutoscaler' && x.spec.scaleTargetRef.name === name,
      );
      expect(hpa, `no HPA targets ${name}`).toBeDefined();
    }
  });

  it('pods run as non-root with a read-only root filesystem, a /tmp emptyDir and resources', () => {
    for (const name of ['genz-api', 'genz-web']) {
      const pod = find(rendered[overlay] ?? [], 'Deployment', name).spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      for (const c of pod.containers) {
        expect(c.securityContext.readOnlyRootFilesystem, `${name}/${c.name}`).toBe(true);
        expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
        const tmp = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/tmp');
        expect(tmp, `${name}/${c.name}: no /tmp mount`).toBeDefined();
        expect(pod.volumes.find((v: { name: string }) => v.name === tmp.name).emptyDir).toBeDefined();
        for (const k of ['cpu', 'memory']) expect(c.resources.requests[k], `${name} requests.${k}`).toBeDefined();
        expect(c.resources.limits.memory).toBeDefined();
      }
    }
  });

  it('probes hit the real endpoints on the contract ports (API 8080, web 3000)', () => {
    const objs = rendered[overlay] ?? [];
    const api = find(objs, 'Deployment', 'genz-api').spec.template.spec.containers[0];
    const web = find(objs, 'Deployment', 'genz-web').spec.template.spec.containers[0];
    const port = (c: Obj, name: string) => c.ports.find((p: { name: string }) => p.name === name)?.containerPort;
    expect(port(api, 'http')).toBe(8080);
    expect(port(web, 'http')).toBe(3000);
    expect([api.readinessProbe.httpGet.path, api.livenessProbe.httpGet.path, api.startupProbe.httpGet.path]).toEqual([
      '/readyz',
      '/livez',
      '/livez',
    ]);
    expect([web.readinessProbe.httpGet.path, web.livenessProbe.httpGet.path, web.startupProbe.httpGet.path]).toEqual([
      '/livez',
      '/livez',
      '/livez',
    ]);
    for (const c of [api, web])
      for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe']) expect(c[p].httpGet.port).toBe('http');
    // The endpoints exist: the API's health module registers them, the web app has a route handler for each.
    const health = readFileSync(repoPath('apps', 'api', 'src', 'modules', 'health', 'index.ts'), 'utf8');
    for (const path of ['/livez', '/readyz']) expect(health).toContain(`app.get('${path}'`);
    expect(existsSync(repoPath('apps', 'web', 'src', 'app', 'livez', 'route.ts'))).toBe(true);
  });

  it("terminationGracePeriodSeconds covers preStop + the API's drain delay + grace", () => {
    const pod = find(rendered[overlay] ?? [], 'Deployment', 'genz-api').spec.template.spec;
    const c = pod.containers[0];
    const cmd: string[] = c.lifecycle.preStop.exec.command;
    expect(cmd[0]).toBe('sleep');
    const preStop = Number(cmd[1]);
    const envOf = (n: string) => Number(c.env.find((e: { name: string }) => e.name === n)?.value);
    // the API's own defaults (apps/api config schema) must agree with what the manifest sets
    const defaults = loadConfig({ env: {}, cwd: tempDir('cfg') }).server;
    expect(envOf('SHUTDOWN_DRAIN_DELAY_MS')).toBe(defaults.shutdownDrainDelayMs);
    expect(envOf('SHUTDOWN_GRACE_MS')).toBe(defaults.shutdownGraceMs);
    const needed = preStop + (envOf('SHUTDOWN_DRAIN_DELAY_MS') + envOf('SHUTDOWN_GRACE_MS')) / 1000;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(needed);
  });

  it("the API's environment names only keys the config knows, and genz.yaml passes the API's own validator", () => {
    const objs = rendered[overlay] ?? [];
    const c = find(objs, 'Deployment', 'genz-api').spec.template.spec.containers[0];
    const known = new Set(envBindings().map((b) => b.env));
    known.add('GENZ_CONFIG');
    const env: Record<string, string> = {};
    for (const e of c.env as { name: string; value: string }[]) {
      expect(known.has(e.name), `env ${e.name} is not a configuration key of the API`).toBe(true);
      env[e.name] = e.value;
    }
    // the ConfigMap generated from genz.yaml, as mounted at /etc/genz
    const cmName = find(objs, 'Deployment', 'genz-api').spec.template.spec.volumes.find((v: Obj) => v.name === 'config')
      .configMap.name;
    const cm = find(objs, 'ConfigMap', cmName);
    const dir = tempDir('genz-yaml');
    const file = join(dir, 'genz.yaml');
    writeFileSync(file, cm.data['genz.yaml']);
    const cfg = loadConfig({ env: { ...env, GENZ_CONFIG: file, DATA_DIR: join(dir, 'data') }, cwd: dir });
    expect(cfg.server.port).toBe(8080);
    expect(cfg.server.host).toBe('0.0.0.0');
    expect(cfg.metrics.port).toBe(9464);
  });

  it('Services, Ingress and the ServiceMonitor point at ports that exist', () => {
    const objs = rendered[overlay] ?? [];
    const ingApi = find(objs, 'Ingress', 'genz-api');
    const ingWeb = find(objs, 'Ingress', 'genz-web');
    const routes = [...ingApi.spec.rules[0].http.paths, ...ingWeb.spec.rules[0].http.paths].map(
      (p: Obj) => `${p.path} -> ${p.backend.service.name}:${p.backend.service.port.number}`,
    );
    expect(routes).toEqual(['/api -> genz-api:8080', '/v1 -> genz-api:8080', '/ -> genz-web:3000']);
    expect(ingApi.metadata.annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
    const metricsSvc = find(objs, 'Service', 'genz-api-metrics');
    expect(metricsSvc.spec.ports[0].targetPort).toBe('metrics');
    const sm = find(objs, 'ServiceMonitor', 'genz-api');
    expect(sm.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': metricsSvc.metadata.labels['app.kubernetes.io/name'],
    });
    expect(sm.spec.endpoints[0].port).toBe('metrics');
    // the metrics Service selects API pods by labels the pod template carries
    const podLabels = find(objs, 'Deployment', 'genz-api').spec.template.metadata.labels;
    for (const [k, v] of Object.entries(metricsSvc.spec.selector)) expect(podLabels[k], `pod label ${k}`).toBe(v);
  });

  it('NetworkPolicies: ingress denied by default; each policy selects real pods and opens only ports they listen on', () => {
    const objs = rendered[overlay] ?? [];
    const pods = objs.flatMap((o) =>
      o.kind === 'Deployment'
        ? [{ name: o.metadata.name, template: o.spec.template }]
        : o.kind === 'CronJob'
          ? [{ name: o.metadata.name, template: o.spec.jobTemplate.spec.template }]
          : [],
    );
    const selects = (selector: Obj, labels: Record<string, string>) => {
      expect(selector.matchExpressions, 'matchExpressions are not checked here').toBeUndefined();
      return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
    };
    const policies = objs.filter((o) => o.kind === 'NetworkPolicy');
    const denyAll = policies.find(
      (p) => Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.includes('Ingress') && !p.spec.ingress,
    );
    expect(denyAll, 'a default-deny ingress policy for the namespace').toBeDefined();
    const opened: string[] = [];
    for (const p of policies) {
      const selected = pods.filter((pod) => selects(p.spec.podSelector, pod.template.metadata.labels));
      expect(selected.length, `${p.metadata.name} selects no pod`).toBeGreaterThan(0);
      for (const rule of p.spec.ingress ?? []) {
        for (const from of rule.from ?? []) {
          if (from.podSelector && !from.namespaceSelector)
            expect(
              pods.some((pod) => selects(from.podSelector, pod.template.metadata.labels)),
              `${p.metadata.name}: from.podSelector matches no pod`,
            ).toBe(true);
          const ns = from.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'];
          for (const pod of selected)
            for (const port of rule.ports ?? []) opened.push(`${ns ?? 'pods'} -> ${pod.name}:${port.port}`);
        }
        for (const port of rule.ports ?? []) {
          for (const pod of selected) {
            const listens = pod.template.spec.containers.some((c: Obj) =>
              (c.ports ?? []).some((cp: Obj) => cp.containerPort === port.port || cp.name === port.port),
            );
            expect(listens, `${p.metadata.name}: ${pod.name} does not listen on ${port.port}`).toBe(true);
          }
        }
      }
    }
    expect(opened.sort()).toEqual(
      [
        'ingress-nginx -> genz-api:8080',
        'pods -> genz-api:8080',
        'monitoring -> genz-api:9464',
        'ingress-nginx -> genz-web:3000',
      ].sort(),
    );
    // Prometheus scrapes from the namespace the policy opens 9464 to: the adapter's Prometheus lives there too.
    const adapter = readYaml<{ prometheus: { url: string } }>(deployPath('k8s', 'prometheus-adapter', 'values.yaml'));
    expect(new URL(adapter.prometheus.url).hostname.split('.')[1]).toBe('monitoring');
  });

  it('every secretRef is a documented Secret and no Secret object (value) is committed', () => {
    const objs = rendered[overlay] ?? [];
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
    const readme = readFileSync(deployPath('k8s', 'README.md'), 'utf8');
    const refs = JSON.stringify(objs).match(/"secretRef":\{"name":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const r of refs)
      expect(readme, `${r} undocumented in deploy/k8s/README.md`).toContain(`\`${r.split('"').at(-2)}\``);
  });

  it('images are the project images, tagged with the release version (prod) or dev', () => {
    const version = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version;
    const pods = (rendered[overlay] ?? []).flatMap((o) =>
      o.kind === 'Deployment'
        ? [o.spec.template.spec]
        : o.kind === 'CronJob'
          ? [o.spec.jobTemplate.spec.template.spec]
          : [],
    );
    expect(pods.length).toBe(3);
    for (const pod of pods) {
      for (const c of pod.containers) {
        expect(c.image).toMatch(/^ghcr\.io\/genz-ai\/genz-(api|web|backup):/);
        expect(c.image.split(':')[1]).toBe(overlay === 'prod' ? version : 'dev');
        // every project image is built by a Dockerfile of deploy/docker
        expect(existsSync(deployPath('docker', `${/genz-(\w+):/.exec(c.image)?.[1]}.Dockerfile`)), c.image).toBe(true);
      }
    }
  });

  it('the backup CronJob runs backup.sh nightly onto the backup volume: Forbid, history limits, non-root, resources', () => {
    const objs = rendered[overlay] ?? [];
    const cj = find(objs, 'CronJob', 'genz-db-backup');
    expect(cj.spec.concurrencyPolicy).toBe('Forbid');
    expect(cj.spec.successfulJobsHistoryLimit).toBeGreaterThan(0);
    expect(cj.spec.failedJobsHistoryLimit).toBeGreaterThan(0);
    expect(cj.spec.startingDeadlineSeconds).toBeGreaterThan(0);
    expect(cj.spec.suspend ?? false).toBe(overlay === 'dev');
    const job = cj.spec.jobTemplate.spec;
    expect(job.activeDeadlineSeconds).toBeGreaterThan(0);
    const pod = job.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.automountServiceAccountToken).toBe(false);
    const [c, ...more] = pod.containers;
    expect(more).toEqual([]);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    for (const k of ['cpu', 'memory']) expect(c.resources.requests[k], `requests.${k}`).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    expect(c.command).toEqual(['/usr/local/bin/backup.sh']);
    expect(c.args.slice(0, 3)).toEqual(['logical', '--out-dir', '/backups']);
    expect(c.args).toContain('--keep-days');
    // The dump goes to a mounted claim that the overlay defines, and the database URL to a Secret reference.
    const mount = c.volumeMounts.find((m: Obj) => m.mountPath === '/backups');
    const volume = pod.volumes.find((v: Obj) => v.name === mount?.name);
    find(objs, 'PersistentVolumeClaim', volume?.persistentVolumeClaim?.claimName);
    expect(c.envFrom).toEqual([{ secretRef: { name: 'genz-backup-secrets' } }]);
    expect(JSON.stringify(c.env ?? [])).not.toMatch(/DATABASE_URL|postgres:\/\//);
    // Its NetworkPolicy selects the backup pod and lets it reach PostgreSQL.
    const np = find(objs, 'NetworkPolicy', 'genz-db-backup-egress');
    for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels))
      expect(job.template.metadata.labels[k], `pod label ${k}`).toBe(v);
    expect(JSON.stringify(np.spec.egress)).toContain('"port":5432');
  });
});

describe('prod overlay specifics', () => {
  it('runs at least 20 API pods through the HPA (CPU + in-flight requests)', () => {
    const hpa = find(rendered.prod ?? [], 'HorizontalPodAutoscaler', 'genz-api');
    expect(hpa.spec.minReplicas).toBe(20);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(20);
    const kinds = hpa.spec.metrics.map((m: Obj) =>
      m.type === 'Resource' ? `cpu:${m.resource.name}` : `pods:${m.pods.metric.name}`,
    );
    expect(kinds).toEqual(['cpu:cpu', 'pods:http_requests_in_flight']);
  });

  it('the Flagger Canary matches the seed, on 8080, gated at 99.9 % / p99 500 ms by shipped MetricTemplates', () => {
    const objs = rendered.prod ?? [];
    const c = find(objs, 'Canary', 'genz-api');
    expect(c.spec.provider).toBe('nginx');
    expect(c.spec.service.port).toBe(8080);
    expect(c.spec.analysis).toMatchObject({ interval: '1m', threshold: 5, maxWeight: 50, stepWeight: 10 });
    find(objs, 'Deployment', c.spec.targetRef.name);
    find(objs, 'HorizontalPodAutoscaler', c.spec.autoscalerRef.name);
    find(objs, 'Ingress', c.spec.ingressRef.name);
    const gates = Object.fromEntries(c.spec.analysis.metrics.map((m: Obj) => [m.templateRef.name, m.thresholdRange]));
    expect(gates).toEqual({
      'genz-api-request-success-rate': { min: 99.9 },
      'genz-api-request-duration-p99': { max: 500 },
    });
    for (const name of Object.keys(gates)) find(objs, 'MetricTemplate', name);
    // Flagger owns the traffic Service in prod
    expect(objs.find((o) => o.kind === 'Service' && o.metadata.name === 'genz-api')).toBeUndefined();
  });

  it('MetricTemplate queries parse (promtool) and use only contract metrics', () => {
    const templates = (rendered.prod ?? []).filter((o) => o.kind === 'MetricTemplate');
    const exprs = templates.map((t) => ({
      name: t.metadata.name,
      expr: String(t.spec.query)
        .replaceAll('{{ namespace }}', 'genz')
        .replaceAll('{{ target }}', 'genz-api')
        .replaceAll('{{ interval }}', '1m'),
    }));
    expect(
      exprs.every((e) => !e.expr.includes('{{')),
      'unsubstituted template variable',
    ).toBe(true);
    const r = checkPromQL(exprs);
    expect(r.code, r.output).toBe(0);
    const known = knownSeriesNames();
    expect(exprs.flatMap((e) => metricNamesIn(e.expr).filter((n) => !known.has(n)))).toEqual([]);
  });

  it('prometheus-adapter serves every custom metric an HPA asks for, from contract metrics, with parsable queries', () => {
    const values = readYaml<{
      rules: { custom: { seriesQuery: string; name: { as: string }; metricsQuery: string }[] };
    }>(deployPath('k8s', 'prometheus-adapter', 'values.yaml'));
    const served = new Set(values.rules.custom.map((r) => r.name.as));
    for (const overlay of ['dev', 'prod']) {
      for (const h of (rendered[overlay] ?? []).filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
        for (const m of h.spec.metrics.filter((x: Obj) => x.type === 'Pods'))
          expect(served.has(m.pods.metric.name), m.pods.metric.name).toBe(true);
      }
    }
    const exprs = values.rules.custom.flatMap((r, i) => [
      { name: `series_${i}`, expr: r.seriesQuery },
      {
        name: `metrics_${i}`,
        expr: r.metricsQuery
          .replaceAll('<<.Series>>', r.seriesQuery.split('{')[0] ?? '')
          .replaceAll('<<.LabelMatchers>>', 'namespace="genz"')
          .replaceAll('<<.GroupBy>>', 'pod'),
      },
    ]);
    const r = checkPromQL(exprs);
    expect(r.code, r.output).toBe(0);
    const known = knownSeriesNames();
    expect(exprs.flatMap((e) => metricNamesIn(e.expr).filter((n) => !known.has(n)))).toEqual([]);
  });
});

describe('restore drill Job (deploy/k8s/restore-drill, created by hand for each drill)', () => {
  const file = deployPath('k8s', 'restore-drill', 'restore-drill-job.yaml');

  it('passes strict schema validation', async () => {
    const findings = await validateYaml(readFileSync(file, 'utf8'), crds);
    expect(findings).toHaveLength(1);
    expect(findings.flatMap((f) => f.errors)).toEqual([]);
  });

  it('restores the newest dump of the CronJob volume (read-only) with the release image, as non-root', () => {
    const job = readYaml<Obj>(file);
    const version = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version;
    const pod = job.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe(`ghcr.io/genz-ai/genz-backup:${version}`);
    expect(c.command).toEqual(['/usr/local/bin/restore.sh']);
    expect(c.args).toEqual(['logical', '--latest', '/backups']);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    const cronPod = find(rendered.prod ?? [], 'CronJob', 'genz-db-backup').spec.jobTemplate.spec.template.spec;
    const claim = (p: Obj) => p.volumes.find((v: Obj) => v.persistentVolumeClaim)?.persistentVolumeClaim;
    expect(claim(pod)).toEqual({ claimName: claim(cronPod).claimName, readOnly: true });
    expect(c.volumeMounts.find((m: Obj) => m.mountPath === '/backups').readOnly).toBe(true);
    // The backup pods' egress policy covers the drill pod too.
    const np = find(rendered.prod ?? [], 'NetworkPolicy', 'genz-db-backup-egress');
    for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels))
      expect(job.spec.template.metadata.labels[k]).toBe(v);
    const readme = readFileSync(deployPath('k8s', 'README.md'), 'utf8');
    expect(readme).toContain(`\`${c.envFrom[0].secretRef.name}\``);
    expect(job.metadata.generateName).toBeDefined();
  });
});

describe('negative fixtures: the validation is real', () => {
  it('an overlay with misspelt fields renders but FAILS validation, naming each bad key', async () => {
    const r = render(deployPath('test', 'fixtures', 'k8s-typo-overlay'));
    expect(r.code, r.output).toBe(0);
    const errors = (await validateYaml(r.text, crds)).flatMap((f) => f.errors.map((e) => `${f.id}: ${e}`));
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Deployment\/genz-api .*\/spec: unknown field "replica"/),
        expect.stringMatching(
          /Deployment\/genz-api .*\/spec\/template\/spec\/containers\/0: unknown field "imagePullPolicyy"/,
        ),
        expect.stringMatching(/Service\/genz-web .*\/spec: unknown field "selectr"/),
      ]),
    );
    expect(errors).toHaveLength(3);
  });

  it('wrong types, CRD typos, ServiceMonitor/HPA/CronJob typos and unknown kinds each FAIL', async () => {
    const findings = await validateYaml(
      readFileSync(deployPath('test', 'fixtures', 'k8s-bad-objects.yaml'), 'utf8'),
      crds,
    );
    const byName = Object.fromEntries(findings.map((f) => [f.id.split(' ')[0], f.errors.join('; ')]));
    expect(byName['Deployment/wrong-type']).toMatch(/\/spec\/replicas.*integer/);
    expect(byName['Canary/canary-typo']).toMatch(/maxWeigth/);
    expect(byName['ServiceMonitor/sm-typo']).toMatch(/unknown field "pth"/);
    expect(byName['HorizontalPodAutoscaler/hpa-typo']).toMatch(/unknown field "minReplica"/);
    expect(byName['CronJob/cronjob-typo']).toMatch(/unknown field "successfullJobsHistoryLimit"/);
    expect(byName['Widget/unknown-kind']).toMatch(/no schema/);
    expect(findings.every((f) => f.errors.length > 0)).toBe(true);
  });

  it("a genz.yaml with an unknown key is refused by the API's validator, naming file and key", () => {
    const dir = tempDir('bad-genz');
    const file = join(dir, 'genz.yaml');
    writeFileSync(file, 'server:\n  prot: 8080\n');
    expect(() => loadConfig({ env: { GENZ_CONFIG: file }, cwd: dir })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { GENZ_CONFIG: file }, cwd: dir })).toThrow(/genz\.yaml.*server\.prot/);
  });
});

describe('metric sources', () => {
  it('every exporter the metric contract names as a source is a documented prerequisite of the cluster', () => {
    const readme = readFileSync(deployPath('k8s', 'README.md'), 'utf8');
    const sources = new Set(metricsContract().map((m) => m.source));
    sources.delete('api'); // the ServiceMonitor scrapes it
    sources.delete('prometheus'); // `up`: Prometheus itself
    expect(sources.size).toBeGreaterThan(0);
    for (const s of sources) expect(readme, `${s} not named in deploy/k8s/README.md`).toContain(`\`${s}\``);
  });
});

describe('latency gates agree', () => {
  it('the canary p99 gate and the HighLatency alert exclude the same generation routes', () => {
    const matcher = (text: string) => /route!~"([^"]+)"/.exec(text)?.[1];
    const alertRoutes = matcher(readFileSync(deployPath('prometheus', 'rules', 'alerts.yml'), 'utf8'));
    const canaryRoutes = matcher(readFileSync(deployPath('k8s', 'overlays', 'prod', 'metric-templates.yaml'), 'utf8'));
    expect(alertRoutes).toBeTruthy();
    expect(canaryRoutes).toBe(alertRoutes);
  });
});
