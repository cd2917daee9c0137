import { afterEach, describe, expect, it } from 'vitest';
import { defaultMemoEntries, memoize, setMemoEntries } from './memo.ts';

const counted = () => {
  const calls: string[] = [];
  const fn = memoize((s) => {
    calls.push(s);
    return s.toUpperCase();
  });
  return { fn, calls };
};

describe('memoize', () => {
  afterEach(() => setMemoEntries(defaultMemoEntries));

  it('defaults to the schema default of cache.memoEntries', () => {
    expect(defaultMemoEntries).toBe(10_000);
  });

  it('computes an input once while it is remembered', () => {
    const { fn, calls } = counted();
    expect([fn('a'), fn('b'), fn('a'), fn('b')]).toEqual(['A', 'B', 'A', 'B']);
    expect(calls).toEqual(['a', 'b']);
  });

  it('keeps cache.memoEntries inputs, dropping the oldest first', () => {
    setMemoEntries(2);
    const { fn, calls } = counted();
    fn('a');
    fn('b');
    fn('c'); // drops 'a'
    fn('b');
    fn('a');
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });
});
