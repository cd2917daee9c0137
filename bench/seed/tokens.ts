import { createSecretKey } from 'node:crypto';
import { SignJWT } from 'jose';

/**
 * Access tokens exactly as apps/api/src/modules/auth/signing-keys.ts signs them (HS256, `kid` header, `iss`, `aud`,
 * `sub` = user id, `sid` = session family, `iat`, `exp`), with the first key of the server's AUTH_SECRETS. Minting
 * through POST /api/auth/login would cost one argon2id verification per token, by design.
 */
export async function signAccessTokens(opts: {
  authSecrets: string;
  users: ReadonlyArray<{ userId: string; sessionId: string }>;
  issuer?: string;
  audience?: string;
  ttlSec?: number;
}): Promise<string[]> {
  const first = opts.authSecrets.split(',')[0] ?? '';
  const at = first.indexOf(':');
  const kid = first.slice(0, at).trim();
  const key = createSecretKey(Buffer.from(first.slice(at + 1).trim(), 'utf8'));
  const now = Math.floor(Date.now() / 1000);
  return Promise.all(
    opts.users.map(({ userId, sessionId }) =>
      new SignJWT({ sid: sessionId })
        .setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(opts.issuer ?? 'genz-ai')
        .setAudience(opts.audience ?? 'genz-api')
        .setIssuedAt(now)
        .setExpirationTime(now + (opts.ttlSec ?? 3600))
        .sign(key),
    ),
  );
}
