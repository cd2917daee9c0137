import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { migrationsFolder } from './migrations.ts';
import { createQueryTimer } from './query-timing.ts';
import * as schema from './schema/index.ts';
import type { DbHandle } from './types.ts';

/** Wraps an open PGlite (on disk, or cloned from a tarball in tests) as a DbHandle. Closing the handle closes it. */
export function pgliteHandle(client: PGlite): DbHandle {
  const timer = createQueryTimer();
  timer.wrap(client);
  const db = drizzle({ client, schema });
  return {
    kind: 'pglite',
    db,
    read: db,
    async migrate() {
      await migrate(db, { migrationsFolder });
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    poolStats: () => null,
    observeQueries: timer.observe,
    async close() {
      if (!client.closed) await client.close();
    },
  };
}
