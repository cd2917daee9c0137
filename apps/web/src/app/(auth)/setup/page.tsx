import type { Metadata } from 'next';
import { Suspense } from 'react';
import { NewPasswordForm } from '@/components/auth-forms';
import { AuthShell } from '@/components/auth-shell';
import { getT } from '@/lib/i18n/server';

export async function generateMetadata(): Promise<Metadata> {
  return { title: (await getT())('auth.setup.title') };
}

export default async function Page() {
  const t = await getT();
  return (
    <AuthShell title={t('auth.setup.title')} lead={t('auth.setup.lead')}>
      <Suspense>
        <NewPasswordForm mode="setup" />
      </Suspense>
    </AuthShell>
  );
}
