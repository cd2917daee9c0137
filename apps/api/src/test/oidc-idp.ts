import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/**
 * A real OpenID Provider (the `oidc-provider` package) on 127.0.0.1 for tests of the OIDC log-in and RP-initiated
 * log-out: one confidential client `genz` (PKCE required), consent granted automatically, and the development login
 * form (devInteractions) that accepts any login id with any password.
 */
export interface TestIdpPerson {
  email: string;
  email_verified: boolean;
  groups: string[];
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

export async function startTestIdp(opts: {
  /** The app's `PUBLIC_URL/api/auth/oidc/callback`. */
  redirectUri: string;
  /** The app's `oidc.postLogoutRedirectUri`. */
  postLogoutRedirectUri: string;
  /** Claims by login id; anyone else gets `<id>@idp.test`, unverified, no groups. */
  people?: Record<string, TestIdpPerson>;
}): Promise<TestIdp> {
  const people = opts.people ?? {};
  const clientId = 'genz';
  const clientSecret = 'genz-test-client-secret';
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [opts.redirectUri],
        post_logout_redirect_uris: [opts.postLogoutRedirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['groups'] },
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, ...(people[id] ?? { email: `${id}@idp.test`, email_verified: false, groups: [] }) }),
    }),
    // Consent is granted automatically; the login form (devInteractions) is still submitted.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client?.clientId ?? clientId,
        accountId: ctx.oidc.session?.accountId ?? '',
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    features: { devInteractions: { enabled: true } },
  });
  server.on('request', provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
