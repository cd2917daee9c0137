import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { externalIdentities } from '@genz/db/schema';
import { eq } from 'drizzle-orm';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestUser } from '../../test/users.ts';

const ISS = 'https://project.supabase.test/auth/v1';
const SECRET = 'a supabase legacy jwt secret of 32+ chars';
let t: TestApp;
let server: Server;
let signingKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let jwksHits = 0;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  signingKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'sb-1', alg: 'ES256', use: 'sig' };
  server = createServer((req, res) => {
    if (req.url === '/auth/v1/.well-known/jwks.json') {
      jwksHits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  t = await buildTestApp({
    'supabase.jwksUrl': `http://127.0.0.1:${port}/auth/v1/.well-known/jwks.json`,
    'supabase.jwtSecret': SECRET,
    'supabase.issuer': ISS,
    'mfa.requireForAdmins': true,
  });
});
afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => server?.close(resolve));
});

interface Claims {
  sub?: string;
  email?: string;
  iss?: string;
  aud?: string;
  exp?: number;
  aal?: string;
  user_metadata?: Record<string, unknown>;
}

async function token(claims: Claims, how: 'es256' | 'hs256' | 'other-key' = 'es256'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const { iss = ISS, aud = 'authenticated', exp = now + 300, ...rest } = claims;
  const jwt = new SignJWT({ role: 'authenticated', aal: 'aal1', ...rest })
    .setIssuer(iss)
    .setAudience(aud)
    .setIssuedAt(now - 10)
    .setExpirationTime(exp);
  if (how === 'hs256')
    return jwt.setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(SECRET));
  if (how === 'other-key') {
    const other = await generateKeyPair('ES256');
    return jwt.setProtectedHeader({ alg: 'ES256', kid: 'sb-1' }).sign(other.privateKey);
  }
  return jwt.setProtectedHeader({ alg: 'ES256', kid: 'sb-1', typ: 'JWT' }).sign(signingKey);
}

const me = (bearer: string) =>
  t.app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${bearer}` } });

describe('Supabase access tokens', () => {
  it('maps a JWKS-signed token to a local user made on first sight, the same one afterwards', async () => {
    const sub = crypto.randomUUID();
    const first = await me(await token({ sub, email: 'Sb.User@Example.com' }));
    expect(first.statusCode).toBe(200);
    const body = first.json<{ id: string; email: string; emailVerified: boolean; via: string }>();
    expect(body).toMatchObject({ email: 'sb.user@example.com', emailVerified: false, via: 'session' });
    const again = await me(await token({ sub, email: 'sb.user@example.com' }));
    expect(again.json().id).toBe(body.id);
    const rows = await t.app.db.db.select().from(externalIdentities).where(eq(externalIdentities.subject, sub));
    expect(rows).toMatchObject([{ provider: 'supabase', userId: body.id }]);
    expect(jwksHits).toBeGreaterThan(0);
    // Our own sessions still work beside it.
    const local = await createTestUser(t.app);
    expect((await me(local.accessToken)).statusCode).toBe(200);
  });

  it('accepts an HS256 token signed with the project secret', async () => {
    const res = await me(await token({ sub: crypto.randomUUID(), email: 'hs@example.com' }, 'hs256'));
    expect(res.statusCode).toBe(200);
  });

  it('rejects a wrong issuer, a wrong audience, an expired token and another key', async () => {
    const sub = crypto.randomUUID();
    const email = 'rejected@example.com';
    expect((await me(await token({ sub, email, iss: 'https://evil.test/auth/v1' }))).statusCode).toBe(401);
    expect((await me(await token({ sub, email, aud: 'someone-else' }))).statusCode).toBe(401);
    const expired = await me(await token({ sub, email, exp: Math.floor(Date.now() / 1000) - 60 }));
    expect(expired.statusCode).toBe(401);
    expect(expired.json().code).toBe('token_expired');
    expect((await me(await token({ sub, email }, 'other-key'))).statusCode).toBe(401);
    const hsWrongSecret = await new SignJWT({ sub, email })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISS)
      .setAudience('authenticated')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('x'.repeat(40)));
    expect((await me(hsWrongSecret)).statusCode).toBe(401);
    const noneAlg = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ sub, iss: ISS, aud: 'authenticated', exp: 9_999_999_999 }),
    ).toString('base64url')}.`;
    expect((await me(noneAlg)).statusCode).toBe(401);
    const rows = await t.app.db.db.select().from(externalIdentities).where(eq(externalIdentities.subject, sub));
    expect(rows).toHaveLength(0);
  });

  it('links an existing account by email only when the address is verified', async () => {
    const local = await createTestUser(t.app);
    const unverified = await me(await token({ sub: crypto.randomUUID(), email: local.email }));
    expect(unverified.statusCode).toBe(401);
    const verified = await me(
      await token({ sub: crypto.randomUUID(), email: local.email, user_metadata: { email_verified: true } }),
    );
    expect(verified.statusCode).toBe(200);
    expect(verified.json().id).toBe(local.id);
  });

  it('holds an admin whose role requires a second factor to aal2', async () => {
    const admin = await createTestUser(t.app, { role: 'admin' });
    const claims = { sub: crypto.randomUUID(), email: admin.email, user_metadata: { email_verified: true } };
    expect((await me(await token(claims))).statusCode).toBe(401);
    expect((await me(await token({ ...claims, aal: 'aal2' }))).statusCode).toBe(200);
  });
});
