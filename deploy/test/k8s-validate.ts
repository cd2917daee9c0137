/**
 * Offline, strict validation of Kubernetes objects (stand-in for `kubeconform -strict`, which is not installable here).
 *
 * Built-in kinds: the JSON-schema validators that the npm package `kubernetes-models` generates from the Kubernetes
 * OpenAPI spec. Those validators ignore unknown fields, so a typo such as `replica: 3` or `imagePullPolicyy` would pass
 * (and the API server would silently drop it). We close that gap without another schema copy: the object is handed to
 * the generated validator wrapped in recording proxies. A generated validator reads exactly the properties its schema
 * declares (`data.replicas`, `data.template`, ...), and enumerates the keys of free-form maps (labels, annotations,
 * `data`). Any key that the validator neither read nor enumerated is therefore not in the schema: an unknown field.
 *
 * Custom resources (Flagger Canary/MetricTemplate, ServiceMonitor): ajv against the CRD's openAPIV3Schema with
 * `additionalProperties: false` added wherever properties are listed and unknown fields are not preserved.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';

/** Directory of an installed package, found the way Node does (nearest node_modules upwards). */
function packageDir(name: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string };
  [k: string]: unknown;
}

export interface Finding {
  id: string;
  errors: string[];
}

type GeneratedValidate = ((data: unknown) => boolean) & {
  errors?: { instancePath: string; message?: string; keyword: string; params?: Record<string, unknown> }[] | null;
};

// ---------------------------------------------------------------- built-in kinds (kubernetes-models)

const builtinCache = new Map<string, GeneratedValidate | null>();

/** Resolves e.g. apps/v1 Deployment -> kubernetes-models/_schemas/IoK8sApiAppsV1Deployment.js#validate. */
async function builtinValidator(apiVersion: string, kind: string): Promise<GeneratedValidate | null> {
  const key = `${apiVersion}/${kind}`;
  if (builtinCache.has(key)) return builtinCache.get(key) ?? null;
  let v: GeneratedValidate | null = null;
  for (const pkg of ['kubernetes-models', '@kubernetes-models/prometheus-operator']) {
    const dir = packageDir(pkg);
    if (!dir) throw new Error(`npm package ${pkg} is not installed (devDependency of @genz/deploy)`);
    const file = join(dir, apiVersion, `${kind}.js`);
    if (!existsSync(file)) continue;
    const m = /from"(\.\.\/[^"]*_schemas\/[A-Za-z0-9]+\.js)"/.exec(readFileSync(file, 'utf8'));
    if (!m?.[1]) continue;
    const schemaFile = join(file, '..', m[1]);
    v = ((await import(pathToFileURL(schemaFile).href)) as { validate: GeneratedValidate }).validate;
    break;
  }
  builtinCache.set(key, v);
  return v;
}

/** Wraps a JSON value in proxies that record which keys the validator reads or enumerates, per JSON pointer. */
function recordAccess(root: unknown): { proxy: unknown; read: Map<string, Set<string>>; enumerated: Set<string> } {
  const read = new Map<string, Set<string>>();
  const enumerated = new Set<string>();
  const wrap = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const cache = new Map<PropertyKey, unknown>();
    return new Proxy(value as object, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof prop !== 'string') return v;
        if (Object.hasOwn(target, prop)) {
          const s = read.get(path) ?? new Set<string>();
          read.set(path, s);
          s.add(prop);
          if (!cache.has(prop)) cache.set(prop, wrap(v, `${path}/${prop}`));
          return cache.get(prop);
        }
        return v;
      },
      ownKeys(target) {
        enumerated.add(path);
        return Reflect.ownKeys(target);
      },
    });
  };
  return { proxy: wrap(root, ''), read, enumerated };
}

function unknownFields(
  value: unknown,
  path: string,
  read: Map<string, Set<string>>,
  enumerated: Set<string>,
  out: string[],
): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) unknownFields(v, `${path}/${i}`, read, enumerated, out);
    return;
  }
  const seen = read.get(path) ?? new Set<string>();
  const isMap = enumerated.has(path);
  for (const [k, v] of Object.entries(value)) {
    if (!isMap && !seen.has(k)) out.push(`${path || '/'}: unknown field "${k}"`);
    else unknownFields(v, `${path}/${k}`, read, enumerated, out);
  }
}

// ---------------------------------------------------------------- CRDs (ajv)

function tighten(s: unknown): unknown {
  if (!s || typeof s !== 'object') return s;
  const o = s as Record<string, unknown>;
  if (o.properties && o.additionalProperties === undefined && !o['x-kubernetes-preserve-unknown-fields'])
    o.additionalProperties = false;
  for (const v of Object.values(o)) if (v && typeof v === 'object') tighten(v);
  return o;
}

export function loadCrdValidators(dir: string): Map<string, ValidateFunction> {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const out = new Map<string, ValidateFunction>();
  for (const f of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    for (const d of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const crd = d.toJS() as {
        kind?: string;
        spec: {
          group: string;
          names: { kind: string };
          versions: { name: string; schema: { openAPIV3Schema: Record<string, unknown> } }[];
        };
      };
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      for (const v of crd.spec.versions) {
        const schema = structuredClone(v.schema.openAPIV3Schema) as { properties?: Record<string, unknown> };
        // apiVersion/kind/metadata are validated by the API server itself; metadata is checked as ObjectMeta below.
        schema.properties = {
          ...schema.properties,
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          metadata: { type: 'object' },
        };
        out.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, ajv.compile(tighten(schema) as object));
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- entry points

export async function validateObject(obj: K8sObject, crds: Map<string, ValidateFunction>): Promise<Finding> {
  const id = `${obj?.kind}/${obj?.metadata?.name} (${obj?.apiVersion})`;
  const errors: string[] = [];
  if (!obj || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string')
    return { id, errors: ['missing apiVersion or kind'] };
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const crd = crds.get(`${group}/${version}/${obj.kind}`);
  if (crd) {
    if (!crd(obj)) {
      for (const e of crd.errors ?? [])
        errors.push(
          `${e.instancePath || '/'}: ${e.message}${e.params && 'additionalProperty' in e.params ? ` "${e.params.additionalProperty}"` : ''}`,
        );
    }
    return { id, errors };
  }
  const validate = await builtinValidator(obj.apiVersion, obj.kind);
  if (!validate)
    return {
      id,
      errors: [`no schema for ${obj.apiVersion} ${obj.kind} (unknown kind: add its CRD to deploy/k8s/crds)`],
    };
  const { proxy, read, enumerated } = recordAccess(obj);
  if (!validate(proxy)) {
    for (const e of validate.errors ?? [])
      errors.push(
        `${e.instancePath || '/'}: ${e.message ?? e.keyword}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`,
      );
  }
  unknownFields(obj, '', read, enumerated, errors);
  return { id, errors };
}

export async function validateYaml(text: string, crds: Map<string, ValidateFunction>): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      out.push({ id: 'yaml', errors: doc.errors.map((e) => e.message) });
      continue;
    }
    const obj = doc.toJS() as K8sObject | null;
    if (!obj) continue;
    out.push(await validateObject(obj, crds));
  }
  return out;
}
