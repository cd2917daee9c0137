import type { FastifyInstance } from 'fastify';

/**
 * Every item of a cursor-paginated list (`{ items, nextCursor }`), walking it `limit` at a time from the first page
 * to the last. Throws when a page holds more than `limit` items or a cursor comes back (a walk that would never end).
 */
export async function allPages<T>(
  app: FastifyInstance,
  url: string,
  headers: Record<string, string>,
  limit: number,
): Promise<T[]> {
  const items: T[] = [];
  const cursors = new Set<string>();
  let cursor: string | null = null;
  const sep = url.includes('?') ? '&' : '?';
  do {
    const pageUrl = `${url}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const page: { items: T[]; nextCursor: string | null } = (await app.inject({ url: pageUrl, headers })).json();
    if (page.items.length > limit) throw new Error(`${url}: a page of ${page.items.length} items, over ${limit}`);
    items.push(...page.items);
    cursor = page.nextCursor;
    if (cursor !== null) {
      if (cursors.has(cursor)) throw new Error(`${url}: cursor ${cursor} came back`);
      cursors.add(cursor);
    }
  } while (cursor);
  return items;
}
