import { parseArgs } from 'node:util';
import { createDb } from '@genz/db';
import { DEFAULT_PLAN_MIX, parseMix, seedUsers } from './users.ts';

/**
 * npm run seed:users -w @genz/bench -- --database-url URL --count 1000000 [--batch 50000] [--plans free:90,pro:10]
 *   [--spread-days 730] [--tag abc]
 * Applies the migrations (the app's own migrate()), then inserts the users server-side in batches with progress on
 * stderr. Every user's password is BENCH_PASSWORD (bench/seed/users.ts). Not part of CI.
 */
const { values } = parseArgs({
  options: {
    'database-url': { type: 'string' },
    count: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '50000' },
    plans: { type: 'string' },
    'spread-days': { type: 'string', default: '730' },
    tag: { type: 'string' },
  },
});
const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL;
const count = Number(values.count);
const batch = Number(values.batch);
const spreadDays = Number(values['spread-days']);
if (!databaseUrl || !Number.isInteger(count) || count < 1 || !Number.isInteger(batch) || batch < 1) {
  console.error('usage: seed-users --database-url postgres://… --count N [--batch 50000] [--plans free:90,pro:10]');
  process.exit(2);
}

const handle = await createDb({ url: databaseUrl, poolSize: 1, dataDir: '/tmp' });
await handle.migrate();
await handle.close();

const started = performance.now();
let last = 0;
const inserted = await seedUsers({
  databaseUrl,
  count,
  batch,
  mix: values.plans ? parseMix(values.plans) : DEFAULT_PLAN_MIX,
  spreadDays,
  ...(values.tag ? { tag: values.tag } : {}),
  onProgress(done, total) {
    const now = performance.now();
    if (now - last < 1000 && done < total) return;
    last = now;
    const s = (now - started) / 1000;
    process.stderr.write(
      `\r  ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} users (${((done / total) * 100).toFixed(0)}%), ${Math.round(done / s).toLocaleString('en-US')} rows/s   `,
    );
  },
});
const seconds = (performance.now() - started) / 1000;
process.stderr.write('\n');
console.log(`inserted ${inserted.toLocaleString('en-US')} users in ${seconds.toFixed(1)} s`);
