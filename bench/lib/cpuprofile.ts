/** The parts of a V8 `.cpuprofile` (node --cpu-prof) this summary reads. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileRow {
  key: string;
  ms: number;
  share: number;
}

/** Where a frame's code lives: `node_modules/<package>`, `apps/api/src/<dir>`, `node:<internal>`, or `(native)`. */
export function origin(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm?.[1]) return nm[1];
  if (url.startsWith('node:')) return url.split('/')[0] ?? url;
  const app = /\/(apps\/[^/]+\/src\/[^/]+|packages\/[^/]+\/src)/.exec(url);
  if (app?.[1]) return app[1];
  return url;
}

/** Self time summed per key (sample time deltas attributed to the sampled node), descending. */
export function selfTime(profile: CpuProfile, keyOf: (n: CpuProfile['nodes'][number]) => string): ProfileRow[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let all = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  samples.forEach((id, i) => {
    const node = byId.get(id);
    const us = deltas[i] ?? 0;
    if (!node) return;
    const key = keyOf(node);
    totals.set(key, (totals.get(key) ?? 0) + us);
    all += us;
  });
  return [...totals.entries()]
    .map(([key, us]) => ({ key, ms: us / 1000, share: all > 0 ? us / all : 0 }))
    .sort((a, b) => b.ms - a.ms);
}
