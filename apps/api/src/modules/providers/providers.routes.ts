import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { allUsageBreakdown, deploymentLatency } from '@genz/db';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { DomainError } from '../../http/errors.ts';
import type { AdminLayerInput } from './config-layers.ts';
import type { ProviderConfigManager } from './config-manager.ts';

const read = { auth: { scope: 'read' as const } };
const admin = { auth: { scope: 'admin' as const, role: 'admin' as const } };

const ModelInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  provider: Type.String({ description: 'Vendor of the first deployment (`mixed` when the alias spans vendors).' }),
  description: Type.Optional(Type.String()),
  health: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('down')]),
  allowed: Type.Boolean({ description: "Whether the caller's plan may use this model (plans.<plan>.models)." }),
  capabilities: Type.Object({ tools: Type.Boolean(), vision: Type.Boolean(), embeddings: Type.Boolean() }),
  contextWindow: Type.Integer(),
});

const Loose = Type.Object({}, { additionalProperties: true });
const ConfigBody = Type.Object(
  {
    deployments: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,63}$' }), Type.Union([Loose, Type.Null()]), {
        additionalProperties: false,
      }),
    ),
    aliases: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,127}$' }), Type.Union([Loose, Type.Null()]), {
        additionalProperties: false,
      }),
    ),
    comment: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

/** `If-Match: "3"` (also bare or weak): the version the edit was made against. */
function expectedVersion(request: FastifyRequest): number {
  const header = request.headers['if-match'];
  const match = typeof header === 'string' ? /^(?:W\/)?"?(\d{1,9})"?$/.exec(header.trim()) : null;
  if (!match?.[1]) {
    throw new DomainError(
      'bad_request',
      'Send If-Match with the version you edited (the ETag of GET /api/admin/config), so concurrent edits cannot overwrite each other.',
      { param: 'if-match' },
    );
  }
  return Number(match[1]);
}

const DAY_MS = 86_400_000;
const Num = Type.Number();
const NullableNum = Type.Union([Type.Number(), Type.Null()]);
const ProviderStatus = Type.Object({
  id: Type.String(),
  provider: Type.String(),
  model: Type.String(),
  aliases: Type.Array(Type.String()),
  circuit: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half_open')]),
  live: Type.Object(
    { inFlight: Num, ttftMs: NullableNum, tokensPerSecond: NullableNum, healthScore: Num },
    { description: "This replica's view: requests in flight and EWMAs of its own traffic." },
  ),
  lastHour: Type.Object(
    { requests: Num, errors: Num, latencyMs: NullableNum, p95LatencyMs: NullableNum, ttftMs: NullableNum },
    { description: 'Every replica, from usage_events.' },
  ),
});
const UsageQuery = Type.Object(
  { days: Type.Optional(Type.Integer({ minimum: 1, maximum: 366, default: 30 })) },
  { additionalProperties: false },
);
const UsageBucket = Type.Object({
  key: Type.String({ description: '`YYYY-MM-DD` (UTC) in `byDay`, the model alias in `byModel`.' }),
  requests: Num,
  inputTokens: Num,
  outputTokens: Num,
  reasoningTokens: Num,
  costUsd: Num,
});

/**
 * GET /api/models for the web app; for admins the configuration document (GET/PUT /api/admin/config), provider
 * status (GET /api/admin/providers) and usage over time (GET /api/admin/usage).
 */
export default async function providersRoutes(app: FastifyInstance, opts: { manager: ProviderConfigManager }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { manager } = opts;

  r.get(
    '/api/models',
    {
      config: read,
      schema: {
        tags: ['models'],
        description: 'Model aliases with their health and whether your plan includes them.',
        response: { 200: Type.Object({ items: Type.Array(ModelInfo), nextCursor: Type.Null() }) },
      },
    },
    async (request) => {
      const plan = request.actor?.plan ?? '';
      const items = app.providers
        .aliases()
        .filter((a) => a.deployments.length > 0)
        .map((a) => {
          const vendors = new Set(a.deployments.map((d) => d.provider));
          return {
            id: a.name,
            name: a.name,
            provider: vendors.size === 1 ? (a.deployments[0]?.provider ?? 'mixed') : 'mixed',
            ...(a.description !== undefined ? { description: a.description } : {}),
            health: app.providers.health(a),
            allowed: app.providers.allowed(plan, a.name),
            capabilities: {
              tools: a.deployments.some((d) => d.capabilities.tools),
              vision: a.deployments.some((d) => d.capabilities.vision),
              embeddings: a.deployments.some((d) => d.capabilities.embeddings),
            },
            contextWindow: Math.max(...a.deployments.map((d) => d.contextWindow)),
          };
        });
      return { items, nextCursor: null };
    },
  );

  r.get(
    '/api/admin/config',
    {
      config: admin,
      schema: {
        tags: ['admin'],
        description:
          'Provider configuration: the genz.yaml layer, the admin layer (versioned, in the database) and what is in ' +
          'force. Keys are never returned. The ETag is the version to send in If-Match.',
      },
    },
    async (_request, reply) => {
      const snapshot = manager.snapshot();
      return reply.header('etag', `"${snapshot.version}"`).header('cache-control', 'no-store').send(snapshot);
    },
  );

  r.put(
    '/api/admin/config',
    {
      config: admin,
      schema: {
        tags: ['admin'],
        description:
          'Replaces entries of the admin layer: `deployments.<id>` and `aliases.<name>` override or add to genz.yaml, ' +
          'null removes one. A deployment `apiKey` is stored encrypted (needs ENCRYPTION_KEY); omit it to keep the ' +
          'stored one. Requires If-Match; refused with `config_readonly` when GENZ_CONFIG_READONLY is set.',
        body: ConfigBody,
      },
    },
    async (request, reply) => {
      const actor = request.actor;
      if (!actor) throw new DomainError('unauthenticated');
      manager.assertWritable();
      const expected = expectedVersion(request);
      await manager.update(actor, expected, request.body as AdminLayerInput, {
        ip: request.ip,
        userAgent: request.headers['user-agent'],
      });
      const snapshot = manager.snapshot();
      return reply.header('etag', `"${snapshot.version}"`).header('cache-control', 'no-store').send(snapshot);
    },
  );

  r.get(
    '/api/admin/providers',
    {
      config: admin,
      schema: {
        tags: ['admin'],
        description:
          'Every deployment with its circuit state (shared by the replicas), the live latency and health of this ' +
          "replica's traffic, and the last hour of every replica's calls.",
        response: { 200: Type.Object({ items: Type.Array(ProviderStatus), nextCursor: Type.Null() }) },
      },
    },
    async (_request, reply) => {
      const lastHour = await deploymentLatency(app.db.db, new Date(Date.now() - 3_600_000));
      const aliases = app.providers.aliases();
      const items = app.providers.deployments().map((d) => {
        const live = app.providers.deploymentStats(d.id);
        const hour = lastHour.get(d.id);
        return {
          id: d.id,
          provider: d.provider,
          model: d.model,
          aliases: aliases.filter((a) => a.deployments.some((x) => x.id === d.id)).map((a) => a.name),
          circuit: app.providers.circuitState(d.id),
          live: {
            inFlight: live.inFlight,
            ttftMs: live.ttftMs === undefined ? null : Math.round(live.ttftMs),
            tokensPerSecond: live.tokensPerSecond === undefined ? null : Math.round(live.tokensPerSecond * 10) / 10,
            healthScore: Math.round(live.health * 1000) / 1000,
          },
          lastHour: hour ?? { requests: 0, errors: 0, latencyMs: null, p95LatencyMs: null, ttftMs: null },
        };
      });
      reply.header('cache-control', 'no-store');
      return { items, nextCursor: null };
    },
  );

  r.get(
    '/api/admin/usage',
    {
      config: admin,
      schema: {
        tags: ['admin'],
        description:
          "Every user's requests, tokens and cost over the last `days` days: per UTC day (oldest first; days with no " +
          'calls are left out) and per model alias (most requests first).',
        querystring: UsageQuery,
        response: {
          200: Type.Object({ from: Type.String(), byDay: Type.Array(UsageBucket), byModel: Type.Array(UsageBucket) }),
        },
      },
    },
    async (request, reply) => {
      const from = new Date(Date.now() - (request.query.days ?? 30) * DAY_MS);
      const [byDay, byModel] = await Promise.all([
        allUsageBreakdown(app.db.db, { from, by: 'day' }),
        allUsageBreakdown(app.db.db, { from, by: 'model' }),
      ]);
      reply.header('cache-control', 'no-store');
      return { from: from.toISOString(), byDay, byModel };
    },
  );
}
