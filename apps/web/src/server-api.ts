import { DEFAULT_API_INTERNAL_URL } from '@/lib/proxy';

/**
 * Server-rendered pages reading the API directly (the share page, the log-in page's OIDC button). Read per request
 * and never cached by Next (`no-store`), so what a page shows is what the API says now, on every replica.
 */
export function apiFetch(path: string, headers: Record<string, string> = {}): Promise<Response> {
  const base = process.env.API_INTERNAL_URL || DEFAULT_API_INTERNAL_URL;
  return fetch(`${base}${path}`, { cache: 'no-store', headers: { accept: 'application/json', ...headers } });
}
