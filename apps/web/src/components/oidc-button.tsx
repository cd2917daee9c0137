import { getT } from '@/lib/i18n/server';
import { apiFetch } from '@/server-api';

/**
 * "Sign in with single sign-on", shown only when the API reports OIDC configured (GET /api/auth/signup-mode). A plain
 * link: the API's /api/auth/oidc/start redirects to the identity provider. An unreachable API hides the button (the
 * password form reports the outage itself).
 */
export async function OidcButton() {
  const t = await getT();
  const name = await apiFetch('/api/auth/signup-mode')
    .then(async (response) => (response.ok ? ((await response.json()) as { oidc?: string | null }).oidc : null))
    .catch(() => null);
  if (!name) return null;
  return (
    <div className="oidc">
      <p className="muted or-divider">{t('auth.or')}</p>
      <a className="btn btn-block" href="/api/auth/oidc/start">
        {t('auth.oidc', { name })}
      </a>
    </div>
  );
}
