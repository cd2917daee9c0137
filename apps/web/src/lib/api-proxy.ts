import { createProxy, DEFAULT_API_INTERNAL_URL } from './proxy';

/**
 * The proxy as the route handlers use it. `API_INTERNAL_URL` is read on each request (never at build time), so
 * one build runs against any API address.
 */
export const apiProxy = createProxy({
  upstream: () => process.env.API_INTERNAL_URL || DEFAULT_API_INTERNAL_URL,
});
