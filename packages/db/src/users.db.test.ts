import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from './schema/users.ts';
import { createTestDb, type TestDb } from './testing.ts';
import { uuidv7 } from './uuidv7.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(() => t?.dispose());

const user = (email: string) => ({ id: uuidv7(), email, plan: 'free' });

describe('users', () => {
  it('keeps email unique regardless of case, even for rows written outside the app', async () => {
    await t.db.insert(users).values(user('Case@Example.com'));
    await expect(t.db.insert(users).values(user('case@example.COM'))).rejects.toThrow();
    await t.db.insert(users).values(user('other@example.com'));
  });

  it('refuses unknown roles and statuses and overlong emails', async () => {
    await expect(
      t.db.execute(sql`insert into users (id, email, plan, role) values (${uuidv7()}, 'r@x.io', 'free', 'root')`),
    ).rejects.toThrow();
    await expect(
      t.db.execute(sql`insert into users (id, email, plan, status) values (${uuidv7()}, 's@x.io', 'free', 'zombie')`),
    ).rejects.toThrow();
    await expect(t.db.insert(users).values(user(`${'a'.repeat(250)}@x.io`))).rejects.toThrow();
  });

  it('cascade a user deletion to sessions, API keys and one-time tokens', async () => {
    const id = uuidv7();
    await t.db.insert(users).values({ ...user('gone@example.com'), id });
    await t.db.execute(sql`insert into sessions (id, user_id, family_id, token_hash, expires_at)
                           values (${uuidv7()}, ${id}, ${uuidv7()}, 'h1', now() + interval '1 day')`);
    await t.db.execute(sql`insert into api_keys (id, user_id, name, prefix, hash, scopes)
                           values (${uuidv7()}, ${id}, 'k', 'gz_abc', 'h2', '{read}')`);
    await t.db.execute(sql`insert into one_time_tokens (id, purpose, user_id, token_hash, expires_at)
                           values (${uuidv7()}, 'verify_email', ${id}, 'h3', now() + interval '1 day')`);
    await t.db.execute(sql`delete from users where id = ${id}`);
    const left = (await t.db.execute(sql`select (select count(*) from sessions) + (select count(*) from api_keys)
                                          + (select count(*) from one_time_tokens) as n`)) as unknown as {
      rows: { n: number | string }[];
    };
    expect(Number(left.rows[0]?.n)).toBe(0);
  });
});
