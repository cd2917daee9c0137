#!/usr/bin/env node
/**
 * `genz`: the command-line client. Every command talks to a running API over HTTP (a PGlite data dir admits one
 * process, so the CLI never opens the database itself).
 */
import { parseArgs } from 'node:util';

const usage = `Usage: genz <command> [--url URL]

Commands:
  status     show the API's liveness and readiness checks
  help       show this help

Options:
  --url URL  API base URL (default: $GENZ_URL or http://127.0.0.1:8080)`;

export async function run(argv: string[], out: (line: string) => void, env = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: false,
  });
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
    default:
      out(`Unknown command: ${command}\n\n${usage}`);
      return 2;
  }
}

if (import.meta.main) {
  process.exitCode = await run(process.argv.slice(2), (line) => console.log(line));
}
