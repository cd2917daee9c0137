import { cache } from 'react';
import { apiFetch } from '@/server-api';

export interface ShareSnapshot {
  title: string;
  createdAt: string;
  messages: { role: string; content: { type: string; text?: string }[]; createdAt: string; model: string | null }[];
}

/** Snapshots this process has read, by token, under the version (ETag) the API gave them; oldest dropped first. */
const MAX_CACHED = 500;
const cached = new Map<string, { etag: string; snapshot: ShareSnapshot }>();

/**
 * A share's snapshot, read from the API on EVERY render (`no-store`: never Next's per-instance data or ISR cache).
 * A snapshot never changes, so the API versions it with an ETag: this process keeps the body it last saw and sends
 * If-None-Match, and a live share answers 304 with no body. A revoked or expired share answers 404 on every web
 * replica at once, and the cached body is dropped. `null` means gone. `cache()` shares one read between the page and
 * its metadata within a request.
 */
export const readShare = cache(async (token: string): Promise<ShareSnapshot | null> => {
  const known = cached.get(token);
  const response = await apiFetch(
    `/api/shared/${encodeURIComponent(token)}`,
    known ? { 'if-none-match': known.etag } : {},
  );
  if (response.status === 404) {
    cached.delete(token);
    return null;
  }
  if (response.status === 304 && known) {
    cached.delete(token);
    cached.set(token, known);
    return known.snapshot;
  }
  if (!response.ok) throw new Error(`The API answered ${response.status} for a share.`);
  const snapshot = (await response.json()) as ShareSnapshot;
  const etag = response.headers.get('etag');
  if (etag) {
    cached.delete(token);
    cached.set(token, { etag, snapshot });
    if (cached.size > MAX_CACHED) cached.delete(cached.keys().next().value as string);
  }
  return snapshot;
});
