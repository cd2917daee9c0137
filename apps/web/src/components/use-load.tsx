'use client';

import { type ReactNode, useCallback, useEffect, useState } from 'react';
import { errorMessage } from '@/lib/api';
import { LoadState } from './load-state';
import { useT } from './providers';

/** A date and time in the reader's locale, or "—" when there is none. */
export const when = (iso: string | null | undefined, locale: string) =>
  iso ? new Date(iso).toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short' }) : '—';

/** Loads once; shows loading, error (with retry) and empty states the same way everywhere. */
export function useLoad<T>(load: () => Promise<T>) {
  const t = useT();
  const [data, setData] = useState<T | undefined>();
  const [error, setError] = useState<string | undefined>();
  const run = useCallback(() => {
    setError(undefined);
    load()
      .then(setData)
      .catch((err: unknown) => setError(errorMessage(err, t)));
  }, [load, t]);
  useEffect(run, [run]);
  const view = (render: (value: T) => ReactNode) =>
    error || data === undefined ? <LoadState error={error} loading onRetry={run} /> : render(data);
  return { data, setData, view, reload: run };
}
