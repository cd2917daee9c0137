import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `admission`: the route admits its model call through `limits.admit` (modules/rate-limit/generation-guard.ts),
     * so the request hook defers the request's rates to that one Redis call instead of charging them on its own.
     */
    limits?: 'admission';
  }
  interface FastifyRequest {
    /** The request rates are still to be charged by the route's admission (http/rate-limit.ts). */
    limitsDeferred: boolean;
  }
}

/**
 * Whether the request's rates were deferred to its admission. The flag stays set until the admission succeeds
 * (`admitted`), so a request answered before it (a 400, an unknown model, a refusal) is still counted afterwards.
 */
export const deferredRates = (request: FastifyRequest): boolean => request.limitsDeferred === true;

export function admitted(request: FastifyRequest): void {
  request.limitsDeferred = false;
}
