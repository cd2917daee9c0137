/**
 * Test data for the backup, restore and migrate-to-postgres tests: rows in every kind of table the schema has
 * (plain, hash-partitioned messages, range-partitioned audit_events across several months including DEFAULT), with
 * values that are easy to mangle on the way (quotes, unicode, NULLs, jsonb arrays, text[] with commas, inet,
 * float fractions, millisecond timestamps). Deterministic apart from ids.
 */
import { uuidv7 } from '@genz/db';
import type { Queryable } from './inspect.ts';

export interface SeedCounts {
  users: number;
  conversations: number;
  messages: number;
  auditEvents: number;
}

/** Seeds a migrated database. `scale` multiplies the row counts (1 = a few hundred rows). */
export async function seedDatabase(q: Queryable, scale = 1): Promise<SeedCounts> {
  const users = 12 * scale;
  const perUserConversations = 3;
  const perConversationMessages = 5;
  const auditPerUser = 6;
  const now = Date.UTC(2026, 0, 15, 12, 0, 0, 123);
  let messages = 0;
  let audits = 0;
  for (let u = 0; u < users; u++) {
    const userId = uuidv7();
    await q.query(
      `insert into users (id, email, password_hash, role, plan, status, email_verified_at, created_at)
       values ($1, $2, $3, $4, 'free', $5, $6, $7)`,
      [
        userId,
        `user${u}+tést@example.com`,
        u % 3 === 0 ? null : `$argon2id$v=19$m=19456,t=2,p=1$salt${u}$hash`,
        u === 0 ? 'admin' : 'user',
        u % 5 === 4 ? 'disabled' : 'active',
        u % 2 === 0 ? new Date(now - u * 1000).toISOString() : null,
        new Date(now - u * 86_400_000).toISOString(),
      ],
    );
    await q.query(
      `insert into sessions (id, user_id, family_id, token_hash, expires_at, user_agent, ip)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [
        uuidv7(),
        userId,
        uuidv7(),
        `tok-${u}-${userId}`,
        new Date(now + 86_400_000).toISOString(),
        'Mozilla/5.0 "quoted"',
        '192.0.2.1',
      ],
    );
    await q.query(
      `insert into api_keys (id, user_id, name, prefix, hash, scopes) values ($1, $2, $3, $4, $5, $6::text[])`,
      [uuidv7(), userId, `key, with comma ${u}`, `gz_${u}`, `h-${userId}`, '{chat,"models:read","a,b"}'],
    );
    for (let c = 0; c < perUserConversations; c++) {
      const convId = uuidv7();
      await q.query(
        `insert into conversations (user_id, id, title, pinned, settings, created_at, updated_at)
         values ($1, $2, $3, $4, $5::jsonb, $6, $6)`,
        [
          userId,
          convId,
          c === 0 ? null : `Ünïcödé 'title' ${u}/${c} 🚀`,
          c === 1,
          JSON.stringify({ temperature: 0.7 }),
          new Date(now - c * 60_000).toISOString(),
        ],
      );
      let parent: string | null = null;
      for (let m = 0; m < perConversationMessages; m++) {
        const id = uuidv7();
        await q.query(
          `insert into messages (user_id, id, conversation_id, parent_id, role, content, model, tokens_in, cost_usd, created_at)
           values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)`,
          [
            userId,
            id,
            convId,
            parent,
            m % 2 === 0 ? 'user' : 'assistant',
            JSON.stringify(m === 0 ? [] : [{ type: 'text', text: `line ${m}\nwith "quotes" and \\ backslash` }]),
            m % 2 === 0 ? null : 'demo',
            m * 7,
            m % 2 === 0 ? null : 0.1 + m * 0.000_001,
            new Date(now + m * 1_001).toISOString(),
          ],
        );
        parent = id;
        messages++;
      }
    }
    for (let a = 0; a < auditPerUser; a++) {
      // Months from a year back (DEFAULT partition unless a monthly partition exists) to next month.
      const at = new Date(Date.UTC(2026, a - 5, 10 + a, 8, 30, 0, a));
      await q.query(
        `insert into audit_events (id, created_at, actor_user_id, event, target_type, target_id, ip, data)
         values ($1, $2, $3, $4, 'user', $5, $6, $7::jsonb)`,
        [
          uuidv7(),
          at.toISOString(),
          userId,
          a % 2 === 0 ? 'auth.login' : 'user.role_changed',
          userId,
          '2001:db8::1',
          JSON.stringify({ n: a, tags: ['x', 'y'] }),
        ],
      );
      audits++;
    }
  }
  await q.query(`insert into settings (key, value) values ('site', $1::jsonb)`, [
    JSON.stringify({ name: 'GenZ "test"', list: [1, 2, 3] }),
  ]);
  return { users, conversations: users * perUserConversations, messages, auditEvents: audits };
}

/** Creates monthly audit_events partitions for the seed's months (so rows land in several partitions, not DEFAULT). */
export async function seedAuditPartitions(q: Queryable): Promise<void> {
  for (const month of ['2025-10-01', '2025-11-01', '2025-12-01']) {
    await q.query(`select * from genz_ensure_monthly_partitions('audit_events', 0, null, $1::timestamptz)`, [
      `${month}T00:00:00Z`,
    ]);
  }
}
