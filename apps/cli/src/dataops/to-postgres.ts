/**
 * `genz data migrate-to-postgres`: moves an embedded install (PGlite in DATA_DIR/pglite) to a PostgreSQL server.
 *
 * 1. Locks the data dir (no server may run) and brings both databases to the current migrations (the target gets
 *    them through the app's own migrate(), advisory lock included).
 * 2. Refuses a target that already holds application rows, or whose tables/columns differ from the source's.
 * 3. Creates on the target every partition the source has and the target lacks (monthly audit/usage partitions
 *    made while the embedded server ran), so rows land in the same partitions.
 * 4. In one transaction (all or nothing): copies every table in foreign-key order, in keyset batches on the primary
 *    key. Values travel as their text form and are cast back on the target — exact for every type, with both sessions
 *    on the same TimeZone/DateStyle — and generated columns are left for the target to compute. Then sequences.
 * 5. Verifies every table's row count, row checksum and per-partition counts on both sides.
 */
import { createDb, lockDataDir } from '@genz/db';
import { Client } from 'pg';
import { differences, withPglite } from './archive.ts';
import {
  databaseFingerprint,
  listTables,
  normaliseSession,
  pgQueryable,
  type Queryable,
  quoteIdent,
  type TableInfo,
} from './inspect.ts';

export interface MigrateToPostgresOptions {
  dataDir: string;
  databaseUrl: string;
  batchSize?: number;
  force?: boolean;
  log?: (line: string) => void;
}

export interface MigrateToPostgresResult {
  tables: { name: string; rows: number }[];
  partitionsCreated: string[];
  rows: number;
}

function storedColumns(t: TableInfo): string[] {
  return t.columns.filter((c) => !c.generated).map((c) => c.name);
}

/** Copies one table in keyset batches. Returns the number of rows copied. */
async function copyTable(
  source: Queryable,
  target: Queryable,
  src: TableInfo,
  dst: TableInfo,
  batchSize: number,
): Promise<number> {
  const cols = storedColumns(src);
  const typeOf = new Map(dst.columns.map((c) => [c.name, c.type]));
  const colList = cols.map(quoteIdent).join(', ');
  const selectList = cols.map((c, i) => `x.${quoteIdent(c)}::text as c${i}`).join(', ');
  const unnestArgs = cols.map((_, i) => `$${i + 1}::text[]`).join(', ');
  const castList = cols.map((c, i) => `u.c${i}::${typeOf.get(c)}`).join(', ');
  const insert =
    `insert into ${dst.qualified} (${colList}) overriding system value ` +
    `select ${castList} from unnest(${unnestArgs}) as u(${cols.map((_, i) => `c${i}`).join(', ')})`;
  const pk = src.primaryKey;
  const pkIdx = pk.map((k) => cols.indexOf(k));
  const keyset = pk.length > 0 && pkIdx.every((i) => i >= 0);
  const order = keyset
    ? pk.map((k) => `x.${quoteIdent(k)}`).join(', ')
    : cols.map((c) => `x.${quoteIdent(c)}::text`).join(', ');
  const pkTypes = pk.map((k) => src.columns.find((c) => c.name === k)?.type ?? 'text');
  let copied = 0;
  let last: (string | null)[] | undefined;
  for (;;) {
    let rows: Record<string, string | null>[];
    if (keyset) {
      const where =
        last === undefined
          ? ''
          : `where (${pk.map((k) => `x.${quoteIdent(k)}`).join(', ')}) > (${pk.map((_, i) => `$${i + 1}::${pkTypes[i]}`).join(', ')})`;
      rows = (
        await source.query<Record<string, string | null>>(
          `select ${selectList} from ${src.qualified} x ${where} order by ${order} limit ${batchSize}`,
          last ?? [],
        )
      ).rows;
    } else {
      rows = (
        await source.query<Record<string, string | null>>(
          `select ${selectList} from ${src.qualified} x order by ${order} limit ${batchSize} offset ${copied}`,
        )
      ).rows;
    }
    if (rows.length === 0) break;
    const columns = cols.map((_, i) => rows.map((r) => r[`c${i}`] ?? null));
    await target.query(insert, columns);
    copied += rows.length;
    const tail = rows[rows.length - 1] as Record<string, string | null>;
    last = pkIdx.map((i) => tail[`c${i}`] ?? null);
    if (rows.length < batchSize) break;
  }
  return copied;
}

export async function migrateToPostgres(opts: MigrateToPostgresOptions): Promise<MigrateToPostgresResult> {
  const log = opts.log ?? (() => {});
  const batchSize = opts.batchSize ?? 1000;
  const release = lockDataDir(opts.dataDir, 'genz data migrate-to-postgres', { force: opts.force ?? false });
  try {
    // Both sides on the current migrations. The embedded one first: it is what the server would do at its next start.
    const embedded = await createDb({ dataDir: opts.dataDir, poolSize: 1 });
    try {
      await embedded.migrate();
    } finally {
      await embedded.close();
    }
    const server = await createDb({ url: opts.databaseUrl, poolSize: 1, dataDir: opts.dataDir });
    try {
      await server.migrate();
    } finally {
      await server.close();
    }
    log(`migrations applied to ${redact(opts.databaseUrl)}`);

    return await withPglite(opts.dataDir, async (source) => {
      const client = new Client({ connectionString: opts.databaseUrl, application_name: 'genz-migrate-to-postgres' });
      await client.connect();
      const target = pgQueryable(client);
      try {
        await normaliseSession(source);
        await normaliseSession(target);
        const srcTables = await listTables(source);
        const dstTables = new Map((await listTables(target)).map((t) => [`${t.schema}.${t.name}`, t]));
        const problems: string[] = [];
        for (const t of srcTables) {
          const d = dstTables.get(`${t.schema}.${t.name}`);
          if (d === undefined) {
            problems.push(`table ${t.schema}.${t.name} does not exist on the target`);
            continue;
          }
          const a = storedColumns(t).join(',');
          const b = storedColumns(d).join(',');
          if (a !== b) problems.push(`${t.schema}.${t.name}: columns differ (embedded: ${a}; target: ${b})`);
          const { rows } = await target.query<{ any: boolean }>(`select exists(select 1 from ${d.qualified}) as any`);
          if (rows[0]?.any) problems.push(`${t.schema}.${t.name} on the target already has rows`);
        }
        if (problems.length > 0)
          throw new Error(
            `the target database is not an empty GenZ database on the same migrations:\n  ${problems.join('\n  ')}`,
          );

        await target.query('begin');
        const partitionsCreated: string[] = [];
        const copied: { name: string; rows: number }[] = [];
        try {
          for (const t of srcTables) {
            const d = dstTables.get(`${t.schema}.${t.name}`) as TableInfo;
            const have = new Set(d.partitions.map((p) => p.name));
            for (const p of t.partitions) {
              if (have.has(p.name)) continue;
              await target.query(
                `create table ${quoteIdent(t.schema)}.${quoteIdent(p.name)} partition of ${d.qualified} ${p.bound}`,
              );
              partitionsCreated.push(p.name);
            }
          }
          if (partitionsCreated.length > 0) log(`created partitions: ${partitionsCreated.join(', ')}`);
          for (const t of srcTables) {
            const d = dstTables.get(`${t.schema}.${t.name}`) as TableInfo;
            const n = await copyTable(source, target, t, d, batchSize);
            copied.push({ name: `${t.schema}.${t.name}`, rows: n });
            log(`copied ${t.schema}.${t.name}: ${n} rows`);
          }
          const { rows: seqs } = await source.query<{ name: string; last: string; called: boolean }>(
            `select quote_ident(schemaname) || '.' || quote_ident(sequencename) as name, last_value::text as last,
                    last_value is not null as called
               from pg_sequences where schemaname not in ('pg_catalog', 'information_schema', 'drizzle')`,
          );
          for (const s of seqs) {
            if (s.called) await target.query('select setval($1::regclass, $2::bigint, true)', [s.name, s.last]);
          }
          await target.query('commit');
        } catch (err) {
          await target.query('rollback').catch(() => {});
          throw err;
        }

        // Verification after commit, from fresh reads of both sides.
        const before = await databaseFingerprint(source);
        const after = await databaseFingerprint(target);
        // Partitions the target made ahead that the source lacks must be empty; compare the source's view.
        for (const [name, fp] of Object.entries(after)) {
          const src = before[name];
          if (src?.partitions && fp.partitions) {
            const extra = Object.entries(fp.partitions).filter(([p, n]) => !(p in (src.partitions ?? {})) && n === 0);
            for (const [p] of extra) delete fp.partitions[p];
          }
        }
        const diff = differences(before, after);
        if (diff.length > 0) throw new Error(`verification failed after the copy:\n  ${diff.join('\n  ')}`);
        const rows = copied.reduce((n, t) => n + t.rows, 0);
        log(`verified ${copied.length} tables, ${rows} rows: row counts, checksums and partitions match`);
        return { tables: copied, partitionsCreated, rows };
      } finally {
        await client.end().catch(() => {});
      }
    });
  } finally {
    release();
  }
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid URL>';
  }
}
