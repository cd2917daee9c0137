'use client';

import dynamic from 'next/dynamic';
import { useState } from 'react';
import { useT } from './providers';

/** The panel's code loads on the first click: it is not part of the chat's first load. */
const SharePanel = dynamic(() => import('./share-panel'), { ssr: false });

/** The chat toolbar's Share button; the panel (share-panel.tsx) makes, copies and revokes links. */
export function ShareButton({ conversationId }: { conversationId: string }) {
  const t = useT();
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className="btn btn-small" aria-expanded={open} onClick={() => setOpen((v) => !v)}>
        {t('share.button')}
      </button>
      {open ? <SharePanel conversationId={conversationId} onClose={() => setOpen(false)} /> : null}
    </>
  );
}
