import { doublePrecision, index, integer, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core';
import { createdAtColumn, idColumn } from './columns.ts';

/**
 * One row per upstream model call (docs/providers.md "Usage"), written in batches by the API's usage writer.
 * PARTITION BY RANGE (created_at), one partition a month made ahead and dropped by retention with
 * genz_ensure_monthly_partitions(); the DDL is hand-written in drizzle/0003_usage-events.sql (drizzle's DSL cannot say
 * PARTITION BY), so this file is listed in drizzle.config.ts `handWrittenSchemaFiles` and migrations.db.test.ts checks
 * it against the database. No foreign keys: a batch must never fail because a user or key was deleted meanwhile.
 */
export const usageEvents = pgTable(
  'usage_events',
  {
    id: idColumn(),
    createdAt: createdAtColumn(),
    requestId: text('request_id').notNull(),
    userId: uuid('user_id'),
    apiKeyId: uuid('api_key_id'),
    alias: text('alias').notNull(),
    deployment: text('deployment').notNull(),
    /** 'chat.completions' | 'responses' | 'embeddings'. */
    endpoint: text('endpoint').notNull(),
    /** 'ok' | 'error' | 'aborted'. */
    status: text('status').notNull(),
    inputTokens: integer('input_tokens').notNull(),
    outputTokens: integer('output_tokens').notNull(),
    /** Part of outputTokens the model spent reasoning, when the vendor reports it. */
    reasoningTokens: integer('reasoning_tokens').notNull(),
    costUsd: doublePrecision('cost_usd').notNull(),
    /** 'config', the price table version, or 'unpriced'. */
    priceVersion: text('price_version').notNull(),
    latencyMs: integer('latency_ms').notNull(),
    ttftMs: integer('ttft_ms'),
  },
  (t) => [
    primaryKey({ name: 'usage_events_pkey', columns: [t.id, t.createdAt] }),
    index('usage_events_user_created_at_idx').on(t.userId, t.createdAt.desc()),
    index('usage_events_created_at_idx').on(t.createdAt.desc()),
  ],
);

export type UsageEventRow = typeof usageEvents.$inferSelect;
export type NewUsageEventRow = typeof usageEvents.$inferInsert;
