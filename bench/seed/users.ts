import { hash } from '@node-rs/argon2';
import pg from 'pg';

/**
 * Bulk users for data-at-scale benchmarks (issue 3 §7). Rows are generated server-side (INSERT … SELECT over
 * generate_series, one statement per batch), so nothing crosses the wire but the statement: about 1M rows/min on the
 * 2-core dev VM, index maintenance included. Every user shares one precomputed argon2id hash of BENCH_PASSWORD (hashing
 * a million passwords would take hours at the production parameters).
 */

/** The password of every seeded user (passes the app's password policy). */
export const BENCH_PASSWORD = 'bench correct horse 42';

/** docs/accounts.md defaults (auth.argon2MemoryKiB / argon2TimeCost / argon2Parallelism). */
export const ARGON2_DEFAULTS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export type Mix = ReadonlyArray<readonly [name: string, weight: number]>;

/** 90% free, 10% pro: the plans of the default config (`plans: { free, pro }`). */
export const DEFAULT_PLAN_MIX: Mix = [
  ['free', 90],
  ['pro', 10],
];

const PLAN_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** `free:90,pro:9,team:1` → [['free', 90], …]; names must be valid plan names (they are inlined into SQL). */
export function parseMix(text: string): Mix {
  const mix = text.split(',').map((part): [string, number] => {
    const [name = '', weight = ''] = part.split(':').map((s) => s.trim());
    const w = Number(weight);
    if (!PLAN_NAME.test(name)) throw new Error(`plan mix: bad plan name "${name}"`);
    if (!Number.isFinite(w) || w <= 0) throw new Error(`plan mix: bad weight for ${name}: "${weight}"`);
    return [name, w];
  });
  if (new Set(mix.map(([n]) => n)).size !== mix.length) throw new Error('plan mix: a plan appears twice');
  return mix;
}

/**
 * A CASE expression picking a plan from a uniform random column `r` in [0, 1) with the mix's weights:
 * `CASE WHEN r < 0.9 THEN 'free' ELSE 'pro' END`.
 */
export function planCaseSql(mix: Mix, column = 'r'): string {
  if (mix.length === 0) throw new Error('plan mix: empty');
  const total = mix.reduce((a, [, w]) => a + w, 0);
  let cumulative = 0;
  const whens: string[] = [];
  mix.forEach(([name, weight], i) => {
    if (!PLAN_NAME.test(name)) throw new Error(`plan mix: bad plan name "${name}"`);
    cumulative += weight;
    if (i < mix.length - 1) whens.push(`WHEN ${column} < ${(cumulative / total).toFixed(6)} THEN '${name}'`);
  });
  const last = mix[mix.length - 1]?.[0] as string;
  return whens.length === 0 ? `'${last}'` : `CASE ${whens.join(' ')} ELSE '${last}' END`;
}

/** [lo, hi] ranges (1-based, inclusive) of `batch` rows covering 1..count. */
export function batches(count: number, batch: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let lo = 1; lo <= count; lo += batch) out.push([lo, Math.min(count, lo + batch - 1)]);
  return out;
}

export interface SeedOptions {
  databaseUrl: string;
  count: number;
  batch?: number;
  mix?: Mix;
  /** created_at runs evenly from `now - spreadDays` to now, in id order (ids are UUIDv7 of created_at). */
  spreadDays?: number;
  /** Distinguishes the emails of one invocation, so seeding the same database twice adds users. */
  tag?: string;
  /** argon2id hash stored for every user; computed from BENCH_PASSWORD with ARGON2_DEFAULTS when absent. */
  passwordHash?: string;
  onProgress?: (done: number, total: number) => void;
}

/**
 * One batch: ids are UUIDv7 (48-bit ms of created_at, version 7, variant 8, md5 bits) like the app's; emails are
 * `user<i>.<tag>@<one of 4 domains>`, already NFKC + lowercase + trimmed (the app's normal form); 85% verified;
 * 98.5% active, 1% disabled, 0.5% pending approval; 70% have a last_active_at between sign-up and now.
 */
export function batchSql(mix: Mix): string {
  return `
INSERT INTO users (id, email, password_hash, role, plan, status, email_verified_at, created_at, last_active_at)
SELECT
  (lpad(to_hex((extract(epoch FROM c) * 1000)::bigint), 12, '0') || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid,
  'user' || i || '.' || $3 || '@' || (ARRAY['example.com', 'example.org', 'mail.example.net', 'corp.example'])[1 + i % 4],
  $4,
  'user',
  ${planCaseSql(mix, 'r')},
  CASE WHEN s < 0.985 THEN 'active' WHEN s < 0.995 THEN 'disabled' ELSE 'pending_approval' END,
  CASE WHEN v < 0.85 THEN c + v * interval '2 days' END,
  c,
  CASE WHEN a < 0.7 THEN c + a / 0.7 * (now() - c) END
FROM (
  SELECT i,
    now() - $5::float8 * interval '1 day' + (i::float8 / $6::float8) * $5::float8 * interval '1 day' AS c,
    md5(i::text || $3) AS h, random() AS r, random() AS s, random() AS v, random() AS a
  FROM generate_series($1::int, $2::int) AS i
) g
ON CONFLICT DO NOTHING`;
}

export async function benchPasswordHash(): Promise<string> {
  return hash(BENCH_PASSWORD.normalize('NFKC'), { algorithm: 2, ...ARGON2_DEFAULTS });
}

/** Inserts `count` users in batches; returns how many rows were inserted. Migrations must already be applied. */
export async function seedUsers(opts: SeedOptions): Promise<number> {
  const batch = opts.batch ?? 50_000;
  const mix = opts.mix ?? DEFAULT_PLAN_MIX;
  const spreadDays = opts.spreadDays ?? 730;
  const tag = opts.tag ?? Date.now().toString(36);
  if (!/^[a-z0-9]{1,16}$/.test(tag)) throw new Error(`tag must be 1-16 of [a-z0-9], got ${tag}`);
  const passwordHash = opts.passwordHash ?? (await benchPasswordHash());
  const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'genz-seed-users' });
  await client.connect();
  try {
    const sql = batchSql(mix);
    let inserted = 0;
    for (const [lo, hi] of batches(opts.count, batch)) {
      const res = await client.query(sql, [lo, hi, tag, passwordHash, spreadDays, opts.count]);
      inserted += res.rowCount ?? 0;
      opts.onProgress?.(hi, opts.count);
    }
    await client.query('ANALYZE users');
    return inserted;
  } finally {
    await client.end();
  }
}
