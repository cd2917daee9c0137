import Link from 'next/link';
import { getT } from '@/lib/i18n/server';

export default async function ShareNotFound() {
  const t = await getT();
  return (
    <main id="main" className="page share-page">
      <h1>{t('share.goneTitle')}</h1>
      <p>{t('share.gone')}</p>
      <p>
        <Link className="btn" href="/">
          {t('share.openApp')}
        </Link>
      </p>
    </main>
  );
}
