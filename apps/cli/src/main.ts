#!/usr/bin/env node
/**
 * `genz`: the command-line client. `status` talks to a running API over HTTP. The `data` commands work on an
 * embedded install's data dir directly, so the server must be stopped for them (a PGlite data dir admits one
 * process); they refuse a data dir that is in use.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const usage = `Usage: genz <command> [options]

Commands:
  status                         show the API's liveness and readiness checks
  data backup [--out FILE]       tarball of the data dir (PGlite database, generated secrets), verified on restore
  data restore --in FILE         restore a data backup into an empty data dir (--force moves the current one aside)
  data migrate-to-postgres --database-url URL
                                 copy the embedded database into PostgreSQL (migrated, empty), in batches, and
                                 verify every table's row count, checksum and partitions
  help                           show this help

Options:
  --url URL            API base URL for status (default: $GENZ_URL or http://127.0.0.1:8080)
  --data-dir DIR       data dir of an embedded install (default: $DATA_DIR or ./data)
  --out FILE           backup file (default: genz-data-<UTC time>.tar.gz)
  --in FILE            backup file to restore
  --database-url URL   target PostgreSQL for migrate-to-postgres (default: $DATABASE_MIGRATION_URL, $DATABASE_URL);
                       a direct connection, not through PgBouncer
  --batch-size N       rows per batch for migrate-to-postgres (default 1000)
  --force              data commands: go on although the embedded database looks open (only after checking that
                       no server runs: the last one did not stop cleanly); restore: move a non-empty data dir aside

The data commands need the server stopped: they refuse while a server (or another genz command) uses the data dir.`;

const options = {
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  'data-dir': { type: 'string' },
  out: { type: 'string' },
  in: { type: 'string' },
  'database-url': { type: 'string' },
  'batch-size': { type: 'string' },
  force: { type: 'boolean' },
} as const;

export async function run(argv: string[], out: (line: string) => void, env = process.env): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    out(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = values.help ? 'help' : (positionals[0] ?? 'help');
  const base = String(values.url ?? env.GENZ_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  switch (command) {
    case 'help':
      out(usage);
      return 0;
    case 'status': {
      try {
        const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5000) });
        const body = (await res.json()) as { status: string; checks: Record<string, string> };
        out(`${base}: ${body.status}`);
        for (const [name, state] of Object.entries(body.checks)) out(`  ${name}: ${state}`);
        return res.ok ? 0 : 1;
      } catch (err) {
        out(`${base}: unreachable (${(err as Error).message})`);
        return 1;
      }
    }
    case 'data':
      return runData(positionals[1], values, out, env);
    default:
      out(`Unknown command: ${command}\n\n${usage}`);
      return 2;
  }
}

async function runData(
  sub: string | undefined,
  values: {
    'data-dir'?: string | undefined;
    out?: string | undefined;
    in?: string | undefined;
    'database-url'?: string | undefined;
    'batch-size'?: string | undefined;
    force?: boolean | undefined;
  },
  out: (line: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const dataDir = resolve(values['data-dir'] ?? env.DATA_DIR ?? './data');
  const force = values.force ?? false;
  // Loaded on demand: `genz status` should not pay for PGlite and pg.
  const { DataDirInUse } = await import('@genz/db');
  try {
    switch (sub) {
      case 'backup': {
        const { backupDataDir } = await import('./dataops/archive.ts');
        const file = resolve(values.out ?? `genz-data-${new Date().toISOString().replace(/[:.]/g, '-')}.tar.gz`);
        const r = await backupDataDir(dataDir, file, { force, log: out });
        out(`${r.file} (${r.bytes} bytes)`);
        return 0;
      }
      case 'restore': {
        if (values.in === undefined) {
          out('genz data restore: --in FILE is required');
          return 2;
        }
        const { restoreDataDir } = await import('./dataops/archive.ts');
        await restoreDataDir(resolve(values.in), dataDir, { force, log: out });
        return 0;
      }
      case 'migrate-to-postgres': {
        const url = values['database-url'] ?? env.DATABASE_MIGRATION_URL ?? env.DATABASE_URL;
        if (url === undefined || url === '') {
          out('genz data migrate-to-postgres: --database-url URL is required');
          return 2;
        }
        const batchSize = Number(values['batch-size'] ?? 1000);
        if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
          out('genz data migrate-to-postgres: --batch-size must be an integer from 1 to 100000');
          return 2;
        }
        const { migrateToPostgres } = await import('./dataops/to-postgres.ts');
        await migrateToPostgres({ dataDir, databaseUrl: url, batchSize, force, log: out });
        out(
          `done: set DATABASE_URL, and AUTH_SECRETS to the contents of ${dataDir}/auth-secrets, then start the server`,
        );
        return 0;
      }
      default:
        out(`Unknown data command: ${sub ?? '(none)'}\n\n${usage}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof DataDirInUse) {
      out(`genz data ${sub}: refused: ${err.message}`);
      return 3;
    }
    out(`genz data ${sub}: failed: ${(err as Error).message}`);
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await run(process.argv.slice(2), (line) => console.log(line));
}
