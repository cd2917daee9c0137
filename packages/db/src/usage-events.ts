import { and, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import { type NewUsageEventRow, usageEvents } from './schema/usage.ts';
import { executeRows } from './sql.ts';
import type { Db } from './types.ts';
import { uuidv7 } from './uuidv7.ts';

export type NewUsageEvent = Omit<NewUsageEventRow, 'id'> & { id?: string };

/**
 * Appends a batch of usage events in one INSERT (the usage writer's database sink): one array parameter per column,
 * unnested into rows, so a batch costs 16 parameters whatever its size (a multi-row VALUES list built 16 per row, and
 * building and serialising them was a visible share of the API's CPU under load). An empty batch is a no-op.
 */
export async function insertUsageEvents(db: Db, events: readonly NewUsageEvent[]): Promise<void> {
  if (events.length === 0) return;
  const col = <T>(f: (e: NewUsageEvent) => T) => sql.param(events.map(f));
  const now = new Date().toISOString();
  await db.execute(sql`
    insert into ${usageEvents} (id, created_at, request_id, user_id, api_key_id, alias, deployment, endpoint, status,
      input_tokens, output_tokens, reasoning_tokens, cost_usd, price_version, latency_ms, ttft_ms)
    select * from unnest(
      ${col((e) => e.id ?? uuidv7())}::uuid[],
      ${col((e) => (e.createdAt ? e.createdAt.toISOString() : now))}::timestamptz[],
      ${col((e) => e.requestId)}::text[],
      ${col((e) => e.userId ?? null)}::uuid[],
      ${col((e) => e.apiKeyId ?? null)}::uuid[],
      ${col((e) => e.alias)}::text[],
      ${col((e) => e.deployment)}::text[],
      ${col((e) => e.endpoint)}::text[],
      ${col((e) => e.status)}::text[],
      ${col((e) => e.inputTokens)}::integer[],
      ${col((e) => e.outputTokens)}::integer[],
      ${col((e) => e.reasoningTokens)}::integer[],
      ${col((e) => e.costUsd)}::float8[],
      ${col((e) => e.priceVersion)}::text[],
      ${col((e) => e.latencyMs)}::integer[],
      ${col((e) => e.ttftMs ?? null)}::integer[]
    )`);
}

export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  costUsd: number;
}

export interface UsageWindow {
  userId: string;
  /** Inclusive. */
  from: Date;
  /** Exclusive; defaults to now. */
  to?: Date;
  /** Only these statuses (default: every status, since failed calls may still have consumed tokens). */
  status?: 'ok' | 'error' | 'aborted';
}

/** A window over every user's calls (admin reports). */
export type AllUsersWindow = Omit<UsageWindow, 'userId'>;

function where(w: AllUsersWindow & { userId?: string }): SQL | undefined {
  return and(
    w.userId === undefined ? undefined : eq(usageEvents.userId, w.userId),
    gte(usageEvents.createdAt, w.from),
    lt(usageEvents.createdAt, w.to ?? new Date()),
    w.status ? eq(usageEvents.status, w.status) : undefined,
  );
}

const totals = {
  requests: sql<number>`count(*)::int`,
  inputTokens: sql<number>`coalesce(sum(${usageEvents.inputTokens}), 0)::bigint`,
  outputTokens: sql<number>`coalesce(sum(${usageEvents.outputTokens}), 0)::bigint`,
  reasoningTokens: sql<number>`coalesce(sum(${usageEvents.reasoningTokens}), 0)::bigint`,
  costUsd: sql<number>`coalesce(sum(${usageEvents.costUsd}), 0)::float8`,
};

const toTotals = (r: Record<string, unknown>): UsageTotals => ({
  requests: Number(r.requests),
  inputTokens: Number(r.inputTokens),
  outputTokens: Number(r.outputTokens),
  reasoningTokens: Number(r.reasoningTokens),
  costUsd: Number(r.costUsd),
});

/**
 * One user's requests, tokens and cost in [from, to): for quotas (tokens or spend this month) and the usage page.
 * Served by usage_events_user_created_at_idx; partition pruning skips months outside the window.
 */
export async function userUsageTotals(db: Db, window: UsageWindow): Promise<UsageTotals> {
  const [row] = await db.select(totals).from(usageEvents).where(where(window));
  return row ? toTotals(row) : { requests: 0, inputTokens: 0, outputTokens: 0, reasoningTokens: 0, costUsd: 0 };
}

export interface QuotaWindow {
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  /** Only this API key's calls (otherwise all of the user's). */
  apiKeyId?: string;
  /** `tokens`: input + output tokens; `cost`: USD. */
  measure: 'tokens' | 'cost';
}

/**
 * One user's use in several quota windows at once (a day and a month, the user's and one key's), in one scan of the
 * widest window: what the limits re-seed a quota counter from when Redis has lost it. Every status counts, as the
 * limits charged them. Served by usage_events_user_created_at_idx.
 */
export async function quotaUsage(db: Db, userId: string, windows: readonly QuotaWindow[]): Promise<number[]> {
  if (windows.length === 0) return [];
  const from = new Date(Math.min(...windows.map((w) => w.from.getTime())));
  const to = new Date(Math.max(...windows.map((w) => w.to.getTime())));
  const columns: Record<string, SQL<number>> = {};
  windows.forEach((w, i) => {
    const value =
      w.measure === 'cost'
        ? sql`${usageEvents.costUsd}`
        : sql`${usageEvents.inputTokens} + ${usageEvents.outputTokens}`;
    const filter = and(
      gte(usageEvents.createdAt, w.from),
      lt(usageEvents.createdAt, w.to),
      w.apiKeyId ? eq(usageEvents.apiKeyId, w.apiKeyId) : undefined,
    );
    columns[`w${i}`] = sql<number>`coalesce(sum(${value}) filter (where ${filter}), 0)::float8`;
  });
  const [row] = await db.select(columns).from(usageEvents).where(where({ userId, from, to }));
  return windows.map((_, i) => Number(row?.[`w${i}`] ?? 0));
}

export type UsageBucket = UsageTotals & {
  /** `YYYY-MM-DD` (UTC) when grouped by day, the model alias when grouped by model. */
  key: string;
};

/** The same totals grouped by UTC day (oldest first) or by model alias (most requests first). */
export function userUsageBreakdown(db: Db, window: UsageWindow & { by: 'day' | 'model' }): Promise<UsageBucket[]> {
  return breakdown(db, window);
}

/** userUsageBreakdown over every user (the admin usage charts). */
export function allUsageBreakdown(db: Db, window: AllUsersWindow & { by: 'day' | 'model' }): Promise<UsageBucket[]> {
  return breakdown(db, window);
}

async function breakdown(
  db: Db,
  window: AllUsersWindow & { userId?: string; by: 'day' | 'model' },
): Promise<UsageBucket[]> {
  const key =
    window.by === 'day'
      ? sql<string>`to_char(${usageEvents.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`
      : sql<string>`${usageEvents.alias}`;
  const rows = await db
    .select({ key, ...totals })
    .from(usageEvents)
    .where(where(window))
    .groupBy(key)
    .orderBy(window.by === 'day' ? key : sql`count(*) desc, ${key}`);
  return rows.map((r) => ({ key: String(r.key), ...toTotals(r) }));
}

export interface DeploymentLatency {
  requests: number;
  errors: number;
  latencyMs: number;
  p95LatencyMs: number;
  ttftMs: number | null;
}

/** Every replica's calls per deployment in [from, now): count, errors, mean and p95 latency, mean time to first token. */
export async function deploymentLatency(db: Db, from: Date): Promise<Map<string, DeploymentLatency>> {
  const rows = await db
    .select({
      deployment: usageEvents.deployment,
      requests: sql<number>`count(*)::int`,
      errors: sql<number>`(count(*) filter (where ${usageEvents.status} = 'error'))::int`,
      latencyMs: sql<number>`avg(${usageEvents.latencyMs})::float8`,
      p95LatencyMs: sql<number>`percentile_cont(0.95) within group (order by ${usageEvents.latencyMs})::float8`,
      ttftMs: sql<number | null>`avg(${usageEvents.ttftMs})::float8`,
    })
    .from(usageEvents)
    .where(gte(usageEvents.createdAt, from))
    .groupBy(usageEvents.deployment);
  return new Map(
    rows.map((r) => [
      r.deployment,
      {
        requests: Number(r.requests),
        errors: Number(r.errors),
        latencyMs: Math.round(Number(r.latencyMs)),
        p95LatencyMs: Math.round(Number(r.p95LatencyMs)),
        ttftMs: r.ttftMs === null ? null : Math.round(Number(r.ttftMs)),
      },
    ]),
  );
}

/** Removes a user's usage rows (account purge). Returns how many were deleted. */
export async function deleteUserUsage(db: Db, userId: string): Promise<number> {
  const rows = await executeRows<{ n: number }>(
    db,
    sql`with d as (delete from ${usageEvents} where ${usageEvents.userId} = ${userId} returning 1)
        select count(*)::int as n from d`,
  );
  return rows[0]?.n ?? 0;
}
