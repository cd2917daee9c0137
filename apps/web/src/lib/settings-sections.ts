/** The settings pages (`/settings/<section>`); a plain module so server pages can read it. */
export const settingsSections = ['profile', 'security', 'api-keys', 'usage', 'presets', 'appearance'] as const;
export type SettingsSection = (typeof settingsSections)[number];
