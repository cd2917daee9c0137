'use client';

import { useT } from './providers';

/**
 * The error and loading lines of a card, the same everywhere: an error (already a sentence from `errorMessage`)
 * wins, with a retry button when `onRetry` is given; else "Loading…" while `loading`; else nothing, and the card
 * renders its data (or its own empty state).
 */
export function LoadState({
  error,
  loading,
  onRetry,
}: {
  error: string | undefined;
  loading: boolean;
  onRetry?: (() => void) | undefined;
}) {
  const t = useT();
  if (error) {
    return (
      <div className="alert" role="alert">
        {error}
        {onRetry ? (
          <>
            {' '}
            <button type="button" className="btn btn-small" onClick={onRetry}>
              {t('common.retry')}
            </button>
          </>
        ) : null}
      </div>
    );
  }
  if (!loading) return null;
  return (
    <p role="status" className="muted">
      {t('common.loading')}
    </p>
  );
}
