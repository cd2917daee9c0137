// Starts the built standalone web server in this process (`npm start -w @genz/web`, or
// `node apps/web/scripts/start.mjs` from anywhere). One process: signals reach Next's own graceful shutdown.
//   WEB_PORT          port to listen on (default 3000)
//   WEB_HOSTNAME      address to bind; else HOSTNAME; else 127.0.0.1 (containers set 0.0.0.0)
//   API_INTERNAL_URL  where /api and /v1 are proxied at run time (default http://127.0.0.1:8080)
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { copyStandaloneAssets, preload, serverDir, serverEntry } from './standalone.mjs';

if (!existsSync(serverEntry)) {
  console.error('The web app is not built: run `npm run build -w @genz/web` first.');
  process.exit(1);
}
const apiUrl = process.env.API_INTERNAL_URL;
if (apiUrl && !URL.canParse(apiUrl)) {
  console.error(`API_INTERNAL_URL is not a URL: ${apiUrl}`);
  process.exit(1);
}
// A build run as plain `next build` skipped the post-build copy; do it now.
if (!existsSync(path.join(serverDir, '.next', 'static')) || !existsSync(preload)) copyStandaloneAssets();

Object.assign(process.env, {
  NODE_ENV: 'production',
  NEXT_TELEMETRY_DISABLED: '1',
  PORT: process.env.WEB_PORT || '3000',
  HOSTNAME: process.env.WEB_HOSTNAME || process.env.HOSTNAME || '127.0.0.1',
});
const require = createRequire(import.meta.url);
// Same as `node --require ./forwarded-for.cjs server.js` (the form a container image uses).
require(preload);
require(serverEntry);
