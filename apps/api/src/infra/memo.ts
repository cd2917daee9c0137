import { Value } from 'typebox/value';
import { ConfigSchema } from '../config/schema.ts';

/** `cache.memoEntries` as the schema defaults it. */
export const defaultMemoEntries: number = Value.Create(ConfigSchema.properties.cache.properties.memoEntries);

/** How many distinct inputs a {@link memoize}d function remembers: config `cache.memoEntries` (its default until boot). */
let memoEntries = defaultMemoEntries;

/** Sets `cache.memoEntries` for every memo of the process (buildApp, at boot); a fuller memo sheds on its next miss. */
export function setMemoEntries(entries: number): void {
  memoEntries = entries;
}

/**
 * A pure string function remembered for its last `max` (else `cache.memoEntries`) distinct inputs, oldest dropped
 * first, for the hashes the hot path would otherwise recompute on every request (limiter keys, the logged user id).
 */
export function memoize(fn: (input: string) => string, max?: number): (input: string) => string {
  const seen = new Map<string, string>();
  return (input) => {
    let out = seen.get(input);
    if (out === undefined) {
      out = fn(input);
      if (seen.size >= (max ?? memoEntries)) seen.delete(seen.keys().next().value as string);
      seen.set(input, out);
    }
    return out;
  };
}
