import { describe, expect, it } from 'vitest';
import { activePath, buildTree, choicesFor, mergeMessages, siblingInfo } from './tree';

const at = (n: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString();
const m = (id: string, parentId: string | null, n: number) => ({ id, parentId, createdAt: at(n) });

// u1 -> a1 ; u1 -> a1b (regenerated) ; a1 -> u2 -> a2 ; a1 -> u2b (edited) -> a2b
const messages = [
  m('u1', null, 1),
  m('a1', 'u1', 2),
  m('u2', 'a1', 3),
  m('a2', 'u2', 4),
  m('a1b', 'u1', 5),
  m('u2b', 'a1', 6),
  m('a2b', 'u2b', 7),
];

describe('message tree', () => {
  const tree = buildTree(messages);

  it('shows the newest branch at each level by default', () => {
    expect(activePath(tree).map((x) => x.id)).toEqual(['u1', 'a1b']);
  });

  it('follows the path to a given leaf, and explicit choices win', () => {
    expect(activePath(tree, new Map(), 'a2').map((x) => x.id)).toEqual(['u1', 'a1', 'u2', 'a2']);
    expect(activePath(tree, new Map([['u1', 'a1']])).map((x) => x.id)).toEqual(['u1', 'a1', 'u2b', 'a2b']);
    expect(activePath(tree, new Map([['a1', 'u2']]), 'a2b').map((x) => x.id)).toEqual(['u1', 'a1', 'u2', 'a2']);
  });

  it('reports sibling positions for < i/n >', () => {
    expect(siblingInfo(tree, messages[1]!)).toEqual({ index: 1, total: 2, ids: ['a1', 'a1b'] });
    expect(siblingInfo(tree, messages[6]!)).toEqual({ index: 1, total: 1, ids: ['a2b'] });
  });

  it('finds the choices that reveal a message on another branch (search jump)', () => {
    const choice = choicesFor(tree, 'a2');
    expect(activePath(tree, choice).map((x) => x.id)).toEqual(['u1', 'a1', 'u2', 'a2']);
  });

  it('keeps messages whose parent is missing, and survives cycles', () => {
    const orphan = buildTree([m('x', 'gone', 1), m('y', 'x', 2)]);
    expect(activePath(orphan).map((x) => x.id)).toEqual(['x', 'y']);
    const cyclic = buildTree([m('p', 'q', 1), m('q', 'p', 2)]);
    expect(activePath(cyclic)).toEqual([]);
  });
});

describe('mergeMessages', () => {
  const s = (id: string, parentId: string | null, n: number, status: string) => ({ ...m(id, parentId, n), status });

  it('adds the messages not held and replaces the held copy of one fetched again', () => {
    const held = [s('u2', 'a1', 3, 'complete'), s('a2', 'u2', 4, 'streaming')];
    const fetched = [s('u1', null, 1, 'complete'), s('a1', 'u1', 2, 'complete'), s('a2', 'u2', 4, 'complete')];
    const merged = mergeMessages(held, fetched);
    expect(merged.map((x) => x.id).sort()).toEqual(['a1', 'a2', 'u1', 'u2']);
    expect(merged.find((x) => x.id === 'a2')?.status).toBe('complete');
    expect(activePath(buildTree(merged)).map((x) => x.id)).toEqual(['u1', 'a1', 'u2', 'a2']);
  });

  it('never turns a finished message back into a streaming one from an older read', () => {
    const merged = mergeMessages([s('a2', 'u2', 4, 'stopped')], [s('a2', 'u2', 4, 'streaming')]);
    expect(merged).toEqual([s('a2', 'u2', 4, 'stopped')]);
  });
});
