import pg from 'pg';
import { median, type TargetResult } from '../lib/report.ts';
import type { BenchContext, Scenario } from '../lib/types.ts';
import { intParam, ME_CONFIG_YAML, randomUserToken, seedMeTable } from './accounts-me.ts';

/**
 * Issue 3 "Performance": the p95 of `GET /api/me` on 1,000,000 users must stay within 1.2× of the same lookup on
 * 10,000 users. Two API servers in one run, each on a database of its own seeded by bench/seed/users.ts (`api`:
 * `--param users=N`, default 1,000,000; `api-small`: `--param compare=N`, default 10,000), both measured in every
 * round, one after the other, so the p95 ratio is taken round by round on the same machine minutes apart at most.
 *   npm run bench -w @genz/bench -- accounts-me-scale [--param users=1000000] [--param compare=10000] [--param tokens=2000]
 */

const fmt = (n: number) => n.toLocaleString('en-US');
const ms = (n: number) => n.toFixed(2);
const SERVERS = ['api', 'api-small'] as const;

interface UsersIo {
  heapHit: number;
  heapRead: number;
  idxHit: number;
  idxRead: number;
}

/** Buffer counters of the users table (heap and indexes) in one database: hits in shared_buffers, reads outside. */
async function usersIo(databaseUrl: string): Promise<UsersIo> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<Record<keyof UsersIo, string>>(
      `select heap_blks_hit::text as "heapHit", heap_blks_read::text as "heapRead",
              idx_blks_hit::text as "idxHit", idx_blks_read::text as "idxRead"
         from pg_statio_user_tables where relname = 'users'`,
    );
    const r = rows[0];
    if (!r) throw new Error('no users table');
    return {
      heapHit: Number(r.heapHit),
      heapRead: Number(r.heapRead),
      idxHit: Number(r.idxHit),
      idxRead: Number(r.idxRead),
    };
  } finally {
    await client.end();
  }
}

function databaseUrlOf(ctx: BenchContext, server: string): string {
  const url = ctx.databaseUrls[server];
  if (!url) throw new Error(`no database for server ${server}`);
  return url;
}

async function measure(ctx: BenchContext, rounds: TargetResult[][]) {
  const users = intParam(ctx, 'users', 1_000_000);
  const compare = intParam(ctx, 'compare', 10_000);
  const rows: string[] = [];
  const ratios = { p50: [] as number[], p95: [] as number[], p99: [] as number[] };
  rounds.forEach((round, i) => {
    const large = round.find((r) => r.server === 'api');
    const small = round.find((r) => r.server === 'api-small');
    if (!large || !small) throw new Error('a round without both GET /api/me targets');
    for (const p of ['p50', 'p95', 'p99'] as const) ratios[p].push(large.latencyMs[p] / small.latencyMs[p]);
    rows.push(
      `  | ${i + 1} | ${ms(large.latencyMs.p95)} | ${ms(small.latencyMs.p95)} | ${(large.latencyMs.p95 / small.latencyMs.p95).toFixed(2)}× | ${(large.latencyMs.p50 / small.latencyMs.p50).toFixed(2)}× | ${(large.latencyMs.p99 / small.latencyMs.p99).toFixed(2)}× | ${fmt(Math.round(large.rps))} / ${fmt(Math.round(small.rps))} |`,
    );
  });
  const p95Ratio = median(ratios.p95);
  ctx.note(
    [
      `**p95 of \`GET /api/me\`, ${fmt(users)} users (\`api\`) over ${fmt(compare)} users (\`api-small\`), round by ` +
        `round** (both measured in every round, one after the other): median ${p95Ratio.toFixed(2)}× ` +
        `(issue 3: at most 1.2×; ${p95Ratio <= 1.2 ? 'met' : 'not met'} in this run); p50 ratio median ` +
        `${median(ratios.p50).toFixed(2)}×, p99 ratio median ${median(ratios.p99).toFixed(2)}×.`,
      '',
      `  | round | p95 ms, ${fmt(users)} | p95 ms, ${fmt(compare)} | p95 ratio | p50 ratio | p99 ratio | RPS ${fmt(users)} / ${fmt(compare)} |`,
      '  | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
    ].join('\n'),
  );

  // Where the users pages came from over the rounds: shared_buffers, or read from outside (the OS page cache or the
  // disk; PostgreSQL cannot tell which). Counters are flushed by the backends about once a second.
  await new Promise((res) => setTimeout(res, 1500));
  const io: string[] = [];
  for (const server of SERVERS) {
    const before = JSON.parse(ctx.vars.get(`io:${server}`) ?? 'null') as UsersIo;
    const after = await usersIo(databaseUrlOf(ctx, server));
    const heapHit = after.heapHit - before.heapHit;
    const heapRead = after.heapRead - before.heapRead;
    const idxHit = after.idxHit - before.idxHit;
    const idxRead = after.idxRead - before.idxRead;
    const share = (read: number, hit: number) => (read + hit > 0 ? ((read / (read + hit)) * 100).toFixed(2) : 'n/a');
    io.push(
      `  | \`${server}\` | ${fmt(heapHit)} / ${fmt(heapRead)} | ${share(heapRead, heapHit)}% | ${fmt(idxHit)} / ${fmt(idxRead)} | ${share(idxRead, idxHit)}% |`,
    );
  }
  ctx.note(
    [
      'Buffers of the users table over the rounds (warm-ups included; `pg_statio_user_tables`): hits in ' +
        'shared_buffers / reads from outside it (the OS page cache or the disk: PostgreSQL cannot tell which).',
      '',
      '  | server | heap hit / read | heap read % | index hit / read | index read % |',
      '  | --- | ---: | ---: | ---: | ---: |',
      ...io,
    ].join('\n'),
  );
}

export const scenario: Scenario = {
  name: 'accounts-me-scale',
  description:
    'Issue 3 "Performance" (p95 on 1M users within 1.2× of 10k users): `GET /api/me` with the bearer token of a ' +
    'different random seeded user on every request, the user cache off (`auth.userCacheTtlMs: 0`), per-IP limiting ' +
    'off, against two API servers in the same run: `api` on a database seeded with the large users table and ' +
    '`api-small` on one seeded with the small table (sizes in the notes; same seeder, bench/seed/users.ts, same ' +
    'PostgreSQL instance, same Redis). Both are measured in every round, one after the other; the notes give the ' +
    'p95 ratio large/small round by round and its median.',
  apiConfigYaml: ME_CONFIG_YAML,
  ownDatabaseApis: ['api-small'],
  async setup(ctx) {
    const users = intParam(ctx, 'users', 1_000_000);
    const compare = intParam(ctx, 'compare', 10_000);
    const tokenCount = intParam(ctx, 'tokens', 2000);
    for (const [server, count] of [
      ['api', users],
      ['api-small', compare],
    ] as const) {
      await seedMeTable(ctx, { server, count, tokenCount, label: `\`${server}\` (${fmt(count)} users): ` });
    }
    let sharedBuffers = '';
    const sizes: string[] = [];
    for (const server of SERVERS) {
      const client = new pg.Client({ connectionString: databaseUrlOf(ctx, server) });
      await client.connect();
      try {
        const { rows } = await client.query<{ shared_buffers: string; size: string }>(
          `select current_setting('shared_buffers') as shared_buffers,
                  pg_size_pretty(pg_total_relation_size('users')) as size`,
        );
        sharedBuffers = rows[0]?.shared_buffers ?? '';
        sizes.push(`\`${server}\` ${rows[0]?.size}`);
      } finally {
        await client.end();
      }
    }
    ctx.note(
      `PostgreSQL \`shared_buffers\`: ${sharedBuffers} (\`SHOW shared_buffers\`), shared by both databases (one ` +
        `instance). Users table with its indexes: ${sizes.join(', ')}. A table larger than shared_buffers cannot ` +
        'stay in it whole: lookups that miss it read the page from the OS page cache (the machine has RAM to ' +
        'spare) or the disk; the buffer counters below say how often that happened during the rounds. Each ' +
        `server's load touches only its ${fmt(tokenCount)} token users' rows (\`--param tokens\`) and the index ` +
        'pages above them.',
    );
    for (const server of SERVERS)
      ctx.vars.set(`io:${server}`, JSON.stringify(await usersIo(databaseUrlOf(ctx, server))));
  },
  targets: [
    { name: 'baseline: fastify hello-world GET /', server: 'baseline', path: '/', baseline: true },
    {
      name: 'GET /api/me, large users table (api; random user per request, cache off)',
      server: 'api',
      path: '/api/me',
      vary: randomUserToken('api'),
    },
    {
      name: 'GET /api/me, small users table (api-small; random user per request, cache off)',
      server: 'api-small',
      path: '/api/me',
      vary: randomUserToken('api-small'),
    },
  ],
  measure,
};
