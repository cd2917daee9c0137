import { describe, expect, it } from 'vitest';
import { catalogs } from '../lib/i18n/catalogs';
import { globalErrorText } from './global-error-text';

describe('root error page', () => {
  it('says what the catalog says, in every language', () => {
    for (const [locale, catalog] of Object.entries(catalogs)) {
      expect(globalErrorText[locale as keyof typeof globalErrorText]).toEqual({
        message: catalog['errors.boundary'],
        retry: catalog['common.retry'],
      });
    }
  });
});
