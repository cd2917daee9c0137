import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../providers/router.ts';
import type { ActualUsage } from './limits.service.ts';

export interface GuardInput {
  model: string;
  promptTokens: number;
  maxTokens: number | undefined;
  /** The parameter a bad max_tokens is blamed on (`max_tokens`, `max_completion_tokens`, `max_output_tokens`). */
  maxTokensParam: string;
  /** Embeddings produce no completion: reserve the prompt only. */
  promptOnly?: boolean;
  /** Count against the simultaneous-generations cap (chat and responses; not embeddings). */
  generation?: boolean;
}

/**
 * What /v1 does around a model call (and chats can do the same): take a generation slot, reserve tokens and cost
 * for the request's dearest deployment, and return the `onUsage` hook for the router plus `release` for failures.
 * Both settle at most once; the slot is also freed when the client connection closes.
 */
export async function guardGeneration(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  input: GuardInput,
): Promise<{ onUsage: NonNullable<RequestContext['onUsage']>; release: () => Promise<void> }> {
  const actor = request.actor;
  if (!actor) return { onUsage: () => {}, release: async () => {} };
  const alias = app.providers.resolve(input.model);
  let contextWindow = 0;
  let priceIn = 0;
  let priceOut = 0;
  for (const d of alias.deployments) {
    contextWindow = Math.max(contextWindow, d.contextWindow);
    priceIn = Math.max(priceIn, d.price.input);
    priceOut = Math.max(priceOut, d.price.output);
  }
  const reservation = await app.limits.reserve(actor, {
    promptTokens: input.promptTokens,
    maxTokens: input.maxTokens,
    maxTokensParam: input.maxTokensParam,
    contextWindow,
    pricePerInputToken: priceIn,
    pricePerOutputToken: priceOut,
    ...(input.promptOnly ? { completionTokens: 0 } : {}),
  });
  let freeSlot: () => Promise<void> = async () => {};
  if (input.generation) {
    try {
      freeSlot = await app.limits.acquireGeneration(actor, request.id, app.limits.generationLeaseMs);
    } catch (err) {
      await reservation.release();
      throw err;
    }
    reply.raw.once('close', () => void freeSlot());
  }
  const log = (err: unknown) => request.log.warn({ err }, 'limits: reconcile failed; the reservation stays charged');
  return {
    onUsage(usage: ActualUsage | undefined) {
      reservation.settle(usage).catch(log);
      void freeSlot();
    },
    async release() {
      await reservation.release().catch(log);
      await freeSlot();
    },
  };
}
