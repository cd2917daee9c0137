/**
 * `genz data migrate-to-postgres`: an embedded install (PGlite, migrated and seeded in every kind of table, with
 * monthly partitions the server database does not have yet) moved into a scratch database on the test PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb } from '@genz/db';
import { createScratchDatabase } from '@genz/db/testing';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../main.ts';
import { withPglite } from './archive.ts';
import { databaseFingerprint, pgQueryable, type TableFingerprint } from './inspect.ts';
import { seedAuditPartitions, seedDatabase } from './seed.testing.ts';

const root = mkdtempSync(join(tmpdir(), 'genz-cli-topg-'));
const dataDir = join(root, 'data');
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
  rmSync(root, { recursive: true, force: true });
});

async function genz(...args: string[]): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const code = await run(args, (l) => lines.push(l), {});
  return { code, output: lines.join('\n') };
}

async function fingerprintOf(url: string): Promise<Record<string, TableFingerprint>> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await databaseFingerprint(pgQueryable(c));
  } finally {
    await c.end();
  }
}

let source: Record<string, TableFingerprint>;
beforeAll(async () => {
  const handle = await createDb({ dataDir, poolSize: 1 });
  await handle.migrate();
  await handle.close();
  source = await withPglite(dataDir, async (db) => {
    await seedAuditPartitions(db);
    await seedDatabase(db, 2);
    return databaseFingerprint(db);
  });
}, 120_000);

describe('genz data migrate-to-postgres', () => {
  it('copies every table in batches into a new PostgreSQL database and verifies it', async () => {
    const target = await createScratchDatabase();
    drops.push(target.drop);
    const r = await genz(
      'data',
      'migrate-to-postgres',
      '--data-dir',
      dataDir,
      '--database-url',
      target.url,
      '--batch-size',
      '7',
    );
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/created partitions: .*audit_events_p202510/);
    expect(r.output).toMatch(/copied public\.messages: 360 rows/);
    expect(r.output).toMatch(/verified \d+ tables, \d+ rows: row counts, checksums and partitions match/);

    const after = await fingerprintOf(target.url);
    for (const [name, fp] of Object.entries(source)) {
      expect({ name, rows: after[name]?.rows, checksum: after[name]?.checksum }).toEqual({
        name,
        rows: fp.rows,
        checksum: fp.checksum,
      });
      for (const [part, n] of Object.entries(fp.partitions ?? {}))
        expect([name, part, after[name]?.partitions?.[part]]).toEqual([name, part, n]);
    }
    expect(after['public.users']?.rows).toBe(24);
    expect(Object.values(after['public.audit_events']?.partitions ?? {}).filter((n) => n > 0).length).toBe(4);

    // The app runs on it: migrations are up to date, generated search columns were computed by the target.
    const c = new Client({ connectionString: target.url });
    await c.connect();
    try {
      const hits = await c.query(
        `select count(*)::int as n from messages where tsv @@ to_tsquery('simple', 'backslash')`,
      );
      expect(hits.rows[0]?.n).toBe(24 * 3 * 4);
    } finally {
      await c.end();
    }
    const app = await createDb({ url: target.url, poolSize: 1, dataDir });
    await app.migrate();
    await app.close();

    // A second run finds rows and refuses, changing nothing.
    const again = await genz('data', 'migrate-to-postgres', '--data-dir', dataDir, '--database-url', target.url);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/public\.users on the target already has rows/);
    expect((await fingerprintOf(target.url))['public.users']).toEqual(after['public.users']);
  }, 120_000);

  it('is all or nothing: a copy that fails half-way leaves the target empty', async () => {
    const target = await createScratchDatabase();
    drops.push(target.drop);
    const handle = await createDb({ url: target.url, poolSize: 1, dataDir });
    await handle.migrate();
    await handle.close();
    // Some audit rows will violate this, after users, sessions, conversations and messages have been copied.
    const c = new Client({ connectionString: target.url });
    await c.connect();
    try {
      await c.query(`alter table audit_events add constraint no_role_changes check (event <> 'user.role_changed')`);
    } finally {
      await c.end();
    }
    const r = await genz('data', 'migrate-to-postgres', '--data-dir', dataDir, '--database-url', target.url);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/failed: .*no_role_changes/);
    const after = await fingerprintOf(target.url);
    expect(Object.entries(after).filter(([, fp]) => fp.rows > 0)).toEqual([]);
    // A data dir the command failed on is left unlocked.
    const again = await genz('data', 'backup', '--data-dir', dataDir, '--out', join(root, 'b.tar.gz'));
    expect(again.code, again.output).toBe(0);
  }, 120_000);

  it('fails clearly when the server cannot be reached', async () => {
    const r = await genz(
      'data',
      'migrate-to-postgres',
      '--data-dir',
      dataDir,
      '--database-url',
      'postgres://postgres@127.0.0.1:1/none',
    );
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/failed: .*(ECONNREFUSED|connect)/);
  }, 60_000);
});
