import { cookies, headers } from 'next/headers';
import { isTheme, THEME_COOKIE, type Theme } from '../prefs';
import { translator } from './catalogs';
import { LOCALE_COOKIE, type Locale, resolveLocale, type Translate } from './index';

/** The reader's language for a server render: the cookie, else Accept-Language. */
export async function getLocale(): Promise<Locale> {
  const [jar, head] = await Promise.all([cookies(), headers()]);
  return resolveLocale(jar.get(LOCALE_COOKIE)?.value, head.get('accept-language'));
}

export async function getT(): Promise<Translate> {
  return translator(await getLocale());
}

export async function getTheme(): Promise<Theme> {
  const value = (await cookies()).get(THEME_COOKIE)?.value;
  return isTheme(value) ? value : 'system';
}
