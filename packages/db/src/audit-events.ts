import { and, desc, eq, lte, type SQL, sql } from 'drizzle-orm';
import { type AuditEventRow, auditEvents } from './schema/audit.ts';
import type { Db } from './types.ts';
import { uuidv7 } from './uuidv7.ts';

/** Known audit verbs; any dotted string is accepted so modules can add their own. */
export type AuditEventName =
  | 'auth.login'
  | 'auth.login_failed'
  | 'auth.logout'
  | 'apikey.created'
  | 'apikey.revoked'
  | 'user.role_changed'
  | (string & {});

export type AuditEvent = AuditEventRow;

export interface NewAuditEvent {
  event: AuditEventName;
  actorUserId?: string | null;
  targetType?: string | null;
  targetId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  data?: Record<string, unknown>;
  /** Defaults to now. */
  createdAt?: Date;
}

/** Position after the last item of a page: the (created_at, id) of that item. */
export interface AuditCursor {
  createdAt: Date;
  id: string;
}

export interface ListAuditEventsOptions {
  actorUserId?: string;
  event?: AuditEventName;
  /** Items strictly older than this position (newest first). */
  before?: AuditCursor;
  limit: number;
}

export interface AuditEventPage {
  items: AuditEvent[];
  /** Pass as `before` for the next page; null when this page is the last. */
  next: AuditCursor | null;
}

/** Appends one audit event. Accepts a transaction, so the event commits with the change it records. */
export async function writeAuditEvent(db: Db, event: NewAuditEvent): Promise<AuditEvent> {
  const [row] = await db
    .insert(auditEvents)
    .values({
      id: uuidv7(),
      createdAt: event.createdAt ?? new Date(),
      event: event.event,
      actorUserId: event.actorUserId ?? null,
      targetType: event.targetType ?? null,
      targetId: event.targetId ?? null,
      ip: event.ip ?? null,
      userAgent: event.userAgent ?? null,
      data: event.data ?? {},
    })
    .returning();
  if (row === undefined) throw new Error('insert into audit_events returned no row');
  return row;
}

/** The page query of listAuditEvents (limit + 1 rows), exposed for EXPLAIN in tests. */
export function listAuditEventsQuery(db: Db, opts: ListAuditEventsOptions) {
  const where: SQL[] = [];
  if (opts.actorUserId !== undefined) where.push(eq(auditEvents.actorUserId, opts.actorUserId));
  if (opts.event !== undefined) where.push(eq(auditEvents.event, opts.event));
  if (opts.before !== undefined) {
    const at = opts.before.createdAt.toISOString();
    where.push(
      sql`(${auditEvents.createdAt}, ${auditEvents.id}) < (${at}::timestamptz, ${opts.before.id}::uuid)`,
      // Redundant with the row comparison, but plain enough for partition pruning to skip newer months.
      lte(auditEvents.createdAt, opts.before.createdAt),
    );
  }
  return db
    .select()
    .from(auditEvents)
    .where(and(...where))
    .orderBy(desc(auditEvents.createdAt), desc(auditEvents.id))
    .limit(clampLimit(opts.limit) + 1);
}

function clampLimit(limit: number): number {
  return Math.max(1, Math.min(Math.trunc(limit), 1000));
}

/**
 * Newest first, keyset-paginated on (created_at, id); each filter has a matching index (actor or event, then
 * created_at desc, id desc), so a page costs the same at any depth. `limit` is clamped to 1..1000.
 */
export async function listAuditEvents(db: Db, opts: ListAuditEventsOptions): Promise<AuditEventPage> {
  const limit = clampLimit(opts.limit);
  const rows = await listAuditEventsQuery(db, opts);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    next: rows.length > limit && last !== undefined ? { createdAt: last.createdAt, id: last.id } : null,
  };
}
