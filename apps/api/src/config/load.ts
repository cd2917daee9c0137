import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Value } from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { type AppConfig, ConfigSchema } from './schema.ts';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

interface JsonSchemaNode {
  type?: string;
  env?: string;
  properties?: Record<string, JsonSchemaNode>;
  anyOf?: JsonSchemaNode[];
}

export interface EnvBinding {
  env: string;
  path: string[];
  type: string;
}

/** Every leaf that an environment variable can set, in schema order (also feeds docs/configuration.md). */
export function envBindings(node: JsonSchemaNode = ConfigSchema as JsonSchemaNode, path: string[] = []): EnvBinding[] {
  if (node.properties) {
    return Object.entries(node.properties).flatMap(([key, child]) => envBindings(child, [...path, key]));
  }
  return node.env ? [{ env: node.env, path, type: node.type ?? 'string' }] : [];
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let cursor = target;
  for (const key of path.slice(0, -1)) {
    const next = cursor[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cursor[key] = {};
    cursor = cursor[key] as Record<string, unknown>;
  }
  const last = path.at(-1);
  if (last !== undefined) cursor[last] = value;
}

function envValue(raw: string, type: string): unknown {
  if (type === 'array') {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
  if (type === 'boolean') {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
    return raw; // left for the validator to reject, naming the variable
  }
  return raw;
}

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Inline overrides (tests), applied after env. */
  overrides?: Record<string, unknown>;
}

function configFileName(env: Record<string, string | undefined>, cwd: string): string | undefined {
  return env.GENZ_CONFIG ?? (existsSync(resolve(cwd, 'genz.yaml')) ? 'genz.yaml' : undefined);
}

/** Absolute path of the genz.yaml loadConfig reads with these options (GENZ_CONFIG, else ./genz.yaml), if any. */
export function configFilePath(options: LoadConfigOptions = {}): string | undefined {
  const cwd = options.cwd ?? process.cwd();
  const file = configFileName(options.env ?? process.env, cwd);
  return file === undefined ? undefined : resolve(cwd, file);
}

/** Defaults < genz.yaml < environment < overrides. Throws ConfigError naming every bad key. */
export function loadConfig(options: LoadConfigOptions = {}): AppConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const problems: string[] = [];
  let layered: Record<string, unknown> = {};

  const file = configFileName(env, cwd);
  if (file) {
    const path = resolve(cwd, file);
    try {
      const parsed: unknown = parseYaml(readFileSync(path, 'utf8'));
      if (parsed !== null && parsed !== undefined) {
        if (typeof parsed !== 'object' || Array.isArray(parsed))
          problems.push(`${file}: the top level must be a mapping`);
        else layered = parsed as Record<string, unknown>;
      }
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  const sourceOf = new Map<string, string>();
  for (const binding of envBindings()) {
    const raw = env[binding.env];
    if (raw === undefined || raw === '') continue;
    setPath(layered, binding.path, envValue(raw, binding.type));
    sourceOf.set(`/${binding.path.join('/')}`, binding.env);
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) setPath(layered, key.split('.'), value);

  const candidate = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, layered));
  // Every error is a problem: TypeBox lists the first 8 only, and skipping some (they once were, as duplicates) let a
  // file with 8 unknown keys and a wrong type through.
  for (const error of Value.Errors(ConfigSchema, candidate)) {
    const pointer = error.instancePath;
    const params = error.params as { additionalProperties?: string[]; allowedValues?: unknown[] };
    // An extra key fails its own (`false` or Never) schema as well as its object's additionalProperties: both
    // read as the same "unknown key" line.
    const extraKey =
      (error.keyword === 'boolean' || error.keyword === 'not') && error.schemaPath.endsWith('additionalProperties');
    const extra = extraKey ? [pointer.slice(pointer.lastIndexOf('/') + 1)] : params.additionalProperties;
    const at = extraKey ? pointer.slice(0, pointer.lastIndexOf('/')) : pointer;
    const message = params.allowedValues ? `must be one of: ${params.allowedValues.join(', ')}` : error.message;
    const key = extra
      ? extra.map((k) => `${at}/${k}`.slice(1).replaceAll('/', '.')).join(', ')
      : pointer.slice(1).replaceAll('/', '.') || '(root)';
    const origin = sourceOf.get(pointer) ?? (file ? `${file}` : 'config');
    problems.push(extra ? `${origin}: unknown key ${key}` : `${origin}: ${key} ${message}`);
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);

  const config = candidate as AppConfig;
  if (config.server.headersTimeoutMs <= config.server.keepAliveTimeoutMs) {
    problems.push('server.headersTimeoutMs must be greater than server.keepAliveTimeoutMs');
  }
  if (config.redis.url && config.redis.clusterNodes.length > 0) {
    problems.push('REDIS_URL and REDIS_CLUSTER_NODES are mutually exclusive');
  }
  // Accounts: replicas sharing a database must share signing keys, and every plan reference must name a plan.
  if (config.database.url && !config.auth.secrets) {
    problems.push('AUTH_SECRETS: must be set when DATABASE_URL is set (every replica must verify the same tokens)');
  }
  if (!Object.hasOwn(config.plans, config.signup.defaultPlan)) {
    problems.push(
      `signup.defaultPlan: unknown plan "${config.signup.defaultPlan}" (plans: ${Object.keys(config.plans).join(', ')})`,
    );
  }
  // OIDC group mappings (roles are checked by the schema's enum above): a mapped plan must exist.
  for (const [i, mapping] of config.oidc.groupMappings.entries()) {
    if (mapping.plan !== undefined && !Object.hasOwn(config.plans, mapping.plan)) {
      problems.push(
        `oidc.groupMappings.${i}.plan: unknown plan "${mapping.plan}" for group "${mapping.group}" (plans: ${Object.keys(config.plans).join(', ')})`,
      );
    }
  }
  // Limits (issue 6): every plan named under limits.plans must exist.
  for (const name of Object.keys(config.limits.plans)) {
    if (!Object.hasOwn(config.plans, name)) {
      problems.push(`limits.plans.${name}: unknown plan "${name}" (plans: ${Object.keys(config.plans).join(', ')})`);
    }
  }
  // Provider keys may be referenced by variable name from genz.yaml; only this module reads the environment.
  for (const [i, deployment] of config.providers.deployments.entries()) {
    if (deployment.apiKeyEnv === undefined || deployment.apiKey !== undefined) continue;
    const value = env[deployment.apiKeyEnv];
    if (value) deployment.apiKey = value;
    else problems.push(`providers.deployments.${i}.apiKeyEnv: environment variable ${deployment.apiKeyEnv} is not set`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  config.dataDir = resolve(cwd, config.dataDir);
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
