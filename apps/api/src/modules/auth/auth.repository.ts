import type { Db } from '@genz/db';
import { apiKeys, type OneTimeTokenRow, oneTimeTokens, sessions, settings, type UserRow, users } from '@genz/db/schema';
import { and, desc, eq, gt, inArray, isNull, lt, ne, or, type SQL, sql } from 'drizzle-orm';
import type { PgColumn, PgSelect } from 'drizzle-orm/pg-core';

/** A keyset page by uuidv7 id: the last id of the page before, and the page size. */
export interface IdPage {
  after?: string;
  limit: number;
}

/**
 * A page newest first by (uuidv7) id: the rows matching `where` below `after`, `limit + 1` of them so the caller
 * knows whether a next page exists.
 */
function newestFirst<Q extends PgSelect>(query: Q, id: PgColumn, where: SQL[], page: IdPage) {
  if (page.after !== undefined) where.push(lt(id, page.after));
  return query
    .where(and(...where))
    .orderBy(desc(id))
    .limit(page.limit + 1);
}

/** The indexed form of an email (matches users_email_key): equality for log-in, byte-order ranges for search. */
export const emailKey = sql`lower(${users.email}) COLLATE "C"`;

// ---------- users ----------

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(sql`${emailKey} = ${email}`).limit(1);
  return row;
}

export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return row;
}

export async function anyUserExists(db: Db): Promise<boolean> {
  const rows = await db.select({ id: users.id }).from(users).limit(1);
  return rows.length > 0;
}

export async function insertUser(db: Db, values: typeof users.$inferInsert): Promise<UserRow> {
  const [row] = await db.insert(users).values(values).returning();
  if (!row) throw new Error('insert into users returned no row');
  return row;
}

/** Inserts unless the address is taken; undefined when it is (the unique index decides, race-free). */
export async function insertUserIfNew(db: Db, values: typeof users.$inferInsert): Promise<UserRow | undefined> {
  const [row] = await db.insert(users).values(values).onConflictDoNothing().returning();
  return row;
}

export async function updateUser(
  db: Db,
  id: string,
  patch: Partial<typeof users.$inferInsert>,
): Promise<UserRow | undefined> {
  const [row] = await db.update(users).set(patch).where(eq(users.id, id)).returning();
  return row;
}

export async function deleteUser(db: Db, id: string): Promise<boolean> {
  const rows = await db.delete(users).where(eq(users.id, id)).returning({ id: users.id });
  return rows.length > 0;
}

export async function countActiveAdmins(db: Db): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(users)
    .where(and(eq(users.role, 'admin'), eq(users.status, 'active')));
  return row?.n ?? 0;
}

export interface ListUsersOptions {
  /** Email prefix (already lowercased). Results then sort by email; otherwise newest first by id. */
  q?: string;
  status?: UserRow['status'];
  role?: UserRow['role'];
  /** Keyset position: the last email (with q) or the last id. */
  after?: string;
  limit: number;
}

/** Admin list/search, keyset-paginated; every shape has an index (users_pkey, users_email_key, partial ones). */
export function listUsersQuery(db: Db, opts: ListUsersOptions) {
  const where: SQL[] = [];
  if (opts.status) where.push(eq(users.status, opts.status));
  if (opts.role) where.push(eq(users.role, opts.role));
  if (opts.q !== undefined) {
    where.push(sql`${emailKey} >= ${opts.q}`, sql`${emailKey} < ${`${opts.q}\u{10FFFF}`}`);
    if (opts.after !== undefined) where.push(sql`${emailKey} > ${opts.after}`);
    return db
      .select()
      .from(users)
      .where(and(...where))
      .orderBy(emailKey)
      .limit(opts.limit + 1);
  }
  return newestFirst(db.select().from(users).$dynamic(), users.id, where, opts);
}

// ---------- sessions (refresh-token families) ----------

export async function insertSession(db: Db, values: typeof sessions.$inferInsert) {
  await db.insert(sessions).values(values);
}

export async function findSessionByHash(db: Db, tokenHash: string) {
  const [row] = await db.select().from(sessions).where(eq(sessions.tokenHash, tokenHash)).limit(1);
  return row;
}

/** Marks a refresh token used, only if it still is the family's live one (false: someone used it first). */
export async function markRotated(db: Db, userId: string, id: string, at: Date): Promise<boolean> {
  const rows = await db
    .update(sessions)
    .set({ rotatedAt: at, lastUsedAt: at })
    .where(
      and(eq(sessions.userId, userId), eq(sessions.id, id), isNull(sessions.rotatedAt), isNull(sessions.revokedAt)),
    )
    .returning({ id: sessions.id });
  return rows.length === 1;
}

/** Revokes families of a user (all, or the given ones, or all but one); returns the family ids it revoked. */
export async function revokeFamilies(
  db: Db,
  userId: string,
  at: Date,
  which: { only?: readonly string[]; except?: string } = {},
): Promise<string[]> {
  const where: SQL[] = [eq(sessions.userId, userId), isNull(sessions.revokedAt)];
  if (which.only) {
    if (which.only.length === 0) return [];
    where.push(inArray(sessions.familyId, [...which.only]));
  }
  if (which.except) where.push(ne(sessions.familyId, which.except));
  const rows = await db
    .update(sessions)
    .set({ revokedAt: at })
    .where(and(...where))
    .returning({ familyId: sessions.familyId });
  return [...new Set(rows.map((r) => r.familyId))];
}

export async function listLiveSessions(db: Db, userId: string, now: Date) {
  return db
    .select()
    .from(sessions)
    .where(
      and(
        eq(sessions.userId, userId),
        isNull(sessions.rotatedAt),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, now),
      ),
    )
    .orderBy(desc(sessions.familyId))
    .limit(500);
}

// ---------- API keys ----------

export async function insertApiKey(db: Db, values: typeof apiKeys.$inferInsert) {
  const [row] = await db.insert(apiKeys).values(values).returning();
  if (!row) throw new Error('insert into api_keys returned no row');
  return row;
}

export async function findApiKeyByHash(db: Db, hash: string) {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.hash, hash)).limit(1);
  return row;
}

export async function listApiKeys(db: Db, userId: string, page: IdPage) {
  const where = [eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)];
  return newestFirst(db.select().from(apiKeys).$dynamic(), apiKeys.id, where, page);
}

export async function countLiveApiKeys(db: Db, userId: string, now: Date): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.userId, userId),
        isNull(apiKeys.revokedAt),
        or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)),
      ),
    );
  return row?.n ?? 0;
}

export async function revokeApiKey(db: Db, userId: string, id: string, at: Date) {
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: at })
    .where(and(eq(apiKeys.userId, userId), eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning();
  return row;
}

/** One statement for a batch of last-used times (the auth hook never writes per request). */
export async function touchApiKeys(db: Db, touches: readonly { id: string; userId: string; at: Date }[]) {
  if (touches.length === 0) return;
  const values = sql.join(
    touches.map((t) => sql`(${t.userId}::uuid, ${t.id}::uuid, ${t.at.toISOString()}::timestamptz)`),
    sql`, `,
  );
  await db.execute(
    sql`update api_keys k set last_used_at = greatest(k.last_used_at, v.at)
          from (values ${values}) as v(user_id, id, at)
         where k.user_id = v.user_id and k.id = v.id`,
  );
}

export async function touchUsers(db: Db, touches: readonly { id: string; at: Date }[]) {
  if (touches.length === 0) return;
  const values = sql.join(
    touches.map((t) => sql`(${t.id}::uuid, ${t.at.toISOString()}::timestamptz)`),
    sql`, `,
  );
  await db.execute(
    sql`update users u set last_active_at = greatest(u.last_active_at, v.at)
          from (values ${values}) as v(id, at)
         where u.id = v.id`,
  );
}

// ---------- one-time tokens ----------

/** A token of this hash and purpose that is still unused and unexpired at `now`. */
const liveToken = (tokenHash: string, purpose: OneTimeTokenRow['purpose'], now: Date) =>
  and(
    eq(oneTimeTokens.tokenHash, tokenHash),
    eq(oneTimeTokens.purpose, purpose),
    isNull(oneTimeTokens.usedAt),
    gt(oneTimeTokens.expiresAt, now),
  );

export async function insertOneTimeToken(db: Db, values: typeof oneTimeTokens.$inferInsert) {
  const [row] = await db.insert(oneTimeTokens).values(values).returning();
  if (!row) throw new Error('insert into one_time_tokens returned no row');
  return row;
}

/** Uses a token if it exists for this purpose, is unused and unexpired: one conditional UPDATE, so only once. */
export async function consumeOneTimeToken(
  db: Db,
  tokenHash: string,
  purpose: OneTimeTokenRow['purpose'],
  now: Date,
): Promise<OneTimeTokenRow | undefined> {
  const [row] = await db
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(liveToken(tokenHash, purpose, now))
    .returning();
  return row;
}

export async function findOneTimeToken(db: Db, tokenHash: string, purpose: OneTimeTokenRow['purpose'], now: Date) {
  const [row] = await db
    .select()
    .from(oneTimeTokens)
    .where(liveToken(tokenHash, purpose, now))
    .limit(1);
  return row;
}

/** Ends every unused token of a purpose (optionally of one user): e.g. older reset links after a reset. */
export async function expireOneTimeTokens(db: Db, purpose: OneTimeTokenRow['purpose'], now: Date, userId?: string) {
  const where: SQL[] = [eq(oneTimeTokens.purpose, purpose), isNull(oneTimeTokens.usedAt)];
  if (userId) where.push(eq(oneTimeTokens.userId, userId));
  await db
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(and(...where));
}

export async function listInvitations(db: Db, now: Date, page: IdPage) {
  const where = [eq(oneTimeTokens.purpose, 'invite'), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now)];
  return newestFirst(db.select().from(oneTimeTokens).$dynamic(), oneTimeTokens.id, where, page);
}

export async function revokeInvitation(db: Db, id: string, now: Date): Promise<boolean> {
  const rows = await db
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(and(eq(oneTimeTokens.id, id), eq(oneTimeTokens.purpose, 'invite'), isNull(oneTimeTokens.usedAt)))
    .returning({ id: oneTimeTokens.id });
  return rows.length > 0;
}

// ---------- settings ----------

export async function getSetting(db: Db, key: string): Promise<unknown> {
  const [row] = await db.select({ value: settings.value }).from(settings).where(eq(settings.key, key)).limit(1);
  return row?.value;
}

export async function putSetting(db: Db, key: string, value: unknown, userId: string): Promise<void> {
  await db
    .insert(settings)
    .values({ key, value, version: 1, updatedAt: new Date(), updatedBy: userId })
    .onConflictDoUpdate({
      target: settings.key,
      set: { value, version: sql`${settings.version} + 1`, updatedAt: new Date(), updatedBy: userId },
    });
}

/**
 * Serialises the few account changes that must see a consistent set of users: first-admin setup ("no user yet")
 * and last-admin protection. Rare admin actions, so a table lock is cheap; ordinary reads are not blocked
 * (SHARE ROW EXCLUSIVE conflicts only with writers and itself).
 */
export const lockUsersSql = sql`lock table users in share row exclusive mode`;

/**
 * Deletes up to `batch` expired refresh-token rows and long-expired one-time tokens. An expired refresh token is
 * refused before any reuse check, so its row has no further use. Small batches keep each statement short.
 */
export async function purgeExpired(db: Db, now: Date, batch = 5000): Promise<{ sessions: number; tokens: number }> {
  const at = now.toISOString();
  const s = await db
    .delete(sessions)
    .where(
      sql`(${sessions.userId}, ${sessions.id}) in (select user_id, id from sessions where expires_at < ${at}::timestamptz limit ${batch})`,
    )
    .returning({ id: sessions.id });
  const dayAgo = new Date(now.getTime() - 86_400_000).toISOString();
  const t = await db
    .delete(oneTimeTokens)
    .where(
      sql`${oneTimeTokens.id} in (select id from one_time_tokens where expires_at < ${dayAgo}::timestamptz limit ${batch})`,
    )
    .returning({ id: oneTimeTokens.id });
  return { sessions: s.length, tokens: t.length };
}
