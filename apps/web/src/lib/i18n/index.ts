import type { Catalog, MessageKey } from './en';

export type { Catalog, MessageKey };

export const locales = ['en', 'de'] as const;
export type Locale = (typeof locales)[number];
export const defaultLocale: Locale = 'en';
/** The language names, each in its own language (what a language switch shows). */
export const localeNames: Record<Locale, string> = { en: 'English', de: 'Deutsch' };

/** Cookie holding the chosen language: a UI preference, not a secret (read by the server for the first paint). */
export const LOCALE_COOKIE = 'gz_lang';

export type Vars = Record<string, string | number>;
export type Translate = (key: MessageKey, vars?: Vars) => string;

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (locales as readonly string[]).includes(value);
}

/** Picks the cookie's locale, else the best match from an Accept-Language header, else English. */
export function resolveLocale(cookie: string | undefined, acceptLanguage: string | null | undefined): Locale {
  if (isLocale(cookie)) return cookie;
  for (const part of (acceptLanguage ?? '').split(',')) {
    const tag = part.split(';')[0]?.trim().toLowerCase().split('-')[0];
    if (isLocale(tag)) return tag;
  }
  return defaultLocale;
}

/** Fills `{name}` placeholders; a placeholder without a value stays visible rather than turning into "undefined". */
export function format(template: string, vars?: Vars): string {
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : whole,
  );
}

/** The `{name}` placeholders a message uses, sorted (the catalog test compares languages with it). */
export function placeholders(message: string): string[] {
  return [...message.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '').sort();
}
