import { describe, expect, it } from 'vitest';
import { catalogs, translator } from './catalogs';
import { format, locales, placeholders, resolveLocale } from './index';

const english = catalogs.en;
const keys = Object.keys(english).sort();

describe('message catalog', () => {
  for (const locale of locales) {
    it(`${locale} has exactly the English keys, each non-empty, with the same placeholders`, () => {
      const catalog = catalogs[locale];
      expect(Object.keys(catalog).sort()).toEqual(keys);
      for (const key of keys) {
        const message = (catalog as Record<string, string>)[key] ?? '';
        expect(message.trim(), `${locale}:${key}`).not.toBe('');
        expect(placeholders(message), `${locale}:${key}`).toEqual(
          placeholders((english as Record<string, string>)[key] ?? ''),
        );
      }
    });
  }

  it('has a message for every error code in packages/contracts (add `errors.<code>` here when one is added)', async () => {
    // A runtime specifier, so the web type check does not pull the contracts package's sources in.
    const contracts = '@genz/contracts';
    const { errorCatalog } = (await import(/* @vite-ignore */ contracts)) as { errorCatalog: Record<string, unknown> };
    for (const code of Object.keys(errorCatalog)) expect(Object.hasOwn(english, `errors.${code}`), code).toBe(true);
  });

  it('formats placeholders and leaves unknown ones visible', () => {
    expect(format('Branch {index} of {total}', { index: 2, total: 3 })).toBe('Branch 2 of 3');
    expect(format('Hi {name}', {})).toBe('Hi {name}');
    expect(translator('de')('chat.branch', { index: 1, total: 2 })).toBe('Zweig 1 von 2');
  });

  it('resolves the locale from the cookie, then Accept-Language', () => {
    expect(resolveLocale('de', 'en-US')).toBe('de');
    expect(resolveLocale(undefined, 'fr-FR,de;q=0.8,en;q=0.5')).toBe('de');
    expect(resolveLocale('xx', null)).toBe('en');
  });
});
