import { de } from './de';
import { type Catalog, en } from './en';
import { format, type Locale, type Translate } from './index';

/**
 * Every language's messages. Server code only (and tests): a page's client code gets just its reader's catalog
 * from the root layout (components/providers.tsx), so no language ships in the JavaScript bundle.
 */
export const catalogs: Record<Locale, Catalog> = { en, de };

/** `t()` for a catalog: a key it lacks falls back to English, then to the key itself (never "undefined"). */
export function translate(catalog: Partial<Catalog>): Translate {
  return (key, vars) => format(catalog[key] ?? en[key] ?? key, vars);
}

export function translator(locale: Locale): Translate {
  return translate(catalogs[locale]);
}
