'use client';

import { useId } from 'react';
import { isLocale, localeNames, locales } from '@/lib/i18n';
import { isTheme, themes } from '@/lib/prefs';
import { useApp } from './providers';

/** Theme (light/dark/system) and language switches. */
export function PrefsControls() {
  const { t, theme, setTheme, locale, setLocale } = useApp();
  const themeId = useId();
  const langId = useId();
  return (
    <div className="prefs">
      <label className="visually-hidden" htmlFor={themeId}>
        {t('settings.theme')}
      </label>
      <select
        id={themeId}
        className="select"
        value={theme}
        onChange={(event) => {
          if (isTheme(event.target.value)) setTheme(event.target.value);
        }}
      >
        {themes.map((value) => (
          <option key={value} value={value}>
            {t(`settings.theme.${value}`)}
          </option>
        ))}
      </select>
      <label className="visually-hidden" htmlFor={langId}>
        {t('settings.language')}
      </label>
      <select
        id={langId}
        className="select"
        value={locale}
        onChange={(event) => {
          if (isLocale(event.target.value)) setLocale(event.target.value);
        }}
      >
        {locales.map((value) => (
          <option key={value} value={value} lang={value}>
            {localeNames[value]}
          </option>
        ))}
      </select>
    </div>
  );
}
