import { timestamp, uuid } from 'drizzle-orm/pg-core';
import { uuidv7 } from '../uuidv7.ts';

/** A UUIDv7 key made in the app (PostgreSQL 15 has no uuidv7()). */
export const idColumn = (name = 'id') =>
  uuid(name)
    .notNull()
    .$defaultFn(() => uuidv7());

/**
 * timestamptz(3), every timestamp of the schema: millisecond precision, like a JS Date, so a keyset cursor
 * (created_at, id) read back into a Date compares exactly with the stored value.
 */
export const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

/** `created_at`: the app sets it; the database default is only a fallback. */
export const createdAtColumn = () =>
  ts('created_at')
    .notNull()
    .defaultNow()
    .$defaultFn(() => new Date());
