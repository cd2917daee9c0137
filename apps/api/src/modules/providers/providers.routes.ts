import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
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
      Type.Record(Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,63}$' }), Type.Union([Loose, Type.Null()])),
    ),
    aliases: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,127}$' }), Type.Union([Loose, Type.Null()])),
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

/** GET /api/models for the web app, and the admin configuration document (GET/PUT /api/admin/config). */
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
}
