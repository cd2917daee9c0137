import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { freePort, waitFor } from './net.ts';

const serverEntry = new URL('../server.ts', import.meta.url).pathname;

export interface ApiProcess {
  port: number;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output: () => string;
}

function status(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

/**
 * A real `node apps/api/src/server.ts` on a free loopback port, for multi-process tests. Resolves once /readyz
 * answers 200; if it never does, the process is killed and the error carries the tail of its output.
 */
export async function startApiProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [serverEntry], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c) => {
    output += c;
  });
  child.stderr?.on('data', (c) => {
    output += c;
  });
  try {
    await waitFor(
      async () => ((await status(port, '/readyz')) === 200 ? true : undefined),
      timeoutMs,
      `API process on ${port}: ${output.slice(-500)}`,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { port, child, output: () => output };
}
