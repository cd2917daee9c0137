import { integer, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { ts } from './columns.ts';

/**
 * The admin layer of the provider configuration (docs/providers.md "Editing at run time"): each admin change appends
 * a row with the next version, so the newest row is the layer in force and older rows are its history. The document
 * holds deployments and aliases that override, add to or remove (null) those of genz.yaml; provider keys in it are
 * sealed with ENCRYPTION_KEY (AES-256-GCM), never stored in clear. The primary key on version makes two concurrent
 * edits of the same version collide instead of both winning.
 */
export const providerConfigVersions = pgTable('provider_config_versions', {
  version: integer('version').primaryKey(),
  document: jsonb('document').$type<Record<string, unknown>>().notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
  createdBy: uuid('created_by'),
  comment: text('comment'),
});

export type ProviderConfigVersionRow = typeof providerConfigVersions.$inferSelect;
