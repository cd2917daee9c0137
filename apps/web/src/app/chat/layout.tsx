import type { Metadata } from 'next';
import { type ReactNode, Suspense } from 'react';
import { ChatApp } from '@/components/chat/chat-app';
import { getT } from '@/lib/i18n/server';

export async function generateMetadata(): Promise<Metadata> {
  return { title: (await getT())('chat.title') };
}

/** The chat UI is one client tree in this layout (see ChatApp); the pages below only give the URLs. */
export default function ChatLayout({ children }: { children: ReactNode }) {
  return (
    <>
      <Suspense>
        <ChatApp />
      </Suspense>
      {children}
    </>
  );
}
