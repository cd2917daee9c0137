import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb, DataDirInUse, LOCK_FILE, listAuditEvents, writeAuditEvent } from './index.ts';

describe('createDb', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('runs PGlite in DATA_DIR when no url is given, and the data survives a reopen', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'genz-db-'));
    dirs.push(dataDir);
    const first = await createDb({ dataDir, poolSize: 1 });
    expect(first.kind).toBe('pglite');
    expect(first.read).toBe(first.db);
    expect(first.poolStats()).toBeNull();
    await first.migrate();
    await first.ping();
    const written = await writeAuditEvent(first.db, { event: 'auth.login', ip: '192.0.2.7' });
    await first.close();

    const second = await createDb({ dataDir, poolSize: 1 });
    await second.migrate(); // already applied: a no-op
    const page = await listAuditEvents(second.db, { limit: 10 });
    expect(page.items.map((e) => [e.id, e.ip])).toEqual([[written.id, '192.0.2.7']]);
    await second.close();
  }, 60_000);

  it('refuses a data dir another live process holds, and clears a lock left by a dead one', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'genz-db-'));
    dirs.push(dataDir);
    const holder = spawn('sleep', ['30']);
    try {
      await writeFile(join(dataDir, LOCK_FILE), `${holder.pid}\ngenz data backup\n`);
      await expect(createDb({ dataDir, poolSize: 1 })).rejects.toThrow(DataDirInUse);
    } finally {
      holder.kill();
      await once(holder, 'exit');
    }
    // The holder is gone: its lock is stale, and the next open takes the dir (and gives it back on close).
    const handle = await createDb({ dataDir, poolSize: 1 });
    expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8').split('\n')[0]).toBe(String(process.pid));
    await handle.close();
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
  }, 60_000);

  it('does not connect to PostgreSQL until asked, and ping/migrate fail while it is unreachable', async () => {
    const handle = await createDb({
      url: 'postgres://postgres@127.0.0.1:1/none',
      replicaUrls: ['postgres://postgres@127.0.0.1:1/replica'],
      dataDir: tmpdir(),
      poolSize: 3,
    });
    expect(handle.kind).toBe('postgres');
    expect(handle.read).not.toBe(handle.db);
    expect(handle.poolStats()).toEqual({ total: 0, idle: 0, waiting: 0 });
    await expect(handle.ping()).rejects.toThrow();
    await expect(handle.migrate()).rejects.toThrow();
    await handle.close();
  });
});
