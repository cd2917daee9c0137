import { apiKeyScopes } from '@genz/contracts';
import { Type } from 'typebox';
import { EMAIL_MAX_LENGTH } from './email.ts';
import { PASSWORD_MAX_LENGTH } from './password.ts';

const strict = { additionalProperties: false } as const;
// Bounds before any work: policy messages come from the service; these only stop absurd input early.
export const Email = Type.String({ minLength: 3, maxLength: EMAIL_MAX_LENGTH * 2, description: 'Email address.' });
export const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 });
export const OpaqueToken = Type.String({ minLength: 16, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' });
export const Uuid = Type.String({ format: 'uuid' });
export const Delivery = Type.Union([Type.Literal('cookie'), Type.Literal('bearer')], {
  description:
    '`cookie` (browsers: HttpOnly cookies, no token in the body) or `bearer` (API clients: tokens in the body).',
});
export const Scope = Type.Union(apiKeyScopes.map((s) => Type.Literal(s)));

export const SignupBody = Type.Object(
  { email: Email, password: Password, inviteToken: Type.Optional(OpaqueToken) },
  strict,
);
export const LoginBody = Type.Object({ email: Email, password: Password, delivery: Type.Optional(Delivery) }, strict);
export const RefreshBody = Type.Object(
  { refreshToken: Type.Optional(OpaqueToken), delivery: Type.Optional(Delivery) },
  strict,
);
export const LogoutBody = Type.Object({ refreshToken: Type.Optional(OpaqueToken) }, strict);
export const LogoutRedirect = Type.Object({
  redirectTo: Type.String({
    description: "The identity provider's log-out page: navigate there to end the OIDC session at the provider too.",
  }),
});
export const TokenBody = Type.Object({ token: OpaqueToken }, strict);
export const ResetRequestBody = Type.Object({ email: Email }, strict);
export const ResetConfirmBody = Type.Object({ token: OpaqueToken, newPassword: Password }, strict);
export const SetupBody = Type.Object({ token: OpaqueToken, email: Email, password: Password }, strict);
export const ChangePasswordBody = Type.Object({ currentPassword: Password, newPassword: Password }, strict);
export const IdParams = Type.Object({ id: Uuid }, strict);

export const Accepted = Type.Object({ status: Type.String(), message: Type.String() });

export const SessionTokens = Type.Object({
  sessionId: Type.String(),
  tokenType: Type.Literal('Bearer'),
  accessTokenExpiresAt: Type.String(),
  refreshTokenExpiresAt: Type.String(),
  accessToken: Type.Optional(Type.String()),
  refreshToken: Type.Optional(Type.String()),
});

/** Log-in with the password right and a second step to go (mfa.routes.ts). */
export const LoginPending = Type.Object({
  status: Type.Union([Type.Literal('mfa_required'), Type.Literal('mfa_enrollment_required')]),
  challenge: Type.String(),
  challengeExpiresAt: Type.String(),
  methods: Type.Array(Type.Union([Type.Literal('totp'), Type.Literal('passkey')]), {
    description: 'What answers the second step: `totp` (a code or a recovery code), `passkey` (an assertion).',
  }),
});

/** What an admin reset of a user's second factor removed (DELETE /api/admin/users/:id/mfa). */
export const MfaReset = Type.Object({
  totp: Type.Boolean(),
  recoveryCodes: Type.Integer(),
  passkeys: Type.Integer(),
  sessionsRevoked: Type.Integer(),
});

export const User = Type.Object({
  id: Type.String(),
  email: Type.String(),
  role: Type.String(),
  plan: Type.String(),
  status: Type.String(),
  emailVerified: Type.Boolean(),
  createdAt: Type.String(),
  lastActiveAt: Type.Union([Type.String(), Type.Null()]),
});

export const Me = Type.Object({
  ...User.properties,
  scopes: Type.Array(Type.String()),
  via: Type.String(),
});

export const Session = Type.Object({
  id: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.String(),
  expiresAt: Type.String(),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
});

export const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String(),
  scopes: Type.Array(Type.String()),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});

export const CreatedApiKey = Type.Object({
  ...ApiKey.properties,
  key: Type.String({ description: 'The key itself: shown this once, never again.' }),
});

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scopes: Type.Array(Scope, { minItems: 1, maxItems: apiKeyScopes.length, uniqueItems: true }),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  strict,
);

export const Invitation = Type.Object({
  id: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  role: Type.String(),
  plan: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  expiresAt: Type.String(),
});

export const CreateInvitationBody = Type.Object(
  {
    email: Type.Optional(Email),
    role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('admin')])),
    plan: Type.Optional(Type.String({ maxLength: 32 })),
  },
  strict,
);

export const UpdateUserBody = Type.Object(
  {
    role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('admin')])),
    plan: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])),
  },
  { ...strict, minProperties: 1 },
);

export const ListUsersQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'Email prefix.' })),
    status: Type.Optional(
      Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('pending_approval')]),
    ),
    role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('admin')])),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  },
  strict,
);

export const PageQueryStrict = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  },
  strict,
);

export const SignupSettingsBody = Type.Object(
  {
    mode: Type.Union([Type.Literal('open'), Type.Literal('invite'), Type.Literal('domain'), Type.Literal('approval')]),
    allowedDomains: Type.Array(Type.String({ pattern: '^[a-z0-9.-]+\\.[a-z]{2,}$', maxLength: 253 }), {
      maxItems: 1000,
    }),
  },
  strict,
);

export const SignupMode = Type.Object({
  mode: Type.String(),
  setupRequired: Type.Boolean(),
  oidc: Type.Union([Type.String(), Type.Null()], {
    description: 'The OIDC provider name when "Sign in with…" is configured (GET /api/auth/oidc/start), else null.',
  }),
});
