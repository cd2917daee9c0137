import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../../http/actor.ts';
import type { RequestContext } from '../providers/router.ts';
import { admitted, deferredRates } from './deferred-rates.ts';
import type { ActualUsage } from './limits.service.ts';

export interface GuardInput {
  model: string;
  promptTokens: number;
  maxTokens: number | undefined;
  /** The parameter a bad max_tokens is blamed on (`max_tokens`, `max_completion_tokens`, `options.maxTokens`). */
  maxTokensParam: string;
  /** Embeddings produce no completion: reserve the prompt only. */
  promptOnly?: boolean;
  /** Count against the simultaneous-generations cap (chat and responses; not embeddings). */
  generation?: boolean;
}

export interface GenerationGuard {
  /** The router's `ctx.onUsage`: reconciles the reservation with the real usage and frees the slot. */
  onUsage: NonNullable<RequestContext['onUsage']>;
  /** Refunds the reservation (no model answered) and frees the slot. Safe after onUsage (then it only frees). */
  release: () => Promise<void>;
  /** Frees the generation slot only (idempotent). */
  freeSlot: () => Promise<void>;
  /** RateLimit-* of the request rates, when they were charged here (`requestRates`). */
  headers: Record<string, string>;
}

/**
 * The request-free core of {@link guardGeneration}, for model calls that outlive their request (a chat reply runs
 * server-side): reserves tokens and cost for the model's dearest deployment and takes a generation slot under
 * `leaseId` (renewed until freed; a slot of a process that died lapses after the lease), in one admission (one Redis
 * call, `limits.admit`); with `requestRates`, the request's rates are charged in it too. Both settle at most once,
 * together (one more call).
 */
export async function reserveGeneration(
  deps: Pick<FastifyInstance, 'providers' | 'limits'>,
  actor: Actor,
  leaseId: string,
  input: GuardInput,
  log: FastifyBaseLogger,
  requestRates = false,
): Promise<GenerationGuard> {
  const alias = deps.providers.resolve(input.model);
  let contextWindow = 0;
  let priceIn = 0;
  let priceOut = 0;
  for (const d of alias.deployments) {
    contextWindow = Math.max(contextWindow, d.contextWindow);
    priceIn = Math.max(priceIn, d.price.input);
    priceOut = Math.max(priceOut, d.price.output);
  }
  const admission = await deps.limits.admit(
    actor,
    {
      promptTokens: input.promptTokens,
      maxTokens: input.maxTokens,
      maxTokensParam: input.maxTokensParam,
      contextWindow,
      pricePerInputToken: priceIn,
      pricePerOutputToken: priceOut,
      ...(input.promptOnly ? { completionTokens: 0 } : {}),
    },
    {
      requestRates,
      ...(input.generation ? { generation: { leaseId, leaseMs: deps.limits.generationLeaseMs } } : {}),
    },
  );
  const warn = (err: unknown) => log.warn({ err }, 'limits: reconcile failed; the reservation stays charged');
  return {
    onUsage(usage: ActualUsage | undefined) {
      admission.settle(usage).catch(warn);
    },
    release: () => admission.release().catch(warn),
    freeSlot: () => admission.freeSlot().catch(warn),
    headers: admission.headers,
  };
}

/**
 * What /v1 does around a model call: {@link reserveGeneration} for the request's actor, with the slot also freed
 * when the client connection closes. The request hook (http/rate-limit.ts) defers a generating route's request rates
 * to this call, so the request is admitted in one Redis call. Returns the `onUsage` hook for the router plus
 * `release` for failures.
 */
export async function guardGeneration(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  input: GuardInput,
): Promise<Pick<GenerationGuard, 'onUsage' | 'release'>> {
  const actor = request.actor;
  if (!actor) return { onUsage: () => {}, release: async () => {} };
  const guard = await reserveGeneration(app, actor, request.id, input, request.log, deferredRates(request));
  admitted(request);
  reply.headers(guard.headers);
  if (input.generation) reply.raw.once('close', () => void guard.freeSlot());
  return guard;
}
