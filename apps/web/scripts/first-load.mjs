// First-load JS of a page, from the BUILT standalone app (`npm run build -w @genz/web` first): starts the server
// on a free port, reads the page's HTML and sums the gzipped size of every script it loads (<script src> and
// modulepreload links), i.e. what a browser downloads before the page is interactive. `noModule` scripts (Next's
// legacy polyfills) are listed apart: browsers with ES modules, every supported one, never fetch them.
// Fails when the modern total is over the budget.
//   node apps/web/scripts/first-load.mjs [path ...]      (default /chat; budget FIRST_LOAD_BUDGET_KB, default 200)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const staticDir = path.join(webDir, '.next', 'static');
const budgetKb = Number(process.env.FIRST_LOAD_BUDGET_KB || 200);
const pages = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['/chat'];

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
const port = await freePort();

// No API is needed to render the page shells; point the proxy at a closed port.
const noApi = `http://127.0.0.1:${await freePort()}`;
const child = spawn(process.execPath, [path.join(webDir, 'scripts', 'start.mjs')], {
  env: { ...process.env, WEB_PORT: String(port), WEB_HOSTNAME: '127.0.0.1', API_INTERNAL_URL: noApi },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/livez`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error('web server did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  let over = false;
  for (const page of pages) {
    const html = await (await fetch(`${base}${page}`)).text();
    const tags = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"[^>]*>|<link\b[^>]*rel="modulepreload"[^>]*>/g)];
    const scripts = new Map();
    for (const [tag, src = /href="([^"]+)"/.exec(tag)?.[1]] of tags) {
      if (src?.startsWith('/_next/static/')) scripts.set(src, /\bnoModule\b/i.test(tag));
    }
    let total = 0;
    let legacy = 0;
    const rows = [];
    for (const [src, noModule] of scripts) {
      const file = path.join(staticDir, decodeURIComponent(src.replace('/_next/static/', '').split('?')[0]));
      const size = gzipSync(await readFile(file), { level: 9 }).length;
      if (noModule) legacy += size;
      else total += size;
      rows.push([size, noModule ? `${src} (noModule: legacy browsers only)` : src]);
    }
    rows.sort((a, b) => b[0] - a[0]);
    const kb = total / 1000;
    console.log(
      `${page}: ${kb.toFixed(1)} kB gzipped first-load JS (budget ${budgetKb} kB); ` +
        `${(legacy / 1000).toFixed(1)} kB more of noModule polyfills for browsers without ES modules`,
    );
    for (const [size, src] of rows) console.log(`  ${(size / 1000).toFixed(1).padStart(6)} kB  ${src}`);
    if (kb > budgetKb) over = true;
  }
  process.exitCode = over ? 1 : 0;
} finally {
  child.kill('SIGTERM');
  await once(child, 'exit');
}
