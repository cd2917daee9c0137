import pg from 'pg';
import type { Page } from 'playwright-core';
import { freePort } from '../../apps/api/src/test/net.ts';
import { type LaunchedBrowser, launchBrowser, logIn } from '../../apps/web/e2e/browser.ts';
import { startWebServer, type WebServer } from '../../apps/web/e2e/web-server.ts';
import { seedOneUserAndLogIn } from '../scenarios/foundation.ts';
import { BENCH_PASSWORD } from '../seed/users.ts';
import { CLOCK_TICKS, type MachineCpu, readMachineCpu } from './proc.ts';
import { percentile } from './stats.ts';
import type { BenchContext } from './types.ts';

/**
 * The browser half of the web benchmarks (issue 7 "Performance"): the BUILT web app (`npm run build -w @genz/web`
 * first; apps/web/.next/standalone) started by the e2e tests' own helper in front of the run's API server, and
 * Debian's Chromium driven by playwright-core with the e2e tests' launch flags (apps/web/e2e/browser.ts; never a
 * downloaded browser), signed in through the real log-in form as a seeded user.
 */

/**
 * The web server's port, chosen when the scenario module loads: the API's PUBLIC_URL must name the origin the
 * browser uses (cookie-authenticated requests must come from it), and the API starts before setup.
 */
export const webPort = await freePort();
export const webUrl = `http://127.0.0.1:${webPort}`;

export interface WebSession {
  /** The signed-in page, at `/chat`. */
  page: Page;
  /** Bearer token of the same user, for a direct API client. */
  accessToken: string;
  userId: string;
  stop(): Promise<void>;
}

/** Seeds one user, starts the web server and Chromium, and signs the user in through the form. */
export async function startWebSession(ctx: BenchContext, tag: string): Promise<WebSession> {
  const accessToken = await seedOneUserAndLogIn(ctx, tag);
  const client = new pg.Client({ connectionString: ctx.databaseUrl });
  await client.connect();
  const user = (
    await client.query<{ id: string; email: string }>('select id, email from users').finally(() => client.end())
  ).rows[0];
  if (!user) throw new Error('no seeded user');
  let web: WebServer | undefined;
  let browser: LaunchedBrowser | undefined;
  const stop = async () => {
    await browser?.close().catch(() => undefined);
    await web?.stop();
  };
  try {
    web = await startWebServer({ API_INTERNAL_URL: ctx.urls.api as string }, webPort);
    browser = await launchBrowser();
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await logIn(page, webUrl, user.email, '/chat', BENCH_PASSWORD);
    return { page, accessToken, userId: user.id, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Nearest-rank percentiles of a sample (ms), NaN-free. */
export function summary(xs: readonly number[]) {
  const s = Float64Array.from(xs.filter(Number.isFinite)).sort();
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN;
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), max: percentile(s, 100), mean };
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/**
 * How busy the whole machine was between two readings, in % of one core (so up to cores × 100), for the notes:
 * the browser, the web server, the API and anything else running (other benchmarks, test suites).
 */
export function machineBusy(from: MachineCpu, to: MachineCpu, seconds: number): number {
  return ((to.busy - from.busy) / CLOCK_TICKS / seconds) * 100;
}

export { readMachineCpu };
