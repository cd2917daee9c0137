/**
 * vitest globalSetup for the 'unit' and 'server' projects: builds, once per run, the migrated fixture each test
 * file clones (PGlite tarball, or the PostgreSQL template database), so no file pays for migrations.
 */
import type { TestProject } from 'vitest/node';
import { dropStaleTestDatabases, prepareEmbeddedTemplate, prepareServerTemplate } from './testing.ts';

export default async function setup(project: TestProject): Promise<void> {
  const backend = project.config.env?.GENZ_TEST_BACKEND ?? process.env.GENZ_TEST_BACKEND ?? 'embedded';
  if (backend === 'server') {
    await dropStaleTestDatabases();
    await prepareServerTemplate();
  } else {
    await prepareEmbeddedTemplate();
  }
}
