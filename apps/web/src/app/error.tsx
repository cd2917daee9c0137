'use client';

import { useT } from '@/components/providers';

/** No blank screens: any render error shows a sentence and a retry. */
export default function ErrorPage({ reset }: { error: Error; reset(): void }) {
  const t = useT();
  return (
    <main id="main" className="chat-center">
      <div className="alert" role="alert">
        {t('errors.boundary')}{' '}
        <button type="button" className="btn btn-small" onClick={reset}>
          {t('common.retry')}
        </button>
      </div>
    </main>
  );
}
