'use client';

import { usePathname } from 'next/navigation';
import { useCallback } from 'react';
import { AppShell } from '../app-shell';
import { ConversationView } from './conversation-view';
import { Sidebar } from './sidebar';

/**
 * The whole chat UI lives in the /chat layout, so moving between conversations keeps the sidebar and a reply in
 * flight. The conversation id comes from the path; a new chat moves to /chat/<id> with history.replaceState once
 * the API has created it, without remounting the view that is streaming.
 */
export function ChatApp() {
  const pathname = usePathname();
  const id = pathname.startsWith('/chat/') ? decodeURIComponent(pathname.slice('/chat/'.length)) || null : null;
  const onCreated = useCallback((created: string) => {
    window.history.replaceState(null, '', `/chat/${encodeURIComponent(created)}`);
  }, []);
  return (
    <AppShell sidebar={(close) => <Sidebar onNavigate={close} />}>
      <ConversationView conversationId={id} onConversationCreated={onCreated} />
    </AppShell>
  );
}
