/**
 * Conversations are trees: editing a user message or regenerating a reply adds a sibling under the same parent
 * (issue 5). The page shows one path from the root to a leaf; `< 2/3 >` switches among siblings.
 * Pure functions over the flat message list, so they are cheap to test and to recompute.
 */
export interface TreeNode {
  id: string;
  parentId: string | null;
  createdAt: string;
}

export interface Tree<T extends TreeNode> {
  byId: Map<string, T>;
  /** Children of each parent id (`''` for roots), oldest first. */
  children: Map<string, T[]>;
}

const order = (a: TreeNode, b: TreeNode) =>
  a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

export function buildTree<T extends TreeNode>(messages: readonly T[]): Tree<T> {
  const byId = new Map<string, T>();
  const children = new Map<string, T[]>();
  for (const message of messages) byId.set(message.id, message);
  for (const message of byId.values()) {
    // A parent we do not have (not loaded, or deleted) makes the message a root rather than losing it.
    const key = message.parentId && byId.has(message.parentId) ? message.parentId : '';
    const list = children.get(key);
    if (list) list.push(message);
    else children.set(key, [message]);
  }
  for (const list of children.values()) list.sort(order);
  return { byId, children };
}

/**
 * The path to show: from the root down, at each level the child chosen in `choice` (parent id -> child id),
 * else the child on the way to `leafId`, else the newest child.
 */
export function activePath<T extends TreeNode>(
  tree: Tree<T>,
  choice: ReadonlyMap<string, string> = new Map(),
  leafId?: string | null,
): T[] {
  const towardLeaf = new Set<string>();
  let cursor = leafId ? tree.byId.get(leafId) : undefined;
  while (cursor) {
    towardLeaf.add(cursor.id);
    cursor = cursor.parentId ? tree.byId.get(cursor.parentId) : undefined;
  }
  const path: T[] = [];
  const seen = new Set<string>();
  let key = '';
  for (;;) {
    const kids = tree.children.get(key);
    if (!kids || kids.length === 0) break;
    const chosen = choice.get(key);
    const next =
      kids.find((kid) => kid.id === chosen) ?? kids.find((kid) => towardLeaf.has(kid.id)) ?? kids[kids.length - 1];
    if (!next || seen.has(next.id)) break;
    seen.add(next.id);
    path.push(next);
    key = next.id;
  }
  return path;
}

/** Position among siblings (1-based) and their count, for `< index/total >`. */
export function siblingInfo<T extends TreeNode>(
  tree: Tree<T>,
  message: T,
): { index: number; total: number; ids: string[] } {
  const key = message.parentId && tree.byId.has(message.parentId) ? message.parentId : '';
  const ids = (tree.children.get(key) ?? []).map((m) => m.id);
  return { index: ids.indexOf(message.id) + 1, total: ids.length, ids };
}

/** The choices that make `targetId` visible: each ancestor selected under its parent. */
export function choicesFor<T extends TreeNode>(tree: Tree<T>, targetId: string): Map<string, string> {
  const choice = new Map<string, string>();
  let cursor = tree.byId.get(targetId);
  while (cursor) {
    const key = cursor.parentId && tree.byId.has(cursor.parentId) ? cursor.parentId : '';
    choice.set(key, cursor.id);
    cursor = key ? tree.byId.get(key) : undefined;
  }
  return choice;
}

/**
 * Folds fetched messages into the ones held (the tree is loaded in pieces: the newest page of a branch first, the
 * whole tree after, a finished reply's branch): a message fetched again replaces the held copy, except a finished
 * copy is never replaced by a still-streaming one (a read that started before the reply ended).
 */
export function mergeMessages<T extends TreeNode & { status: string }>(held: readonly T[], fetched: readonly T[]): T[] {
  const byId = new Map(held.map((m) => [m.id, m]));
  for (const message of fetched) {
    const old = byId.get(message.id);
    if (old && old.status !== 'streaming' && message.status === 'streaming') continue;
    byId.set(message.id, message);
  }
  return [...byId.values()];
}
