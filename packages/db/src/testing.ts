/**
 * Test isolation (ARCHITECTURE.md §11). Each test file gets its own migrated database:
 * - GENZ_TEST_BACKEND=embedded (default): PGlite cloned from a migrated data-dir tarball cached in os.tmpdir()
 *   (a fresh PGlite + migrations costs seconds and ~750 MB; a clone a fraction of that).
 * - GENZ_TEST_BACKEND=server: `CREATE DATABASE genz_t_… TEMPLATE genz_tpl_<migrations hash>` on TEST_DATABASE_URL,
 *   dropped on dispose. Names are unique per call, so reruns and parallel runs never collide.
 * Fixtures are keyed by the migrations hash; test-global-setup.ts builds them once per run, and these functions
 * build them on demand too (under a lock), so a test also runs without the global setup.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Client } from 'pg';
import { migrationsHash } from './migrations.ts';
import { pgliteHandle } from './pglite.ts';
import { ADVISORY_LOCK_NAMESPACE, postgresHandle } from './postgres.ts';
import type { DbHandle } from './types.ts';

export type TestBackend = 'embedded' | 'server';
export type TestDb = DbHandle & {
  dispose(): Promise<void>;
};

export const testRedisUrl: string = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const testDatabaseUrl: string = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const TEMPLATE_LOCK_ID = 2;
/** Test databases older than this are leftovers of a killed run. */
const STALE_TEST_DB_MS = 6 * 60 * 60 * 1000;

export function testBackend(): TestBackend {
  const v = process.env.GENZ_TEST_BACKEND ?? 'embedded';
  if (v !== 'embedded' && v !== 'server') throw new Error(`GENZ_TEST_BACKEND must be embedded or server, got ${v}`);
  return v;
}

/** A unique Redis key prefix in a hash tag (`{t1a2b3c4d5e6}:`), so a test's keys share one cluster slot. */
export function testRedisPrefix(): string {
  return `{t${randomBytes(6).toString('hex')}}:`;
}

/**
 * Identifies one test run: test-global-setup.ts sets it before vitest starts its workers, and drops the run's
 * databases at teardown, so a file that failed before dispose() leaves nothing behind.
 */
export function testRunId(): string {
  process.env.GENZ_TEST_RUN_ID ??= randomBytes(4).toString('hex');
  return process.env.GENZ_TEST_RUN_ID;
}

/** Unique database name that tells its age and run: genz_t_<base36 ms>_<run>_<random>. */
function uniqueDbName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${testRunId()}_${randomBytes(4).toString('hex')}`;
}

function dbUrl(base: string, database: string): string {
  const u = new URL(base);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withAdmin<T>(fn: (c: Client) => Promise<T>, url = testDatabaseUrl): Promise<T> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: 'genz-test' });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

// ---------- embedded (PGlite) ----------

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve('@electric-sql/pglite'));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const parsed: unknown = JSON.parse(readFileSync(pkg, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && 'name' in parsed && parsed.name === '@electric-sql/pglite') {
        return 'version' in parsed ? String(parsed.version) : 'unknown';
      }
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** Path of the migrated PGlite data-dir tarball for the current migrations and PGlite version. */
export function embeddedTemplatePath(): string {
  return join(tmpdir(), 'genz-test-fixtures', `pglite-${pgliteVersion()}-${migrationsHash()}.tar.gz`);
}

/** Builds the migrated PGlite tarball unless cached. Concurrent builders each write a temp file and rename. */
export async function prepareEmbeddedTemplate(): Promise<string> {
  const path = embeddedTemplatePath();
  if (existsSync(path)) return path;
  await mkdir(dirname(path), { recursive: true });
  const client = await PGlite.create();
  const handle = pgliteHandle(client);
  try {
    await handle.migrate();
    const tar = await client.dumpDataDir('gzip');
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, Buffer.from(await tar.arrayBuffer()));
    renameSync(tmp, path);
  } finally {
    await handle.close();
  }
  return path;
}

let embeddedTar: Blob | undefined;

async function createEmbeddedTestDb(): Promise<TestDb> {
  if (embeddedTar === undefined) embeddedTar = new Blob([readFileSync(await prepareEmbeddedTemplate())]);
  const handle = pgliteHandle(await PGlite.create({ loadDataDir: embeddedTar }));
  return { ...handle, dispose: () => handle.close() };
}

// ---------- server (PostgreSQL) ----------

export function serverTemplateName(): string {
  return `genz_tpl_${migrationsHash()}`;
}

/**
 * Creates the migrated template database genz_tpl_<hash> unless it exists. Runs under an advisory lock on the admin
 * database so concurrent runs build it once; it is built under a scratch name and renamed when complete, so a
 * crash never leaves a half-migrated template. The template refuses connections: CREATE DATABASE … TEMPLATE fails
 * while anyone is connected to it.
 */
export async function prepareServerTemplate(): Promise<string> {
  const template = serverTemplateName();
  await withAdmin(async (admin) => {
    await admin.query('select pg_advisory_lock($1, $2)', [ADVISORY_LOCK_NAMESPACE, TEMPLATE_LOCK_ID]);
    try {
      const found = await admin.query('select 1 from pg_database where datname = $1', [template]);
      if (found.rowCount === 1) return;
      // Scratch builds of runs that died mid-build (we hold the lock, so none is in progress).
      const stale = await admin.query<{ datname: string }>(
        `select datname from pg_database where datname like 'genz\\_tplb\\_%'`,
      );
      for (const { datname } of stale.rows) await admin.query(`drop database if exists "${datname}" with (force)`);
      const build = uniqueDbName(`genz_tplb_${migrationsHash()}`);
      await admin.query(`create database "${build}"`);
      const handle = postgresHandle(dbUrl(testDatabaseUrl, build), { poolSize: 1, dataDir: tmpdir() });
      try {
        await handle.migrate();
      } finally {
        await handle.close();
      }
      await admin.query(`alter database "${build}" rename to "${template}"`);
      await admin.query(`alter database "${template}" with is_template true allow_connections false`);
    } finally {
      await admin.query('select pg_advisory_unlock($1, $2)', [ADVISORY_LOCK_NAMESPACE, TEMPLATE_LOCK_ID]);
    }
  });
  return template;
}

/** Drops test databases left by killed runs (older than a few hours, so a live run's are never touched). */
export async function dropStaleTestDatabases(): Promise<string[]> {
  return withAdmin(async (admin) => {
    const rows = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname like 'genz\\_t\\_%'`,
    );
    const dropped: string[] = [];
    for (const { datname } of rows.rows) {
      const born = Number.parseInt(datname.split('_')[2] ?? '', 36);
      if (Number.isFinite(born) && Date.now() - born > STALE_TEST_DB_MS) {
        await admin.query(`drop database if exists "${datname}" with (force)`);
        dropped.push(datname);
      }
    }
    return dropped;
  });
}

/** Drops every test database of this run (see testRunId). */
export async function dropRunTestDatabases(): Promise<string[]> {
  const run = testRunId();
  return withAdmin(async (admin) => {
    const rows = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname like 'genz\\_t\\_%' and split_part(datname, '_', 4) = $1`,
      [run],
    );
    for (const { datname } of rows.rows) await admin.query(`drop database if exists "${datname}" with (force)`);
    return rows.rows.map((r) => r.datname);
  });
}

/**
 * An empty (unmigrated, or cloned from `template`) database on the test server with a unique name, and a function
 * that drops it. For tests that need several databases (a stand-in replica) or a database without migrations.
 */
export async function createScratchDatabase(template?: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueDbName('genz_t');
  await withAdmin((admin) => admin.query(`create database "${name}"${template ? ` template "${template}"` : ''}`));
  return {
    url: dbUrl(testDatabaseUrl, name),
    drop: () => withAdmin((admin) => admin.query(`drop database if exists "${name}" with (force)`)).then(() => {}),
  };
}

async function createServerTestDb(): Promise<TestDb> {
  const scratch = await createScratchDatabase(await prepareServerTemplate());
  const handle = postgresHandle(scratch.url, { poolSize: 5, dataDir: tmpdir() });
  return {
    ...handle,
    async dispose() {
      await handle.close();
      await scratch.drop();
    },
  };
}

/** A migrated database of its own for one test file (or test); call dispose() in afterAll. */
export async function createTestDb(): Promise<TestDb> {
  return testBackend() === 'server' ? createServerTestDb() : createEmbeddedTestDb();
}
