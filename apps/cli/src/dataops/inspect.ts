/**
 * Catalog reading shared by the data commands and their tests: the application's tables in foreign-key order, their
 * columns, partitions, and a fingerprint (row count + checksum of the rows) that is equal on two databases holding
 * the same data, whether PGlite (PostgreSQL 18) or a PostgreSQL 15 server.
 */

/** The one method the data commands need; PGlite and node-postgres (through `pgQueryable`) both provide it. */
export interface Queryable {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/** Adapts anything with node-postgres' `query(text, values)` (Client, Pool, PoolClient). */
export function pgQueryable(client: {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}): Queryable {
  return {
    async query<R>(text: string, params?: unknown[]) {
      const r = await client.query(text, params);
      return { rows: r.rows as R[] };
    },
  };
}

export interface Column {
  name: string;
  /** format_type(): the column's SQL type with its modifier, e.g. `timestamp(3) with time zone`. */
  type: string;
  /** GENERATED ALWAYS AS (…) STORED: never copied, the target computes it. */
  generated: boolean;
}

export interface Partition {
  name: string;
  /** pg_get_expr(relpartbound): `FOR VALUES …` or `DEFAULT`. */
  bound: string;
}

export interface TableInfo {
  schema: string;
  name: string;
  /** quoted schema.name */
  qualified: string;
  partitioned: boolean;
  columns: Column[];
  primaryKey: string[];
  partitions: Partition[];
}

/** Schemas that hold no application data: the catalogs, and drizzle's migration journal (each side migrates). */
const SKIP_SCHEMAS = "('pg_catalog', 'information_schema', 'drizzle', 'pg_toast')";

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Every application table (ordinary or partitioned; partitions are listed under their parent) in an order where
 * each table comes after the tables its foreign keys reference. Throws on a reference cycle between tables.
 */
export async function listTables(q: Queryable): Promise<TableInfo[]> {
  const { rows: rels } = await q.query<{ oid: number; schema: string; name: string; kind: string }>(
    `select c.oid::int as oid, n.nspname as schema, c.relname as name, c.relkind::text as kind
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and not c.relispartition
        and n.nspname not in ${SKIP_SCHEMAS} and n.nspname not like 'pg\\_%'
      order by n.nspname, c.relname`,
  );
  const byOid = new Map<number, TableInfo>();
  for (const r of rels) {
    const { rows: cols } = await q.query<{ name: string; type: string; generated: string }>(
      `select attname as name, format_type(atttypid, atttypmod) as type, attgenerated::text as generated
         from pg_attribute where attrelid = $1 and attnum > 0 and not attisdropped order by attnum`,
      [r.oid],
    );
    const { rows: pk } = await q.query<{ name: string }>(
      `select a.attname as name
         from pg_index i
         cross join lateral unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
         join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
        where i.indrelid = $1 and i.indisprimary
        order by k.ord`,
      [r.oid],
    );
    const { rows: parts } = await q.query<{ name: string; bound: string }>(
      `select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
         from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = $1 order by c.relname`,
      [r.oid],
    );
    byOid.set(r.oid, {
      schema: r.schema,
      name: r.name,
      qualified: `${quoteIdent(r.schema)}.${quoteIdent(r.name)}`,
      partitioned: r.kind === 'p',
      columns: cols.map((c) => ({ name: c.name, type: c.type, generated: c.generated !== '' })),
      primaryKey: pk.map((p) => p.name),
      partitions: parts,
    });
  }
  // Foreign keys declared on the tables themselves (conparentid = 0: not the copies made on each partition).
  const { rows: fks } = await q.query<{ from: number; to: number }>(
    `select conrelid::int as "from", confrelid::int as "to" from pg_constraint where contype = 'f' and conparentid = 0`,
  );
  const deps = new Map<number, Set<number>>([...byOid.keys()].map((oid) => [oid, new Set<number>()]));
  for (const fk of fks) {
    if (fk.from !== fk.to && byOid.has(fk.from) && byOid.has(fk.to)) deps.get(fk.from)?.add(fk.to);
  }
  const ordered: TableInfo[] = [];
  const done = new Set<number>();
  const visiting = new Set<number>();
  const visit = (oid: number, path: string[]): void => {
    if (done.has(oid)) return;
    const t = byOid.get(oid);
    if (t === undefined) return;
    if (visiting.has(oid)) throw new Error(`foreign keys form a cycle: ${[...path, t.name].join(' -> ')}`);
    visiting.add(oid);
    for (const d of deps.get(oid) ?? []) visit(d, [...path, t.name]);
    visiting.delete(oid);
    done.add(oid);
    ordered.push(t);
  };
  for (const oid of byOid.keys()) visit(oid, []);
  return ordered;
}

/**
 * Makes the text form of values the same on every server, so fingerprints and text copies do not depend on a
 * server's TimeZone or DateStyle. Per session.
 */
export async function normaliseSession(q: Queryable): Promise<void> {
  await q.query(
    `select set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, MDY', false),
            set_config('IntervalStyle', 'postgres', false), set_config('extra_float_digits', '1', false),
            set_config('bytea_output', 'hex', false)`,
  );
}

export interface TableFingerprint {
  rows: number;
  /** md5 over the sorted md5s of each row's text form (stored columns only); '' for an empty table. */
  checksum: string;
  /** Rows per partition (partitioned tables only), by partition name. */
  partitions?: Record<string, number>;
}

export async function tableFingerprint(q: Queryable, t: TableInfo): Promise<TableFingerprint> {
  const cols = t.columns.filter((c) => !c.generated).map((c) => `x.${quoteIdent(c.name)}`);
  const { rows } = await q.query<{ n: string; sum: string | null }>(
    `select count(*)::text as n, md5(string_agg(h, '' order by h collate "C")) as sum
       from (select md5(row(${cols.join(', ')})::text) as h from ${t.qualified} x) s`,
  );
  const fp: TableFingerprint = { rows: Number(rows[0]?.n ?? 0), checksum: rows[0]?.sum ?? '' };
  if (t.partitioned) {
    const { rows: parts } = await q.query<{ part: string; n: string }>(
      `select c.relname as part, count(*)::text as n
         from ${t.qualified} x join pg_class c on c.oid = x.tableoid group by c.relname`,
    );
    fp.partitions = Object.fromEntries(
      [
        ...t.partitions.map((p): [string, number] => [p.name, 0]),
        ...parts.map((p): [string, number] => [p.part, Number(p.n)]),
      ].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  }
  return fp;
}

/** Fingerprints of every application table, keyed by schema.table. */
export async function databaseFingerprint(q: Queryable): Promise<Record<string, TableFingerprint>> {
  await normaliseSession(q);
  const out: Record<string, TableFingerprint> = {};
  for (const t of await listTables(q)) out[`${t.schema}.${t.name}`] = await tableFingerprint(q, t);
  return out;
}
