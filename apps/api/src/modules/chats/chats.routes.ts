import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../../http/actor.ts';
import { DomainError } from '../../http/errors.ts';
import { withSpan } from '../../infra/tracing.ts';
import * as s from './chats.schemas.ts';
import type { ChatsConfig, StartedGeneration } from './chats.service.ts';

const chat = { auth: { scope: 'chat' as const } };
/** Reading conversations needs `chat` or the read-only `read` scope (ARCHITECTURE §12). */
const readable = { auth: { scope: ['chat', 'read'] as const } };

function actorOf(request: FastifyRequest): Actor {
  // The auth hook already refused anonymous callers of these routes; this narrows the type.
  if (!request.actor) throw new DomainError('unauthenticated', 'Sign in or send an API key.');
  return request.actor;
}

function lastEventId(request: FastifyRequest): number {
  const raw = request.headers['last-event-id'];
  if (raw === undefined || raw === '') return 0;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || !/^\d{1,9}$/.test(value.trim())) {
    throw new DomainError('validation_failed', 'Last-Event-ID must be the integer id of the last event received.', {
      errors: [{ path: 'headers.last-event-id', message: 'must be a non-negative integer' }],
    });
  }
  return Number(value.trim());
}

/**
 * Routes: validate, call a service verb, return. The streaming routes check everything that can fail (ownership,
 * input, idempotency, the generation cap) before the first byte, so failures are problem+json; once the stream is
 * open it ends with `done` or `error`.
 */
export default async function chatsRoutes(app: FastifyInstance, opts: { config: ChatsConfig }) {
  const svc = app.chats;

  async function stream(
    request: FastifyRequest,
    reply: FastifyReply,
    actor: Actor,
    generationId: string,
    after: number,
  ): Promise<void> {
    const sse = app.sse.open(request, reply, { heartbeatMs: opts.config.sseHeartbeatMs });
    try {
      for await (const ev of svc.follow(actor, generationId, after, sse.signal)) {
        await sse.send({ id: ev.seq, event: ev.event, data: ev.data });
        if (sse.signal.aborted) break;
      }
    } catch (err) {
      request.log.warn({ err, generationId }, 'generation stream failed');
    } finally {
      sse.end();
    }
  }

  const startedHeaders = (reply: FastifyReply, g: StartedGeneration) => {
    reply.header('x-generation-id', g.generationId);
    if (g.replayed) reply.header('idempotent-replayed', 'true');
  };

  // ---------------- conversations ----------------

  app.get('/api/conversations', { config: readable, schema: s.listConversations }, async (request, reply) => {
    const q = request.query as { archived?: boolean; cursor?: string; limit?: number };
    // The body as the cache keeps it (serialised once, when the page was read).
    return reply.type('application/json; charset=utf-8').send(await svc.listConversationsJson(actorOf(request), q));
  });

  app.post('/api/conversations', { config: chat, schema: s.createConversation }, async (request, reply) => {
    const view = await svc.createConversation(actorOf(request), request.body as s.CreateConversationBody);
    return reply.code(201).send(view);
  });

  app.get('/api/conversations/:id', { config: readable, schema: s.conversationById }, async (request) => {
    return svc.getConversation(actorOf(request), (request.params as { id: string }).id);
  });

  app.patch('/api/conversations/:id', { config: chat, schema: s.updateConversation }, async (request) => {
    return svc.updateConversation(
      actorOf(request),
      (request.params as { id: string }).id,
      request.body as s.UpdateConversationBody,
    );
  });

  app.delete('/api/conversations/:id', { config: chat, schema: s.deleteById }, async (request, reply) => {
    await svc.deleteConversation(actorOf(request), (request.params as { id: string }).id);
    return reply.code(204).send();
  });

  // ---------------- messages and generations ----------------

  app.get('/api/conversations/:id/messages', { config: readable, schema: s.listMessages }, async (request, reply) => {
    const q = request.query as { leafId?: string; cursor?: string; limit?: number; view?: 'branch' | 'tree' };
    // The body as the cache keeps it (serialised once, when the page was read).
    const body = await svc.listMessagesJson(actorOf(request), (request.params as { id: string }).id, q);
    return reply.type('application/json; charset=utf-8').send(body);
  });

  app.post('/api/conversations/:id/messages', { config: chat, schema: s.sendMessage }, async (request, reply) => {
    const actor = actorOf(request);
    const key = request.headers['idempotency-key'];
    const idempotencyKey = typeof key === 'string' && key !== '' ? key : undefined;
    if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) {
      throw new DomainError('validation_failed', 'Idempotency-Key must be 1 to 255 visible ASCII characters.');
    }
    const id = (request.params as { id: string }).id;
    // The service span: a trace reads HTTP -> chats.sendMessage -> DB writes and the generation (router, provider).
    const started = await withSpan('chats.sendMessage', { 'genz.conversation_id': id }, () =>
      svc.sendMessage(actor, id, request.body as s.SendMessageBody, idempotencyKey),
    );
    startedHeaders(reply, started);
    await stream(request, reply, actor, started.generationId, 0);
  });

  app.post('/api/messages/:id/regenerate', { config: chat, schema: s.regenerate }, async (request, reply) => {
    const actor = actorOf(request);
    const id = (request.params as { id: string }).id;
    const started = await withSpan('chats.regenerate', { 'genz.message_id': id }, () =>
      svc.regenerate(actor, id, (request.body ?? {}) as s.RegenerateBody),
    );
    startedHeaders(reply, started);
    await stream(request, reply, actor, started.generationId, 0);
  });

  app.get('/api/generations/:gid/events', { config: readable, schema: s.generationEvents }, async (request, reply) => {
    const actor = actorOf(request);
    const gid = (request.params as { gid: string }).gid;
    const after = lastEventId(request);
    await svc.generation(actor, gid); // 404 for a foreign or unknown id, before the stream opens
    await stream(request, reply, actor, gid, after);
  });

  app.post('/api/generations/:gid/stop', { config: chat, schema: s.stopGeneration }, async (request) => {
    return svc.stopGeneration(actorOf(request), (request.params as { gid: string }).gid);
  });

  // ---------------- presets ----------------

  app.get('/api/presets', { config: readable, schema: s.listPresets }, async (request) =>
    svc.listPresets(actorOf(request)),
  );

  app.post('/api/presets', { config: chat, schema: s.createPreset }, async (request, reply) => {
    const view = await svc.createPreset(actorOf(request), request.body as s.PresetBody);
    return reply.code(201).send(view);
  });

  app.patch('/api/presets/:id', { config: chat, schema: s.updatePreset }, async (request) => {
    return svc.updatePreset(
      actorOf(request),
      (request.params as { id: string }).id,
      request.body as Partial<s.PresetBody>,
    );
  });

  app.delete('/api/presets/:id', { config: chat, schema: s.deleteById }, async (request, reply) => {
    await svc.deletePreset(actorOf(request), (request.params as { id: string }).id);
    return reply.code(204).send();
  });

  // ---------------- search ----------------

  app.get('/api/search', { config: readable, schema: s.search }, async (request) => {
    const q = request.query as { q: string; cursor?: string; limit?: number };
    return svc.search(actorOf(request), q.q, q);
  });

  // ---------------- shares ----------------

  app.post('/api/conversations/:id/shares', { config: chat, schema: s.createShare }, async (request, reply) => {
    const view = await svc.createShare(
      actorOf(request),
      (request.params as { id: string }).id,
      (request.body ?? {}) as { expiresInSec?: number },
    );
    return reply.code(201).send(view);
  });

  app.get('/api/shares', { config: readable, schema: s.listShares }, async (request) =>
    svc.listShares(actorOf(request)),
  );

  app.delete('/api/shares/:id', { config: chat, schema: s.deleteById }, async (request, reply) => {
    await svc.revokeShare(actorOf(request), (request.params as { id: string }).id);
    return reply.code(204).send();
  });

  // Anonymous: the snapshot only, by its capability token. The ETag is the share's version; `no-cache` lets a
  // reader (the web app's share page) keep the body under it but makes it ask every time, so a revoked share is
  // gone for every reader at once (404), and a live one costs a 304.
  app.get('/api/shared/:token', { config: { auth: 'public' }, schema: s.readShare }, async (request, reply) => {
    const { version, snapshot } = await svc.readShare((request.params as { token: string }).token);
    const etag = `"${version}"`;
    reply.header('cache-control', 'no-cache');
    reply.header('etag', etag);
    reply.header('x-robots-tag', 'noindex');
    const ifNoneMatch = request.headers['if-none-match'];
    if (ifNoneMatch?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) return reply.code(304).send();
    return snapshot;
  });

  // ---------------- export / import ----------------

  const sendExport = async (
    reply: FastifyReply,
    actor: Actor,
    format: 'json' | 'markdown',
    conversationId?: string,
  ) => {
    const name = conversationId ? `conversation-${conversationId}` : 'conversations';
    if (format === 'markdown') {
      const md = await svc.exportMarkdown(actor, conversationId);
      return reply
        .header('content-disposition', `attachment; filename="${name}.md"`)
        .type('text/markdown; charset=utf-8')
        .send(md);
    }
    const json = await svc.exportJson(actor, conversationId);
    return reply
      .header('content-disposition', `attachment; filename="${name}.json"`)
      .type('application/json; charset=utf-8')
      .send(JSON.stringify(json));
  };

  app.get('/api/conversations/:id/export', { config: readable, schema: s.exportOne }, async (request, reply) => {
    const q = request.query as { format?: 'json' | 'markdown' };
    return sendExport(reply, actorOf(request), q.format ?? 'json', (request.params as { id: string }).id);
  });

  app.get('/api/export', { config: readable, schema: s.exportAll }, async (request, reply) => {
    const q = request.query as { format?: 'json' | 'markdown' };
    return sendExport(reply, actorOf(request), q.format ?? 'json');
  });

  app.post(
    '/api/import/chatgpt',
    { config: chat, schema: s.importChatGpt, bodyLimit: opts.config.importMaxBytes },
    async (request, reply) => {
      const result = await svc.importChatGpt(actorOf(request), request.body);
      return reply.code(201).send(result);
    },
  );
}
