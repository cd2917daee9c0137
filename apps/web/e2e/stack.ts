/**
 * The whole platform for browser tests: the real API (`node apps/api/src/server.ts`) on PGlite in a throw-away
 * data dir with the offline demo model, and the built web server in front of it. One stack per test file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../api/src/test/net.ts';
import { type ApiProcess, startApiProcess } from '../../api/src/test/process.ts';
import { startWebServer, type WebServer } from './web-server';

export interface Stack {
  /** The web origin the browser uses (the API's PUBLIC_URL). */
  url: string;
  /** The API's own origin, for calls a browser could not make (a client with an API key). */
  apiUrl: string;
  /** `/setup?token=…`: the one-time first-admin link the API logged on its first start. */
  setupPath: string;
  api: ApiProcess;
  web: WebServer;
  stop(): Promise<void>;
}

/** For `beforeAll`: starting the API, the web server and Chromium on a busy machine takes minutes at worst. */
export const STACK_START_MS = 300_000;

export interface StackOptions {
  /** Delay between demo reply chunks (`providers.demoChunkDelayMs`): slow enough to reload or stop mid-reply. */
  demoChunkDelayMs: number;
  /** More keys of genz.yaml's `providers` section (`deployments`, `aliases`, `routing`…), each as JSON (valid YAML). */
  providers?: Record<string, unknown>;
  /** More top-level genz.yaml sections (`mfa`, `oidc`…), each written as a JSON flow mapping (valid YAML). */
  config?: Record<string, unknown>;
  /** The web server's port, when something must know the web origin before the stack starts (an IdP's client). */
  webPort?: number;
}

/** The setup link the API logs while it has no user (pino JSON, `setupUrl`). */
async function setupLink(api: ApiProcess): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = /"setupUrl":"([^"]+)"/.exec(api.output());
    if (match?.[1]) {
      const url = new URL(match[1]);
      return `${url.pathname}${url.search}`;
    }
    if (Date.now() > deadline) throw new Error(`the API logged no setup link:\n${api.output().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'genz-e2e-'));
  const config = path.join(dataDir, 'genz.yaml');
  // Every browser request reaches the API from 127.0.0.1 through the web proxy, so the per-IP sign-up throttle
  // (5 an hour by default) would count all test users as one visitor.
  await writeFile(
    config,
    [
      'providers:',
      `  demoChunkDelayMs: ${options.demoChunkDelayMs}`,
      ...Object.entries(options.providers ?? {}).map(([key, value]) => `  ${key}: ${JSON.stringify(value)}`),
      'limits:',
      '  auth:',
      '    signupPerIp: { rate: 1000, periodMs: 3600000, burst: 1000 }',
      '    loginPerIp: { rate: 1000, periodMs: 60000, burst: 1000 }',
      ...Object.entries(options.config ?? {}).map(([section, value]) => `${section}: ${JSON.stringify(value)}`),
      '',
    ].join('\n'),
  );
  const webPort = options.webPort ?? (await freePort());
  const url = `http://127.0.0.1:${webPort}`;
  let api: ApiProcess | undefined;
  let web: WebServer | undefined;
  const stop = async () => {
    await web?.stop();
    if (api && api.child.exitCode === null && api.child.signalCode === null) {
      const exited = new Promise((resolve) => api?.child.once('exit', resolve));
      api.child.kill('SIGTERM');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    api = await startApiProcess(
      {
        DATA_DIR: dataDir,
        GENZ_CONFIG: config,
        PUBLIC_URL: url,
        LOG_LEVEL: 'warn',
        // The drain delay is for load balancers; a test has none to wait for.
        SHUTDOWN_DRAIN_DELAY_MS: '0',
        // PGlite (WebAssembly) boots and migrates slowly on a busy 2-core CI machine.
      },
      150_000,
    );
    const apiUrl = `http://127.0.0.1:${api.port}`;
    const setupPath = await setupLink(api);
    web = await startWebServer({ API_INTERNAL_URL: apiUrl }, webPort);
    return { url, apiUrl, setupPath, api, web, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Creates the first admin with the setup link's token, as the setup page does (for files that test other flows). */
export async function setUpAdmin(stack: Stack, email: string, password: string): Promise<void> {
  const token = new URL(stack.setupPath, stack.url).searchParams.get('token');
  const response = await fetch(`${stack.url}/api/auth/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: stack.url },
    body: JSON.stringify({ token, email, password }),
  });
  if (response.status !== 201) throw new Error(`setup answered ${response.status}: ${await response.text()}`);
}
