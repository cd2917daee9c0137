import { createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors, type JWSHeaderParameters, jwtVerify, SignJWT } from 'jose';
import { ConfigError } from '../../config/index.ts';

export interface SigningKeys {
  /** Signs new tokens: the first key of AUTH_SECRETS. */
  current: { kid: string; key: KeyObject };
  /** Every key that verifies; a kid not here (removed = revoked) fails verification. */
  byKid: ReadonlyMap<string, KeyObject>;
  /** Where the keys came from (for the boot log; never the secrets). */
  source: 'config' | 'generated' | 'data-dir';
}

export function parseSecrets(value: string): { kid: string; secret: string }[] {
  return value.split(',').map((pair) => {
    const at = pair.indexOf(':');
    return { kid: pair.slice(0, at).trim(), secret: pair.slice(at + 1).trim() };
  });
}

/**
 * JWT signing keys, imported once at boot (ADR 021). From AUTH_SECRETS when set; otherwise, in embedded mode only,
 * from `${dataDir}/auth-secrets`, generated (256 random bits, mode 0600) on first start so sessions survive
 * restarts. With DATABASE_URL and no AUTH_SECRETS the config loader has already refused to boot: replicas sharing a
 * database must share keys, and a per-replica generated key would log users out at random.
 */
export function loadSigningKeys(opts: {
  secrets?: string | undefined;
  dataDir: string;
  databaseUrl?: string | undefined;
}): SigningKeys {
  let source: SigningKeys['source'] = 'config';
  let value = opts.secrets;
  if (!value) {
    if (opts.databaseUrl) throw new ConfigError(['AUTH_SECRETS: must be set when DATABASE_URL is set']);
    const file = join(opts.dataDir, 'auth-secrets');
    if (existsSync(file)) {
      value = readFileSync(file, 'utf8').trim();
      source = 'data-dir';
    } else {
      mkdirSync(opts.dataDir, { recursive: true });
      value = `k${Date.now().toString(36)}:${randomBytes(32).toString('base64url')}`;
      writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
      source = 'generated';
    }
  }
  const pairs = parseSecrets(value);
  const byKid = new Map<string, KeyObject>();
  for (const { kid, secret } of pairs) {
    if (!kid || secret.length < 32)
      throw new ConfigError(['AUTH_SECRETS: each entry must be kid:secret with a secret of at least 32 characters']);
    if (byKid.has(kid)) throw new ConfigError([`AUTH_SECRETS: key id ${kid} appears twice`]);
    byKid.set(kid, createSecretKey(Buffer.from(secret, 'utf8')));
  }
  const first = pairs[0];
  const key = first ? byKid.get(first.kid) : undefined;
  if (!first || !key) throw new ConfigError(['AUTH_SECRETS: no key']);
  return { current: { kid: first.kid, key }, byKid, source };
}

/** jose's key resolver for our HS256 tokens: the key of the token's kid; an unknown (removed = revoked) kid fails. */
export const keyForKid =
  (keys: SigningKeys) =>
  (header: JWSHeaderParameters): KeyObject => {
    const key = header.kid === undefined ? undefined : keys.byKid.get(header.kid);
    if (!key) throw new AccessTokenError('invalid', 'unknown key id');
    return key;
  };

export interface AccessClaims {
  userId: string;
  sessionId: string;
  expiresAt: number;
}

export type TokenFailure = 'expired' | 'invalid';

export class AccessTokenError extends Error {
  readonly reason: TokenFailure;
  constructor(reason: TokenFailure, message: string) {
    super(message);
    this.name = 'AccessTokenError';
    this.reason = reason;
  }
}

export interface AccessTokens {
  sign(claims: { userId: string; sessionId: string }): Promise<{ token: string; expiresAt: number }>;
  verify(token: string): Promise<AccessClaims>;
}

/**
 * HS256 access tokens with `kid`, `iss`, `aud`, `sub` (user id), `sid` (session family) and a short `exp`.
 * A client sends the same access token on every request for its lifetime, so the claims of up to
 * `verifiedCacheSize` verified tokens are kept in process (oldest dropped first) and a repeat skips the signature
 * check (jose's HMAC was ~9% of `GET /api/me`). Only a token that passed every check gets in; its `exp` is still
 * checked on each hit; revocation is checked per request by the caller either way.
 */
export function createAccessTokens(
  keys: SigningKeys,
  opts: { issuer: string; audience: string; ttlSec: number; verifiedCacheSize?: number },
): AccessTokens {
  const verified = new Map<string, AccessClaims>();
  const cacheSize = opts.verifiedCacheSize ?? 0;
  const remember = (token: string, claims: AccessClaims) => {
    if (cacheSize === 0) return;
    if (verified.size >= cacheSize) {
      const oldest = verified.keys().next();
      if (!oldest.done) verified.delete(oldest.value);
    }
    verified.set(token, claims);
  };
  return {
    async sign({ userId, sessionId }) {
      const now = Math.floor(Date.now() / 1000);
      const exp = now + opts.ttlSec;
      const token = await new SignJWT({ sid: sessionId })
        .setProtectedHeader({ alg: 'HS256', kid: keys.current.kid, typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .sign(keys.current.key);
      return { token, expiresAt: exp * 1000 };
    },
    async verify(token) {
      const hit = verified.get(token);
      if (hit) {
        if (hit.expiresAt > Date.now()) return hit;
        verified.delete(token);
      }
      try {
        const { payload } = await jwtVerify(token, keyForKid(keys), {
          issuer: opts.issuer,
          audience: opts.audience,
          algorithms: ['HS256'],
          requiredClaims: ['sub', 'exp', 'sid'],
        });
        if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.exp !== 'number') {
          throw new AccessTokenError('invalid', 'malformed claims');
        }
        const claims = { userId: payload.sub, sessionId: payload.sid, expiresAt: payload.exp * 1000 };
        remember(token, claims);
        return claims;
      } catch (err) {
        if (err instanceof AccessTokenError) throw err;
        if (err instanceof errors.JWTExpired) throw new AccessTokenError('expired', 'token expired');
        throw new AccessTokenError('invalid', 'invalid token');
      }
    },
  };
}
