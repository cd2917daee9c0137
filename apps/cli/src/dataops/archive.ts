/**
 * `genz data backup` / `genz data restore`: a gzipped tarball of an embedded install's data dir (the PGlite database
 * in `pglite/`, the generated `auth-secrets`, anything else the server keeps there), taken while no server runs.
 *
 * Backup opens the database once (PGlite replays its WAL if the last server crashed) and closes it cleanly, so the
 * files are a consistent, checkpointed copy; it records every table's fingerprint (row count + row checksum) in
 * `.genz-backup.json` inside the tarball. Restore unpacks into a scratch dir next to the target, opens the database
 * and compares every fingerprint, and only then moves it into place: a damaged tarball never replaces a data dir.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { LOCK_FILE, lockDataDir } from '@genz/db';
import * as tar from 'tar';
import { databaseFingerprint, type TableFingerprint } from './inspect.ts';

export const MANIFEST = '.genz-backup.json';

interface BackupManifest {
  format: 1;
  createdAt: string;
  tables: Record<string, TableFingerprint>;
}

/** Opens the PGlite database of a data dir, runs fn, closes it. */
export async function withPglite<T>(dataDir: string, fn: (db: PGlite) => Promise<T>): Promise<T> {
  const dir = join(dataDir, 'pglite');
  if (!existsSync(join(dir, 'PG_VERSION'))) throw new Error(`no embedded database in ${dir}`);
  const db = await PGlite.create({ dataDir: dir });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

export interface BackupResult {
  file: string;
  bytes: number;
  tables: number;
  rows: number;
}

export async function backupDataDir(
  dataDir: string,
  out: string,
  opts: { force?: boolean; log?: (line: string) => void } = {},
): Promise<BackupResult> {
  const dir = resolve(dataDir);
  if (!existsSync(dir)) throw new Error(`data dir ${dir} does not exist`);
  const release = lockDataDir(dir, 'genz data backup', opts);
  const manifestPath = join(dir, MANIFEST);
  const tmp = `${out}.${randomBytes(4).toString('hex')}.partial`;
  try {
    const tables = existsSync(join(dir, 'pglite', 'PG_VERSION'))
      ? await withPglite(dir, (db) => databaseFingerprint(db))
      : {};
    const manifest: BackupManifest = { format: 1, createdAt: new Date().toISOString(), tables };
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    mkdirSync(dirname(resolve(out)), { recursive: true });
    const entries = readdirSync(dir).filter((e) => e !== LOCK_FILE);
    await tar.create(
      {
        gzip: true,
        file: tmp,
        cwd: dir,
        portable: true,
        // PGlite's pid file exists only while it is open; it is closed here, but never carry one into a restore.
        filter: (path) => !path.endsWith('/postmaster.pid') && path !== 'postmaster.pid',
      },
      entries,
    );
    renameSync(tmp, out);
    const rows = Object.values(tables).reduce((n, t) => n + t.rows, 0);
    opts.log?.(`backed up ${dir} to ${out}: ${Object.keys(tables).length} tables, ${rows} rows`);
    return { file: out, bytes: statSync(out).size, tables: Object.keys(tables).length, rows };
  } finally {
    rmSync(manifestPath, { force: true });
    rmSync(tmp, { force: true });
    release();
  }
}

export function differences(
  expected: Record<string, TableFingerprint>,
  actual: Record<string, TableFingerprint>,
): string[] {
  const out: string[] = [];
  for (const [name, fp] of Object.entries(expected)) {
    const got = actual[name];
    if (got === undefined) out.push(`${name}: missing`);
    else if (got.rows !== fp.rows) out.push(`${name}: ${got.rows} rows, expected ${fp.rows}`);
    else if (got.checksum !== fp.checksum) out.push(`${name}: rows differ (checksum)`);
    else if (JSON.stringify(got.partitions) !== JSON.stringify(fp.partitions)) out.push(`${name}: partitions differ`);
  }
  return out;
}

export interface RestoreResult {
  dataDir: string;
  /** Where the data dir that was there went (with --force), if there was one. */
  movedAside?: string;
  tables: number;
  rows: number;
}

export async function restoreDataDir(
  file: string,
  dataDir: string,
  opts: { force?: boolean; log?: (line: string) => void } = {},
): Promise<RestoreResult> {
  if (!existsSync(file)) throw new Error(`backup ${file} not found`);
  const dir = resolve(dataDir);
  const occupied = existsSync(dir) && readdirSync(dir).length > 0;
  if (occupied && !opts.force) {
    throw new Error(`${dir} is not empty: restore into an empty data dir, or pass --force to move this one aside`);
  }
  // Even with --force, never move a data dir a server is using.
  const release = occupied ? lockDataDir(dir, 'genz data restore') : () => {};
  const scratch = join(dirname(dir), `.${basename(dir)}.restoring-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(scratch, { recursive: true });
    await tar.extract({ file, cwd: scratch, strict: true });
    const manifestPath = join(scratch, MANIFEST);
    if (!existsSync(manifestPath)) throw new Error(`${file} is not a genz data backup (no ${MANIFEST})`);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as BackupManifest;
    rmSync(manifestPath);
    const tables =
      Object.keys(manifest.tables).length > 0 ? await withPglite(scratch, (db) => databaseFingerprint(db)) : {};
    const diff = differences(manifest.tables, tables);
    if (diff.length > 0) throw new Error(`restored data does not match the backup's manifest:\n  ${diff.join('\n  ')}`);
    let movedAside: string | undefined;
    if (occupied) {
      movedAside = `${dir}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      release(); // the lock file moves with the old dir otherwise
      renameSync(dir, movedAside);
      rmSync(join(movedAside, LOCK_FILE), { force: true });
    } else if (existsSync(dir)) rmSync(dir, { recursive: true });
    renameSync(scratch, dir);
    const rows = Object.values(tables).reduce((n, t) => n + t.rows, 0);
    opts.log?.(
      `restored ${file} into ${dir}: ${Object.keys(tables).length} tables, ${rows} rows verified` +
        (movedAside ? `; the previous data dir is in ${movedAside}` : ''),
    );
    return { dataDir: dir, ...(movedAside ? { movedAside } : {}), tables: Object.keys(tables).length, rows };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    release();
  }
}
