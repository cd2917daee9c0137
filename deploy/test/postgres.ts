/**
 * A throwaway PostgreSQL 15 cluster for ops tests that need a server of their own (WAL archiving, PITR), never the
 * shared one on 5432. PostgreSQL refuses to run as root: every program runs as the `postgres` OS user (runuser),
 * in a directory it owns. Stopped with its own `pg_ctl stop` (by data dir), never by process name.
 */
import { chownSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, requireTool, run, tempDir } from './tools.ts';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface ThrowawayPostgres {
  port: number;
  pgdata: string;
  /** A directory the cluster's OS user owns, for archives and backups of this test. */
  base: string;
  url(database?: string): string;
  /** Runs a program from PG_BIN as the postgres OS user. */
  asPostgres(program: string, args: string[]): ReturnType<typeof run>;
  psql(sql: string, database?: string): string;
  start(): void;
  stop(): void;
  /** Stops it and deletes its base directory (everything the test made under it). */
  remove(): void;
}

export function postgresUid(): { uid: number; gid: number } {
  const id = run('id', ['-u', 'postgres']);
  const gid = run('id', ['-g', 'postgres']);
  if (id.code !== 0) throw new Error('ops test needs the `postgres` OS user (Debian package "postgresql-15")');
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Makes `dir` (and nothing above it) owned by the postgres OS user. */
export function giveToPostgres(dir: string): void {
  const { uid, gid } = postgresUid();
  mkdirSync(dir, { recursive: true });
  chownSync(dir, uid, gid);
}

export function asPostgres(program: string, args: string[], timeoutMs = 60_000): ReturnType<typeof run> {
  const runuser = requireTool('runuser');
  if (!existsSync(join(PG_BIN, program))) requireTool(program); // fails naming the package
  return run(runuser, ['-u', 'postgres', '--', join(PG_BIN, program), ...args], { timeoutMs });
}

/**
 * initdb's a cluster on a free loopback port with trust auth (loopback only) and `extraConf` appended to
 * postgresql.conf. Not started: call start().
 */
export async function createThrowawayPostgres(
  name: string,
  extraConf: string | ((base: string) => string) = '',
): Promise<ThrowawayPostgres> {
  requireTool('initdb');
  requireTool('pg_ctl');
  requireTool('psql');
  const base = tempDir(`pg-${name}`);
  giveToPostgres(base);
  const pgdata = join(base, 'data');
  const port = await freePort();
  const init = asPostgres('initdb', ['-D', pgdata, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  if (init.code !== 0) throw new Error(`initdb failed: ${init.output}`);
  const conf = [
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${base}'`,
    'fsync = off',
    'full_page_writes = on',
    typeof extraConf === 'string' ? extraConf : extraConf(base),
  ].join('\n');
  const append = run(
    requireTool('runuser'),
    ['-u', 'postgres', '--', 'sh', '-c', `cat >> '${pgdata}/postgresql.conf'`],
    {
      input: `\n${conf}\n`,
    },
  );
  if (append.code !== 0) throw new Error(`cannot write postgresql.conf: ${append.output}`);
  return throwawayAt(base, pgdata, port);
}

/** Wraps an existing data dir (e.g. one restore.sh prepared) as a cluster on `port`. */
export function throwawayAt(base: string, pgdata: string, port: number): ThrowawayPostgres {
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let running = false;
  const stop = () => {
    if (!running && !existsSync(join(pgdata, 'postmaster.pid'))) return;
    asPostgres('pg_ctl', ['-D', pgdata, '-m', 'fast', '-w', 'stop']);
    running = false;
  };
  return {
    port,
    pgdata,
    base,
    url,
    asPostgres,
    psql(sql: string, database = 'postgres') {
      const r = run(requireTool('psql'), [
        '-X',
        '-q',
        '-t',
        '-A',
        '-v',
        'ON_ERROR_STOP=1',
        '-d',
        url(database),
        '-c',
        sql,
      ]);
      if (r.code !== 0) throw new Error(`psql failed: ${r.output}`);
      return r.stdout.trim();
    },
    start() {
      const r = asPostgres('pg_ctl', [
        '-D',
        pgdata,
        '-l',
        join(base, `server-${port}.log`),
        '-o',
        `-p ${port}`,
        '-w',
        '-t',
        '60',
        'start',
      ]);
      if (r.code !== 0) {
        const log = run('cat', [join(base, `server-${port}.log`)]).stdout;
        throw new Error(`pg_ctl start failed: ${r.output}\n${log}`);
      }
      running = true;
    },
    stop,
    remove() {
      stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}
