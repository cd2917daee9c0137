// `npm start`: the whole platform on embedded defaults (PGlite in ./data, in-memory cache and limiter, offline demo
// model). Builds the web app when its build is missing or stale, then runs the API (:8080) and the web (:3000),
// which proxies /api and /v1 to the API at run time. Ctrl-C stops both.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { webBuildIsCurrent } from '../apps/web/scripts/standalone.mjs';

const root = new URL('..', import.meta.url).pathname;
if (!webBuildIsCurrent()) {
  console.log('[genz] building the web app (first start or changed sources)...');
  const result = spawnSync('npm', ['run', 'build', '-w', '@genz/web'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const env = { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'production' };
const apiPort = env.PORT ?? '8080';
const webPort = env.WEB_PORT ?? '3000';
const procs = [
  { name: 'api', cmd: process.execPath, args: [join(root, 'apps/api/src/server.ts')], env: { ...env, PORT: apiPort } },
  {
    name: 'web',
    cmd: process.execPath,
    args: [join(root, 'apps/web/scripts/start.mjs')],
    env: { ...env, WEB_PORT: webPort, API_INTERNAL_URL: env.API_INTERNAL_URL ?? `http://127.0.0.1:${apiPort}` },
  },
];

let stopping = false;
const children = procs.map(({ name, cmd, args, env: childEnv }) => {
  const child = spawn(cmd, args, { cwd: root, env: childEnv, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[genz] ${name} exited (${signal ?? code}); stopping`);
      stop(code ?? 1);
    }
  });
  return child;
});
console.log(`[genz] GenZ AI is starting: open http://localhost:${webPort} (API on :${apiPort}, data in ./data)`);

function stop(code = 0) {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null))).then(() =>
    process.exit(code),
  );
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
