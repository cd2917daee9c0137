import { spawn } from 'node:child_process';
import { once } from 'node:events';
/**
 * `genz data backup` / `restore` on an embedded install, Node only (PGlite). The data dir is a real one: migrated
 * by the app's createDb(), seeded in every kind of table, with a generated-secrets file beside the database.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createDb } from '@genz/db';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../main.ts';
import { withPglite } from './archive.ts';
import { databaseFingerprint, type TableFingerprint } from './inspect.ts';
import { seedAuditPartitions, seedDatabase } from './seed.testing.ts';

const root = mkdtempSync(join(tmpdir(), 'genz-cli-data-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function genz(...args: string[]): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const code = await run(args, (l) => lines.push(l), {});
  return { code, output: lines.join('\n') };
}

const dataDir = join(root, 'data');
let original: Record<string, TableFingerprint>;

beforeAll(async () => {
  const handle = await createDb({ dataDir, poolSize: 1 });
  await handle.migrate();
  await handle.close();
  original = await withPglite(dataDir, async (db) => {
    await seedAuditPartitions(db);
    await seedDatabase(db);
    return databaseFingerprint(db);
  });
  writeFileSync(join(dataDir, 'auth-secrets'), 'k1:0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
}, 120_000);

describe('genz data backup / restore', () => {
  it('round-trips the data dir: every table, row and partition, and the secrets file', async () => {
    const file = join(root, 'backup.tar.gz');
    const b = await genz('data', 'backup', '--data-dir', dataDir, '--out', file);
    expect(b.output).toMatch(/backed up .* \d+ tables, \d+ rows/);
    expect(b.code).toBe(0);
    // The data dir is left as it was: no lock, no manifest, PGlite closed.
    expect(readdirSync(dataDir).sort()).toEqual(['auth-secrets', 'pglite']);

    const entries: string[] = [];
    await tar.list({ file, onReadEntry: (e) => entries.push(e.path) });
    expect(entries).toContain('.genz-backup.json');
    expect(entries).toContain('auth-secrets');
    expect(entries.some((e) => e.startsWith('pglite/base/'))).toBe(true);
    expect(entries.some((e) => e.endsWith('postmaster.pid') || e.endsWith('genz.lock'))).toBe(false);

    const target = join(root, 'restored');
    const r = await genz('data', 'restore', '--in', file, '--data-dir', target);
    expect(r.output).toMatch(/restored .* \d+ tables, \d+ rows verified/);
    expect(r.code).toBe(0);
    expect(readFileSync(join(target, 'auth-secrets'), 'utf8')).toBe(
      readFileSync(join(dataDir, 'auth-secrets'), 'utf8'),
    );
    expect(existsSync(join(target, '.genz-backup.json'))).toBe(false);
    const restored = await withPglite(target, (db) => databaseFingerprint(db));
    expect(restored).toEqual(original);
    expect(restored['public.messages']?.rows).toBe(180);
    expect(Object.values(restored['public.audit_events']?.partitions ?? {}).filter((n) => n > 0).length).toBe(4);
  }, 60_000);

  it('refuses while the database is open (a running server) and while another process holds the data dir', async () => {
    const open = await PGlite.create({ dataDir: join(dataDir, 'pglite') });
    try {
      const r = await genz('data', 'backup', '--data-dir', dataDir, '--out', join(root, 'x.tar.gz'));
      expect(r.code).toBe(3);
      expect(r.output).toMatch(/refused: .*pglite is open: stop the GenZ server/);
      const m = await genz(
        'data',
        'migrate-to-postgres',
        '--data-dir',
        dataDir,
        '--database-url',
        'postgres://x@127.0.0.1:1/x',
      );
      expect(m.code).toBe(3);
    } finally {
      await open.close();
    }
    expect(existsSync(join(root, 'x.tar.gz'))).toBe(false);

    // A live process's lock (a sleeping child stands in for another genz command; our own pid would count as
    // this process holding it already).
    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dataDir, 'genz.lock'), `${holder.pid}\ngenz data backup\n`);
      const l = await genz('data', 'backup', '--data-dir', dataDir, '--out', join(root, 'y.tar.gz'));
      expect(l.code).toBe(3);
      expect(l.output).toMatch(new RegExp(`in use by process ${holder.pid} \\(genz data backup\\)`));
    } finally {
      holder.kill();
      await once(holder, 'exit');
    }
    // A dead process's lock is stale and taken over.
    writeFileSync(join(dataDir, 'genz.lock'), '2147483646\ngenz data backup\n');
    const s = await genz('data', 'backup', '--data-dir', dataDir, '--out', join(root, 'y.tar.gz'));
    expect(s.code, s.output).toBe(0);
    expect(existsSync(join(dataDir, 'genz.lock'))).toBe(false);
  }, 60_000);

  it('--force goes on when a crashed server left the database marked open', async () => {
    const crashed = join(root, 'crashed');
    mkdirSync(crashed);
    await tar.extract({ file: join(root, 'backup.tar.gz'), cwd: crashed });
    rmSync(join(crashed, '.genz-backup.json'));
    writeFileSync(join(crashed, 'pglite', 'postmaster.pid'), '-42\n/pglite/data\n');
    expect((await genz('data', 'backup', '--data-dir', crashed, '--out', join(root, 'c.tar.gz'))).code).toBe(3);
    const f = await genz('data', 'backup', '--data-dir', crashed, '--out', join(root, 'c.tar.gz'), '--force');
    expect(f.code, f.output).toBe(0);
  }, 60_000);

  it('restore refuses a non-empty data dir unless --force, which moves it aside', async () => {
    const file = join(root, 'backup.tar.gz');
    const target = join(root, 'occupied');
    mkdirSync(target);
    writeFileSync(join(target, 'keep-me'), 'x');
    const r = await genz('data', 'restore', '--in', file, '--data-dir', target);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/is not empty/);
    const f = await genz('data', 'restore', '--in', file, '--data-dir', target, '--force');
    expect(f.code, f.output).toBe(0);
    const aside = readdirSync(root).find((e) => e.startsWith('occupied.before-restore-'));
    expect(aside).toBeDefined();
    expect(readFileSync(join(root, aside as string, 'keep-me'), 'utf8')).toBe('x');
    expect(existsSync(join(target, 'pglite', 'PG_VERSION'))).toBe(true);
  }, 60_000);

  it('restore verifies the data against the manifest and leaves the data dir alone when it does not match', async () => {
    // A tampered backup: one row fewer than its manifest says.
    const work = join(root, 'tamper');
    mkdirSync(work);
    await tar.extract({ file: join(root, 'backup.tar.gz'), cwd: work });
    await withPglite(work, (db) => db.query('delete from sessions where ctid = (select min(ctid) from sessions)'));
    const bad = join(root, 'tampered.tar.gz');
    await tar.create({ gzip: true, file: bad, cwd: work }, readdirSync(work));
    const target = join(root, 'never');
    const r = await genz('data', 'restore', '--in', bad, '--data-dir', target);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/does not match the backup's manifest:\n\s+public\.sessions: 11 rows, expected 12/);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(root).some((e) => e.includes('restoring'))).toBe(false);

    const junk = join(root, 'junk.tar.gz');
    writeFileSync(junk, 'not a tarball');
    expect((await genz('data', 'restore', '--in', junk, '--data-dir', target)).code).toBe(1);
    expect(existsSync(target)).toBe(false);
  }, 60_000);

  it('validates arguments', async () => {
    expect((await genz('data', 'restore')).code).toBe(2);
    expect((await genz('data', 'frob')).code).toBe(2);
    expect((await genz('data', 'migrate-to-postgres', '--data-dir', dataDir)).code).toBe(2);
    expect((await genz('data', 'backup', '--bogus')).code).toBe(2);
    const help = await genz('help');
    expect(help.output).toMatch(/data migrate-to-postgres --database-url URL/);
  });
});
