import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Committed SQL migrations (drizzle-kit output plus hand-written custom ones), shipped with the package. */
export const migrationsFolder: string = fileURLToPath(new URL('../drizzle/', import.meta.url));

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

let cachedHash: string | undefined;

/**
 * A short hash of every file in the migrations folder. Test fixtures (PGlite data-dir tarball, PostgreSQL template
 * database) are keyed by it, so editing or adding a migration rebuilds them and an unchanged set reuses them.
 */
export function migrationsHash(): string {
  if (cachedHash === undefined) {
    const h = createHash('sha256');
    for (const file of listFiles(migrationsFolder)) {
      h.update(relative(migrationsFolder, file));
      h.update('\0');
      h.update(readFileSync(file));
      h.update('\0');
    }
    cachedHash = h.digest('hex').slice(0, 16);
  }
  return cachedHash;
}
