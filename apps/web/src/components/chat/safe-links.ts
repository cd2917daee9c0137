/**
 * What chat markdown may link to and load. Model output is untrusted: only http(s) and mailto links are live
 * (`javascript:`, `data:`, `vbscript:`… render as plain text), and images load only from this origin or the
 * configured image origins.
 */
const linkProtocols = new Set(['http:', 'https:', 'mailto:']);

export function safeHref(href: string | undefined | null, base: string): string | null {
  if (!href) return null;
  // Browsers ignore tabs/newlines/controls inside a URL scheme ("java\tscript:"): strip them before parsing.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const cleaned = href.replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
  if (!URL.canParse(cleaned, base)) return null;
  const url = new URL(cleaned, base);
  return linkProtocols.has(url.protocol) ? url.href : null;
}

export function imageAllowed(src: string | undefined | null, base: string, origins: readonly string[]): boolean {
  if (!src || !URL.canParse(src, base)) return false;
  const url = new URL(src, base);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return url.origin === new URL(base).origin || origins.includes(url.origin);
}

export function originOf(src: string | undefined | null, base: string): string {
  return src && URL.canParse(src, base) ? new URL(src, base).origin : String(src ?? '');
}
