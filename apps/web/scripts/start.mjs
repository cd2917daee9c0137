// Starts the built standalone web server (`npm start -w @genz/web`).
//   WEB_PORT          port to listen on (default 3000)
//   WEB_HOSTNAME      address to bind; else HOSTNAME; else 127.0.0.1 (containers set 0.0.0.0)
//   API_INTERNAL_URL  where /api and /v1 are proxied at run time (default http://127.0.0.1:8080)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { copyStandaloneAssets, preload, serverDir, serverEntry } from './standalone.mjs';

if (!existsSync(serverEntry)) {
  console.error('The web app is not built: run `npm run build -w @genz/web` first.');
  process.exit(1);
}
// A build run as plain `next build` skipped the post-build copy; do it now.
if (!existsSync(path.join(serverDir, '.next', 'static')) || !existsSync(preload)) copyStandaloneAssets();

const apiUrl = process.env.API_INTERNAL_URL;
if (apiUrl && !URL.canParse(apiUrl)) {
  console.error(`API_INTERNAL_URL is not a URL: ${apiUrl}`);
  process.exit(1);
}
const port = process.env.WEB_PORT || '3000';
const hostname = process.env.WEB_HOSTNAME || process.env.HOSTNAME || '127.0.0.1';
const child = spawn(process.execPath, ['--require', preload, serverEntry], {
  cwd: serverDir,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'production', PORT: port, HOSTNAME: hostname, NEXT_TELEMETRY_DISABLED: '1' },
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal ? 128 + 15 : 1));
});
