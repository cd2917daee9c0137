import { type DbHandle, uuidv7, writeAuditEvent } from '@genz/db';
import { externalIdentities, type UserRow } from '@genz/db/schema';
import { and, eq } from 'drizzle-orm';
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import type { AppConfig } from '../../config/index.ts';
import { DomainError } from '../../http/errors.ts';
import * as repo from './auth.repository.ts';
import type { Role, SignupSettings } from './auth.service.ts';
import { emailDomain, normalizeEmail } from './email.ts';

/** What another issuer says about a person, after its signature and claims were checked. */
export interface ExternalProfile {
  /** `supabase` or `oidc:<name>`. */
  provider: string;
  subject: string;
  email?: string | undefined;
  emailVerified: boolean;
  /** Role and plan from group mappings (OIDC); applied on creation and on each log-in when set. */
  role?: Role | undefined;
  plan?: string | undefined;
  claims: Record<string, unknown>;
}

export interface ExternalContext {
  db: DbHandle;
  config: AppConfig;
  signupSettings: () => Promise<SignupSettings>;
  evictUser: (id: string) => Promise<void>;
}

const refused = (why: string) => new DomainError('unauthenticated', why);

/**
 * External identities (docs/accounts.md "External identity"): a (provider, subject) pair maps to one local user.
 * On first sight the user is found by email only when the issuer says the email is verified (else an existing
 * account with that address refuses the log-in: no takeover by an unverified claim), or created subject to the
 * sign-up mode (`invite` refuses; `domain` needs an allowed domain; `approval` creates it pending).
 */
export function createExternalIdentities(ctx: ExternalContext) {
  const db = ctx.db.db;

  async function findLinked(provider: string, subject: string) {
    const [row] = await db
      .select()
      .from(externalIdentities)
      .where(and(eq(externalIdentities.provider, provider), eq(externalIdentities.subject, subject)))
      .limit(1);
    return row;
  }

  async function createUser(p: ExternalProfile & { email: string }): Promise<UserRow> {
    const settings = await ctx.signupSettings();
    if (settings.mode === 'invite') throw refused('Sign-up is by invitation only; ask an administrator.');
    if (settings.mode === 'domain' && !settings.allowedDomains.includes(emailDomain(p.email))) {
      throw refused('Your email domain may not sign up here.');
    }
    const created = await repo.insertUserIfNew(db, {
      id: uuidv7(),
      email: p.email,
      passwordHash: null,
      role: p.role ?? 'user',
      plan: p.plan ?? ctx.config.signup.defaultPlan,
      status: settings.mode === 'approval' ? 'pending_approval' : 'active',
      emailVerifiedAt: p.emailVerified ? new Date() : null,
    });
    if (!created) throw refused('An account with this email exists; sign in to it and link the identity.');
    return created;
  }

  /** Role and plan from group mappings, when the profile carries them (OIDC), follow the IdP at each log-in. */
  async function applyMapping(user: UserRow, p: ExternalProfile): Promise<UserRow> {
    const changes: { role?: Role; plan?: string } = {};
    if (p.role && p.role !== user.role) changes.role = p.role;
    if (p.plan && p.plan !== user.plan) changes.plan = p.plan;
    if (!changes.role && !changes.plan) return user;
    await repo.updateUser(db, user.id, changes);
    await ctx.evictUser(user.id);
    return { ...user, ...changes };
  }

  return {
    /** The local user for a verified external profile, linking or creating it on first sight. */
    async resolve(p: ExternalProfile, ip?: string): Promise<UserRow> {
      const linked = await findLinked(p.provider, p.subject);
      if (linked) {
        const user = await repo.findUserById(db, linked.userId);
        if (!user) throw refused('The linked account no longer exists.');
        return applyMapping(user, p);
      }
      if (!p.email) throw refused('The identity carries no email address; it cannot be mapped to an account.');
      const email = normalizeEmail(p.email);
      const existing = await repo.findUserByEmail(db, email);
      if (existing && !p.emailVerified) {
        throw refused('An account with this email exists and the identity provider has not verified the address.');
      }
      if (!existing && !ctx.config.supabase.createUsers && p.provider === 'supabase') {
        throw refused('No local account is linked to this identity.');
      }
      const user = existing ?? (await createUser({ ...p, email }));
      await db
        .insert(externalIdentities)
        .values({ id: uuidv7(), userId: user.id, provider: p.provider, subject: p.subject, email, claims: p.claims })
        .onConflictDoNothing();
      const winner = await findLinked(p.provider, p.subject);
      await writeAuditEvent(db, {
        event: existing ? 'identity.linked' : 'identity.user_created',
        actorUserId: user.id,
        targetType: 'user',
        targetId: user.id,
        ip: ip ?? null,
        data: { provider: p.provider, subject: p.subject },
      });
      if (winner && winner.userId !== user.id) {
        const other = await repo.findUserById(db, winner.userId);
        if (!other) throw refused('The linked account no longer exists.');
        return other;
      }
      return existing ? applyMapping(user, p) : user;
    },
  };
}

export type ExternalIdentities = ReturnType<typeof createExternalIdentities>;

/** A bearer token that is not one of ours but might be Supabase's: checked by its JWKS or its HS256 secret. */
export interface SupabaseVerifier {
  verify(token: string): Promise<ExternalProfile & { aal?: string | undefined }>;
}

export class ExternalTokenError extends Error {
  readonly reason: 'expired' | 'invalid';
  constructor(reason: 'expired' | 'invalid') {
    super(reason);
    this.reason = reason;
    this.name = 'ExternalTokenError';
  }
}

export function createSupabaseVerifier(config: AppConfig['supabase']): SupabaseVerifier | null {
  if (!config.jwksUrl && !config.jwtSecret) return null;
  const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000 }) : null;
  const secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : null;
  const options = {
    audience: config.audience,
    ...(config.issuer ? { issuer: config.issuer } : {}),
    requiredClaims: ['sub', 'exp'],
  };
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        const { alg } = decodeProtectedHeader(token);
        if (alg === 'HS256') {
          if (!secret) throw new ExternalTokenError('invalid');
          ({ payload } = await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] }));
        } else {
          if (!jwks) throw new ExternalTokenError('invalid');
          ({ payload } = await jwtVerify(token, jwks, { ...options, algorithms: ['RS256', 'ES256', 'EdDSA'] }));
        }
      } catch (err) {
        if (err instanceof ExternalTokenError) throw err;
        if (err instanceof errors.JWTExpired) throw new ExternalTokenError('expired');
        throw new ExternalTokenError('invalid');
      }
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new ExternalTokenError('invalid');
      // Supabase's own anonymous sign-ins are not people we can map to an account.
      if (payload.is_anonymous === true || payload.role === 'anon') throw new ExternalTokenError('invalid');
      const meta = (payload.user_metadata ?? {}) as Record<string, unknown>;
      const email = typeof payload.email === 'string' && payload.email !== '' ? payload.email : undefined;
      return {
        provider: 'supabase',
        subject: payload.sub,
        email,
        emailVerified: payload.email_verified === true || meta.email_verified === true,
        claims: { iss: payload.iss, aud: payload.aud, email },
        aal: typeof payload.aal === 'string' ? payload.aal : undefined,
      };
    },
  };
}

/** Whether a bearer token looks like another issuer's JWT (not ours: a different `iss`). */
export function isForeignJwt(token: string, ourIssuer: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return false;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { iss?: unknown };
    return payload.iss !== ourIssuer;
  } catch {
    return false;
  }
}
