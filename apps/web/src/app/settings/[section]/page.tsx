import { notFound } from 'next/navigation';
import { SettingsPage } from '@/components/settings';
import { type SettingsSection, settingsSections } from '@/lib/settings-sections';

export default async function Page({ params }: { params: Promise<{ section: string }> }) {
  const { section } = await params;
  if (!(settingsSections as readonly string[]).includes(section)) notFound();
  return <SettingsPage section={section as SettingsSection} />;
}
