/**
 * Exclusive use of an embedded install's data dir by one process: the server (createDb takes it whenever it opens
 * PGlite) or a `genz data` command. A PGlite data dir admits one process, and PGlite itself does not stop a second
 * one from opening it (it would corrupt it), so before touching it:
 * - `DATA_DIR/genz.lock` names the process using it (written while it runs; a live pid other than ours refuses);
 * - `DATA_DIR/pglite/postmaster.pid` exists while PGlite has the database open: a running server, or one that
 *   crashed. Offline commands refuse unless `force`; the server passes `force`, since PGlite recovers on open and
 *   the lock file already refuses a live one.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
}

export const LOCK_FILE = 'genz.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data dir for `what`; call the returned function to give it back. Throws DataDirInUse. */
export function lockDataDir(dataDir: string, what: string, opts: { force?: boolean } = {}): () => void {
  const lockPath = join(dataDir, LOCK_FILE);
  if (existsSync(lockPath)) {
    const [pidText, holder] = readFileSync(lockPath, 'utf8').split('\n');
    const pid = Number(pidText);
    if (pid === process.pid) return () => {}; // this process holds it already (a command that then opens PGlite)
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
      throw new DataDirInUse(
        `${dataDir} is in use by process ${pid} (${holder || 'unknown'}): wait for it to finish or stop it first`,
      );
    }
    rmSync(lockPath, { force: true }); // left by a process that died
  }
  if (existsSync(join(dataDir, 'pglite', 'postmaster.pid')) && !opts.force) {
    throw new DataDirInUse(
      `${dataDir}/pglite is open: stop the GenZ server that uses it first (the server must be stopped for this ` +
        'command). If no server is running, the last one did not stop cleanly: pass --force to go on (PGlite ' +
        'recovers the database when it opens it).',
    );
  }
  try {
    writeFileSync(lockPath, `${process.pid}\n${what}\n`, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new DataDirInUse(`${dataDir} was locked by another command just now; try again`);
    throw err;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    rmSync(lockPath, { force: true });
  };
}
