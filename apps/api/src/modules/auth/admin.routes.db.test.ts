import { executeRows, listAuditEvents } from '@genz/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { allPages } from '../../test/pages.ts';
import { createTestUser, type TestUser } from '../../test/users.ts';
import { listUsersQuery } from './auth.repository.ts';

const roomy = { rate: 1000, periodMs: 60_000, burst: 1000 };
let t: TestApp;
let admin: TestUser;
beforeAll(async () => {
  t = await buildTestApp({ 'limits.auth.loginPerIp': roomy, 'limits.auth.signupPerIp': roomy });
  admin = await createTestUser(t.app, { role: 'admin', email: 'root@example.com' });
});
afterAll(() => t?.close());

const as = (u: TestUser) => ({ authorization: u.headers.authorization });
const events = async (event: string) =>
  (await listAuditEvents(t.app.db.db, { event, limit: 100 })).items.map((e) => ({ ...e }));

describe('admin users', () => {
  it('lists newest first and searches by email prefix, with keyset cursors that never repeat or skip', async () => {
    for (let i = 0; i < 5; i++) await createTestUser(t.app, { email: `zed${i}@list.example` });
    const seen = (await allPages<{ email: string }>(t.app, '/api/admin/users?q=ZED', as(admin), 2)).map((u) => u.email);
    expect(seen).toEqual([
      'zed0@list.example',
      'zed1@list.example',
      'zed2@list.example',
      'zed3@list.example',
      'zed4@list.example',
    ]);

    const all = (await t.app.inject({ url: '/api/admin/users?limit=100', headers: as(admin) })).json();
    const ids = all.items.map((u: { id: string }) => u.id);
    expect(ids).toEqual([...ids].sort().reverse());

    const firstPage = (await t.app.inject({ url: '/api/admin/users?limit=1', headers: as(admin) })).json();
    const mixed = await t.app.inject({
      url: `/api/admin/users?q=zed&cursor=${firstPage.nextCursor}`,
      headers: as(admin),
    });
    expect(mixed.json().code).toBe('invalid_cursor');
    expect((await t.app.inject({ url: '/api/admin/users?cursor=%%%', headers: as(admin) })).statusCode).toBe(400);
  });

  it('use the email index for log-in lookups and prefix search', async () => {
    const plan = async (query: ReturnType<typeof sql>) =>
      (await executeRows<Record<string, string>>(t.app.db.db, sql`explain ${query}`))
        .map((r) => Object.values(r)[0])
        .join('\n');
    await t.app.db.db.execute(sql`set enable_seqscan = off`); // tiny tables: ask whether the index can serve
    try {
      const login = await plan(sql`select * from users where lower(email) COLLATE "C" = ${'zed1@list.example'}`);
      expect(login).toMatch(/users_email_key/);
      const q = listUsersQuery(t.app.db.db, { q: 'zed', limit: 20 }).toSQL();
      const search = await plan(sql.raw(inline(q.sql, q.params)));
      expect(search).toMatch(/users_email_key/);
    } finally {
      await t.app.db.db.execute(sql`set enable_seqscan = on`);
    }
  });

  it('changes role and plan (audited), refuses unknown plans and protects the last admin', async () => {
    const u = await createTestUser(t.app);
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${u.id}`,
      headers: as(admin),
      payload: { role: 'admin', plan: 'pro' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ role: 'admin', plan: 'pro' });
    expect((await events('user.role_changed')).some((e) => e.targetId === u.id && e.actorUserId === admin.id)).toBe(
      true,
    );
    expect((await events('user.plan_changed')).some((e) => e.targetId === u.id)).toBe(true);
    // The new role applies at once (the user cache is evicted).
    expect((await t.app.inject({ url: '/api/admin/users?limit=1', headers: as(u) })).statusCode).toBe(200);

    const bad = await t.app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${u.id}`,
      headers: as(admin),
      payload: { plan: 'platinum' },
    });
    expect(bad.statusCode).toBe(400);
    await t.app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${u.id}`,
      headers: as(admin),
      payload: { role: 'user' },
    });

    const solo = await t.app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${admin.id}`,
      headers: as(admin),
      payload: { role: 'user' },
    });
    expect(solo.statusCode).toBe(409);
    const empty = await t.app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${u.id}`,
      headers: as(admin),
      payload: {},
    });
    expect(empty.statusCode).toBe(400);
    const missing = await t.app.inject({
      url: '/api/admin/users/0190a1b2-0000-7000-8000-000000000000',
      headers: as(admin),
    });
    expect(missing.statusCode).toBe(404);
    expect((await t.app.inject({ url: '/api/admin/users/not-a-uuid', headers: as(admin) })).statusCode).toBe(400);
  });

  it('disables (ending sessions at once) and re-enables a user', async () => {
    const u = await createTestUser(t.app);
    const off = await t.app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${u.id}`,
      headers: as(admin),
      payload: { status: 'disabled' },
    });
    expect(off.statusCode).toBe(200);
    expect((await t.app.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(401);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: u.email, password: u.password },
    });
    expect(login.json().code).toBe('account_disabled');
    expect((await events('user.disabled')).some((e) => e.targetId === u.id)).toBe(true);
    await t.app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${u.id}`,
      headers: as(admin),
      payload: { status: 'active' },
    });
    const back = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: u.email, password: u.password },
    });
    expect(back.statusCode).toBe(200);
  });

  it('deletes a user with their sessions and keys, audited', async () => {
    const u = await createTestUser(t.app);
    const purged: string[] = [];
    t.app.onUserDelete(async (_tx, id) => {
      purged.push(id);
    });
    const res = await t.app.inject({ method: 'DELETE', url: `/api/admin/users/${u.id}`, headers: as(admin) });
    expect(res.statusCode).toBe(204);
    expect(purged).toEqual([u.id]);
    expect((await t.app.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(401);
    expect((await t.app.inject({ url: `/api/admin/users/${u.id}`, headers: as(admin) })).statusCode).toBe(404);
    const left = await executeRows<{ n: number }>(
      t.app.db.db,
      sql`select (select count(*) from sessions where user_id = ${u.id}) + (select count(*) from api_keys where user_id = ${u.id}) as n`,
    );
    expect(Number(left[0]?.n)).toBe(0);
    const deleted = (await events('user.deleted')).find((e) => e.targetId === u.id);
    expect(deleted).toMatchObject({ actorUserId: admin.id, ip: '127.0.0.1' });
  });
});

describe('who may join', () => {
  const signup = (email: string, extra: object = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/api/auth/signup',
      payload: { email, password: 'join password 123', ...extra },
    });
  const setMode = (mode: string, allowedDomains: string[] = []) =>
    t.app.inject({
      method: 'PUT',
      url: '/api/admin/settings/signup',
      headers: as(admin),
      payload: { mode, allowedDomains },
    });

  it('switches between invite, domain and approval modes at run time', async () => {
    expect((await setMode('invite')).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/api/auth/signup-mode' })).json()).toEqual({
      mode: 'invite',
      setupRequired: false,
      oidc: null,
    });
    expect((await signup('walkin@example.com')).json().code).toBe('signup_closed');
    const invite = await t.app.inject({
      method: 'POST',
      url: '/api/admin/invitations',
      headers: as(admin),
      payload: { email: 'Guest@Example.com', plan: 'pro' },
    });
    expect(invite.statusCode).toBe(201);
    const inviteToken = new URL(invite.json().url).searchParams.get('invite') ?? '';
    expect((await signup('someone-else@example.com', { inviteToken })).json().code).toBe('signup_closed');
    expect((await signup('guest@example.com', { inviteToken })).statusCode).toBe(202);
    const guest = (await t.app.inject({ url: '/api/admin/users?q=guest@', headers: as(admin) })).json().items[0];
    expect(guest).toMatchObject({ email: 'guest@example.com', plan: 'pro', status: 'active' });
    expect((await signup('guest2@example.com', { inviteToken })).json().code).toBe('invalid_token');

    await setMode('domain', ['corp.example']);
    expect((await signup('x@gmail.example')).json().code).toBe('signup_closed');
    expect((await signup('x@corp.example')).statusCode).toBe(202);

    await setMode('approval');
    expect((await signup('waiting@example.com')).statusCode).toBe(202);
    const login = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: 'waiting@example.com', password: 'join password 123' },
      });
    expect((await login()).json().code).toBe('account_pending');
    const pending = (await t.app.inject({ url: '/api/admin/users?status=pending_approval', headers: as(admin) })).json()
      .items;
    expect(pending.map((u: { email: string }) => u.email)).toEqual(['waiting@example.com']);
    await t.app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${pending[0].id}`,
      headers: as(admin),
      payload: { status: 'active' },
    });
    expect((await login()).statusCode).toBe(200);
    await setMode('open');
  });

  it('lists open invitations newest first, a page at a time with a keyset cursor, leaving revoked ones out', async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/admin/invitations',
        headers: as(admin),
        payload: { email: `paged${i}@example.com` },
      });
      made.push(res.json().id);
    }
    const gone = await t.app.inject({ method: 'DELETE', url: `/api/admin/invitations/${made[2]}`, headers: as(admin) });
    expect(gone.statusCode).toBe(204);
    const seen = (await allPages<{ id: string }>(t.app, '/api/admin/invitations', as(admin), 2)).map((i) => i.id);
    // Newest first; invitations made by earlier tests come after these.
    expect(seen.slice(0, 4)).toEqual([made[4], made[3], made[1], made[0]]);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('lets admins read the dev outbox (mail kept here without SMTP), and nobody else', async () => {
    const box = await t.app.inject({ url: '/api/admin/outbox', headers: as(admin) });
    expect(box.statusCode).toBe(200);
    expect(box.json().items.some((m: { to: string }) => m.to === 'guest@example.com')).toBe(true);
    const u = await createTestUser(t.app);
    expect((await t.app.inject({ url: '/api/admin/outbox', headers: u.headers })).statusCode).toBe(403);
  });
});

/** Inlines $n parameters for EXPLAIN (test only; values are ours). */
function inline(text: string, params: unknown[]): string {
  return text.replace(/\$(\d+)/g, (_, i) => {
    const v = params[Number(i) - 1];
    return typeof v === 'number' ? String(v) : `'${String(v).replaceAll("'", "''")}'`;
  });
}

it('housekeeping purges expired refresh tokens and old one-time tokens, and nothing live', async () => {
  const u = await createTestUser(t.app);
  await t.app.db.db.execute(sql`update sessions set expires_at = now() - interval '1 minute' where user_id = ${u.id}`);
  const live = await createTestUser(t.app);
  const purged = await t.app.accounts.purgeExpired();
  expect(purged.sessions).toBeGreaterThanOrEqual(1);
  expect((await t.app.inject({ url: '/api/me', headers: live.headers })).statusCode).toBe(200);
  const left = await executeRows<{ n: number }>(
    t.app.db.db,
    sql`select count(*)::int as n from sessions where user_id = ${u.id}`,
  );
  expect(left[0]?.n).toBe(0);
});
