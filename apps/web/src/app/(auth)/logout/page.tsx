import type { Metadata } from 'next';
import { Suspense } from 'react';
import { LogoutNow } from '@/components/auth-forms';
import { AuthShell } from '@/components/auth-shell';
import { getT } from '@/lib/i18n/server';

export async function generateMetadata(): Promise<Metadata> {
  return { title: (await getT())('auth.signOut') };
}

export default async function Page() {
  const t = await getT();
  return (
    <AuthShell title={t('auth.signOut')}>
      <Suspense>
        <LogoutNow />
      </Suspense>
    </AuthShell>
  );
}
