import { sql } from 'drizzle-orm';
import { bigint, check, index, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAtColumn, idColumn, ts } from './columns.ts';
import { users } from './users.ts';

/**
 * Second factors (docs/accounts.md "Second factor"). One TOTP factor per user: `secret` is the base32 seed, sealed
 * with ENCRYPTION_KEY (AES-256-GCM, `v1:` prefix) when one is configured, else stored as is. A factor counts once
 * `confirmed_at` is set (the user proved a code); `last_step` is the last accepted 30 s step, so a code is never
 * accepted twice. Later kinds (passkeys) get their own rows.
 */
export const userFactors = pgTable(
  'user_factors',
  {
    id: idColumn(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['totp'] }).notNull(),
    secret: text('secret').notNull(),
    createdAt: createdAtColumn(),
    confirmedAt: ts('confirmed_at'),
    lastStep: bigint('last_step', { mode: 'number' }),
  },
  (t) => [
    primaryKey({ name: 'user_factors_pkey', columns: [t.id] }),
    uniqueIndex('user_factors_user_kind_key').on(t.userId, t.kind),
    check('user_factors_kind_check', sql`${t.kind} in ('totp')`),
  ],
);

/** Single-use recovery codes: SHA-256 of each (they carry 50 random bits and are throttled), `used_at` once spent. */
export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    id: idColumn(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    createdAt: createdAtColumn(),
    usedAt: ts('used_at'),
  },
  (t) => [
    primaryKey({ name: 'recovery_codes_pkey', columns: [t.id] }),
    uniqueIndex('recovery_codes_user_hash_key').on(t.userId, t.codeHash),
  ],
);

/**
 * Accounts elsewhere that log in as a local user: `provider` is `supabase` or `oidc:<name>`, `subject` the
 * issuer's stable `sub`. Found by (provider, subject); the email is informational (linked only when verified).
 */
export const externalIdentities = pgTable(
  'external_identities',
  {
    id: idColumn(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    provider: text('provider').notNull(),
    subject: text('subject').notNull(),
    email: text('email'),
    claims: jsonb('claims').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAtColumn(),
    lastSeenAt: ts('last_seen_at'),
  },
  (t) => [
    primaryKey({ name: 'external_identities_pkey', columns: [t.id] }),
    uniqueIndex('external_identities_provider_subject_key').on(t.provider, t.subject),
    index('external_identities_user_idx').on(t.userId),
  ],
);

/**
 * Passkeys (WebAuthn credentials) of a user: `credential_id` base64url, `public_key` the COSE key (base64url),
 * `counter` the authenticator's signature counter (0 for most synced passkeys, which do not count).
 */
export const passkeys = pgTable(
  'passkeys',
  {
    id: idColumn(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    credentialId: text('credential_id').notNull(),
    publicKey: text('public_key').notNull(),
    counter: bigint('counter', { mode: 'number' }).notNull().default(0),
    transports: text('transports').array().notNull().default(sql`'{}'::text[]`),
    name: text('name').notNull(),
    createdAt: createdAtColumn(),
    lastUsedAt: ts('last_used_at'),
  },
  (t) => [
    primaryKey({ name: 'passkeys_pkey', columns: [t.id] }),
    uniqueIndex('passkeys_credential_id_key').on(t.credentialId),
    index('passkeys_user_idx').on(t.userId),
  ],
);

export type PasskeyRow = typeof passkeys.$inferSelect;
export type UserFactorRow = typeof userFactors.$inferSelect;
export type RecoveryCodeRow = typeof recoveryCodes.$inferSelect;
export type ExternalIdentityRow = typeof externalIdentities.$inferSelect;
