/**
 * Shared setup for browser end-to-end tests (ARCHITECTURE §11): Debian's Chromium driven by playwright-core,
 * never a downloaded browser, with a fresh profile per launch.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface LaunchedBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Starts Chromium with a throw-away user-data-dir; `close()` stops it and deletes the profile. */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium not found at ${chromiumPath}: install it with \`apt-get install -y --no-install-recommends chromium\` ` +
        '(or set CHROMIUM_PATH). Never `npx playwright install`.',
    );
  }
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'genz-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
