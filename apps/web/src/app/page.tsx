import Link from 'next/link';
import { Suspense } from 'react';
import { LoginForm } from '@/components/auth-forms';
import { PrefsControls } from '@/components/prefs-controls';
import { getT } from '@/lib/i18n/server';
import styles from './page.module.css';

const features = ['stream', 'own', 'api'] as const;

export default async function LandingPage() {
  const t = await getT();
  return (
    <div className={styles.shell}>
      <header className={styles.header}>
        <span className="brand">
          <span className="logo" aria-hidden="true">
            G
          </span>
          {t('app.name')}
        </span>
        <span className="spacer" />
        <PrefsControls />
        <Link className="btn" href="/chat">
          {t('landing.openChat')}
        </Link>
      </header>
      <main id="main" className={styles.main}>
        <section className={styles.intro} aria-labelledby="intro-title">
          <h1 id="intro-title" className={styles.title}>
            {t('landing.title')}
          </h1>
          <p className={styles.lead}>{t('landing.lead')}</p>
          <ul className={styles.features}>
            {features.map((feature) => (
              <li key={feature} className={styles.feature}>
                <strong>{t(`landing.feature.${feature}.title`)}</strong>
                <span>{t(`landing.feature.${feature}.text`)}</span>
              </li>
            ))}
          </ul>
        </section>
        <section className={styles.card} aria-labelledby="sign-in-title">
          <h2 id="sign-in-title" className={styles.cardTitle}>
            {t('auth.login.title')}
          </h2>
          <p className={styles.cardLead}>{t('landing.signInLead')}</p>
          <Suspense>
            <LoginForm compact />
          </Suspense>
        </section>
      </main>
      <footer className={styles.footer}>{t('landing.footer')}</footer>
    </div>
  );
}
