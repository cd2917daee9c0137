import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/**
 * The first page of a user's conversation list, cached in the shared cache (infra/cache.ts: L1 memory, L2 Redis,
 * a bus evicting the other replicas' L1). The list is read on every page load and changes only when the user's
 * conversations do, so it is kept under a per-user version: every write that changes a list (create, rename, pin,
 * archive, delete, import, a message sent or finished) drops the version after its transaction, and the next read
 * starts a new one. A page computed from a read that raced a write is stored under the version that write dropped,
 * where no reader looks. Across replicas a write is seen once the bus has evicted the old version (milliseconds).
 */
export interface ConversationListCache {
  /** The cached page for `variant`, or `load()`'s result, cached. */
  page<T>(userId: string, variant: string, load: () => Promise<T>): Promise<T>;
  /** After a committed write to the user's conversations. Never throws (a cache outage costs only staleness ≤ TTL). */
  changed(userId: string): Promise<void>;
}

const versionKey = (userId: string) => `chats:convs-v:${userId}`;

export function conversationListCache(cache: FastifyInstance['cache'], ttlMs: number): ConversationListCache {
  if (ttlMs === 0) return { page: (_u, _v, load) => load(), changed: async () => {} };
  return {
    async page(userId, variant, load) {
      const version = await cache.getOrSet({ key: versionKey(userId), ttl: ttlMs, factory: () => randomUUID() });
      return cache.getOrSet({ key: `chats:convs:${userId}:${version}:${variant}`, ttl: ttlMs, factory: load });
    },
    async changed(userId) {
      await cache.delete({ key: versionKey(userId) }).catch(() => {});
    },
  };
}
