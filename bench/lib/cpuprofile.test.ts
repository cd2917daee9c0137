import { describe, expect, it } from 'vitest';
import { origin, selfTime } from './cpuprofile.ts';

describe('cpu profile summary', () => {
  it('names where code lives', () => {
    expect(origin('file:///w/node_modules/@fastify/cors/index.js', 'f')).toBe('@fastify/cors');
    expect(origin('file:///w/node_modules/pg/lib/client.js', 'f')).toBe('pg');
    expect(origin('file:///w/apps/api/src/modules/auth/index.ts', 'f')).toBe('apps/api/src/modules');
    expect(origin('node:internal/streams/x', 'f')).toBe('node:internal');
    expect(origin('', '(garbage collector)')).toBe('(garbage collector)');
    expect(origin('', 'writev')).toBe('(native)');
  });

  it('sums sample time deltas per key', () => {
    const rows = selfTime(
      {
        nodes: [
          { id: 1, callFrame: { functionName: 'a', url: 'x', lineNumber: 0 } },
          { id: 2, callFrame: { functionName: 'b', url: 'y', lineNumber: 0 } },
        ],
        samples: [1, 2, 2],
        timeDeltas: [1000, 2000, 1000],
      },
      (n) => n.callFrame.functionName,
    );
    expect(rows).toEqual([
      { key: 'b', ms: 3, share: 0.75 },
      { key: 'a', ms: 1, share: 0.25 },
    ]);
  });
});
