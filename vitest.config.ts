import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Test projects (ARCHITECTURE.md §11):
 * - unit:   everything Node alone can run: PGlite, in-memory cache/limiter, in-process fakes. `npm test`.
 * - server: the suites that touch the database or Redis (`*.db.test.ts`) again on PostgreSQL 15 + Redis,
 *           plus suites (`*.server.test.ts`) that need the real servers only.
 * - e2e:    real Chromium through playwright-core (`*.e2e.test.ts`).
 * - ops:    deploy assets checked by their real programs: promtool, kubectl, nginx, restore (`*.ops.test.ts`).
 * `npm run test:all` (scripts/test-all.mjs) runs all four.
 *
 * Scheduling: unit, server and ops files run two (or more) at a time; every file has its own database and Redis
 * prefix and listens on port 0, so files never share state. Vitest's default on a 2-core machine is
 * `availableParallelism() - 1` = one worker, which ran the whole suite one file at a time while the second core
 * idled through imports, PGlite boots and waits on child processes. The e2e files (each starts an API, a web server
 * and Chromium) keep one at a time (`fileParallelism: false`), and Vitest runs that group after the others, alone.
 */
const maxWorkers = Math.min(4, Math.max(2, availableParallelism()));
const exclude = ['**/node_modules/**', '**/.next/**', 'bench/peers/**'];
export default defineConfig({
  test: {
    maxWorkers,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: [...exclude, '**/*.e2e.test.ts', '**/*.ops.test.ts', '**/*.server.test.ts'],
          env: { GENZ_TEST_BACKEND: 'embedded' },
          globalSetup: ['packages/db/src/test-global-setup.ts'],
          testTimeout: 20_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'server',
          include: ['**/*.db.test.ts', '**/*.server.test.ts'],
          exclude,
          env: { GENZ_TEST_BACKEND: 'server' },
          globalSetup: ['packages/db/src/test-global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['**/*.e2e.test.ts'],
          exclude,
          testTimeout: 60_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          // A poll in a browser test waits on a page load, a fetch and a render; Vitest's default of 1 s was too
          // short on a slow CI machine (a reloaded /admin had not yet shown the saved sign-up mode).
          expect: { poll: { timeout: 10_000 } },
        },
      },
      {
        test: { name: 'ops', include: ['**/*.ops.test.ts'], exclude, testTimeout: 60_000, hookTimeout: 120_000 },
      },
    ],
  },
});
