import { readdirSync } from 'node:fs';
import { defineConfig } from 'drizzle-kit';

/**
 * drizzle-kit only sees tables it can express. Partitioned tables (PARTITION BY) cannot be written in drizzle's
 * DSL, so their DDL lives in hand-written migrations (`npm run db:generate -- --custom --name <what>`) and their
 * schema files are listed here; otherwise drizzle-kit would emit a plain CREATE TABLE for them on the next generate.
 * Their drizzle definitions still exist (for querying) and a test checks they match the database.
 */
export const handWrittenSchemaFiles = new Set(['audit.ts', 'chats.ts', 'usage.ts']);

const schemaDir = new URL('./src/schema/', import.meta.url);
// columns.ts (shared column builders, no tables) keeps the list non-empty: drizzle-kit refuses an empty one.
const schema = readdirSync(schemaDir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'index.ts' && !handWrittenSchemaFiles.has(f))
  .map((f) => `./src/schema/${f}`);

export default defineConfig({
  dialect: 'postgresql',
  schema,
  out: './drizzle',
  casing: 'snake_case',
});
