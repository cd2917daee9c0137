import { apiProxy } from '@/lib/api-proxy';

// Forwarded at run time to API_INTERNAL_URL (ADR 004); never prerendered or cached.
export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

export {
  apiProxy as DELETE,
  apiProxy as GET,
  apiProxy as HEAD,
  apiProxy as OPTIONS,
  apiProxy as PATCH,
  apiProxy as POST,
  apiProxy as PUT,
};
