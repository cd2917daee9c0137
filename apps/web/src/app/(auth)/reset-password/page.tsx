import type { Metadata } from 'next';
import { Suspense } from 'react';
import { NewPasswordForm, ResetRequestForm } from '@/components/auth-forms';
import { AuthShell } from '@/components/auth-shell';
import { getT } from '@/lib/i18n/server';

export async function generateMetadata(): Promise<Metadata> {
  return { title: (await getT())('auth.reset.title') };
}

/** `/reset-password` asks for the link; `/reset-password?token=…` (the link) sets the new password. */
export default async function Page({ searchParams }: { searchParams: Promise<{ token?: string }> }) {
  const t = await getT();
  const { token } = await searchParams;
  return token ? (
    <AuthShell title={t('auth.reset.confirmTitle')}>
      <Suspense>
        <NewPasswordForm mode="reset" />
      </Suspense>
    </AuthShell>
  ) : (
    <AuthShell title={t('auth.reset.title')} lead={t('auth.reset.lead')}>
      <Suspense>
        <ResetRequestForm />
      </Suspense>
    </AuthShell>
  );
}
