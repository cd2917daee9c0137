/**
 * deploy/backup: backup.sh and restore.sh against real PostgreSQL 15.
 * - logical: a scratch database on the local server (TEST_DATABASE_URL, 127.0.0.1:5432), migrated with the app's
 *   own migrate() and seeded in every kind of table (hash-partitioned messages, monthly audit_events incl.
 *   DEFAULT), is dumped with pg_dump -Fc and restored into a new database; every table's row count and row
 *   checksum, and every partition with its rows, must match. restore.sh verify must catch a lost row.
 * - Kubernetes: the backup CronJob of the prod overlay (kubectl kustomize) and the restore-drill Job run their
 *   container command and args as rendered, with the image's script paths mapped to deploy/backup and the
 *   volume to a temp dir: a nightly dump lands on the volume, old dumps are pruned, the drill restores the newest.
 * - PITR: a throwaway cluster of its own (never the shared one) with deploy/backup/postgresql-archive.conf,
 *   a base backup, then writes before and after a target time; recovery to that time has exactly the rows
 *   committed before it.
 */
import { readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDb } from '@genz/db';
import { createScratchDatabase, prepareServerTemplate } from '@genz/db/testing';
import { Client } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseFingerprint, pgQueryable } from '../../apps/cli/src/dataops/inspect.ts';
import { seedAuditPartitions, seedDatabase } from '../../apps/cli/src/dataops/seed.testing.ts';
import { createThrowawayPostgres, giveToPostgres, throwawayAt } from '../test/postgres.ts';
import { deployPath, freePort, readYaml, readYamlDocs, requireTool, run, tempDir } from '../test/tools.ts';

const backupSh = deployPath('backup', 'backup.sh');
const restoreSh = deployPath('backup', 'restore.sh');

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const f of cleanups.reverse()) await f();
});

describe('backup.sh logical + restore.sh logical (pg_dump -Fc round trip on the local PostgreSQL)', () => {
  it('restores every table, row and partition of a migrated, seeded database', async () => {
    for (const t of ['pg_dump', 'pg_restore', 'psql']) requireTool(t);
    const source = await createScratchDatabase();
    cleanups.push(() => source.drop());
    const scratch = tempDir('bk');
    cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
    const handle = await createDb({ url: source.url, poolSize: 1, dataDir: scratch });
    await handle.migrate();
    await handle.close();
    const seeded = await withClient(source.url, async (c) => {
      await seedAuditPartitions(pgQueryable(c));
      return seedDatabase(pgQueryable(c));
    });

    const dir = tempDir('dump');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dump = join(dir, 'genz.dump');
    const b = run('bash', [backupSh, 'logical', '--database-url', source.url, '--out', dump], { timeoutMs: 120_000 });
    expect(b.code, b.output).toBe(0);
    const manifest = readFileSync(`${dump}.manifest`, 'utf8');
    expect(manifest).toMatch(/^public\.users\t12$/m);
    expect(manifest).toMatch(/^public\.audit_events_default\t36$/m);

    const target = await createScratchDatabase();
    cleanups.push(() => target.drop());
    const r = run('bash', [restoreSh, 'logical', '--in', dump, '--database-url', target.url], { timeoutMs: 120_000 });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/verified \d+ tables/);

    const before = await withClient(source.url, (c) => databaseFingerprint(pgQueryable(c)));
    const after = await withClient(target.url, (c) => databaseFingerprint(pgQueryable(c)));
    expect(after).toEqual(before);
    // The seed really is in there, and spread over partitions (a flat copy would lose the layout).
    expect(after['public.users']?.rows).toBe(seeded.users);
    expect(after['public.messages']?.rows).toBe(seeded.messages);
    expect(after['public.audit_events']?.rows).toBe(seeded.auditEvents);
    const auditParts = Object.entries(after['public.audit_events']?.partitions ?? {});
    expect(auditParts.filter(([, n]) => n > 0).length).toBeGreaterThanOrEqual(3);
    expect(auditParts.map(([p]) => p)).toContain('audit_events_default');
    expect(Object.keys(after['public.messages']?.partitions ?? {})).toHaveLength(16);
    expect(after['public.audit_events']?.checksum).toMatch(/^[0-9a-f]{32}$/);

    await withClient(target.url, async (c) => {
      // Still a partition tree, and the partition helper restored with it works.
      const kind = await c.query(`select relkind::text from pg_class where relname = 'audit_events'`);
      expect(kind.rows[0]?.relkind).toBe('p');
      const made = await c.query(
        `select * from genz_ensure_monthly_partitions('audit_events', 0, null, '2024-03-05T00:00:00Z'::timestamptz)`,
      );
      expect(made.rows).toEqual([{ action: 'created', partition_name: 'audit_events_p202403' }]);
      // The migration journal came along, so the app sees an up-to-date schema and applies nothing.
      const journal = await c.query('select count(*)::int as n from drizzle.__drizzle_migrations');
      expect(journal.rows[0]?.n).toBeGreaterThan(0);
    });

    // A restore into a database that already has tables is refused.
    const again = run('bash', [restoreSh, 'logical', '--in', dump, '--database-url', target.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not empty/);

    // verify catches a lost row and names the table.
    await withClient(target.url, (c) => c.query(`delete from sessions where ctid = (select min(ctid) from sessions)`));
    const v = run('bash', [restoreSh, 'verify', '--manifest', `${dump}.manifest`, '--database-url', target.url]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/public\.sessions\t12/);
  });

  it('fails loudly when the source cannot be dumped', () => {
    const r = run('bash', [
      backupSh,
      'logical',
      '--database-url',
      'postgres://postgres@127.0.0.1:1/none',
      '--out',
      join(tempDir('bad'), 'x.dump'),
    ]);
    expect(r.code).not.toBe(0);
    const u = run('bash', [backupSh, 'logical']);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/--database-url/);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Container = { command: string[]; args: string[]; volumeMounts: { mountPath: string }[]; [k: string]: any };

/**
 * Runs a container of the backup image as Kubernetes would, here: the image's scripts are deploy/backup's (as
 * deploy/docker/backup.Dockerfile copies them), `/backups` is `volume`, the Secret's DATABASE_URL is `url`.
 */
function runContainer(c: Container, volume: string, url: string) {
  const dockerfile = readFileSync(deployPath('docker', 'backup.Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/^COPY .*deploy\/backup\/backup\.sh deploy\/backup\/restore\.sh \/usr\/local\/bin\/$/m);
  const [cmd = '', ...rest] = [...c.command, ...c.args];
  const script = /^\/usr\/local\/bin\/(backup|restore)\.sh$/.exec(cmd)?.[1];
  expect(script, `${cmd} is not a script of the backup image`).toBeDefined();
  expect(c.volumeMounts.map((m) => m.mountPath)).toContain('/backups');
  const args = rest.map((a) => a.replace(/^\/backups(?=\/|$)/, volume));
  return run('bash', [deployPath('backup', `${script}.sh`), ...args], {
    env: { DATABASE_URL: url, HOME: tempDir('home') },
    timeoutMs: 120_000,
  });
}

describe('the Kubernetes backup CronJob and restore-drill Job, run as rendered', () => {
  it('writes a checked dump onto the volume, prunes dumps past retention, and the drill restores the newest', async () => {
    for (const t of ['pg_dump', 'pg_restore', 'psql']) requireTool(t);
    const rendered = run(requireTool('kubectl'), ['kustomize', deployPath('k8s', 'overlays', 'prod')]);
    expect(rendered.code, rendered.output).toBe(0);
    // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped JSON
    const cronJob = (readYamlDocs(rendered.stdout) as any[]).find((o) => o.kind === 'CronJob');
    const backup = cronJob.spec.jobTemplate.spec.template.spec.containers[0] as Container;
    const keepDays = Number(backup.args[backup.args.indexOf('--keep-days') + 1]);
    expect(keepDays).toBeGreaterThanOrEqual(1);

    const source = await createScratchDatabase(await prepareServerTemplate());
    cleanups.push(() => source.drop());
    const seeded = await withClient(source.url, (c) => seedDatabase(pgQueryable(c)));
    const volume = tempDir('backups');
    cleanups.push(() => rmSync(volume, { recursive: true, force: true }));
    // Last week's dumps on the volume: one past retention, one within it.
    const day = 86_400;
    const now = Date.now() / 1000;
    const aged = (name: string, days: number) => {
      for (const f of [name, `${name}.manifest`]) {
        writeFileSync(join(volume, f), 'old');
        utimesSync(join(volume, f), now - days * day, now - days * day);
      }
    };
    aged('genz-20200101T021700Z.dump', keepDays + 1);
    aged('genz-20200102T021700Z.dump', keepDays - 0.5);

    const b = runContainer(backup, volume, source.url);
    expect(b.code, b.output).toBe(0);
    expect(b.stdout).toMatch(/pruned .*genz-20200101T021700Z\.dump/);
    const files = readdirSync(volume).sort();
    const fresh = files.filter((f) => /^genz-\d{8}T\d{6}Z\.dump$/.test(f) && !f.startsWith('genz-2020'));
    expect(fresh).toHaveLength(1);
    expect(files).toEqual(
      [fresh[0], `${fresh[0]}.manifest`, 'genz-20200102T021700Z.dump', 'genz-20200102T021700Z.dump.manifest'].sort(),
    );
    expect(readFileSync(join(volume, `${fresh[0]}.manifest`), 'utf8')).toMatch(/^public\.users\t\d+$/m);

    const drill = readYaml<{ spec: { template: { spec: { containers: Container[] } } } }>(
      deployPath('k8s', 'restore-drill', 'restore-drill-job.yaml'),
    ).spec.template.spec.containers[0] as Container;
    const scratch = await createScratchDatabase();
    cleanups.push(() => scratch.drop());
    const r = runContainer(drill, volume, scratch.url);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`newest dump in ${volume} is ${join(volume, fresh[0] ?? '')}`);
    expect(r.stdout).toMatch(/verified \d+ tables/);
    const after = await withClient(scratch.url, (c) => databaseFingerprint(pgQueryable(c)));
    const before = await withClient(source.url, (c) => databaseFingerprint(pgQueryable(c)));
    expect(after).toEqual(before);
    expect(after['public.users']?.rows).toBe(seeded.users);

    // A failed run (the database is unreachable) writes nothing and prunes nothing.
    aged('genz-20200103T021700Z.dump', keepDays + 2);
    const failed = runContainer(backup, volume, 'postgres://postgres@127.0.0.1:1/none');
    expect(failed.code).not.toBe(0);
    expect(readdirSync(volume)).toContain('genz-20200103T021700Z.dump');
    expect(readdirSync(volume).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });
});

describe('backup.sh base + restore.sh pitr (WAL archiving, point-in-time recovery on a throwaway cluster)', () => {
  it('recovers exactly the transactions committed before the target time', async () => {
    requireTool('pg_basebackup');
    requireTool('runuser');
    const archiveConf = readFileSync(deployPath('backup', 'postgresql-archive.conf'), 'utf8');
    // The archive directory lives in the cluster's own temp dir instead of the documented path.
    const p = await createThrowawayPostgres('pitr', (base) =>
      archiveConf.replaceAll('/var/lib/postgresql/wal-archive', join(base, 'wal-archive')),
    );
    cleanups.push(() => p.remove());
    const archive = join(p.base, 'wal-archive');
    giveToPostgres(archive);
    p.start();
    expect(p.psql('show archive_mode')).toBe('on');
    p.psql('create table notes (id int primary key, body text)');
    p.psql(`insert into notes select g, 'before backup ' || g from generate_series(1, 100) g`);

    const baseDir = join(p.base, 'base-backup');
    const b = run(
      'runuser',
      ['-u', 'postgres', '--', 'bash', backupSh, 'base', '--database-url', p.url(), '--out', baseDir],
      {
        timeoutMs: 120_000,
      },
    );
    expect(b.code, b.output).toBe(0);

    p.psql(`insert into notes select g, 'after backup ' || g from generate_series(101, 150) g`);
    // The target: a moment after the last commit we want, before the ones we must not get.
    await new Promise((r) => setTimeout(r, 1100));
    const target = p.psql(`select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'`);
    await new Promise((r) => setTimeout(r, 1100));
    p.psql(`insert into notes select g, 'too late ' || g from generate_series(151, 200) g`);
    p.psql('delete from notes where id <= 10');
    // Close the segment so it is archived now (archive_timeout would within a minute), and wait for the archiver.
    const closed = p.psql('select pg_walfile_name(pg_switch_wal())');
    for (let i = 0; i < 100; i++) {
      if (p.psql(`select coalesce(last_archived_wal, '') from pg_stat_archiver`) >= closed) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(p.psql(`select coalesce(last_archived_wal, '') >= '${closed}' from pg_stat_archiver`)).toBe('t');
    expect(p.psql('select failed_count from pg_stat_archiver')).toBe('0');

    const restoredData = join(p.base, 'restored');
    const r = run(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        'bash',
        restoreSh,
        'pitr',
        '--base',
        baseDir,
        '--wal-archive',
        archive,
        '--pgdata',
        restoredData,
        '--target-time',
        target,
      ],
      { timeoutMs: 120_000 },
    );
    expect(r.code, r.output).toBe(0);
    p.stop(); // the restored copy must not need the primary
    const restored = throwawayAt(p.base, restoredData, await freePort());
    cleanups.push(() => restored.stop());
    restored.start();
    for (let i = 0; i < 100 && restored.psql('select pg_is_in_recovery()') === 't'; i++) {
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(restored.psql('select pg_is_in_recovery()')).toBe('f'); // promoted at the target
    expect(restored.psql('select count(*) from notes')).toBe('150');
    expect(restored.psql("select min(id) || '-' || max(id) from notes")).toBe('1-150');
    // Writable after recovery.
    restored.psql(`insert into notes values (1000, 'after restore')`);
  });
});

describe('failover runbook (throwaway primary + streaming replica)', () => {
  it('promotes the replica after the primary is lost, and it takes writes with every committed row', async () => {
    requireTool('pg_basebackup');
    const primary = await createThrowawayPostgres(
      'failover',
      'wal_level = replica\nmax_wal_senders = 5\nhot_standby = on',
    );
    cleanups.push(() => primary.remove());
    primary.start();
    primary.psql('create table t (id int primary key)');
    primary.psql('insert into t select generate_series(1, 50)');
    // Replica as deploy/compose/postgres/replica-entrypoint.sh makes it: pg_basebackup -R -X stream.
    const replicaData = join(primary.base, 'replica');
    const bb = run(requireTool('runuser'), [
      '-u',
      'postgres',
      '--',
      'pg_basebackup',
      '-d',
      primary.url(),
      '-D',
      replicaData,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
    ]);
    expect(bb.code, bb.output).toBe(0);
    const replica = throwawayAt(primary.base, replicaData, await freePort());
    cleanups.push(() => replica.stop());
    replica.start();
    primary.psql('insert into t select generate_series(51, 60)');
    const lsn = primary.psql('select pg_current_wal_lsn()');
    for (let i = 0; i < 100; i++) {
      if (replica.psql(`select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`) === 't') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(replica.psql('select pg_is_in_recovery()')).toBe('t');
    expect(() => replica.psql('insert into t values (1000)')).toThrow(/read-only/);

    primary.stop(); // the primary is lost
    // Runbook step 3.
    expect(replica.psql('select pg_promote()')).toBe('t');
    expect(replica.psql('select pg_is_in_recovery()')).toBe('f');
    replica.psql('insert into t values (1000)');
    expect(replica.psql('select count(*) from t')).toBe('61');
  });
});
