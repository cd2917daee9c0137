/**
 * Every table, one file per domain (audit.ts; later users.ts, chats.ts ...). Files holding partitioned tables are
 * also listed in drizzle.config.ts (handWrittenSchemaFiles) because their DDL is a hand-written migration.
 */
export * from './audit.ts';
export * from './chats.ts';
export * from './identities.ts';
export * from './providers.ts';
export * from './usage.ts';
export * from './users.ts';
