import { createProxy, DEFAULT_API_INTERNAL_URL } from './proxy';

/**
 * The proxy as the route handlers use it. `API_INTERNAL_URL` is read on each request (never at build time), so
 * one build runs against any API address.
 */
export const apiProxy = createProxy({
  upstream: () => process.env.API_INTERNAL_URL || DEFAULT_API_INTERNAL_URL,
});

/** Every method goes to the API the same way; both proxy routes (`/api`, `/v1`) re-export these handlers. */
export {
  apiProxy as DELETE,
  apiProxy as GET,
  apiProxy as HEAD,
  apiProxy as OPTIONS,
  apiProxy as PATCH,
  apiProxy as POST,
  apiProxy as PUT,
};
