/** Receives each statement's verb (select|insert|update|delete|other: a bounded label) and duration in seconds. */
export type QueryObserver = (op: string, seconds: number) => void;

const verbs = new Set(['select', 'insert', 'update', 'delete']);

export function statementVerb(query: unknown): string {
  const text = typeof query === 'string' ? query : (query as { text?: unknown } | null)?.text;
  if (typeof text !== 'string') return 'other';
  const verb = /^\s*(?:with\b[\s\S]*?\)\s*)?([a-z]+)/i.exec(text)?.[1]?.toLowerCase() ?? '';
  return verbs.has(verb) ? verb : 'other';
}

/** One mutable slot per handle, so the observer can be attached after the handle (and its clients) exist. */
export function createQueryTimer() {
  let observer: QueryObserver | undefined;
  return {
    observe(fn: QueryObserver | undefined) {
      observer = fn;
    },
    /**
     * Wraps `target.query` (a pg Client or a PGlite instance) so promise-returning calls are timed. Callback-style
     * calls (which drizzle does not make) pass through untimed.
     */
    wrap(target: { query: (...args: never[]) => unknown }) {
      const original = target.query.bind(target) as (...args: unknown[]) => unknown;
      (target as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        if (!observer || typeof args.at(-1) === 'function') return original(...args);
        const start = process.hrtime.bigint();
        const result = original(...args);
        if (!(result instanceof Promise)) return result;
        const op = statementVerb(args[0]);
        const done = () => observer?.(op, Number(process.hrtime.bigint() - start) / 1e9);
        return result.then(
          (value) => {
            done();
            return value;
          },
          (err: unknown) => {
            done();
            throw err;
          },
        );
      };
    },
  };
}
