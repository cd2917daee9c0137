import { randomUUID } from 'node:crypto';
import { errors } from 'bentocache';
import type { FastifyInstance } from 'fastify';

/**
 * The first pages every page load asks for — a user's conversation list and a conversation's messages — cached in
 * the shared cache (infra/cache.ts: L1 memory, L2 Redis, a bus evicting the other replicas' L1). They change only
 * when the user's chats do, so they are kept under one version per user: every write to the user's chat data
 * (create, rename, pin, archive, delete, import, a message sent, a reply checkpointed or finished, the active leaf
 * moved) drops the version after its transaction, and the next read starts a new one. A page computed from a read
 * that raced a write is stored under the version that write dropped, where no reader looks. Across replicas a
 * write is seen once the bus has evicted the old version (milliseconds).
 *
 * Entries are keyed by the actor's user id: a page is only ever served to the user it was read for, and a load
 * that throws (a foreign or deleted conversation: 404) is not stored.
 */
export interface ChatsCache {
  /** The cached page for `variant`, or `load()`'s result, cached. */
  page<T>(userId: string, variant: string, load: () => Promise<T>): Promise<T>;
  /** After a committed write to the user's chats. Never throws (a cache outage costs only staleness ≤ TTL). */
  changed(userId: string): Promise<void>;
}

const versionKey = (userId: string) => `chats:convs-v:${userId}`;

export function chatsCache(cache: FastifyInstance['cache'], ttlMs: number): ChatsCache {
  if (ttlMs === 0) return { page: (_u, _v, load) => load(), changed: async () => {} };
  return {
    async page(userId, variant, load) {
      const version = await cache.getOrSet({ key: versionKey(userId), ttl: ttlMs, factory: () => randomUUID() });
      try {
        return await cache.getOrSet({ key: `chats:convs:${userId}:${version}:${variant}`, ttl: ttlMs, factory: load });
      } catch (err) {
        // The cache wraps what the load threw (a 404 must stay a 404, not become a 500).
        throw err instanceof errors.E_FACTORY_ERROR ? err.cause : err;
      }
    },
    async changed(userId) {
      await cache.delete({ key: versionKey(userId) }).catch(() => {});
    },
  };
}
