import { type NextRequest, NextResponse } from 'next/server';
import { contentSecurityPolicy } from './csp';

/**
 * A fresh nonce and the CSP for every page request (Next's proxy, formerly middleware). Next reads the nonce from the
 * request's Content-Security-Policy header and puts it on the scripts it renders, which is why every page is
 * rendered per request. The other security headers are static and set in next.config.ts. Static assets under
 * /_next/static are not matched: Next serves them `public, max-age=31536000, immutable` (docs/web.md "Caching").
 */
export function proxy(request: NextRequest) {
  const nonce = btoa(crypto.randomUUID());
  const policy = contentSecurityPolicy(nonce);
  const headers = new Headers(request.headers);
  headers.set('content-security-policy', policy);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set('content-security-policy', policy);
  // HTML (and the RSC payload of a client navigation) is per user and per request (the nonce): never stored by a
  // browser or a shared cache. Set here, Next keeps it (it fills Cache-Control only when none is set).
  response.headers.set('cache-control', 'private, no-store');
  return response;
}

export const config = {
  matcher: [
    {
      // Pages only: not the API proxy (/api, /v1: the API's own headers), static files, icons or the manifest.
      source:
        '/((?!api/|api$|v1/|v1$|_next/static|_next/image|livez|icons/|icon\\.svg|favicon\\.ico|manifest\\.webmanifest).*)',
      missing: [
        { type: 'header', key: 'next-router-prefetch' },
        { type: 'header', key: 'purpose', value: 'prefetch' },
      ],
    },
  ],
};
