/** UI preferences kept in cookies (not secrets) so the server renders the first paint right: no theme flash. */
export const THEME_COOKIE = 'gz_theme';
export const themes = ['system', 'light', 'dark'] as const;
export type Theme = (typeof themes)[number];

export function isTheme(value: unknown): value is Theme {
  return typeof value === 'string' && (themes as readonly string[]).includes(value);
}

/** One year; `SameSite=Lax`, readable by scripts on purpose (the switch writes it). */
export function prefCookie(name: string, value: string): string {
  return `${name}=${encodeURIComponent(value)}; Path=/; Max-Age=31536000; SameSite=Lax`;
}
