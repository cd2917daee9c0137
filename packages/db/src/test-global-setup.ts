/**
 * vitest globalSetup for the 'unit' and 'server' projects: builds, once per run, the migrated fixture each test
 * file clones (PGlite tarball, or the PostgreSQL template database), so no file pays for migrations.
 */
import type { TestProject } from 'vitest/node';
import {
  dropRunTestDatabases,
  dropStaleTestDatabases,
  prepareEmbeddedTemplate,
  prepareServerTemplate,
  testRunId,
} from './testing.ts';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  // Set in this process before workers start, so they inherit it and name their databases after this run.
  testRunId();
  const backend = project.config.env?.GENZ_TEST_BACKEND ?? process.env.GENZ_TEST_BACKEND ?? 'embedded';
  if (backend !== 'server') {
    await prepareEmbeddedTemplate();
    return undefined;
  }
  await dropStaleTestDatabases();
  await prepareServerTemplate();
  return async () => {
    await dropRunTestDatabases();
  };
}
