'use client';

import { useCallback, useEffect, useState } from 'react';
import { apiJson, errorMessage } from '@/lib/api';
import { CopyButton } from './copy-button';
import { LoadState } from './load-state';
import { useT } from './providers';
import { useToast } from './toasts';

interface Share {
  id: string;
  conversationId: string;
  token: string;
  createdAt: string;
  expiresAt: string | null;
}

const shareUrl = (token: string) => `${window.location.origin}/share/${encodeURIComponent(token)}`;

/**
 * The chat's share panel (opened by ShareButton, loaded on demand): makes a snapshot link
 * (POST /api/conversations/:id/shares), lists this chat's live links with a copy button, and revokes them. The
 * public page is /share/<token> (app/share/[token]).
 */
export default function SharePanel({ conversationId, onClose }: { conversationId: string; onClose(): void }) {
  const t = useT();
  const toast = useToast();
  const [links, setLinks] = useState<Share[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();

  const load = useCallback(async () => {
    setError(undefined);
    try {
      const page = await apiJson<{ items: Share[] }>('/api/shares');
      setLinks(page.items.filter((s) => s.conversationId === conversationId));
    } catch (err) {
      setError(errorMessage(err, t));
    }
  }, [conversationId, t]);

  useEffect(() => {
    void load();
  }, [load]);

  const create = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const share = await apiJson<Share>(`/api/conversations/${encodeURIComponent(conversationId)}/shares`, {
        body: {},
      });
      setLinks((list) => [share, ...(list ?? [])]);
    } catch (err) {
      setError(errorMessage(err, t));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (share: Share) => {
    try {
      await apiJson<void>(`/api/shares/${encodeURIComponent(share.id)}`, { method: 'DELETE' });
      setLinks((list) => (list ?? []).filter((s) => s.id !== share.id));
      toast.show(t('share.revoked'));
    } catch (err) {
      setError(errorMessage(err, t));
    }
  };

  return (
    <section className="card share-panel" aria-label={t('share.dialogTitle')}>
      <h2>{t('share.dialogTitle')}</h2>
      <p className="muted">{t('share.explain')}</p>
      <LoadState error={error} loading={links === null} />
      {links && links.length === 0 ? <p className="muted">{t('share.none')}</p> : null}
      {links && links.length > 0 ? (
        <ul className="conv-list">
          {links.map((share) => (
            <li key={share.id} className="row">
              <input
                className="input share-url"
                readOnly
                aria-label={t('share.link')}
                value={shareUrl(share.token)}
                onFocus={(event) => event.currentTarget.select()}
              />
              <CopyButton text={shareUrl(share.token)} label={t('common.copy')} />
              <button type="button" className="btn btn-small btn-danger" onClick={() => revoke(share)}>
                {t('share.revoke')}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <div className="row">
        <button type="button" className="btn btn-primary" disabled={busy} onClick={create}>
          {t('share.create')}
        </button>
        <button type="button" className="btn" onClick={onClose}>
          {t('common.close')}
        </button>
      </div>
    </section>
  );
}
