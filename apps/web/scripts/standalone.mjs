// Paths and the asset copy shared by the post-build step and the start script.
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const standaloneDir = path.join(webDir, '.next', 'standalone');
/** With outputFileTracingRoot at the monorepo root, the standalone tree mirrors the workspace layout. */
export const serverDir = path.join(standaloneDir, 'apps', 'web');
export const serverEntry = path.join(serverDir, 'server.js');
export const preload = path.join(serverDir, 'forwarded-for.cjs');

/** `next build` leaves static assets and public/ out of the standalone tree; the server needs them beside it. */
export function copyStandaloneAssets() {
  if (!existsSync(serverEntry)) {
    throw new Error(`${path.relative(webDir, serverEntry)} is missing: run \`npm run build -w @genz/web\` first`);
  }
  const staticTarget = path.join(serverDir, '.next', 'static');
  rmSync(staticTarget, { recursive: true, force: true });
  cpSync(path.join(webDir, '.next', 'static'), staticTarget, { recursive: true });
  const publicDir = path.join(webDir, 'public');
  const publicTarget = path.join(serverDir, 'public');
  rmSync(publicTarget, { recursive: true, force: true });
  if (existsSync(publicDir)) cpSync(publicDir, publicTarget, { recursive: true });
  cpSync(path.join(webDir, 'scripts', 'forwarded-for.cjs'), preload);
}

const sources = ['src', 'public', 'next.config.ts', 'package.json', 'tsconfig.json'];

function newestMtime(entry) {
  if (!existsSync(entry)) return 0;
  const stats = statSync(entry);
  if (!stats.isDirectory()) return stats.mtimeMs;
  let newest = stats.mtimeMs;
  for (const name of readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)));
  return newest;
}

/**
 * Whether `.next/standalone` is present and newer than every web source, for a launcher deciding whether to run
 * `npm run build -w @genz/web` first. (Changes to workspace packages the web imports are not tracked.)
 */
export function webBuildIsCurrent() {
  const buildId = path.join(webDir, '.next', 'BUILD_ID');
  if (!existsSync(serverEntry) || !existsSync(buildId)) return false;
  const builtAt = statSync(buildId).mtimeMs;
  return sources.every((source) => newestMtime(path.join(webDir, source)) <= builtAt);
}
