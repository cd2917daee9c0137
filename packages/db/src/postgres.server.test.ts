/** PostgreSQL-only behaviour of createDb: migration locking across processes, replica routing, pool settings. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, executeRows, listAuditEvents, writeAuditEvent } from './index.ts';
import { migrationsFolder } from './migrations.ts';
import { createScratchDatabase, createTestDb, serverTemplateName, type TestDb } from './testing.ts';

const run = promisify(execFile);
const journalLength = (
  JSON.parse(readFileSync(join(migrationsFolder, 'meta/_journal.json'), 'utf8')) as { entries: unknown[] }
).entries.length;

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(() => t?.dispose());

describe('createDb on PostgreSQL', () => {
  it('migrate() from 3 processes at once on an empty database: all succeed, each migration applied once', async () => {
    const scratch = await createScratchDatabase();
    try {
      const indexUrl = new URL('./index.ts', import.meta.url).href;
      const script = `
        import { createDb } from ${JSON.stringify(indexUrl)};
        const h = await createDb({ url: process.env.URL, poolSize: 1, dataDir: ${JSON.stringify(tmpdir())} });
        await h.migrate();
        await h.close();`;
      const children = Array.from({ length: 3 }, () =>
        run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, URL: scratch.url } }),
      );
      await Promise.all(children);

      const check = await createDb({ url: scratch.url, poolSize: 1, dataDir: tmpdir() });
      try {
        const rows = await executeRows<{ n: number; hashes: number }>(
          check.db,
          sql`select count(*)::int as n, count(distinct hash)::int as hashes from drizzle.__drizzle_migrations`,
        );
        expect(rows).toEqual([{ n: journalLength, hashes: journalLength }]);
        await writeAuditEvent(check.db, { event: 'auth.login' });
      } finally {
        await check.close();
      }
    } finally {
      await scratch.drop();
    }
  }, 60_000);

  it('sends stale-tolerant reads to the replica and everything else to the primary', async () => {
    // Stand-in replica: another database cloned from the same template, holding a row the primary lacks.
    const replica = await createScratchDatabase(serverTemplateName());
    const primaryUrl = t.url ?? '';
    const direct = await createDb({ url: replica.url, poolSize: 1, dataDir: tmpdir() });
    const h = await createDb({ url: primaryUrl, replicaUrls: [replica.url], poolSize: 2, dataDir: tmpdir() });
    try {
      await writeAuditEvent(direct.db, { event: 'replica.marker' });
      await writeAuditEvent(h.db, { event: 'primary.marker' });
      // Writes through the read handle still go to the primary.
      await writeAuditEvent(h.read, { event: 'primary.via_read' });

      const events = async (db: typeof h.db) => (await listAuditEvents(db, { limit: 10 })).items.map((e) => e.event);
      expect(await events(h.read)).toEqual(['replica.marker']);
      expect((await events(h.db)).sort()).toEqual(['primary.marker', 'primary.via_read']);
    } finally {
      await h.close();
      await direct.close();
      await replica.drop();
    }
  });

  it('applies statement_timeout to pooled connections and reports pool counters', async () => {
    const h = await createDb({ url: t.url ?? '', poolSize: 3, statementTimeoutMs: 100, dataDir: tmpdir() });
    try {
      expect(h.poolStats()).toEqual({ total: 0, idle: 0, waiting: 0 });
      await h.ping();
      expect(h.poolStats()).toEqual({ total: 1, idle: 1, waiting: 0 });
      // 57014 query_canceled, raised by statement_timeout (drizzle wraps the driver error as `cause`).
      await expect(h.db.execute(sql`select pg_sleep(2)`)).rejects.toMatchObject({ cause: { code: '57014' } });
    } finally {
      await h.close();
    }
  });
});
