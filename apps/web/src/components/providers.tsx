'use client';

import { useRouter } from 'next/navigation';
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react';
import { type Catalog, format, LOCALE_COOKIE, type Locale, type Translate } from '@/lib/i18n';
import { prefCookie, THEME_COOKIE, type Theme } from '@/lib/prefs';

interface AppContext {
  locale: Locale;
  t: Translate;
  theme: Theme;
  setTheme(theme: Theme): void;
  setLocale(locale: Locale): void;
  /** Origins whose images chat markdown may load (besides this one). */
  imageOrigins: readonly string[];
}

const Context = createContext<AppContext | null>(null);

export function Providers(props: {
  locale: Locale;
  /** The reader's catalog, from the server: the only language this page's JavaScript carries. */
  messages: Catalog;
  theme: Theme;
  imageOrigins: readonly string[];
  children: ReactNode;
}) {
  const router = useRouter();
  const [theme, setThemeState] = useState<Theme>(props.theme);
  const setTheme = useCallback((next: Theme) => {
    // biome-ignore lint/suspicious/noDocumentCookie: a UI preference the server reads for the first paint
    document.cookie = prefCookie(THEME_COOKIE, next);
    if (next === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = next;
    setThemeState(next);
  }, []);
  const setLocale = useCallback(
    (next: Locale) => {
      // biome-ignore lint/suspicious/noDocumentCookie: a UI preference the server reads for the first paint
      document.cookie = prefCookie(LOCALE_COOKIE, next);
      document.documentElement.lang = next;
      router.refresh();
    },
    [router],
  );
  const value = useMemo<AppContext>(
    () => ({
      locale: props.locale,
      t: (key, vars) => format(props.messages[key] ?? key, vars),
      theme,
      setTheme,
      setLocale,
      imageOrigins: props.imageOrigins,
    }),
    [props.locale, props.messages, props.imageOrigins, theme, setTheme, setLocale],
  );
  return <Context.Provider value={value}>{props.children}</Context.Provider>;
}

export function useApp(): AppContext {
  const value = useContext(Context);
  if (!value) throw new Error('useApp outside <Providers>');
  return value;
}

export function useT(): Translate {
  return useApp().t;
}
