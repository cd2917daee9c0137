import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAtColumn, idColumn, ts } from './columns.ts';

/**
 * Accounts (docs/accounts.md, ADR 020-023). `email` is stored normalised (NFKC, lowercase, trimmed) by the auth
 * module; the unique index is on `lower(email) COLLATE "C"` anyway, so a row written by any other path (a seeding
 * script, psql) still cannot duplicate an address by case, and the byte-order collation lets one index serve both
 * equality (log-in) and prefix range scans in keyset order (admin search).
 */
export const users = pgTable(
  'users',
  {
    id: idColumn(),
    email: text('email').notNull(),
    /** argon2id PHC string; null for accounts that cannot log in with a password (later: OIDC-only). */
    passwordHash: text('password_hash'),
    role: text('role', { enum: ['user', 'admin'] })
      .notNull()
      .default('user'),
    plan: text('plan').notNull(),
    status: text('status', { enum: ['active', 'disabled', 'pending_approval'] })
      .notNull()
      .default('active'),
    emailVerifiedAt: ts('email_verified_at'),
    createdAt: createdAtColumn(),
    lastActiveAt: ts('last_active_at'),
  },
  (t) => [
    primaryKey({ name: 'users_pkey', columns: [t.id] }),
    uniqueIndex('users_email_key').on(sql`lower(${t.email}) COLLATE "C"`),
    // Admin "pending approvals" and "disabled" views; active users are the bulk and are listed by id.
    index('users_status_id_idx').on(t.status, t.id.desc()).where(sql`${t.status} <> 'active'`),
    index('users_role_id_idx').on(t.role, t.id.desc()).where(sql`${t.role} = 'admin'`),
    check('users_role_check', sql`${t.role} in ('user', 'admin')`),
    check('users_status_check', sql`${t.status} in ('active', 'disabled', 'pending_approval')`),
    check('users_email_length_check', sql`char_length(${t.email}) <= 254`),
  ],
);

/**
 * One row per refresh token. A log-in starts a family (`family_id` = the session the user sees as a device); each
 * refresh rotates: the presented row gets `rotated_at` and a child row carries the new hash. Presenting a rotated
 * token again is reuse (a stolen token) and revokes the whole family. Access JWTs carry the family id as `sid`.
 */
export const sessions = pgTable(
  'sessions',
  {
    id: idColumn(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    familyId: uuid('family_id').notNull(),
    tokenHash: text('token_hash').notNull(),
    parentId: uuid('parent_id'),
    createdAt: createdAtColumn(),
    rotatedAt: ts('rotated_at'),
    revokedAt: ts('revoked_at'),
    expiresAt: ts('expires_at').notNull(),
    userAgent: text('user_agent'),
    ip: text('ip'),
    lastUsedAt: ts('last_used_at'),
  },
  (t) => [
    primaryKey({ name: 'sessions_pkey', columns: [t.userId, t.id] }),
    uniqueIndex('sessions_token_hash_key').on(t.tokenHash),
    // "My devices": the live (unrotated, unrevoked) token of each family.
    index('sessions_user_live_idx')
      .on(t.userId, t.familyId)
      .where(sql`${t.rotatedAt} is null and ${t.revokedAt} is null`),
    index('sessions_family_idx').on(t.familyId),
    // Replicas poll recent revocations (auth.revocation), a range scan on this partial index.
    index('sessions_revoked_at_idx').on(t.revokedAt).where(sql`${t.revokedAt} is not null`),
    index('sessions_expires_at_idx').on(t.expiresAt),
  ],
);

/** Personal API keys: `gz_` + 256 random bits, shown once, stored as SHA-256 (high entropy needs no slow hash). */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: idColumn(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** The first characters of the key, safe to display ("gz_AbC1…"). */
    prefix: text('prefix').notNull(),
    hash: text('hash').notNull(),
    scopes: text('scopes').array().notNull(),
    createdAt: createdAtColumn(),
    expiresAt: ts('expires_at'),
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [
    primaryKey({ name: 'api_keys_pkey', columns: [t.userId, t.id] }),
    uniqueIndex('api_keys_hash_key').on(t.hash),
    uniqueIndex('api_keys_id_key').on(t.id),
    index('api_keys_user_created_idx').on(t.userId, t.id.desc()),
  ],
);

/**
 * Single-use, expiring tokens mailed or shown as links: email verification, password reset, first-admin setup and
 * invitations. Only the SHA-256 of the token is stored; consuming one is a single conditional UPDATE.
 */
export const oneTimeTokens = pgTable(
  'one_time_tokens',
  {
    id: idColumn(),
    purpose: text('purpose', { enum: ['verify_email', 'password_reset', 'setup', 'invite'] }).notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    email: text('email'),
    tokenHash: text('token_hash').notNull(),
    /** Invitation terms (role, plan) and similar. */
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    createdBy: uuid('created_by'),
    createdAt: createdAtColumn(),
    expiresAt: ts('expires_at').notNull(),
    usedAt: ts('used_at'),
  },
  (t) => [
    primaryKey({ name: 'one_time_tokens_pkey', columns: [t.id] }),
    uniqueIndex('one_time_tokens_token_hash_key').on(t.tokenHash),
    index('one_time_tokens_user_purpose_idx').on(t.userId, t.purpose),
    index('one_time_tokens_purpose_id_idx').on(t.purpose, t.id.desc()).where(sql`${t.usedAt} is null`),
    check('one_time_tokens_purpose_check', sql`${t.purpose} in ('verify_email', 'password_reset', 'setup', 'invite')`),
  ],
);

/**
 * Admin-edited settings that override genz.yaml at run time (the sign-up mode first; later the config layer).
 * One JSON value per key; `version` counts edits so replicas can tell a stale cache.
 */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').$type<unknown>().notNull(),
  version: integer('version').notNull().default(1),
  updatedAt: ts('updated_at')
    .notNull()
    .defaultNow()
    .$defaultFn(() => new Date()),
  updatedBy: uuid('updated_by'),
});

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type OneTimeTokenRow = typeof oneTimeTokens.$inferSelect;
