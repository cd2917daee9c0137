'use client';

import { isLocale, LOCALE_COOKIE } from '@/lib/i18n';
import { globalErrorText as text } from './global-error-text';

/**
 * Shown only when the root layout itself fails, so there is no catalog provider above it. It carries its two
 * sentences in both languages (copies of the catalog's `errors.boundary` and `common.retry`, kept equal by
 * global-error-text.test.ts) instead of importing the catalogs: this component is part of every page's first load,
 * and it replaces Next's built-in one, which is larger.
 */

export default function GlobalError({ reset }: { error: Error; reset(): void }) {
  const cookie = typeof document === 'undefined' ? '' : document.cookie;
  const chosen = new RegExp(`(?:^|; )${LOCALE_COOKIE}=([^;]*)`).exec(cookie)?.[1];
  const locale = isLocale(chosen) ? chosen : 'en';
  return (
    <html lang={locale}>
      <body>
        <main id="main" role="alert">
          <p>{text[locale].message}</p>
          <button type="button" onClick={reset}>
            {text[locale].retry}
          </button>
        </main>
      </body>
    </html>
  );
}
