// Renders the PWA icons in public/icons from src/app/icon.svg with Debian's Chromium (no image tools needed).
// Run after changing the logo: `node apps/web/scripts/make-icons.mjs`. The PNGs are committed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const svg = readFileSync(path.join(webDir, 'src', 'app', 'icon.svg'), 'utf8');
// Maskable icons keep the logo inside the safe zone (the inner 80 %) on a full-bleed background.
const maskable = svg
  .replace('rx="9"', 'rx="0"')
  .replace('font-size="18"', 'font-size="13"')
  .replace('y="22.5"', 'y="20.6"');
const targets = [
  { file: 'icon-192.png', size: 192, source: svg },
  { file: 'icon-512.png', size: 512, source: svg },
  { file: 'maskable-512.png', size: 512, source: maskable },
  { file: 'apple-touch-icon.png', size: 180, source: maskable },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const page = await browser.newPage();
for (const { file, size, source } of targets) {
  await page.setViewportSize({ width: size, height: size });
  const sized = source.replace('<svg ', `<svg width="${size}" height="${size}" `);
  await page.setContent(`<html><body style="margin:0;background:transparent">${sized}</body></html>`);
  await page.screenshot({ path: path.join(webDir, 'public', 'icons', file), omitBackground: true });
}
await browser.close();
console.log('icons written to public/icons');
