import { type Db, schema, writeAuditEvent } from '@genz/db';
import { desc } from 'drizzle-orm';
import { Value } from 'typebox/value';
import { type AppConfig, ConfigError, ConfigSchema } from '../../config/index.ts';
import { DomainError } from '../../http/errors.ts';
import { buildRegistry, type Registry } from './providers.registry.ts';
import type { DeploymentConfig } from './providers.types.ts';
import { encryptionKeyMissing, type SecretBox } from './secrets.ts';

type ProvidersConfig = AppConfig['providers'];
type AliasConfig = ProvidersConfig['aliases'][string];

/** A deployment as the admin layer stores it: the config shape without id and env reference, the key sealed. */
export type StoredDeployment = Omit<DeploymentConfig, 'id' | 'apiKey' | 'apiKeyEnv'> & { apiKeySealed?: string };

/**
 * The admin (database) layer over genz.yaml: entries override the file's by id / alias name, add new ones, or
 * remove the file's with null. Versioned: each change is a new row in provider_config_versions.
 */
export interface AdminLayer {
  deployments: Record<string, StoredDeployment | null>;
  aliases: Record<string, AliasConfig | null>;
}

/** What an admin sends: like AdminLayer, with `apiKey` in clear (string: set, null: clear, absent: keep). */
export interface AdminLayerInput {
  deployments?: Record<string, (Record<string, unknown> & { apiKey?: string | null }) | null>;
  aliases?: Record<string, Record<string, unknown> | null>;
  comment?: string;
}

export const emptyLayer = (): AdminLayer => ({ deployments: {}, aliases: {} });

const ProvidersSchema = ConfigSchema.properties.providers;

/**
 * genz.yaml (+ env) providers with the admin layer on top, keys opened. Throws ConfigError naming each bad key as
 * `providers.deployments.<id>.<field>` / `providers.aliases.<name>...`, so an admin sees what to fix.
 */
export function effectiveProviders(base: ProvidersConfig, layer: AdminLayer, box: SecretBox | null): ProvidersConfig {
  const problems: string[] = [];
  const deployments: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  const fromLayer = (id: string, stored: StoredDeployment): Record<string, unknown> => {
    const { apiKeySealed, ...rest } = stored;
    const out: Record<string, unknown> = { id, ...structuredClone(rest) };
    if (apiKeySealed !== undefined) {
      if (!box) problems.push(`providers.deployments.${id}.apiKey: stored encrypted, but ENCRYPTION_KEY is not set`);
      else {
        try {
          out.apiKey = box.open(apiKeySealed);
        } catch (err) {
          problems.push(`providers.deployments.${id}.apiKey: cannot be decrypted (${(err as Error).message})`);
        }
      }
    }
    return out;
  };
  for (const d of base.deployments) {
    seen.add(d.id);
    const over = Object.hasOwn(layer.deployments, d.id) ? layer.deployments[d.id] : undefined;
    if (over === null) continue;
    deployments.push(over ? fromLayer(d.id, over) : structuredClone(d));
  }
  for (const [id, stored] of Object.entries(layer.deployments)) {
    if (!seen.has(id) && stored) deployments.push(fromLayer(id, stored));
  }
  const aliases: Record<string, unknown> = {};
  for (const [name, alias] of Object.entries(base.aliases)) aliases[name] = structuredClone(alias);
  for (const [name, alias] of Object.entries(layer.aliases)) {
    if (alias === null) delete aliases[name];
    else aliases[name] = structuredClone(alias);
  }
  const candidate: Record<string, unknown> = { ...structuredClone(base), deployments, aliases };
  const withDefaults = Value.Default(ProvidersSchema, candidate);
  for (const error of Value.Errors(ProvidersSchema, withDefaults)) {
    const path = error.instancePath.slice(1).split('/');
    // deployments/<index>/field -> deployments.<id>.field: the index means nothing to the admin.
    if (path[0] === 'deployments' && path[1] !== undefined) {
      const d = deployments[Number(path[1])];
      if (d && typeof d.id === 'string') path[1] = d.id;
    }
    const params = error.params as { additionalProperties?: string[] };
    const extra = params.additionalProperties;
    problems.push(
      extra
        ? `providers.${[...path, extra.join(', ')].filter(Boolean).join('.')}: unknown key`
        : `providers.${path.filter(Boolean).join('.')}: ${error.message}`,
    );
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  return withDefaults as ProvidersConfig;
}

/** effectiveProviders + buildRegistry: the registry a replica would route with, or ConfigError. */
export function buildLayeredRegistry(base: ProvidersConfig, layer: AdminLayer, box: SecretBox | null): Registry {
  return buildRegistry(effectiveProviders(base, layer, box));
}

/**
 * Applies an admin's input to the current layer: seals new keys (refusing without ENCRYPTION_KEY), keeps the stored
 * key of a deployment whose input omits `apiKey`, drops it on `apiKey: null`. Returns the new layer and which
 * deployments' keys changed (for the audit log; never the keys).
 */
export function nextLayer(
  current: AdminLayer,
  input: AdminLayerInput,
  box: SecretBox | null,
): { layer: AdminLayer; keysChanged: string[] } {
  const layer: AdminLayer = {
    deployments: structuredClone(current.deployments),
    aliases: structuredClone(current.aliases),
  };
  const keysChanged: string[] = [];
  for (const [id, d] of Object.entries(input.deployments ?? {})) {
    if (d === null) {
      layer.deployments[id] = null;
      continue;
    }
    const { apiKey, apiKeyEnv, id: _ignored, apiKeySealed: _sealed, ...rest } = d;
    if (apiKeyEnv !== undefined) {
      throw new DomainError(
        'validation_failed',
        `deployments.${id}.apiKeyEnv: environment references belong in genz.yaml; send the key as apiKey`,
        { param: `deployments.${id}.apiKeyEnv` },
      );
    }
    const stored: StoredDeployment = rest as StoredDeployment;
    const previous = current.deployments[id]?.apiKeySealed;
    if (typeof apiKey === 'string' && apiKey !== '') {
      if (!box) throw encryptionKeyMissing();
      stored.apiKeySealed = box.seal(apiKey);
      keysChanged.push(id);
    } else if (apiKey === null || apiKey === '') {
      if (previous !== undefined) keysChanged.push(id);
    } else if (previous !== undefined) stored.apiKeySealed = previous;
    layer.deployments[id] = stored;
  }
  for (const [name, alias] of Object.entries(input.aliases ?? {})) {
    layer.aliases[name] = alias === null ? null : (structuredClone(alias) as AliasConfig);
  }
  return { layer, keysChanged };
}

export const withoutSecrets = (layer: AdminLayer) => ({
  deployments: Object.fromEntries(
    Object.entries(layer.deployments).map(([id, d]) => {
      if (d === null) return [id, null];
      const { apiKeySealed, ...rest } = d;
      return [id, { ...rest, apiKeySet: apiKeySealed !== undefined }];
    }),
  ),
  aliases: layer.aliases,
});

// ---------- repository ----------

export interface LayerVersion {
  version: number;
  layer: AdminLayer;
  createdAt: Date | null;
  createdBy: string | null;
}

function asLayer(document: Record<string, unknown>): AdminLayer {
  const deployments = document.deployments;
  const aliases = document.aliases;
  return {
    deployments: (typeof deployments === 'object' && deployments !== null
      ? deployments
      : {}) as AdminLayer['deployments'],
    aliases: (typeof aliases === 'object' && aliases !== null ? aliases : {}) as AdminLayer['aliases'],
  };
}

/** The layer in force: the newest version, or version 0 (empty) when no admin ever edited. */
export async function readLatestLayer(db: Db): Promise<LayerVersion> {
  const [row] = await db
    .select()
    .from(schema.providerConfigVersions)
    .orderBy(desc(schema.providerConfigVersions.version))
    .limit(1);
  if (!row) return { version: 0, layer: emptyLayer(), createdAt: null, createdBy: null };
  return { version: row.version, layer: asLayer(row.document), createdAt: row.createdAt, createdBy: row.createdBy };
}

/**
 * Appends version `expected + 1` and its audit event in one transaction. Another edit that got there first (a newer
 * version exists, or the same version is inserted concurrently: primary key) makes this a 409 `conflict`.
 */
export async function saveLayer(
  db: Db,
  input: {
    expected: number;
    layer: AdminLayer;
    actorUserId: string;
    comment: string | undefined;
    audit: { ip?: string | undefined; userAgent?: string | undefined; data: Record<string, unknown> };
  },
): Promise<number> {
  const version = input.expected + 1;
  const stale = () =>
    new DomainError(
      'conflict',
      `The configuration changed since version ${input.expected}; reload it and apply your edit again.`,
    );
  try {
    await db.transaction(async (tx) => {
      const latest = await readLatestLayer(tx);
      if (latest.version !== input.expected) throw stale();
      await tx.insert(schema.providerConfigVersions).values({
        version,
        document: input.layer as unknown as Record<string, unknown>,
        createdBy: input.actorUserId,
        comment: input.comment ?? null,
      });
      await writeAuditEvent(tx, {
        event: 'config.providers_changed',
        actorUserId: input.actorUserId,
        targetType: 'provider_config',
        targetId: String(version),
        ip: input.audit.ip ?? null,
        userAgent: input.audit.userAgent ?? null,
        data: { version, ...input.audit.data },
      });
    });
  } catch (err) {
    if (err instanceof DomainError) throw err;
    const code =
      (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    if (code === '23505') throw stale();
    throw err;
  }
  return version;
}
