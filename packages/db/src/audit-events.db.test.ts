import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent, listAuditEvents, listAuditEventsQuery, writeAuditEvent } from './audit-events.ts';
import { ensureMonthlyPartitions } from './partitions.ts';
import { auditEvents } from './schema/audit.ts';
import { executeRows } from './sql.ts';
import { createTestDb, type TestDb } from './testing.ts';
import { uuidv7 } from './uuidv7.ts';

let t: TestDb;
const alice = uuidv7();
const bob = uuidv7();
beforeAll(async () => {
  t = await createTestDb();
  // The cloned fixture may be older than this month; make sure the current months have partitions.
  await ensureMonthlyPartitions(t.db, auditEvents, { ahead: 1 });
});
afterAll(() => t?.dispose());

describe('audit events', () => {
  it('writes an event with defaults and reads it back', async () => {
    const e = await writeAuditEvent(t.db, {
      event: 'apikey.created',
      actorUserId: alice,
      targetType: 'api_key',
      targetId: 'key_1',
      ip: '2001:db8::1',
      userAgent: 'vitest',
      data: { scopes: ['inference'] },
    });
    expect(e).toMatchObject({
      event: 'apikey.created',
      actorUserId: alice,
      ip: '2001:db8::1',
      data: { scopes: ['inference'] },
    });
    expect(e.createdAt).toBeInstanceOf(Date);
    const minimal = await writeAuditEvent(t.db, { event: 'auth.login_failed' });
    expect(minimal).toMatchObject({ actorUserId: null, ip: null, data: {} });
  });

  it('commits with the caller transaction, or not at all', async () => {
    await expect(
      t.db.transaction(async (tx) => {
        await writeAuditEvent(tx, { event: 'user.role_changed', actorUserId: bob });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect((await listAuditEvents(t.db, { actorUserId: bob, limit: 10 })).items).toEqual([]);
  });

  it('pages newest first by (created_at, id) without gaps or repeats, including ties on created_at', async () => {
    const base = Date.parse('2031-08-01T00:00:00Z');
    const written: AuditEvent[] = [];
    // 23 events over 8 distinct instants: ties must be broken by id.
    for (let i = 0; i < 23; i++) {
      written.push(
        await writeAuditEvent(t.db, {
          event: i % 2 ? 'auth.login' : 'auth.logout',
          actorUserId: bob,
          createdAt: new Date(base + Math.floor(i / 3) * 1000),
        }),
      );
    }
    const expected = [...written]
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
      .map((e) => e.id);

    const seen: string[] = [];
    let page = await listAuditEvents(t.db, { actorUserId: bob, limit: 5 });
    for (;;) {
      seen.push(...page.items.map((e) => e.id));
      if (page.next === null) break;
      page = await listAuditEvents(t.db, { actorUserId: bob, limit: 5, before: page.next });
    }
    expect(seen).toEqual(expected);

    const logins = await listAuditEvents(t.db, { actorUserId: bob, event: 'auth.login', limit: 100 });
    expect(logins.items).toHaveLength(11);
    expect(logins.next).toBeNull();
    expect(
      (await listAuditEvents(t.db, { event: 'apikey.created', limit: 10 })).items.map((e) => e.actorUserId),
    ).toEqual([alice]);
  });

  it('answers the hot queries (by actor, by event, newest) from their indexes', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      id: uuidv7(),
      createdAt: new Date(Date.now() - i * 1000),
      actorUserId: i % 50 === 0 ? alice : uuidv7(),
      event: i % 100 === 0 ? 'user.role_changed' : 'auth.login',
    }));
    for (let i = 0; i < rows.length; i += 500) await t.db.insert(auditEvents).values(rows.slice(i, i + 500));
    await t.db.execute(sql`analyze audit_events`);

    const populated = (
      await executeRows<{ part: string }>(
        t.db,
        sql`select tableoid::regclass::text as part from audit_events group by 1 having count(*) >= 500`,
      )
    ).map((r) => r.part);
    expect(populated.length).toBeGreaterThan(0);
    const cursor = { createdAt: new Date(Date.now() - 60_000), id: uuidv7() };
    const cases = [
      { opts: { actorUserId: alice, limit: 20 }, index: /actor_user_id|actor_created_at/ },
      { opts: { actorUserId: alice, limit: 20, before: cursor }, index: /actor_user_id|actor_created_at/ },
      { opts: { event: 'user.role_changed', limit: 20 }, index: /event_created_at/ },
      { opts: { limit: 20, before: cursor }, index: /created_at_id_idx/ },
    ];
    for (const c of cases) {
      const q = listAuditEventsQuery(t.db, c.opts).getSQL();
      const plan = (await executeRows<{ 'QUERY PLAN': string }>(t.db, sql`explain ${q}`))
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      expect(plan, JSON.stringify(c.opts)).toMatch(/Index (Only )?Scan/);
      expect(plan, JSON.stringify(c.opts)).toMatch(c.index);
      // Tiny partitions may be seq-scanned (cheaper); the ones holding the bulk must not be.
      for (const part of populated) expect(plan, JSON.stringify(c.opts)).not.toContain(`Seq Scan on ${part} `);
    }
  });
});
