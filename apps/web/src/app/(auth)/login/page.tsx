import type { Metadata } from 'next';
import { Suspense } from 'react';
import { LoginForm } from '@/components/auth-forms';
import { AuthShell } from '@/components/auth-shell';
import { OidcButton } from '@/components/oidc-button';
import { getT } from '@/lib/i18n/server';

export async function generateMetadata(): Promise<Metadata> {
  return { title: (await getT())('auth.login.title') };
}

export default async function Page() {
  const t = await getT();
  return (
    <AuthShell title={t('auth.login.title')} lead={t('auth.login.lead')}>
      <Suspense>
        <LoginForm />
      </Suspense>
      <OidcButton />
    </AuthShell>
  );
}
