import type { MetadataRoute } from 'next';
import { getT } from '@/lib/i18n/server';

export const dynamic = 'force-dynamic';

export default async function manifest(): Promise<MetadataRoute.Manifest> {
  const t = await getT();
  return {
    id: '/chat',
    name: t('app.name'),
    short_name: t('app.name'),
    description: t('app.tagline'),
    start_url: '/chat',
    scope: '/',
    display: 'standalone',
    orientation: 'any',
    background_color: '#0e0e14',
    theme_color: '#5b3df5',
    icons: [
      { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
      { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
      { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
      { src: '/icon.svg', sizes: 'any', type: 'image/svg+xml' },
    ],
  };
}
