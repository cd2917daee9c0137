/** How many distinct inputs a {@link memoize}d function remembers: the active users and keys of a busy replica. */
export const MEMO_ENTRIES = 10_000;

/**
 * A pure string function remembered for its last `max` distinct inputs (oldest dropped first), for the hashes the
 * hot path would otherwise recompute on every request (limiter keys, the logged user id).
 */
export function memoize(fn: (input: string) => string, max = MEMO_ENTRIES): (input: string) => string {
  const seen = new Map<string, string>();
  return (input) => {
    let out = seen.get(input);
    if (out === undefined) {
      out = fn(input);
      if (seen.size >= max) seen.delete(seen.keys().next().value as string);
      seen.set(input, out);
    }
    return out;
  };
}
