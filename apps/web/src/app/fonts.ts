import localFont from 'next/font/local';

/**
 * Inter (variable weight, SIL OFL 1.1) bundled from the `@fontsource-variable/inter` npm package, so the build
 * needs no network but the npm registry (`next/font/google` would download at build time). Latin only (U+0000-00FF
 * and common punctuation: English and German); other scripts fall back to the system fonts in `--font-sans`.
 * next/font serves the file from /_next/static/media (same origin, immutable) and preloads it.
 */
export const inter = localFont({
  src: '../../../../node_modules/@fontsource-variable/inter/files/inter-latin-wght-normal.woff2',
  weight: '100 900',
  style: 'normal',
  display: 'swap',
  variable: '--font-inter',
});
