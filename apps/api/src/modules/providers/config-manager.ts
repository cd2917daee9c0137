import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Db } from '@genz/db';
import type { FastifyBaseLogger } from 'fastify';
import { type AppConfig, ConfigError } from '../../config/index.ts';
import type { Actor } from '../../http/actor.ts';
import { DomainError } from '../../http/errors.ts';
import type { RedisClient } from '../../infra/redis.ts';
import {
  type AdminLayerInput,
  buildLayeredRegistry,
  emptyLayer,
  type LayerVersion,
  nextLayer,
  readLatestLayer,
  saveLayer,
  withoutSecrets,
} from './config-layers.ts';
import type { Registry } from './providers.registry.ts';
import type { ProviderRouter } from './router.ts';
import type { SecretBox } from './secrets.ts';

/** Where the base layer comes from: genz.yaml's path (watched) and how to load it again (config/ reads env + file). */
export interface ConfigSource {
  file: string | undefined;
  load(): AppConfig;
}

const VERSION_KEY = 'config:providers:version';
/** Even with Redis, the database is read this often: a lost publish or version write cannot strand a replica. */
const DB_SAFETY_POLL_MS = 30_000;

/**
 * The provider configuration in force on this replica: genz.yaml (+ env) as the base, the newest admin layer from
 * the database on top. Every change (file edit, admin edit here, admin edit on another replica) builds and validates
 * a whole new registry and swaps it in one step; a bad one is refused and the old configuration stays. Replicas learn
 * of admin edits through Redis (pub/sub, plus a version key read every `pollMs`) or, without Redis, by reading the
 * database every `pollMs`.
 */
export class ProviderConfigManager {
  private base: AppConfig;
  private current: LayerVersion = { version: 0, layer: emptyLayer(), createdAt: null, createdBy: null };
  private chain: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private fileHash: string | undefined;
  private subscriber: RedisClient | null = null;
  private lastDbRead = 0;
  private readonly deps: {
    router: ProviderRouter;
    db: () => Db;
    dbReady: () => boolean;
    redis: RedisClient | null;
    keyPrefix: string;
    box: SecretBox | null;
    source: ConfigSource | undefined;
    readonly: boolean;
    log: FastifyBaseLogger;
    watchFile: boolean;
    debounceMs: number;
    pollMs: number;
  };

  constructor(deps: ProviderConfigManager['deps'] & { base: AppConfig }) {
    const { base, ...rest } = deps;
    this.base = base;
    this.deps = rest;
  }

  get version(): number {
    return this.current.version;
  }

  get channel(): string {
    return `${this.deps.keyPrefix}config:providers`;
  }

  /** Runs one change at a time, in order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private swap(registry: Registry, base: AppConfig, layer: LayerVersion, why: string): void {
    this.deps.router.swap(registry, layer.version, base.plans);
    this.base = base;
    this.current = layer;
    this.deps.log.info(
      {
        why,
        version: layer.version,
        deployments: [...registry.deployments.keys()],
        aliases: [...registry.aliases.keys()],
      },
      'provider configuration applied',
    );
  }

  /** Reads the newest admin layer and applies it if it is not the one in force. */
  refresh(): Promise<void> {
    return this.serial(async () => {
      if (!this.deps.dbReady()) return;
      this.lastDbRead = Date.now();
      const latest = await readLatestLayer(this.deps.db());
      if (latest.version === this.current.version) return;
      try {
        this.swap(buildLayeredRegistry(this.base.providers, latest.layer, this.deps.box), this.base, latest, 'admin');
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        this.deps.log.error(
          { version: latest.version, problems: err.problems },
          'admin provider configuration refused; keeping the previous one',
        );
      }
    });
  }

  /** Loads genz.yaml (and env) again; a bad file is logged, key by key, and the old configuration stays. */
  reloadFile(): Promise<boolean> {
    return this.serial(async () => {
      const source = this.deps.source;
      if (!source) return false;
      let next: AppConfig;
      let registry: Registry;
      try {
        next = source.load();
        registry = buildLayeredRegistry(next.providers, this.current.layer, this.deps.box);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        this.deps.log.error(
          { file: source.file, problems: err.problems },
          'genz.yaml reload refused; keeping the previous configuration',
        );
        return false;
      }
      this.swap(registry, next, this.current, 'file');
      this.deps.log.info(
        'genz.yaml reloaded: providers, aliases and plans apply now; other settings at the next restart',
      );
      return true;
    });
  }

  /** Throws `config_readonly` when GENZ_CONFIG_READONLY is set. */
  assertWritable(): void {
    if (!this.deps.readonly) return;
    throw new DomainError(
      'config_readonly',
      'Provider configuration is read-only on this server (GENZ_CONFIG_READONLY is set, e.g. because Kubernetes ' +
        'manages genz.yaml). Change genz.yaml instead; it is reloaded when it changes.',
    );
  }

  /** The admin edit: validated as a whole, stored as the next version with an audit event, applied, announced. */
  update(
    actor: Actor,
    expectedVersion: number,
    input: AdminLayerInput,
    meta: { ip?: string; userAgent?: string | undefined },
  ): Promise<number> {
    try {
      this.assertWritable();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serial(async () => {
      const db = this.deps.db();
      const latest = await readLatestLayer(db);
      if (latest.version !== expectedVersion) {
        throw new DomainError(
          'conflict',
          `The configuration is at version ${latest.version}, not ${expectedVersion}; reload it and apply your edit again.`,
        );
      }
      const { layer, keysChanged } = nextLayer(latest.layer, input, this.deps.box);
      let registry: Registry;
      try {
        registry = buildLayeredRegistry(this.base.providers, layer, this.deps.box);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        throw new DomainError('validation_failed', err.problems.join('; '), {
          errors: err.problems.map((p) => {
            const at = p.indexOf(': ');
            return at < 0 ? { path: 'body', message: p } : { path: p.slice(0, at), message: p.slice(at + 2) };
          }),
          cause: err,
        });
      }
      const version = await saveLayer(db, {
        expected: expectedVersion,
        layer,
        actorUserId: actor.userId,
        comment: input.comment,
        audit: {
          ip: meta.ip,
          userAgent: meta.userAgent,
          data: {
            deployments: Object.keys(input.deployments ?? {}),
            aliases: Object.keys(input.aliases ?? {}),
            keysChanged,
            ...(input.comment ? { comment: input.comment } : {}),
          },
        },
      });
      this.swap(registry, this.base, { version, layer, createdAt: new Date(), createdBy: actor.userId }, 'admin');
      await this.announce(version);
      return version;
    });
  }

  private async announce(version: number): Promise<void> {
    const redis = this.deps.redis;
    if (!redis) return;
    try {
      await redis.set(VERSION_KEY, String(version));
      await redis.publish(this.channel, String(version));
    } catch (err) {
      this.deps.log.warn(
        { reason: (err as Error).message, version },
        'could not announce the configuration change; other replicas pick it up from the database',
      );
    }
  }

  private async tick(): Promise<void> {
    const redis = this.deps.redis;
    if (redis && Date.now() - this.lastDbRead < DB_SAFETY_POLL_MS) {
      const announced = Number(await redis.get(VERSION_KEY));
      if (!Number.isFinite(announced) || announced === this.current.version) return;
    }
    await this.refresh();
  }

  /** Starts watching genz.yaml, the Redis channel and the poll timer; reads the admin layer once the DB is up. */
  async start(subscriber: RedisClient | null, dbReady: Promise<void>): Promise<void> {
    this.subscriber = subscriber;
    if (subscriber) {
      subscriber.on('message', (channel: string) => {
        if (channel === this.channel) this.refresh().catch((err: unknown) => this.onError(err));
      });
      const subscribe = () => subscriber.subscribe(this.channel).catch((err: unknown) => this.onError(err)); // the poll covers the gap
      subscriber.on('ready', () => void subscribe());
      if (subscriber.status === 'ready') await subscribe();
    }
    void dbReady.then(() => this.refresh()).catch((err: unknown) => this.onError(err));
    this.poll = setInterval(() => {
      this.tick().catch((err: unknown) => this.onError(err));
    }, this.deps.pollMs);
    this.poll.unref();
    const file = this.deps.source?.file;
    if (file && this.deps.watchFile) {
      this.fileHash = hashOf(file);
      const name = basename(file);
      // The directory, not the file: editors and Kubernetes ConfigMaps replace the file (rename, `..data` symlink
      // swap), which a watch on the file itself would miss after the first time.
      this.watcher = watch(dirname(file), (_event, changed) => {
        if (changed !== null && changed !== name && changed !== '..data') return;
        clearTimeout(this.debounce);
        this.debounce = setTimeout(() => {
          const hash = hashOf(file);
          if (hash === undefined || hash === this.fileHash) return;
          this.fileHash = hash;
          this.reloadFile().catch((err: unknown) => this.onError(err));
        }, this.deps.debounceMs);
        this.debounce.unref();
      });
      this.watcher.on('error', (err) => this.onError(err));
    }
  }

  private onError(err: unknown): void {
    this.deps.log.warn({ reason: (err as Error).message }, 'provider configuration refresh failed; retrying');
  }

  async stop(): Promise<void> {
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    this.watcher?.close();
    await this.chain.catch(() => {});
    if (this.subscriber) await this.subscriber.quit().catch(() => {});
  }

  /** What GET /api/admin/config shows: both layers (no key ever), and what is in force. */
  snapshot() {
    const router = this.deps.router;
    return {
      version: this.current.version,
      readonly: this.deps.readonly,
      encryption: this.deps.box !== null,
      updatedAt: this.current.createdAt?.toISOString() ?? null,
      updatedBy: this.current.createdBy,
      file: {
        deployments: this.base.providers.deployments.map(({ apiKey, ...rest }) => ({
          ...rest,
          apiKeySet: apiKey !== undefined,
        })),
        aliases: this.base.providers.aliases,
      },
      admin: withoutSecrets(this.current.layer),
      effective: {
        deployments: router.deployments().map(({ apiKey, price, ...rest }) => ({
          ...rest,
          price: { inputPerMTok: price.input * 1e6, outputPerMTok: price.output * 1e6, source: price.source },
          apiKeySet: apiKey !== undefined,
        })),
        aliases: router.aliases().map((a) => ({
          name: a.name,
          strategy: a.strategy,
          deployments: a.deployments.map((d) => d.id),
          ...(a.description !== undefined ? { description: a.description } : {}),
        })),
      },
    };
  }
}

function hashOf(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}
