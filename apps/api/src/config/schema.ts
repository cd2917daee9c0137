import { type Static, type TSchema, Type } from 'typebox';

/**
 * The published configuration contract. Defaults < genz.yaml < environment. docs/configuration.md is generated
 * from this file (`npm run docs:config`); a bad value stops the boot naming the key.
 * Each leaf may carry `env`: the environment variable that sets it.
 */
const env = (name: string) => ({ env: name });

const Server = Type.Object(
  {
    host: Type.String({
      default: '127.0.0.1',
      description: 'Interface to bind. Containers use 0.0.0.0.',
      ...env('HOST'),
    }),
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
    overload: Type.Object(
      {
        maxLoopTurnMs: Type.Number({
          minimum: 0,
          default: 0,
          description:
            'Shed a new request (503) that arrives after the current event-loop turn has already run this long (ms), so turns stay short and queued requests are read (and answered, or refused) soon; e.g. 2–5 on a gateway (docs/operations.md weighs the two); 0 disables. Requests waiting on the database or a model do not lengthen turns; admitted requests and open streams are never cut.',
          ...env('OVERLOAD_MAX_LOOP_TURN_MS'),
        }),
        maxEventLoopDelayMs: Type.Integer({
          minimum: 0,
          default: 1000,
          description: 'Shed new requests (503) while the event-loop delay exceeds this; 0 disables.',
          ...env('OVERLOAD_MAX_EVENT_LOOP_DELAY_MS'),
        }),
        maxEventLoopUtilization: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 0,
          description:
            'Shed while the event loop was busy (not waiting for I/O) more than this share of each of the last two sample intervals, e.g. 0.9; 0 disables. Requests waiting on the database or an upstream model do not raise it.',
          ...env('OVERLOAD_MAX_EVENT_LOOP_UTILIZATION'),
        }),
        maxHeapUsedBytes: Type.Integer({
          minimum: 0,
          default: 0,
          description: 'Shed while the V8 heap in use exceeds this; 0 disables.',
          ...env('OVERLOAD_MAX_HEAP_USED_BYTES'),
        }),
        maxRssBytes: Type.Integer({
          minimum: 0,
          default: 0,
          description: 'Shed while the resident set exceeds this; 0 disables.',
        }),
        maxInFlight: Type.Integer({
          minimum: 0,
          default: 2000,
          description:
            'Shed when this many requests are waiting for their response headers (open streams do not count); 0 disables.',
          ...env('OVERLOAD_MAX_IN_FLIGHT'),
        }),
        sampleIntervalMs: Type.Integer({
          minimum: 5,
          default: 100,
          description: 'How often event-loop delay, event-loop utilisation and memory are sampled.',
        }),
        retryAfterSec: Type.Integer({ minimum: 1, default: 2, description: 'Retry-After of a shed 503.' }),
      },
      {
        default: {},
        additionalProperties: false,
        description:
          'Load shedding: fast 503 + Retry-After past these thresholds; /livez, /readyz and /metrics are exempt.',
      },
    ),
    shutdownDrainDelayMs: Type.Integer({
      minimum: 0,
      default: 5000,
      description:
        'After SIGTERM, /readyz answers 503 this long before the listener closes, so load balancers stop routing.',
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
      Type.String({
        description: 'Direct URL for migrations (not through PgBouncer).',
        ...env('DATABASE_MIGRATION_URL'),
      }),
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
      description:
        'pg pool size per process; the usage writer thread opens one more (pods × (poolSize + 1) ≤ PgBouncer/PostgreSQL capacity).',
      ...env('DATABASE_POOL_SIZE'),
    }),
    statementTimeoutMs: Type.Integer({
      minimum: 0,
      default: 15_000,
      description: 'Per-statement timeout; 0 disables.',
    }),
    auditRetentionMonths: Type.Integer({
      minimum: 1,
      default: 13,
      description: 'Monthly audit-log partitions older than this are dropped by the hourly maintenance job.',
      ...env('AUDIT_RETENTION_MONTHS'),
    }),
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
    url: Type.Optional(
      Type.String({ description: 'Redis URL. Unset: caches and limiters live in memory.', ...env('REDIS_URL') }),
    ),
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
    memoEntries: Type.Integer({
      minimum: 1,
      default: 10_000,
      description:
        'Distinct inputs each in-process memo keeps, oldest dropped first: the hashed ids of rate-limit keys and log ' +
        'lines, and the users and API keys the auth hook holds as objects. Size it to the active users and keys of ' +
        'a busy replica.',
    }),
  },
  { default: {}, additionalProperties: false },
);

const Metrics = Type.Object(
  {
    port: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description:
          'Serve /metrics on this separate port (no auth). Unset: /metrics on the API port behind metrics.token.',
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
      Type.String({
        description:
          'OTLP/HTTP base endpoint (`/v1/traces` is appended); traces are exported when set, and no tracing code loads when unset.',
        ...env('OTEL_EXPORTER_OTLP_ENDPOINT'),
      }),
    ),
    serviceName: Type.String({
      minLength: 1,
      default: 'genz-api',
      description: '`service.name` of the exported spans.',
      ...env('OTEL_SERVICE_NAME'),
    }),
    sampleRatio: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 1,
      description:
        'Share of new traces sampled (parent-based: a sampled upstream trace is always continued). Same variable as the OpenTelemetry SDKs read for the ratio samplers.',
      ...env('OTEL_TRACES_SAMPLER_ARG'),
    }),
    batchDelayMs: Type.Integer({
      minimum: 1,
      default: 5000,
      description: 'Longest a finished span waits before export (batches also flush when full and on shutdown).',
      ...env('OTEL_BSP_SCHEDULE_DELAY'),
    }),
  },
  { default: {}, additionalProperties: false },
);

const Sentry = Type.Object(
  {
    dsn: Type.Optional(
      Type.String({
        // The shape the Sentry SDK accepts; it would otherwise drop a bad DSN with one console line and report nothing.
        pattern: '^https?://\\w+(:\\w*)?@(\\[[:.%\\w]+\\]|[\\w.-]+)(:\\d+)?/.+$',
        description: 'Sentry (or GlitchTip) DSN; unexpected server errors (5xx) are reported when set, 4xx never.',
        ...env('SENTRY_DSN'),
      }),
    ),
    environment: Type.Optional(
      Type.String({ description: 'Sentry environment tag; defaults to `env`.', ...env('SENTRY_ENVIRONMENT') }),
    ),
    release: Type.Optional(Type.String({ description: 'Sentry release tag.', ...env('SENTRY_RELEASE') })),
  },
  { default: {}, additionalProperties: false },
);

const ms = (def: number, description: string, minimum = 0) => Type.Integer({ minimum, default: def, description });

const Capabilities = Type.Object(
  {
    tools: Type.Boolean({ default: true, description: 'Accepts tools / tool_choice.' }),
    vision: Type.Boolean({ default: false, description: 'Accepts image parts.' }),
    embeddings: Type.Boolean({ default: false, description: 'Serves /v1/embeddings (OpenAI-wire only).' }),
  },
  { default: {}, additionalProperties: false },
);

const Deployment = Type.Object(
  {
    id: Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,63}$', description: 'Stable id (a metrics label).' }),
    provider: Type.Enum(['openai', 'anthropic', 'gemini', 'openai-compatible', 'demo'], {
      description: 'Wire format: openai and openai-compatible are proxied; anthropic and gemini are translated.',
    }),
    model: Type.String({ minLength: 1, description: 'Model name sent upstream.' }),
    baseUrl: Type.Optional(Type.String({ description: 'Upstream base URL; defaults to the provider section.' })),
    apiKey: Type.Optional(Type.String({ description: 'Literal key (prefer apiKeyEnv).' })),
    apiKeyEnv: Type.Optional(
      Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$', description: 'Name of the environment variable holding the key.' }),
    ),
    weight: Type.Number({ minimum: 0, default: 1, description: 'Share of traffic under the weighted strategy.' }),
    inputPricePerMTok: Type.Optional(Type.Number({ minimum: 0, description: 'USD per million input tokens.' })),
    outputPricePerMTok: Type.Optional(Type.Number({ minimum: 0, description: 'USD per million output tokens.' })),
    contextWindow: Type.Integer({ minimum: 1, default: 128_000, description: 'Prompt + completion token limit.' }),
    capabilities: Capabilities,
  },
  { additionalProperties: false },
);

const VendorKey = (envKey: string, envUrl: string | undefined, models: string[], description: string) =>
  Type.Object(
    {
      apiKey: Type.Optional(Type.String({ description, ...env(envKey) })),
      baseUrl: Type.Optional(Type.String({ description: 'Base URL override.', ...(envUrl ? env(envUrl) : {}) })),
      models: Type.Array(Type.String(), {
        default: models,
        description:
          'Models that get a default deployment and alias when the key is set and no deployment names this provider.',
      }),
    },
    { default: {}, additionalProperties: false },
  );

const Alias = Type.Object(
  {
    deployments: Type.Array(Type.String(), { minItems: 1, description: 'Ordered deployment ids.' }),
    strategy: Type.Optional(
      Type.Enum(['fallback', 'weighted', 'least-latency', 'least-busy', 'lowest-cost'], {
        description: 'How to order the deployments; default fallback.',
      }),
    ),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const Routing = Type.Object(
  {
    connectTimeoutMs: ms(5000, 'TCP/TLS connect timeout per attempt.', 1),
    ttftTimeoutMs: ms(30_000, 'Time to the first content token before the attempt is abandoned (and failed over).', 1),
    idleTimeoutMs: ms(60_000, 'Longest silence between chunks once streaming.', 1),
    responseTimeoutMs: ms(120_000, 'Deadline of one non-stream attempt (the whole completion arrives at once).', 1),
    totalTimeoutMs: ms(600_000, 'Whole request deadline across attempts.', 1),
    maxAttempts: Type.Integer({
      minimum: 1,
      maximum: 10,
      default: 3,
      description: 'Attempts per request, failovers included.',
    }),
    retryBaseDelayMs: ms(100, 'Base of the jittered exponential backoff before retrying a deployment already tried.'),
    retryMaxDelayMs: ms(2000, 'Longest wait before a retry; a Retry-After beyond it skips the retry.'),
    retryBudgetRatio: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.2,
      description: 'Retries allowed as a share of requests (10 s window).',
    }),
    retryBudgetMinPerSecond: Type.Integer({
      minimum: 0,
      default: 5,
      description: 'Retries always allowed per second.',
    }),
    breakerFailureThreshold: Type.Integer({
      minimum: 1,
      default: 3,
      description: 'Consecutive failures that open a breaker.',
    }),
    breakerOpenMs: ms(5000, 'How long an open breaker stays open before half-open probes.', 100),
    breakerHalfOpenProbes: Type.Integer({
      minimum: 1,
      default: 1,
      description: 'Concurrent probes per replica while half-open.',
    }),
    rampUpMs: ms(10_000, 'After recovery, traffic share ramps from 10% to 100% over this long.'),
    stateSyncMs: ms(500, 'How often a replica reads the shared breaker state from Redis.', 50),
    probeIntervalMs: ms(
      2000,
      'Active probe period of the elected replica (probes only deployments whose breaker is open).',
      100,
    ),
    ewmaAlpha: Type.Number({
      minimum: 0.01,
      maximum: 1,
      default: 0.3,
      description: 'Weight of the newest latency sample.',
    }),
  },
  { default: {}, additionalProperties: false },
);

const Usage = Type.Object(
  {
    queueMax: Type.Integer({
      minimum: 1,
      default: 10_000,
      description: 'Usage events buffered before new ones are dropped.',
    }),
    batchSize: Type.Integer({
      minimum: 1,
      maximum: 4000,
      default: 500,
      description: 'Events per write (one multi-row INSERT; PostgreSQL allows 65535 parameters, 16 per event).',
    }),
    flushMs: ms(1000, 'Longest wait before a partial batch is written.', 10),
    retentionMonths: Type.Integer({
      minimum: 1,
      default: 13,
      description: 'Monthly usage_events partitions older than this are dropped by the hourly maintenance job.',
      ...env('USAGE_RETENTION_MONTHS'),
    }),
  },
  { default: {}, additionalProperties: false },
);

const Providers = Type.Object(
  {
    openai: VendorKey('OPENAI_API_KEY', 'OPENAI_BASE_URL', ['gpt-4o-mini', 'gpt-4o'], 'OpenAI API key.'),
    anthropic: VendorKey('ANTHROPIC_API_KEY', undefined, ['claude-sonnet-4-5'], 'Anthropic API key.'),
    gemini: VendorKey('GOOGLE_GENERATIVE_AI_API_KEY', undefined, ['gemini-2.5-flash'], 'Google Gemini API key.'),
    ollama: Type.Object(
      {
        baseUrl: Type.Optional(
          Type.String({ description: 'Ollama server, e.g. http://127.0.0.1:11434.', ...env('OLLAMA_BASE_URL') }),
        ),
        models: Type.Array(Type.String(), {
          default: ['llama3.2'],
          description: 'Models that get a default deployment.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    demo: Type.Enum(['auto', 'on', 'off'], {
      default: 'auto',
      description: 'The offline `demo` model: `auto` adds it only when no other deployment exists.',
      ...env('GENZ_DEMO_MODEL'),
    }),
    demoChunkDelayMs: ms(30, 'Delay between demo reply chunks.'),
    deployments: Type.Array(Deployment, { default: [], description: 'Upstream model deployments.' }),
    aliases: Type.Record(Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,127}$' }), Alias, {
      // A Record's key pattern only selects what its value schema checks: without this, a key that breaks the
      // pattern would pass unchecked (and reach the registry with any value). Never, not `false`: TypeBox's
      // Value.Default throws on a boolean schema here.
      additionalProperties: Type.Never(),
      default: {},
      description: 'Public model names mapped to ordered deployment ids and a routing strategy.',
    }),
    routing: Routing,
    usage: Usage,
    reload: Type.Object(
      {
        watchFile: Type.Boolean({
          default: true,
          description: 'Apply a changed genz.yaml (providers, aliases, plans) without a restart.',
        }),
        debounceMs: ms(250, 'Quiet time after a change to genz.yaml before it is read.', 10),
        pollMs: ms(
          1000,
          'How often a replica checks for admin configuration changes (the Redis version key; without Redis, the database).',
          100,
        ),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { default: {}, additionalProperties: false },
);

// ---------- Accounts (modules/auth, modules/rate-limit; docs/accounts.md) ----------

const seconds = (def: number, description: string, minimum = 1) => Type.Integer({ minimum, default: def, description });

const Auth = Type.Object(
  {
    secrets: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9._-]{1,32}:[^,:]{32,}(,[A-Za-z0-9._-]{1,32}:[^,:]{32,})*$',
        description:
          'JWT signing keys `kid:secret,kid2:secret` (each secret ≥ 32 characters). The first signs; all verify, so ' +
          'rotate by prepending a new key and later removing the old one (its tokens then fail). Unset in embedded ' +
          'mode: generated once into dataDir/auth-secrets. Required when DATABASE_URL is set (replicas must share it).',
        ...env('AUTH_SECRETS'),
      }),
    ),
    issuer: Type.String({ default: 'genz-ai', description: 'JWT `iss` of access tokens.' }),
    audience: Type.String({ default: 'genz-api', description: 'JWT `aud` of access tokens.' }),
    accessTokenTtlSec: seconds(
      600,
      'Access token (JWT) lifetime. Also how long a revoked session id is remembered.',
      30,
    ),
    refreshTokenTtlSec: seconds(30 * 86_400, 'Refresh token lifetime (a session idle longer must log in again).', 60),
    argon2MemoryKiB: Type.Integer({ minimum: 8192, default: 19_456, description: 'argon2id memory cost (KiB).' }),
    argon2TimeCost: Type.Integer({ minimum: 1, default: 2, description: 'argon2id iterations.' }),
    argon2Parallelism: Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'argon2id lanes.' }),
    verifyEmailTtlSec: seconds(86_400, 'Email verification link lifetime.', 60),
    passwordResetTtlSec: seconds(3600, 'Password reset link lifetime.', 60),
    inviteTtlSec: seconds(7 * 86_400, 'Invitation link lifetime.', 60),
    setupTokenTtlSec: seconds(86_400, 'First-admin setup link lifetime (a new one is logged at each start).', 60),
    revocationPollMs: Type.Integer({
      minimum: 100,
      default: 2000,
      description:
        'How often each replica reads recent session revocations from the database (the bound without Redis).',
    }),
    revocationFailMode: Type.Enum(['open', 'closed'], {
      default: 'open',
      description:
        "When Redis cannot answer the revocation check: `open` trusts the replica's own list (fed by the database " +
        'poll, so at most revocationPollMs late); `closed` refuses the request with 503.',
    }),
    userCacheTtlMs: Type.Integer({
      minimum: 0,
      default: 10_000,
      description:
        'Cache of the user row the auth hook reads (role, plan, status, and the profile GET /api/me answers); 0 ' +
        'reads the database each time.',
    }),
    verifiedTokenCacheSize: Type.Integer({
      minimum: 0,
      default: 10_000,
      description:
        'Access tokens whose signature and claims were verified, kept per process so a repeat skips the signature ' +
        'check (expiry and revocation are still checked on every request); 0 verifies every time.',
    }),
    apiKeyCacheTtlMs: Type.Integer({
      minimum: 0,
      default: 30_000,
      description: 'Cache of API key lookups; revoking evicts it.',
    }),
    touchFlushMs: Type.Integer({
      minimum: 100,
      default: 15_000,
      description: 'last_used_at of keys and last_active_at of users are batched and written this often.',
    }),
    maxApiKeysPerUser: Type.Integer({ minimum: 1, default: 50, description: 'Live API keys a user may hold.' }),
  },
  { default: {}, additionalProperties: false },
);

const Mail = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        description: 'SMTP URL (`smtp://user:pass@host:587`, `smtps://…`). Unset: mail goes to the dev outbox.',
        ...env('SMTP_URL'),
      }),
    ),
    from: Type.String({ default: 'GenZ AI <no-reply@localhost>', description: 'From address.', ...env('MAIL_FROM') }),
    outboxSize: Type.Integer({
      minimum: 0,
      default: 200,
      description: 'Messages the dev outbox keeps in memory (admins read them at GET /api/admin/outbox).',
    }),
  },
  { default: {}, additionalProperties: false },
);

const Signup = Type.Object(
  {
    mode: Type.Enum(['open', 'invite', 'domain', 'approval'], {
      default: 'open',
      description:
        'Who may join: anyone, invited addresses, addresses in allowedDomains (invitations still work), or anyone ' +
        "pending an admin's approval. Admins can switch it at run time (stored in the database).",
      ...env('SIGNUP_MODE'),
    }),
    allowedDomains: Type.Array(Type.String({ pattern: '^[a-z0-9.-]+\\.[a-z]{2,}$' }), {
      default: [],
      description: 'Email domains accepted in `domain` mode (lowercase).',
      ...env('SIGNUP_ALLOWED_DOMAINS'),
    }),
    defaultPlan: Type.String({ default: 'free', description: 'Plan given to new users; must be one of `plans`.' }),
  },
  { default: {}, additionalProperties: false },
);

const Plan = Type.Object(
  {
    description: Type.Optional(Type.String()),
    models: Type.Array(Type.String(), {
      default: ['*'],
      description: 'Model aliases the plan may call (`*` = all).',
    }),
  },
  { default: {}, additionalProperties: false },
);

const Plans = Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }), Plan, {
  additionalProperties: Type.Never(), // as providers.aliases
  default: { free: {}, pro: {} },
  description:
    'Plans by name. Users carry one; limits and model access key on it. A reference to an unknown plan stops the boot.',
});

/** A GCRA policy: `rate` per `periodMs` sustained, up to `burst` back to back (ADR 020). */
const RatePolicy = (rate: number, periodMs: number, burst: number, description: string) =>
  Type.Object(
    {
      rate: Type.Integer({ minimum: 1, default: rate, description: 'Requests per period, sustained.' }),
      periodMs: Type.Integer({ minimum: 1, default: periodMs, description: 'The period.' }),
      burst: Type.Integer({ minimum: 1, default: burst, description: 'Requests admitted back to back.' }),
    },
    { default: {}, additionalProperties: false, description },
  );

const FailMode = (description: string) => Type.Enum(['local', 'open', 'closed'], { default: 'local', description });

/** A token rate: `rate` tokens per `periodMs` sustained, `burst` at once (a reservation above burst never fits). */
const TokenRate = Type.Object(
  {
    rate: Type.Integer({ minimum: 1, description: 'Tokens per period, sustained.' }),
    periodMs: Type.Integer({ minimum: 1, default: 60_000, description: 'The period.' }),
    burst: Type.Integer({ minimum: 1, description: 'Tokens admitted at once (≥ the largest reservation).' }),
  },
  { additionalProperties: false },
);
const RequestRate = Type.Object(
  {
    rate: Type.Integer({ minimum: 1, description: 'Requests per period, sustained.' }),
    periodMs: Type.Integer({ minimum: 1, default: 60_000, description: 'The period.' }),
    burst: Type.Integer({ minimum: 1, description: 'Requests admitted back to back.' }),
  },
  { additionalProperties: false },
);

const LIMIT_DOCS = {
  requests: 'Requests per user (all routes and keys together).',
  apiKeyRequests: 'Requests per API key.',
  tokens: 'Tokens per minute per user (reserved before the call).',
  apiKeyTokens: 'Tokens per minute per API key.',
  tokensPerDay: 'Tokens per UTC day per user.',
  tokensPerMonth: 'Tokens per UTC calendar month per user.',
  apiKeyTokensPerDay: 'Tokens per UTC day per API key.',
  apiKeyTokensPerMonth: 'Tokens per UTC calendar month per API key.',
  costPerMonthUsd: 'Cost budget per UTC calendar month per user (USD, at the price table).',
  concurrentGenerations: 'Replies generating at once per user.',
} as const;
const Count = () => Type.Integer({ minimum: 1 });
const Usd = () => Type.Number({ exclusiveMinimum: 0 });
const orNull = <T extends TSchema>(t: T, key: keyof typeof LIMIT_DOCS, def?: unknown) =>
  Type.Union([t, Type.Null()], { description: LIMIT_DOCS[key], ...(def === undefined ? {} : { default: def }) });

/** One plan's limits with a default for every key (null: no limit). */
function PlanLimits(description: string, d: Partial<Record<keyof typeof LIMIT_DOCS, unknown>> = {}) {
  return Type.Object(
    {
      requests: orNull(RequestRate, 'requests', d.requests),
      apiKeyRequests: orNull(RequestRate, 'apiKeyRequests', d.apiKeyRequests),
      tokens: orNull(TokenRate, 'tokens', d.tokens),
      apiKeyTokens: orNull(TokenRate, 'apiKeyTokens', d.apiKeyTokens),
      tokensPerDay: orNull(Count(), 'tokensPerDay', d.tokensPerDay),
      tokensPerMonth: orNull(Count(), 'tokensPerMonth', d.tokensPerMonth),
      apiKeyTokensPerDay: orNull(Count(), 'apiKeyTokensPerDay', d.apiKeyTokensPerDay),
      apiKeyTokensPerMonth: orNull(Count(), 'apiKeyTokensPerMonth', d.apiKeyTokensPerMonth),
      costPerMonthUsd: orNull(Usd(), 'costPerMonthUsd', d.costPerMonthUsd),
      concurrentGenerations: orNull(Count(), 'concurrentGenerations', d.concurrentGenerations),
    },
    { default: {}, additionalProperties: false, description },
  );
}

/** Some of a plan's limits (a plan over `defaults`, or an admin's per-user override): keys given replace. */
function PartialPlanLimits(description: string) {
  return Type.Object(
    {
      requests: Type.Optional(orNull(RequestRate, 'requests')),
      apiKeyRequests: Type.Optional(orNull(RequestRate, 'apiKeyRequests')),
      tokens: Type.Optional(orNull(TokenRate, 'tokens')),
      apiKeyTokens: Type.Optional(orNull(TokenRate, 'apiKeyTokens')),
      tokensPerDay: Type.Optional(orNull(Count(), 'tokensPerDay')),
      tokensPerMonth: Type.Optional(orNull(Count(), 'tokensPerMonth')),
      apiKeyTokensPerDay: Type.Optional(orNull(Count(), 'apiKeyTokensPerDay')),
      apiKeyTokensPerMonth: Type.Optional(orNull(Count(), 'apiKeyTokensPerMonth')),
      costPerMonthUsd: Type.Optional(orNull(Usd(), 'costPerMonthUsd')),
      concurrentGenerations: Type.Optional(orNull(Count(), 'concurrentGenerations')),
    },
    { default: {}, additionalProperties: false, description },
  );
}

const AuthLimits = Type.Object(
  {
    loginPerIp: RatePolicy(30, 60_000, 10, 'Log-in attempts per client IP.'),
    loginPerAccount: RatePolicy(10, 15 * 60_000, 5, 'Log-in attempts per email address (known or not).'),
    signupPerIp: RatePolicy(10, 3_600_000, 5, 'Sign-ups per client IP.'),
    passwordResetPerIp: RatePolicy(10, 3_600_000, 5, 'Password reset requests per client IP.'),
    passwordResetPerAccount: RatePolicy(3, 3_600_000, 2, 'Password reset requests per email address.'),
    verifyPerIp: RatePolicy(30, 3_600_000, 10, 'Token submissions (verify, reset confirm, setup) per client IP.'),
    refreshPerIp: RatePolicy(120, 60_000, 30, 'Token refreshes per client IP.'),
  },
  { default: {}, additionalProperties: false },
);

const Limits = Type.Object(
  {
    auth: AuthLimits,
    memoryMaxKeys: Type.Integer({
      minimum: 1000,
      default: 100_000,
      description: 'Counters the in-memory limiter keeps (used without Redis or while it is unreachable).',
    }),
    redisBreakerMs: Type.Integer({
      minimum: 0,
      default: 2000,
      description: 'After a Redis failure the limiter counts in memory for this long before trying Redis again.',
    }),
    // ---- Plans, quotas, reservations and fallback (issue 6; docs/limits.md, ADR 060) ----
    replicas: Type.Integer({
      minimum: 1,
      default: 1,
      description:
        'API replicas sharing one Redis. While Redis is unreachable each replica enforces limit ÷ replicas locally, ' +
        'so the sum stays near the global limit. Set it to the Deployment replica count (or HPA minimum).',
      ...env('LIMITS_REPLICAS'),
    }),
    fallback: Type.Object(
      {
        requests: FailMode('Request rates (per IP, user, API key) and auth throttles.'),
        tokens: FailMode('Token rates (tokens per minute).'),
        quotas: FailMode('Tokens per day and month, and the monthly cost budget.'),
        concurrency: FailMode('Simultaneous generations per user.'),
      },
      {
        default: {},
        additionalProperties: false,
        description:
          'What each kind of limit does while Redis is unreachable: `local` enforces the local share (limit ÷ ' +
          'replicas) in memory, `open` admits without counting, `closed` refuses with 503.',
      },
    ),
    ipRequests: Type.Union([RatePolicy(1200, 60_000, 400, 'Requests per client IP.'), Type.Null()], {
      default: {},
      description: 'Requests per client IP on every /api and /v1 route (health and metrics exempt); null: none.',
    }),
    maxTokensCeiling: Type.Integer({
      minimum: 1,
      default: 1_000_000,
      description:
        'A max_tokens (or max_completion_tokens, max_output_tokens) above this, or above the model context window, ' +
        'gets 400 naming the parameter.',
    }),
    reservationMaxCompletionTokens: Type.Integer({
      minimum: 1,
      default: 32_768,
      description:
        'The completion part of a token reservation is min(max_tokens, this); the real usage is reconciled afterwards.',
    }),
    defaultCompletionTokens: Type.Integer({
      minimum: 1,
      default: 1024,
      description: 'Completion tokens reserved when a request sets no max_tokens.',
    }),
    overrideCacheTtlMs: Type.Integer({
      minimum: 0,
      default: 10_000,
      description:
        "How long a replica caches a user's admin-set limit overrides (the replica that saved them sees them at once).",
    }),
    defaults: PlanLimits(
      'Limits of every plan not listed in `limits.plans`, and the base each listed plan overrides.',
      {
        requests: { rate: 300, periodMs: 60_000, burst: 100 },
        apiKeyRequests: { rate: 300, periodMs: 60_000, burst: 100 },
        tokens: { rate: 40_000, periodMs: 60_000, burst: 40_000 },
        apiKeyTokens: null,
        tokensPerDay: 500_000,
        tokensPerMonth: 5_000_000,
        apiKeyTokensPerDay: null,
        apiKeyTokensPerMonth: null,
        costPerMonthUsd: 10,
        concurrentGenerations: 3,
      },
    ),
    plans: Type.Record(
      Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }),
      PartialPlanLimits('Overrides of `defaults`.'),
      {
        additionalProperties: Type.Never(), // as providers.aliases
        default: {},
        description:
          'Per-plan limits over `defaults` (only the keys given change; null removes a limit). A name that is not in ' +
          '`plans` stops the boot.',
      },
    ),
  },
  { default: {}, additionalProperties: false },
);

// ---------- Chats (modules/chats; docs/chats.md) ----------

const int = (def: number, minimum: number, description: string) => Type.Integer({ minimum, default: def, description });

const Chats = Type.Object(
  {
    maxMessageChars: int(100_000, 1, 'Longest message text a user may send (characters); longer gets 413.'),
    maxTitleChars: int(200, 1, 'Longest conversation title.'),
    maxSystemPromptChars: int(20_000, 0, 'Longest system prompt in conversation settings or a preset.'),
    defaultModel: Type.Optional(
      Type.String({ description: 'Model alias for conversations that name none; unset: the first configured alias.' }),
    ),
    titleModel: Type.Optional(
      Type.String({
        description:
          'Model alias that writes conversation titles from the first exchange. Unset: the title is the start of ' +
          'the first message (no extra model call).',
      }),
    ),
    streamBufferTtlSec: int(
      600,
      10,
      'A generation keeps its events (Redis stream or memory) this long after its last event, for resumes.',
    ),
    streamMaxEvents: int(50_000, 100, 'Events buffered per generation; a reply that would exceed it ends as error.'),
    streamCoalesceMs: int(
      25,
      0,
      'Consecutive text deltas of a reply are merged into one event for up to this long (0: one event per delta).',
    ),
    streamCoalesceMaxChars: int(1024, 1, 'A merged delta event is written as soon as it holds this many characters.'),
    memoryBufferMaxGenerations: int(
      10_000,
      10,
      'Generations whose events the in-memory buffer (no Redis) keeps; the oldest finished ones go first.',
    ),
    heartbeatMs: int(
      2000,
      100,
      'How often a running generation proves it is alive and checkpoints its text to the database.',
    ),
    staleAfterMs: int(
      10_000,
      500,
      'A generation whose heartbeat is older than this is marked interrupted by the reaper, keeping its text.',
    ),
    reaperIntervalMs: int(5000, 100, 'How often each replica looks for generations whose worker died.'),
    followerCheckMs: int(
      5000,
      100,
      'A resumed stream with no new event for this long re-reads the buffer and the generation row (lost notifications, dead workers).',
    ),
    sseHeartbeatMs: int(15_000, 1000, 'SSE comment sent on an idle stream so proxies keep it open.'),
    maxSseConnections: int(
      10_000,
      1,
      'Open SSE streams one process accepts (chat streams and resumes); past it new streams get 503. Keep it under the open-file limit.',
    ),
    idempotencyKeyTtlSec: int(86_400, 60, 'How long an Idempotency-Key of a message send is remembered.'),
    idempotencyInFlightTimeoutMs: int(
      30_000,
      1000,
      'A send whose key is still being set up after this long is presumed dead and may be retried.',
    ),
    conversationsPageDefault: int(20, 1, 'Conversations per page when the client gives no limit.'),
    conversationsPageMax: int(100, 1, 'Most conversations per page.'),
    conversationsCacheTtlMs: int(
      60_000,
      0,
      "How long the first pages of a user's chats (the conversation list, a conversation's messages) stay cached (any write to the user's chats evicts them at once); 0: not cached.",
    ),
    messagesPageDefault: int(50, 1, 'Messages per page of a branch when the client gives no limit.'),
    messagesPageMax: int(200, 1, 'Most messages per page of a branch.'),
    maxHistoryMessages: int(
      1000,
      1,
      'Most earlier messages of the branch sent to the model with a new message (the context window still applies).',
    ),
    searchMaxResults: int(50, 1, 'Most search hits per page.'),
    maxPresetsPerUser: int(100, 1, 'Saved presets a user may hold.'),
    maxSharesPerConversation: int(20, 1, 'Live share links per conversation.'),
    shareMaxMessages: int(2000, 1, 'Most messages a share snapshot holds (the active branch, newest kept).'),
    importMaxBytes: int(50 * 1024 * 1024, 1024, 'Largest ChatGPT conversations.json import; larger gets 413.'),
    importMaxConversations: int(5000, 1, 'Most conversations one import may create.'),
    exportMaxConversations: int(10_000, 1, 'Most conversations one full export holds.'),
    deletedRetentionDays: int(30, 0, 'Deleted conversations are purged (with their messages) after this many days.'),
    purgeIntervalMs: int(3_600_000, 1000, 'How often the retention job runs on each replica.'),
  },
  { default: {}, additionalProperties: false },
);

// ---------- Second factor and external identity (modules/auth mfa*, external*; docs/accounts.md) ----------

const Mfa = Type.Object(
  {
    requireForAdmins: Type.Boolean({
      default: false,
      description:
        'Admins must use a second factor: an admin without one is made to enroll (TOTP) at log-in before any session.',
      ...env('MFA_REQUIRE_FOR_ADMINS'),
    }),
    requiredRoles: Type.Array(Type.Enum(['user', 'admin']), {
      default: [],
      description: 'Roles that must use a second factor (like requireForAdmins, per role).',
      ...env('MFA_REQUIRED_ROLES'),
    }),
    issuer: Type.String({ default: 'GenZ AI', description: 'Issuer name authenticator apps show next to the code.' }),
    challengeTtlSec: seconds(300, 'How long the log-in challenge (password accepted, code pending) lasts.', 30),
    recoveryCodes: Type.Integer({ minimum: 5, maximum: 20, default: 10, description: 'Recovery codes per set.' }),
    codeAttempts: RatePolicy(5, 5 * 60_000, 5, 'Second-factor code attempts per user (log-in, disable, regenerate).'),
  },
  { default: {}, additionalProperties: false },
);

const Supabase = Type.Object(
  {
    jwksUrl: Type.Optional(
      Type.String({
        description:
          'JWKS of a Supabase project (`https://<ref>.supabase.co/auth/v1/.well-known/jwks.json`): its access ' +
          'tokens are accepted as bearer tokens. Set this or jwtSecret; neither = off.',
        ...env('SUPABASE_JWKS_URL'),
      }),
    ),
    jwtSecret: Type.Optional(
      Type.String({
        minLength: 32,
        description: 'Legacy HS256 JWT secret of a Supabase project (instead of, or besides, jwksUrl).',
        ...env('SUPABASE_JWT_SECRET'),
      }),
    ),
    issuer: Type.Optional(
      Type.String({
        description: 'Required `iss` (`https://<ref>.supabase.co/auth/v1`). Strongly advised with a JWKS URL.',
        ...env('SUPABASE_JWT_ISSUER'),
      }),
    ),
    audience: Type.String({
      default: 'authenticated',
      description: 'Required `aud`.',
      ...env('SUPABASE_JWT_AUDIENCE'),
    }),
    createUsers: Type.Boolean({
      default: true,
      description:
        'Make a local user on first sight of a new `sub` (subject to the sign-up mode); false: only linked users.',
    }),
  },
  { default: {}, additionalProperties: false },
);

const Oidc = Type.Object(
  {
    issuerUrl: Type.Optional(
      Type.String({
        description:
          'OpenID Connect issuer (its /.well-known/openid-configuration is read). With clientId, enables ' +
          '"Sign in with…" at GET /api/auth/oidc/start (authorization code + PKCE); redirect URI ' +
          '`PUBLIC_URL/api/auth/oidc/callback`.',
        ...env('OIDC_ISSUER_URL'),
      }),
    ),
    clientId: Type.Optional(Type.String({ description: 'OIDC client id.', ...env('OIDC_CLIENT_ID') })),
    clientSecret: Type.Optional(
      Type.String({
        description: 'OIDC client secret (unset: a public client, PKCE only).',
        ...env('OIDC_CLIENT_SECRET'),
      }),
    ),
    name: Type.String({
      pattern: '^[a-z0-9-]{1,32}$',
      default: 'oidc',
      description: 'Short name; identities are stored as provider `oidc:<name>`.',
    }),
    scopes: Type.String({ default: 'openid email profile', description: 'Scopes requested.', ...env('OIDC_SCOPES') }),
    groupsClaim: Type.String({ default: 'groups', description: 'Claim (ID token or userinfo) listing the groups.' }),
    groupMappings: Type.Array(
      Type.Object(
        {
          group: Type.String({ minLength: 1 }),
          role: Type.Optional(Type.Enum(['user', 'admin'])),
          plan: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      {
        default: [],
        description:
          'IdP groups to roles and plans, applied at each OIDC log-in: `admin` if any matching entry says so, else ' +
          '`user` when any entry gives a role; the plan of the first matching entry with one. No match: unchanged.',
      },
    ),
    allowInsecureHttp: Type.Boolean({
      default: false,
      description: 'Allow an http:// issuer (local development and tests only).',
    }),
    stateTtlSec: seconds(600, 'How long a started OIDC log-in may take (state cookie lifetime).', 60),
    logoutAtProvider: Type.Boolean({
      default: true,
      description:
        'Log-out of an OIDC-started session also ends it at the provider (RP-initiated logout): the browser is sent ' +
        "to the provider's end_session_endpoint with id_token_hint. Off, or no such endpoint: local log-out only.",
    }),
    postLogoutRedirectUri: Type.Optional(
      Type.String({
        description:
          'Where the provider sends the browser after its log-out (post_logout_redirect_uri; register it at the ' +
          'provider), e.g. `PUBLIC_URL/login`. Unset: the provider decides.',
        ...env('OIDC_POST_LOGOUT_REDIRECT_URI'),
      }),
    ),
  },
  { default: {}, additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    env: Type.Enum(['development', 'production', 'test'], { default: 'development', ...env('NODE_ENV') }),
    dataDir: Type.String({
      default: './data',
      description: 'Embedded data (PGlite, generated secrets).',
      ...env('DATA_DIR'),
    }),
    configFile: Type.Optional(Type.String({ description: 'Path to genz.yaml.', ...env('GENZ_CONFIG') })),
    encryptionKey: Type.Optional(
      Type.String({
        minLength: 32,
        description:
          'Secret (≥ 32 characters, e.g. `openssl rand -base64 32`) that encrypts provider keys stored by admins ' +
          '(AES-256-GCM). The same on every replica; without it admins cannot store keys.',
        ...env('ENCRYPTION_KEY'),
      }),
    ),
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
    sentry: Sentry,
    providers: Providers,
    auth: Auth,
    mail: Mail,
    signup: Signup,
    plans: Plans,
    limits: Limits,
    chats: Chats,
    mfa: Mfa,
    supabase: Supabase,
    oidc: Oidc,
  },
  { additionalProperties: false },
);

export type AppConfig = Static<typeof ConfigSchema>;

/** An admin's per-user override of plan limits (PUT /api/admin/users/:id/limits): keys given replace the plan's. */
export const LimitOverridesSchema = PartialPlanLimits(
  'Per-user overrides; a key given replaces the plan value, null removes it.',
);
export const PlanLimitsSchema = PlanLimits('Effective limits of a user (null: no limit).');
