import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { UsageReportSchema } from '@genz/contracts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { LimitOverridesSchema, PlanLimitsSchema } from '../../config/schema.ts';
import type { Actor } from '../../http/actor.ts';
import { DomainError } from '../../http/errors.ts';
import type { LimitOverrides, LimitsService } from './limits.service.ts';

const admin = { auth: { scope: 'admin' as const, role: 'admin' as const } };
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });

const LimitsResponse = Type.Object({
  userId: Type.String(),
  plan: Type.String(),
  overrides: LimitOverridesSchema,
  effective: PlanLimitsSchema,
});

function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new DomainError('unauthenticated');
  return request.actor;
}

/** GET /api/me/usage, and the admin's per-user limit overrides under /api/admin/users/:id/limits. */
export default async function limitsRoutes(app: FastifyInstance, opts: { limits: LimitsService }) {
  const { limits } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/api/me/usage',
    { config: { auth: { scope: 'read' } }, schema: { tags: ['me'], response: { 200: UsageReportSchema } } },
    async (request) => limits.usage(actorOf(request)),
  );

  r.get(
    '/api/admin/users/:id/limits',
    { config: admin, schema: { tags: ['admin'], params: IdParams, response: { 200: LimitsResponse } } },
    async (request) => limits.getOverrides(request.params.id),
  );

  r.put(
    '/api/admin/users/:id/limits',
    {
      config: admin,
      schema: { tags: ['admin'], params: IdParams, body: LimitOverridesSchema, response: { 200: LimitsResponse } },
    },
    async (request) =>
      limits.setOverrides(actorOf(request), request.params.id, request.body as LimitOverrides, request.ip),
  );

  r.delete(
    '/api/admin/users/:id/limits',
    { config: admin, schema: { tags: ['admin'], params: IdParams } },
    async (request, reply) => {
      await limits.setOverrides(actorOf(request), request.params.id, null, request.ip);
      return reply.code(204).send();
    },
  );
}
