'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';
import { api, errorMessage, type Me } from '@/lib/api';
import { PrefsControls } from './prefs-controls';
import { useT } from './providers';
import { ToastProvider } from './toasts';

const MeContext = createContext<Me | null>(null);
export const useMe = () => useContext(MeContext);

/**
 * The signed-in frame: checks the session with `GET /api/me` (a 401 refreshes, then sends the browser to log-in
 * and back here), shows the navigation and, on chat pages, the sidebar. Below 860 px the sidebar is a drawer.
 */
export function AppShell({ sidebar, children }: { sidebar?: (close: () => void) => ReactNode; children: ReactNode }) {
  const t = useT();
  const pathname = usePathname();
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | undefined>();
  const [open, setOpen] = useState(false);

  useEffect(() => {
    api
      .me()
      .then(setMe)
      .catch((err: unknown) => setError(errorMessage(err, t)));
  }, [t]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: close the drawer on navigation
  useEffect(() => setOpen(false), [pathname]);

  if (!me) {
    return (
      <div className="chat-center">
        {error ? (
          <p className="alert" role="alert">
            {error}
          </p>
        ) : (
          <p role="status">{t('common.loading')}</p>
        )}
      </div>
    );
  }

  const close = () => setOpen(false);
  return (
    <MeContext.Provider value={me}>
      <ToastProvider>
        <div className={`app${open ? ' app-open' : ''}${sidebar ? '' : ' app-nosidebar'}`}>
          <header className="topbar">
            {sidebar ? (
              <button
                type="button"
                className="btn btn-ghost btn-icon menu-toggle"
                aria-expanded={open}
                aria-controls="sidebar"
                aria-label={open ? t('nav.closeMenu') : t('nav.menu')}
                onClick={() => setOpen((v) => !v)}
              >
                ☰
              </button>
            ) : null}
            <Link href="/chat" className="brand">
              <span className="logo" aria-hidden="true">
                G
              </span>
              <span className="brand-name">{t('app.name')}</span>
            </Link>
            <span className="spacer" />
            <nav aria-label={t('nav.main')} className="topnav">
              <Link href="/chat" aria-current={pathname.startsWith('/chat') ? 'page' : undefined}>
                {t('nav.chats')}
              </Link>
              <Link href="/settings" aria-current={pathname.startsWith('/settings') ? 'page' : undefined}>
                {t('nav.settings')}
              </Link>
              {me.role === 'admin' ? (
                <Link href="/admin" aria-current={pathname.startsWith('/admin') ? 'page' : undefined}>
                  {t('nav.admin')}
                </Link>
              ) : null}
              <Link href="/logout">{t('auth.signOut')}</Link>
            </nav>
            <PrefsControls />
          </header>
          {sidebar ? (
            <>
              <aside id="sidebar" className="sidebar" aria-label={t('sidebar.conversations')}>
                {sidebar(close)}
              </aside>
              {open ? <button type="button" className="scrim" aria-label={t('nav.closeMenu')} onClick={close} /> : null}
            </>
          ) : null}
          <main id="main" className="app-main">
            {children}
          </main>
        </div>
      </ToastProvider>
    </MeContext.Provider>
  );
}
