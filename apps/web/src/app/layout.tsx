import type { Metadata, Viewport } from 'next';
import type { ReactNode } from 'react';
import { Providers } from '@/components/providers';
import { imageOrigins } from '@/csp';
import { catalogs } from '@/lib/i18n/catalogs';
import { getLocale, getT, getTheme } from '@/lib/i18n/server';
import { inter } from './fonts';
import './globals.css';

export async function generateMetadata(): Promise<Metadata> {
  const t = await getT();
  return {
    title: { default: t('app.name'), template: `%s · ${t('app.name')}` },
    description: t('app.tagline'),
    applicationName: t('app.name'),
    appleWebApp: { capable: true, title: t('app.name'), statusBarStyle: 'default' },
    icons: { apple: '/icons/apple-touch-icon.png' },
  };
}

export const viewport: Viewport = {
  width: 'device-width',
  initialScale: 1,
  viewportFit: 'cover',
  themeColor: [
    { media: '(prefers-color-scheme: light)', color: '#f7f7fb' },
    { media: '(prefers-color-scheme: dark)', color: '#0e0e14' },
  ],
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  const [locale, theme, t] = await Promise.all([getLocale(), getTheme(), getT()]);
  // The theme is rendered into <html> from a cookie, so the first paint is already right (no script, no flash);
  // "system" leaves the attribute off and the CSS follows prefers-color-scheme.
  return (
    <html
      lang={locale}
      className={inter.variable}
      data-theme={theme === 'system' ? undefined : theme}
      suppressHydrationWarning
    >
      <body>
        <a className="skip-link" href="#main">
          {t('app.skipToContent')}
        </a>
        <Providers locale={locale} messages={catalogs[locale]} theme={theme} imageOrigins={imageOrigins()}>
          {children}
        </Providers>
      </body>
    </html>
  );
}
