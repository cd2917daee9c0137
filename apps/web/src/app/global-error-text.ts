import type { Locale } from '../lib/i18n';

/** The root error page's sentences (see global-error.tsx): the catalog's `errors.boundary` and `common.retry`. */
export const globalErrorText: Record<Locale, { message: string; retry: string }> = {
  en: { message: 'This page hit an error.', retry: 'Try again' },
  de: { message: 'Auf dieser Seite ist ein Fehler aufgetreten.', retry: 'Erneut versuchen' },
};
