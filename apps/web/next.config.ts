import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NextConfig } from 'next';

const monorepoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const production = process.env.NODE_ENV === 'production';

// The Content-Security-Policy carries a per-request nonce, so src/proxy.ts sets it (src/csp.ts); these are static.
const securityHeaders = [
  { key: 'X-Content-Type-Options', value: 'nosniff' },
  { key: 'Referrer-Policy', value: 'strict-origin-when-cross-origin' },
  { key: 'X-Frame-Options', value: 'DENY' },
  { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
  { key: 'Cross-Origin-Resource-Policy', value: 'same-origin' },
  {
    key: 'Permissions-Policy',
    value: 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()',
  },
  // Browsers ignore it over plain http, so a LAN install without TLS is unaffected; no includeSubDomains.
  { key: 'Strict-Transport-Security', value: 'max-age=31536000' },
];

const nextConfig: NextConfig = {
  output: 'standalone',
  // Workspace packages ship TypeScript source (the password policy from @genz/contracts).
  transpilePackages: ['@genz/contracts'],
  // Trace files from the workspace root so hoisted node_modules land in .next/standalone (server at apps/web/server.js).
  outputFileTracingRoot: monorepoRoot,
  turbopack: { root: monorepoRoot },
  // Gzip for pages and assets; the API proxy marks SSE `no-transform`, which this middleware honours (ADR 004).
  compress: true,
  poweredByHeader: false,
  reactStrictMode: true,
  productionBrowserSourceMaps: false,
  compiler: production ? { removeConsole: { exclude: ['error', 'warn'] } } : {},
  // The seed's `images` (ADR 051). No page uses next/image: chat markdown shows images from WEB_IMAGE_ORIGINS as
  // plain <img> (the CSP's img-src), read at run time, so the optimizer fetches nothing remote (no SSRF through
  // /_next/image) and only resizes this app's own files.
  images: {
    formats: ['image/avif', 'image/webp'],
    remotePatterns: [],
    localPatterns: [{ pathname: '/icons/**', search: '' }],
    minimumCacheTTL: 60 * 60 * 24 * 30,
  },
  async headers() {
    // Proxied /api and /v1 responses keep the API's own headers; these apply to the pages the web server renders.
    return [{ source: '/((?!api/|v1/).*)', headers: securityHeaders }];
  },
};

export default nextConfig;
