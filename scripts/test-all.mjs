// `npm run test:all`: the full suite (ARCHITECTURE.md §11). Needs, besides Node: PostgreSQL 15 on 127.0.0.1:5432
// (trust auth) and Redis on 127.0.0.1:6379 (override with TEST_DATABASE_URL / TEST_REDIS_URL), PostgreSQL's server
// binaries (initdb, pg_ctl: the backup tests start throwaway clusters), and the Debian packages chromium,
// prometheus (promtool), nginx, pgbouncer, redis-server, redis-tools, postgresql-client and kubectl. As root it installs the
// missing apt packages itself; otherwise it names them and stops. It builds the web app for the browser tests.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const tools = [
  { bin: 'chromium', pkg: 'chromium' },
  { bin: 'promtool', pkg: 'prometheus' },
  { bin: 'nginx', pkg: 'nginx' },
  { bin: 'pgbouncer', pkg: 'pgbouncer' },
  { bin: 'redis-server', pkg: 'redis-server' },
  { bin: 'redis-cli', pkg: 'redis-tools' },
  { bin: 'pg_dump', pkg: 'postgresql-client' },
  { bin: 'pg_basebackup', pkg: 'postgresql-client' },
  { bin: 'kubectl', pkg: 'kubectl' },
];
const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const missing = tools.filter((t) => !has(t.bin));
if (missing.length > 0) {
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  if (process.getuid?.() === 0) {
    console.log(`[test:all] installing ${pkgs.join(' ')}`);
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  const still = tools.filter((t) => !has(t.bin));
  if (still.length > 0) {
    console.error(`[test:all] missing tools: ${still.map((t) => `${t.bin} (apt package ${t.pkg})`).join(', ')}`);
    process.exit(1);
  }
}

function reachable(url, fallbackPort) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port || fallbackPort), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
const pgUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
for (const [name, url, port] of [
  ['PostgreSQL', pgUrl, 5432],
  ['Redis', redisUrl, 6379],
]) {
  if (!(await reachable(url, port))) {
    console.error(`[test:all] ${name} is not reachable at ${url}`);
    process.exit(1);
  }
}

if (!existsSync(join(root, 'apps/web/.next/standalone'))) {
  const build = spawnSync('npm', ['run', 'build', '-w', '@genz/web'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const report = join(mkdtempSync(join(tmpdir(), 'genz-test-all-')), 'report.json');
const run = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit' },
);
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  console.log(
    `test:all: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`,
  );
}
process.exit(run.status ?? 1);
