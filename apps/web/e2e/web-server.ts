/**
 * Runs the BUILT standalone web server (`npm run build -w @genz/web` first; e2e tests build nothing) through the
 * same start script operators use.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../api/src/test/net.ts';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const serverEntry = path.join(webDir, '.next', 'standalone', 'apps', 'web', 'server.js');

export interface WebServer {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts it on `port` (default: a free one) with the API at `env.API_INTERNAL_URL`; resolves once /livez answers. */
export async function startWebServer(env: { API_INTERNAL_URL: string }, port?: number): Promise<WebServer> {
  if (!existsSync(serverEntry)) {
    throw new Error(
      `${path.relative(process.cwd(), serverEntry)} is missing: build the web app first with ` +
        '`npm run build -w @genz/web` (the e2e tests run the standalone build, they do not build it).',
    );
  }
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [path.join(webDir, 'scripts', 'start.mjs')], {
    env: { ...process.env, ...env, WEB_PORT: String(port), WEB_HOSTNAME: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = once(child, 'exit');

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`web server exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${url}/livez`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`web server not ready on ${url} within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return {
    url,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
