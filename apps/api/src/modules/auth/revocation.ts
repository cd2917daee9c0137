import type { Db } from '@genz/db';
import { schema } from '@genz/db';
import { and, gt, isNotNull } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { RedisClient } from '../../infra/redis.ts';

export interface RevocationList {
  /** Marks session families revoked on every replica (Redis at once; other replicas' polls within pollMs). */
  revoke(sessionIds: readonly string[]): Promise<void>;
  /** 'revoked' | 'ok'; 'unknown' when Redis cannot answer and the fail mode is closed. */
  check(sessionId: string): Promise<'revoked' | 'ok' | 'unknown'>;
  /** Reads recent revocations from the database now (the poll does this on a timer). */
  poll(): Promise<void>;
  close(): void;
}

export interface RevocationOptions {
  db: Db;
  redis: RedisClient | null;
  /** How long a revoked id must be remembered: the access-token lifetime (a token cannot outlive it). */
  ttlMs: number;
  pollMs: number;
  failMode: 'open' | 'closed';
  log: FastifyBaseLogger;
}

/**
 * Revoked session ids (ADR 022). An access token is a JWT checked without the database, so a revoked session's
 * tokens stay valid until they expire unless every replica learns of the revocation. Three layers:
 * - Redis (when configured): `SET revoked:<sid> PX <access ttl>` and one EXISTS per request; instant everywhere.
 * - In process: ids this replica revoked, plus ids every replica reads from `sessions.revoked_at` every pollMs.
 *   That is the whole mechanism without Redis, and what `failMode: open` trusts while Redis is failing.
 */
export function createRevocationList(opts: RevocationOptions): RevocationList {
  const local = new Map<string, number>(); // sid -> forget after (ms)
  let since = new Date(Date.now() - opts.ttlMs);
  let timer: NodeJS.Timeout | undefined;
  let polling = false;

  const remember = (sid: string, until: number) => {
    local.set(sid, until);
  };
  const sweep = (now: number) => {
    for (const [sid, until] of local) if (until <= now) local.delete(sid);
  };

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const s = schema.sessions;
      // Overlap by a second: rows written with a slightly older clock on another replica are not missed.
      const from = new Date(since.getTime() - 1000);
      const rows = await opts.db
        .selectDistinct({ familyId: s.familyId, revokedAt: s.revokedAt })
        .from(s)
        .where(and(isNotNull(s.revokedAt), gt(s.revokedAt, from)));
      const now = Date.now();
      for (const row of rows) {
        if (!row.revokedAt) continue;
        remember(row.familyId, row.revokedAt.getTime() + opts.ttlMs);
        if (row.revokedAt > since) since = row.revokedAt;
      }
      sweep(now);
    } catch (err) {
      opts.log.warn({ reason: (err as Error).message }, 'revocation poll failed; retrying');
    } finally {
      polling = false;
    }
  }

  timer = setInterval(() => void poll(), opts.pollMs);
  timer.unref();

  return {
    async revoke(ids) {
      const until = Date.now() + opts.ttlMs;
      for (const sid of ids) remember(sid, until);
      if (opts.redis) {
        const redis = opts.redis;
        await Promise.all(ids.map((sid) => redis.set(`revoked:${sid}`, '1', 'PX', opts.ttlMs))).catch((err: Error) =>
          opts.log.warn({ reason: err.message }, 'revocation not written to Redis; other replicas learn it by polling'),
        );
      }
    },
    async check(sid) {
      const until = local.get(sid);
      if (until !== undefined && until > Date.now()) return 'revoked';
      if (!opts.redis) return 'ok';
      try {
        return (await opts.redis.exists(`revoked:${sid}`)) === 1 ? 'revoked' : 'ok';
      } catch {
        return opts.failMode === 'open' ? 'ok' : 'unknown';
      }
    },
    poll,
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
