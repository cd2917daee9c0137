// Forwarded at run time to API_INTERNAL_URL (ADR 004); never prerendered or cached. The segment config stays in
// this file: Next.js reads it from the route file itself and does not follow a re-export.
export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

export { DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT } from '@/lib/api-proxy';
