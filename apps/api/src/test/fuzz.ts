import fc from 'fast-check';

/**
 * Breaking valid inputs (requests, upstream answers, genz.yaml) at random places, for the fuzz suites (ADR 080): a
 * value replaced by any JSON value, a member removed, a key added. fast-check shrinks a failure to a minimal one.
 */

/**
 * fast-check's parameters for a property: `GENZ_FUZZ_RUNS` cases (default: the suite's), and with `GENZ_FUZZ_SEED`
 * (and `GENZ_FUZZ_PATH`) the run a failure printed, replayed.
 */
export function fuzzParams(suiteDefault: number): { numRuns: number; seed?: number; path?: string } {
  const { GENZ_FUZZ_RUNS: runs, GENZ_FUZZ_SEED: seed, GENZ_FUZZ_PATH: path } = process.env;
  return {
    numRuns: Number(runs ?? suiteDefault),
    ...(seed ? { seed: Number(seed) } : {}),
    ...(seed && path ? { path } : {}),
  };
}

/**
 * Config overrides for a fuzz's test app: hundreds of requests from one key and IP, which the request and token
 * limits would answer with 429 before any input is read.
 */
export const limitsOff = {
  'limits.ipRequests': null,
  'limits.defaults.requests': null,
  'limits.defaults.apiKeyRequests': null,
  'limits.defaults.tokens': null,
} as const;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** Every place in a JSON value: the paths of all its objects' and arrays' members. */
function pathsOf(value: Json, at: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [string | number, Json][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([k, v]) => [[...at, k], ...pathsOf(v, [...at, k])]);
}

export type Mutation =
  | { op: 'replace'; path: Path; value: Json }
  | { op: 'remove'; path: Path }
  | { op: 'add'; path: Path; key: string; value: Json };

/** Applies a mutation in place; a path that an earlier mutation removed is skipped. */
function apply(body: Json, m: Mutation): void {
  let parent: Json = body;
  for (const key of m.path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') return;
    parent = (parent as Record<string | number, Json>)[key] ?? null;
  }
  if (parent === null || typeof parent !== 'object') return;
  const last = m.path.at(-1) as string | number;
  const target = parent as Record<string | number, Json>;
  if (!(last in target)) return;
  if (m.op === 'replace') target[last] = m.value;
  else if (m.op === 'remove') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete target[last];
  } else {
    const inner = target[last];
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) inner[m.key] = m.value;
  }
}

const anyJson = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;

/**
 * One to three mutations of `base`. The top level counts as a place too (a key added to it, the whole body
 * replaced), so a body with no members still gets broken.
 */
export function mutations(base: Json): fc.Arbitrary<Mutation[]> {
  const wrapped = { body: base };
  const path = fc.constantFrom(...pathsOf(wrapped));
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('replace' as const), path, value: anyJson }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), path }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('add' as const),
        path,
        key: fc.string({ maxLength: 12 }),
        value: anyJson,
      }),
    },
  );
  return fc.array(mutation, { minLength: 1, maxLength: 3 });
}

/** A copy of `base` broken by `changes` (from `mutations(base)`); `undefined` when the body itself was removed. */
export function applyMutations(base: Json, changes: Mutation[]): Json | undefined {
  const wrapped = structuredClone({ body: base }) as { body?: Json };
  for (const m of changes) apply(wrapped as Json, m);
  return wrapped.body;
}
