import { type ChildProcess, spawn } from 'node:child_process';
import type { DbHandle } from '@genz/db';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../app.ts';
import { loadConfig } from '../config/index.ts';
import { freePort, httpStatus, waitFor } from './net.ts';

const serverEntry = new URL('../server.ts', import.meta.url).pathname;

export interface ApiProcess {
  port: number;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output: () => string;
}

/** `node apps/api/src/server.ts` with only `env` (and nothing inherited), its stdout and stderr collected. */
export function spawnApi(env: Record<string, string>): Pick<ApiProcess, 'child' | 'output'> {
  const child = spawn(process.execPath, [serverEntry], {
    // The cast: the web e2e tests (apps/web/e2e) use this too, where Next's types make NODE_ENV a required key.
    env: env as unknown as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c) => {
    output += c;
  });
  child.stderr?.on('data', (c) => {
    output += c;
  });
  return { child, output: () => output };
}

/**
 * A real `node apps/api/src/server.ts` on a free loopback port, for multi-process tests. Resolves once /readyz
 * answers 200; if it never does, the process is killed and the error carries the tail of its output.
 */
export async function startApiProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<ApiProcess> {
  const port = await freePort();
  const childEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    HOST: '127.0.0.1',
    ...env,
  };
  const { child, output } = spawnApi(childEnv);
  let outcome: 'ready' | 'exited';
  try {
    outcome = await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return 'exited' as const;
        return (await httpStatus(port, '/readyz')) === 200 ? ('ready' as const) : undefined;
      },
      timeoutMs,
      `API process on ${port}`,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; its output:\n${output().slice(-2000)}`);
  }
  if (outcome === 'exited') {
    throw new Error(
      `API process exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output().slice(-2000)}`,
    );
  }
  return { port, child, output };
}

/**
 * Runs `fn` against a short-lived in-process app on the same database and Redis as the API processes, to create
 * users and keys they will accept (they share AUTH_SECRETS). The app is closed before this returns.
 */
export async function withSetupApp<T>(
  opts: { db: DbHandle; authSecrets: string; redisUrl: string; keyPrefix: string },
  fn: (app: FastifyInstance) => Promise<T>,
): Promise<T> {
  const config = loadConfig({
    env: {},
    overrides: {
      env: 'test',
      'log.level': 'warn',
      'auth.secrets': opts.authSecrets,
      'redis.url': opts.redisUrl,
      'redis.keyPrefix': opts.keyPrefix,
    },
  });
  const app = await buildApp({ config, db: opts.db, logger: pino({ level: 'silent' }) });
  try {
    await app.ready();
    await app.dbReadyPromise;
    return await fn(app);
  } finally {
    await app.close();
  }
}
