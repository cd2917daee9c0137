import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { decodeCursor, encodeCursor, Page } from '@genz/contracts';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { DomainError } from '../../http/errors.ts';
import { actorOf, decodeIdCursor, meta } from './auth.routes.ts';
import * as s from './auth.schemas.ts';
import type { AccountsService } from './auth.service.ts';
import type { Mailer } from './mailer.ts';
import type { MfaService } from './mfa.service.ts';

const admin = { auth: { scope: 'admin' as const, role: 'admin' as const } };
const tags = ['admin'];

/** /api/admin: users, invitations, sign-up settings, the dev outbox. Every route needs an admin with `admin` scope. */
export default async function adminRoutes(
  app: FastifyInstance,
  opts: { accounts: AccountsService; mailer: Mailer; mfa: MfaService },
) {
  const { accounts, mailer, mfa } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/api/admin/users',
    { config: admin, schema: { tags, querystring: s.ListUsersQuery, response: { 200: Page(s.User) } } },
    async (request) => {
      const { q, status, role, cursor, limit } = request.query;
      let after: string | undefined;
      if (cursor !== undefined) {
        const key = decodeCursor(cursor, 2);
        // The cursor remembers which ordering it belongs to: an email cursor cannot page an id listing.
        if (!key || key[0] !== (q === undefined ? 'id' : 'email') || typeof key[1] !== 'string') {
          throw new DomainError('invalid_cursor', 'The cursor does not belong to this listing.');
        }
        after = key[1];
      }
      const prefix = q?.normalize('NFKC').trim().toLowerCase();
      const page = await accounts.listUsers({
        limit,
        ...(prefix !== undefined ? { q: prefix } : {}),
        ...(status ? { status } : {}),
        ...(role ? { role } : {}),
        ...(after !== undefined ? { after } : {}),
      });
      return {
        items: page.items,
        nextCursor: page.next === undefined ? null : encodeCursor([q === undefined ? 'id' : 'email', page.next]),
      };
    },
  );

  r.get(
    '/api/admin/users/:id',
    { config: admin, schema: { tags, params: s.IdParams, response: { 200: s.User } } },
    async (request) => accounts.getUser(request.params.id),
  );

  r.patch(
    '/api/admin/users/:id',
    { config: admin, schema: { tags, params: s.IdParams, body: s.UpdateUserBody, response: { 200: s.User } } },
    async (request) => accounts.updateUser(actorOf(request), request.params.id, request.body, meta(request)),
  );

  r.delete('/api/admin/users/:id', { config: admin, schema: { tags, params: s.IdParams } }, async (request, reply) => {
    await accounts.deleteUser(actorOf(request), request.params.id, meta(request));
    return reply.code(204).send();
  });

  r.delete(
    '/api/admin/users/:id/mfa',
    { config: admin, schema: { tags, params: s.IdParams, response: { 200: s.MfaReset } } },
    async (request) => {
      await accounts.getUser(request.params.id);
      return mfa.adminReset(actorOf(request).userId, request.params.id, request.ip);
    },
  );

  r.get(
    '/api/admin/invitations',
    { config: admin, schema: { tags, querystring: s.PageQueryStrict, response: { 200: Page(s.Invitation) } } },
    async (request) => {
      const page = await accounts.listInvitations({
        after: decodeIdCursor(request.query.cursor),
        limit: request.query.limit,
      });
      return { items: page.items, nextCursor: page.last ? encodeCursor([page.last]) : null };
    },
  );

  r.post(
    '/api/admin/invitations',
    {
      config: admin,
      schema: {
        tags,
        body: s.CreateInvitationBody,
        response: { 201: Type.Object({ ...s.Invitation.properties, url: Type.String() }) },
      },
    },
    async (request, reply) => {
      const created = await accounts.createInvitation(actorOf(request), request.body, meta(request));
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  r.delete(
    '/api/admin/invitations/:id',
    { config: admin, schema: { tags, params: s.IdParams } },
    async (request, reply) => {
      await accounts.revokeInvitation(actorOf(request), request.params.id, meta(request));
      return reply.code(204).send();
    },
  );

  r.get(
    '/api/admin/settings/signup',
    { config: admin, schema: { tags, response: { 200: s.SignupSettingsBody } } },
    async () => accounts.signupSettings(),
  );

  r.put(
    '/api/admin/settings/signup',
    { config: admin, schema: { tags, body: s.SignupSettingsBody, response: { 200: s.SignupSettingsBody } } },
    async (request) => accounts.setSignupSettings(actorOf(request), request.body, meta(request)),
  );

  r.get(
    '/api/admin/outbox',
    {
      config: admin,
      schema: {
        tags,
        description:
          'Mail kept in this process when no SMTP_URL is set (newest first). It holds live links: admins only.',
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                id: Type.Integer(),
                to: Type.String(),
                subject: Type.String(),
                text: Type.String(),
                createdAt: Type.String(),
                delivery: Type.String(),
              }),
            ),
            nextCursor: Type.Null(),
          }),
        },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'no-store');
      return { items: [...mailer.outbox()], nextCursor: null };
    },
  );
}
