import Link from 'next/link';
import type { ReactNode } from 'react';
import { getT } from '@/lib/i18n/server';
import { PrefsControls } from './prefs-controls';

/** The frame of the sign-in, sign-up and recovery pages (server component). */
export async function AuthShell({ title, lead, children }: { title: string; lead?: string; children: ReactNode }) {
  const t = await getT();
  return (
    <main id="main" className="auth">
      <div className="auth-card">
        <div className="row">
          <Link href="/" className="brand">
            <span className="logo" aria-hidden="true">
              G
            </span>
            {t('app.name')}
          </Link>
          <span className="spacer" />
          <PrefsControls />
        </div>
        <section className="card form" aria-labelledby="auth-title">
          <h1 id="auth-title">{title}</h1>
          {lead ? (
            <p className="muted" style={{ margin: 0 }}>
              {lead}
            </p>
          ) : null}
          {children}
        </section>
      </div>
    </main>
  );
}
