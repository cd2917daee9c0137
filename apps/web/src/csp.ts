/**
 * The Content-Security-Policy of every page (set per request by src/proxy.ts, docs/web.md "Security headers").
 * Scripts run only with this response's nonce ('strict-dynamic' lets Next's own chunks load theirs); no
 * 'unsafe-inline' or 'unsafe-eval' outside `next dev`. Style attributes stay allowed (style-src-attr): the windowed
 * list and KaTeX position with them, and an attribute cannot run code.
 */
export function contentSecurityPolicy(nonce: string, dev = process.env.NODE_ENV === 'development'): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ''}`,
    `style-src 'self' 'nonce-${nonce}'`,
    "style-src-attr 'unsafe-inline'",
    `img-src 'self' data: blob: ${imageOrigins().join(' ')}`.trim(),
    "font-src 'self' data:",
    "connect-src 'self'",
    "media-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "frame-src 'none'",
  ].join('; ');
}

/** Origins (besides this one) that chat markdown may load images from: `WEB_IMAGE_ORIGINS`, comma-separated. */
export function imageOrigins(): string[] {
  return (process.env.WEB_IMAGE_ORIGINS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => URL.canParse(entry))
    .map((entry) => new URL(entry).origin);
}
