import { index, inet, jsonb, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core';
import { createdAtColumn, idColumn } from './columns.ts';

/**
 * Security audit log. PARTITION BY RANGE (created_at), one partition a month, made ahead and dropped by retention
 * with genz_ensure_monthly_partitions(); the DDL is hand-written in drizzle/0000_partition-helper-audit-events.sql
 * because drizzle's DSL cannot say PARTITION BY. This definition is for querying and must match that DDL
 * (schema-drift.db.test.ts checks it). The primary key includes the partition key, as PostgreSQL requires.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: idColumn(),
    createdAt: createdAtColumn(),
    actorUserId: uuid('actor_user_id'),
    /** Dotted verb, e.g. 'auth.login', 'auth.login_failed', 'apikey.created', 'user.role_changed'. */
    event: text('event').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    ip: inet('ip'),
    userAgent: text('user_agent'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    primaryKey({ name: 'audit_events_pkey', columns: [t.id, t.createdAt] }),
    index('audit_events_created_at_id_idx').on(t.createdAt.desc(), t.id.desc()),
    index('audit_events_actor_created_at_idx').on(t.actorUserId, t.createdAt.desc(), t.id.desc()),
    index('audit_events_event_created_at_idx').on(t.event, t.createdAt.desc(), t.id.desc()),
  ],
);

export type AuditEventRow = typeof auditEvents.$inferSelect;
export type NewAuditEventRow = typeof auditEvents.$inferInsert;
