import { readFileSync } from 'node:fs';
import { type CpuProfile, origin, selfTime } from './lib/cpuprofile.ts';

/** node bench/profile-top.ts <file.cpuprofile> [--top 25]: self time by package/module and by function. */
const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/profile-top.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(process.argv[3] ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const print = (title: string, rows: ReturnType<typeof selfTime>) => {
  console.log(`\n${title}`);
  for (const r of rows.slice(0, top))
    console.log(`${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.key}`);
};
print(
  'self time by origin',
  selfTime(profile, (n) => origin(n.callFrame.url, n.callFrame.functionName)),
);
print(
  'self time by function',
  selfTime(
    profile,
    (n) =>
      `${n.callFrame.functionName || '(anonymous)'} ${origin(n.callFrame.url, n.callFrame.functionName)}:${n.callFrame.lineNumber + 1}`,
  ),
);
