import { type Static, Type } from 'typebox';

/**
 * The published configuration contract. Defaults < genz.yaml < environment. docs/configuration.md is generated
 * from this file (`npm run docs:config`); a bad value stops the boot naming the key.
 * Each leaf may carry `env`: the environment variable that sets it.
 */
const env = (name: string) => ({ env: name });

const Server = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', description: 'Interface to bind. Containers use 0.0.0.0.', ...env('HOST') }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'API port.', ...env('PORT') }),
    publicUrl: Type.String({
      default: 'http://localhost:3000',
      description: 'Public origin users reach (links in mail, cookies, OIDC redirects).',
      ...env('PUBLIC_URL'),
    }),
    trustProxy: Type.String({
      default: 'loopback',
      description:
        'Which peers may set X-Forwarded-For: `false` (none), `true` (any: only behind a proxy you control), a hop count, ' +
        'or a comma list of addresses/CIDRs/`loopback`/`linklocal`/`uniquelocal`. Client IPs for limits and audit come from here.',
      ...env('TRUST_PROXY'),
    }),
    bodyLimitBytes: Type.Integer({
      minimum: 1024,
      default: 1_048_576,
      description: 'Largest JSON request body; larger gets 413.',
      ...env('BODY_LIMIT_BYTES'),
    }),
    maxHeaderBytes: Type.Integer({ minimum: 1024, default: 16_384, description: 'Largest request header block.' }),
    keepAliveTimeoutMs: Type.Integer({
      minimum: 1000,
      default: 72_000,
      description: 'Idle keep-alive; longer than typical LB idle timeouts (60 s) so the proxy closes first.',
    }),
    headersTimeoutMs: Type.Integer({ minimum: 1000, default: 75_000, description: 'Must exceed keepAliveTimeoutMs.' }),
    requestTimeoutMs: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Whole-request timeout for uploads; 0 disables (streams are long-lived; idle is bounded elsewhere).',
    }),
    connectionTimeoutMs: Type.Integer({ minimum: 0, default: 0, description: 'Socket idle timeout; 0 disables.' }),
    shutdownDrainDelayMs: Type.Integer({
      minimum: 0,
      default: 5000,
      description: 'After SIGTERM, /readyz answers 503 this long before the listener closes, so load balancers stop routing.',
      ...env('SHUTDOWN_DRAIN_DELAY_MS'),
    }),
    shutdownGraceMs: Type.Integer({
      minimum: 0,
      default: 25_000,
      description: 'Then in-flight requests and streams get this long to finish before the process exits.',
      ...env('SHUTDOWN_GRACE_MS'),
    }),
  },
  { default: {}, additionalProperties: false },
);

const Database = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        description: 'PostgreSQL URL. Unset: embedded PGlite in dataDir.',
        ...env('DATABASE_URL'),
      }),
    ),
    migrationUrl: Type.Optional(
      Type.String({ description: 'Direct URL for migrations (not through PgBouncer).', ...env('DATABASE_MIGRATION_URL') }),
    ),
    replicaUrls: Type.Array(Type.String(), {
      default: [],
      description: 'Comma-separated read replica URLs for reads that may be stale.',
      ...env('DATABASE_REPLICA_URLS'),
    }),
    poolSize: Type.Integer({
      minimum: 1,
      maximum: 500,
      default: 20,
      description: 'pg pool size per process (pods × poolSize ≤ PgBouncer/PostgreSQL capacity).',
      ...env('DATABASE_POOL_SIZE'),
    }),
    statementTimeoutMs: Type.Integer({ minimum: 0, default: 15_000, description: 'Per-statement timeout; 0 disables.' }),
    connectRetryMaxDelayMs: Type.Integer({
      minimum: 100,
      default: 10_000,
      description: 'Ceiling of the backoff between connection attempts while the database is down at start.',
    }),
  },
  { default: {}, additionalProperties: false },
);

const Redis = Type.Object(
  {
    url: Type.Optional(Type.String({ description: 'Redis URL. Unset: caches and limiters live in memory.', ...env('REDIS_URL') })),
    clusterNodes: Type.Array(Type.String(), {
      default: [],
      description: 'Comma-separated host:port seeds of a Redis Cluster (instead of url).',
      ...env('REDIS_CLUSTER_NODES'),
    }),
    keyPrefix: Type.String({
      default: 'genz:',
      description: 'Prefix on every key; use a hash tag (`{genz}:`) only if you need multi-key ops on a cluster.',
      ...env('REDIS_KEY_PREFIX'),
    }),
    commandTimeoutMs: Type.Integer({
      minimum: 10,
      default: 250,
      description: 'Budget for one hot-path Redis command; past it the caller falls back instead of waiting.',
    }),
  },
  { default: {}, additionalProperties: false },
);

const Cache = Type.Object(
  {
    l1MaxBytes: Type.Integer({ minimum: 0, default: 64 * 1024 * 1024, description: 'In-process cache size bound.' }),
    defaultTtlMs: Type.Integer({ minimum: 0, default: 60_000, description: 'Default entry TTL (the seed: DB 1 min).' }),
  },
  { default: {}, additionalProperties: false },
);

const Metrics = Type.Object(
  {
    port: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description: 'Serve /metrics on this separate port (no auth). Unset: /metrics on the API port behind metrics.token.',
        ...env('METRICS_PORT'),
      }),
    ),
    token: Type.Optional(
      Type.String({
        minLength: 16,
        description: 'Bearer token for /metrics on the API port. Neither port nor token: /metrics is disabled.',
        ...env('METRICS_TOKEN'),
      }),
    ),
  },
  { default: {}, additionalProperties: false },
);

const Log = Type.Object(
  {
    level: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      default: 'info',
      ...env('LOG_LEVEL'),
    }),
  },
  { default: {}, additionalProperties: false },
);

const Tracing = Type.Object(
  {
    otlpEndpoint: Type.Optional(
      Type.String({ description: 'OTLP/HTTP endpoint; traces are exported when set.', ...env('OTEL_EXPORTER_OTLP_ENDPOINT') }),
    ),
  },
  { default: {}, additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    env: Type.Enum(['development', 'production', 'test'], { default: 'development', ...env('NODE_ENV') }),
    dataDir: Type.String({ default: './data', description: 'Embedded data (PGlite, generated secrets).', ...env('DATA_DIR') }),
    configFile: Type.Optional(Type.String({ description: 'Path to genz.yaml.', ...env('GENZ_CONFIG') })),
    configReadonly: Type.Boolean({
      default: false,
      description: 'Refuse admin edits of configuration (e.g. when Kubernetes manages genz.yaml).',
      ...env('GENZ_CONFIG_READONLY'),
    }),
    server: Server,
    database: Database,
    redis: Redis,
    cache: Cache,
    metrics: Metrics,
    log: Log,
    tracing: Tracing,
  },
  { additionalProperties: false },
);

export type AppConfig = Static<typeof ConfigSchema>;
