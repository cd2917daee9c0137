import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DomainError } from '../http/errors.ts';
import type { ChatRequest } from '../modules/providers/providers.types.ts';
import { estimateTokens, type RequestContext, type StreamResult } from '../modules/providers/router.ts';
import { guardGeneration } from '../modules/rate-limit/generation-guard.ts';
import { fromCompletion, type ResponsesRequest, toChatRequest, toResponseEvents } from './responses.ts';
import { ChatCompletionBody, EmbeddingsBody, ResponsesBody } from './schemas.ts';

const inference = { auth: { scope: 'inference' as const } };
/** Model calls: their request rates are charged with the reservation and the slot, in one admission. */
const generating = { ...inference, limits: 'admission' as const };

/** Nulls mean "not set" on the OpenAI wire; dropping them keeps adapters from forwarding explicit nulls. */
function dropNulls<T extends Record<string, unknown>>(body: T): T {
  for (const key of Object.keys(body)) if (body[key] === null) delete body[key];
  return body;
}

/** A tool's `parameters` must be a JSON Schema for an object (the vendors reject anything else mid-flight). */
function checkToolSchemas(
  tools: { parameters?: Record<string, unknown> | null }[] | undefined,
  path: (i: number) => string,
) {
  tools?.forEach((tool, i) => {
    const p = tool.parameters;
    if (!p) return;
    if (p.type !== undefined && p.type !== 'object') {
      throw new DomainError('validation_failed', `${path(i)}.type must be "object"`, { param: `${path(i)}.type` });
    }
    if (
      p.properties !== undefined &&
      (typeof p.properties !== 'object' || p.properties === null || Array.isArray(p.properties))
    ) {
      throw new DomainError('validation_failed', `${path(i)}.properties must be an object`, {
        param: `${path(i)}.properties`,
      });
    }
    if (p.required !== undefined && !Array.isArray(p.required)) {
      throw new DomainError('validation_failed', `${path(i)}.required must be an array`, {
        param: `${path(i)}.required`,
      });
    }
  });
}

function contextOf(request: FastifyRequest, reply: FastifyReply, endpoint: RequestContext['endpoint']): RequestContext {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return {
    requestId: request.id,
    actor: request.actor ?? null,
    startNs: request.startNs || process.hrtime.bigint(),
    signal: controller.signal,
    endpoint,
  };
}

/**
 * Limits (modules/rate-limit): a generation slot and a token/cost reservation are taken before the call; the
 * router reports the real usage through `ctx.onUsage`, and a call that fails before any model answered is refunded.
 */
async function limited<T>(
  guard: Awaited<ReturnType<typeof guardGeneration>>,
  ctx: RequestContext,
  call: () => Promise<T>,
): Promise<T> {
  ctx.onUsage = guard.onUsage;
  try {
    return await call();
  } catch (err) {
    await guard.release();
    throw err;
  }
}

const maxTokensOf = (body: ChatRequest) =>
  body.max_completion_tokens !== undefined
    ? { maxTokens: body.max_completion_tokens ?? undefined, maxTokensParam: 'max_completion_tokens' }
    : { maxTokens: body.max_tokens ?? undefined, maxTokensParam: 'max_tokens' };

function sseHeaders(reply: FastifyReply, request: FastifyRequest, deployment: string, overheadUs: number) {
  reply
    .header('x-genz-deployment', deployment)
    .header('x-genz-overhead-us', String(overheadUs))
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache, no-transform')
    .header('x-accel-buffering', 'no');
  request.log.debug({ deployment, overheadUs }, 'stream committed');
}

function sendSse(
  reply: FastifyReply,
  request: FastifyRequest,
  deployment: string,
  overheadUs: number,
  body: AsyncIterable<string>,
) {
  sseHeaders(reply, request, deployment, overheadUs);
  return reply.send(Readable.from(body, { objectMode: false }));
}

/**
 * A committed chat-completions stream, written straight to the socket: the reply is hijacked (no stream pipe between
 * the router and the response) and the router writes each upstream read as it arrives. Headers set on the reply
 * (limits, the request id the onSend hook would add) go out with the first bytes; onResponse hooks still run when
 * the response finishes.
 */
function pipeSse(reply: FastifyReply, request: FastifyRequest, result: StreamResult) {
  sseHeaders(reply, request, result.deployment.id, result.overheadUs);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), 'x-request-id': request.id });
  result.pipe(res);
  return reply;
}

/**
 * The OpenAI-compatible surface under /v1 (ARCHITECTURE §12). Handlers validate, call the router and relay; every
 * error leaves through the one error handler in the OpenAI envelope. Every route requires the `inference` scope.
 */
export default fp(
  async (app: FastifyInstance) => {
    app.post(
      '/v1/chat/completions',
      {
        config: generating,
        schema: { body: ChatCompletionBody, tags: ['openai'], security: [{ bearer: [] }] },
      },
      async (request, reply) => {
        const body = dropNulls(request.body as ChatRequest);
        checkToolSchemas(
          body.tools?.map((t) => t.function),
          (i) => `tools.${i}.function.parameters`,
        );
        const ctx = contextOf(request, reply, 'chat.completions');
        const guard = await guardGeneration(app, request, reply, {
          model: body.model,
          promptTokens: estimateTokens(body),
          ...maxTokensOf(body),
          generation: true,
        });
        if (body.stream) {
          const result = await limited(guard, ctx, () => app.providers.streamChat(body, ctx));
          return pipeSse(reply, request, result);
        }
        const result = await limited(guard, ctx, () => app.providers.completeChat(body, ctx));
        return reply
          .header('x-genz-deployment', result.deployment.id)
          .header('x-genz-overhead-us', String(result.overheadUs))
          .type('application/json')
          .send(result.body);
      },
    );

    app.post(
      '/v1/responses',
      {
        config: generating,
        schema: { body: ResponsesBody, tags: ['openai'], security: [{ bearer: [] }] },
      },
      async (request, reply) => {
        const raw = dropNulls(request.body as ResponsesRequest & Record<string, unknown>);
        checkToolSchemas(raw.tools, (i) => `tools.${i}.parameters`);
        const body = toChatRequest(raw);
        const ctx = contextOf(request, reply, 'responses');
        const guard = await guardGeneration(app, request, reply, {
          model: body.model,
          promptTokens: estimateTokens(body),
          maxTokens: body.max_tokens ?? undefined,
          maxTokensParam: 'max_output_tokens',
          generation: true,
        });
        if (raw.stream) {
          const result = await limited(guard, ctx, () => app.providers.streamChat({ ...body, stream: true }, ctx));
          return sendSse(
            reply,
            request,
            result.deployment.id,
            result.overheadUs,
            toResponseEvents(result.frames, raw.model),
          );
        }
        const result = await limited(guard, ctx, () => app.providers.completeChat(body, ctx));
        return reply
          .header('x-genz-deployment', result.deployment.id)
          .header('x-genz-overhead-us', String(result.overheadUs))
          .send(fromCompletion(result.body, raw.model, result.usage));
      },
    );

    app.post(
      '/v1/embeddings',
      {
        config: generating,
        schema: { body: EmbeddingsBody, tags: ['openai'], security: [{ bearer: [] }] },
      },
      async (request, reply) => {
        const body = request.body as Record<string, unknown> & { model: string };
        const ctx = contextOf(request, reply, 'embeddings');
        const input = JSON.stringify(body.input ?? '');
        const guard = await guardGeneration(app, request, reply, {
          model: body.model,
          promptTokens: Math.ceil(input.length / 4),
          maxTokens: undefined,
          maxTokensParam: 'max_tokens',
          promptOnly: true,
        });
        const result = await limited(guard, ctx, () => app.providers.embed(body, ctx));
        return reply
          .header('x-genz-deployment', result.deployment.id)
          .header('x-genz-overhead-us', String(result.overheadUs))
          .type('application/json')
          .send(result.body);
      },
    );

    const modelEntry = (name: string) => {
      const alias = app.providers.resolve(name);
      const states = alias.deployments.map((d) => ({ id: d.id, circuit: app.providers.circuitState(d.id) }));
      // The router's verdict, the same one /api/models shows (healthy | degraded | down).
      const health = app.providers.health(alias);
      return {
        id: alias.name,
        object: 'model',
        created: 0,
        owned_by: 'genz',
        genz: {
          strategy: alias.strategy,
          health,
          deployments: states,
          capabilities: {
            tools: alias.deployments.some((d) => d.capabilities.tools),
            vision: alias.deployments.some((d) => d.capabilities.vision),
            embeddings: alias.deployments.some((d) => d.capabilities.embeddings),
          },
          context_window: Math.max(...alias.deployments.map((d) => d.contextWindow)),
        },
      };
    };

    app.get(
      '/v1/models',
      { config: inference, schema: { tags: ['openai'], security: [{ bearer: [] }] } },
      async () => ({
        object: 'list',
        data: app.providers.aliases().map((a) => modelEntry(a.name)),
      }),
    );

    app.get<{ Params: { model: string } }>(
      '/v1/models/:model',
      { config: inference, schema: { tags: ['openai'], security: [{ bearer: [] }] } },
      async (request) => {
        try {
          return modelEntry(request.params.model);
        } catch (err) {
          if (err instanceof DomainError && err.code === 'model_not_found')
            throw new DomainError('not_found', err.message, { param: 'model' });
          throw err;
        }
      },
    );
  },
  { name: 'openai', dependencies: ['providers'] },
);
