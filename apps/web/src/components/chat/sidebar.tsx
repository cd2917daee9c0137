'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import {
  type FormEvent,
  type MouseEvent,
  type ReactNode,
  useCallback,
  useEffect,
  useId,
  useRef,
  useState,
} from 'react';
import { api, type Conversation, errorMessage, type SearchHit } from '@/lib/api';
import { LoadState } from '../load-state';
import { useT } from '../providers';
import { useToast } from '../toasts';
import { onConversation } from './chat-events';

/** Pinned first, then most recently updated. */
export function sortConversations(list: readonly Conversation[]): Conversation[] {
  return [...list].sort((a, b) =>
    a.pinned !== b.pinned ? (a.pinned ? -1 : 1) : a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0,
  );
}

/** Renders a search snippet: only `<mark>`/`<b>` become highlights; every other character stays text. */
export function Snippet({ text }: { text: string }) {
  const pieces: ReactNode[] = [];
  const re = /<(mark|b)>([\s\S]*?)<\/\1>/g;
  let last = 0;
  let key = 0;
  for (let match = re.exec(text); match; match = re.exec(text)) {
    if (match.index > last) pieces.push(text.slice(last, match.index));
    pieces.push(<mark key={key++}>{match[2]}</mark>);
    last = match.index + match[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return <>{pieces}</>;
}

const DELETE_GRACE_MS = 6000;

/** A menu action: the menu (a `<details>`) closes once one is chosen. */
const closing =
  (action: () => unknown) =>
  (event: MouseEvent<HTMLButtonElement>): void => {
    event.currentTarget.closest('details')?.removeAttribute('open');
    action();
  };

export function Sidebar({ onNavigate }: { onNavigate(): void }) {
  const t = useT();
  const toast = useToast();
  const pathname = usePathname();
  const activeId = pathname.startsWith('/chat/') ? decodeURIComponent(pathname.slice(6)) : null;
  const [archived, setArchived] = useState(false);
  const [items, setItems] = useState<Conversation[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [state, setState] = useState<'loading' | 'idle' | 'end' | 'error'>('loading');
  const [error, setError] = useState<string | undefined>();
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [renaming, setRenaming] = useState<string | null>(null);
  const [query, setQuery] = useState('');
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [searchError, setSearchError] = useState<string | undefined>();
  const sentinel = useRef<HTMLLIElement>(null);
  const pendingDeletes = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  const searchId = useId();

  const load = useCallback(
    async (from: string | null, reset: boolean) => {
      setState('loading');
      try {
        const page = await api.conversations({ cursor: from, archived });
        setItems((list) => {
          const merged = new Map((reset ? [] : list).map((c) => [c.id, c]));
          for (const c of page.items) merged.set(c.id, c);
          return [...merged.values()];
        });
        setCursor(page.nextCursor);
        setState(page.nextCursor ? 'idle' : 'end');
      } catch (err) {
        setError(errorMessage(err, t));
        setState('error');
      }
    },
    [archived, t],
  );

  useEffect(() => {
    setItems([]);
    void load(null, true);
  }, [load]);

  // Infinite scroll: the sentinel at the end of the list loads the next page when it comes into view.
  useEffect(() => {
    const node = sentinel.current;
    if (!node || state !== 'idle') return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) void load(cursor, false);
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, [state, cursor, load]);

  useEffect(
    () =>
      onConversation((conversation) => {
        setItems((list) => {
          const rest = list.filter((c) => c.id !== conversation.id);
          return conversation.archived === archived ? [conversation, ...rest] : rest;
        });
      }),
    [archived],
  );

  // A delete waits out its undo window; leaving the page sends the waiting ones at once.
  useEffect(() => {
    const flush = () => {
      for (const [id, timer] of pendingDeletes.current) {
        clearTimeout(timer);
        void fetch(`/api/conversations/${encodeURIComponent(id)}`, {
          method: 'DELETE',
          keepalive: true,
          credentials: 'same-origin',
        });
      }
      pendingDeletes.current.clear();
    };
    window.addEventListener('pagehide', flush);
    return () => window.removeEventListener('pagehide', flush);
  }, []);

  // Search as you type (debounced).
  useEffect(() => {
    const text = query.trim();
    if (text.length < 2) {
      setHits(null);
      setSearchError(undefined);
      return;
    }
    const timer = setTimeout(() => {
      api
        .search(text)
        .then((page) => {
          setHits(page.items);
          setSearchError(undefined);
        })
        .catch((err: unknown) => setSearchError(errorMessage(err, t)));
    }, 250);
    return () => clearTimeout(timer);
  }, [query, t]);

  const replace = (updated: Conversation) =>
    setItems((list) =>
      updated.archived !== archived
        ? list.filter((c) => c.id !== updated.id)
        : list.map((c) => (c.id === updated.id ? updated : c)),
    );

  const act = async (fn: () => Promise<Conversation>) => {
    try {
      replace(await fn());
    } catch (err) {
      toast.show(errorMessage(err, t));
    }
  };

  const remove = (conversation: Conversation) => {
    const title = conversation.title ?? t('sidebar.untitled');
    setHidden((set) => new Set(set).add(conversation.id));
    const timer = setTimeout(() => {
      pendingDeletes.current.delete(conversation.id);
      api
        .deleteConversation(conversation.id)
        .then(() => setItems((list) => list.filter((c) => c.id !== conversation.id)))
        .catch((err: unknown) => {
          toast.show(errorMessage(err, t));
          setHidden((set) => {
            const next = new Set(set);
            next.delete(conversation.id);
            return next;
          });
        });
    }, DELETE_GRACE_MS);
    pendingDeletes.current.set(conversation.id, timer);
    toast.show(t('sidebar.deleted', { title }), {
      ms: DELETE_GRACE_MS,
      action: {
        label: t('common.undo'),
        run: () => {
          clearTimeout(timer);
          pendingDeletes.current.delete(conversation.id);
          setHidden((set) => {
            const next = new Set(set);
            next.delete(conversation.id);
            return next;
          });
        },
      },
    });
  };

  const onRename = (event: FormEvent<HTMLFormElement>, conversation: Conversation) => {
    event.preventDefault();
    const title = String(new FormData(event.currentTarget).get('title') ?? '').trim();
    setRenaming(null);
    if (title && title !== conversation.title) void act(() => api.updateConversation(conversation.id, { title }));
  };

  const visible = sortConversations(items.filter((c) => !hidden.has(c.id)));
  const pinned = visible.filter((c) => c.pinned);
  const recent = visible.filter((c) => !c.pinned);

  const renderItem = (conversation: Conversation) => {
    const title = conversation.title ?? t('sidebar.untitled');
    const current = conversation.id === activeId;
    return (
      <li key={conversation.id} className={`conv${current ? ' conv-current' : ''}`}>
        {renaming === conversation.id ? (
          <form className="conv-rename" onSubmit={(event) => onRename(event, conversation)}>
            <label className="visually-hidden" htmlFor={`rename-${conversation.id}`}>
              {t('sidebar.renameLabel')}
            </label>
            <input
              id={`rename-${conversation.id}`}
              name="title"
              className="input"
              defaultValue={conversation.title ?? ''}
              maxLength={200}
              // biome-ignore lint/a11y/noAutofocus: the rename field opens on request and takes the focus
              autoFocus
              onBlur={(event) => event.currentTarget.form?.requestSubmit()}
              onKeyDown={(event) => {
                if (event.key === 'Escape') setRenaming(null);
              }}
            />
          </form>
        ) : (
          <Link
            href={`/chat/${encodeURIComponent(conversation.id)}`}
            className="conv-link"
            aria-current={current ? 'page' : undefined}
            onClick={onNavigate}
          >
            {conversation.pinned ? <PinIcon /> : null}
            {title}
          </Link>
        )}
        <details className="conv-menu">
          <summary className="btn btn-ghost btn-icon" aria-label={t('sidebar.actions', { title })}>
            ⋯
          </summary>
          <fieldset className="menu" aria-label={t('sidebar.actions', { title })}>
            <button
              type="button"
              className="btn btn-ghost btn-small"
              onClick={closing(() => setRenaming(conversation.id))}
            >
              {t('sidebar.rename')}
            </button>
            <button
              type="button"
              className="btn btn-ghost btn-small"
              onClick={closing(() =>
                act(() => api.updateConversation(conversation.id, { pinned: !conversation.pinned })),
              )}
            >
              {conversation.pinned ? t('sidebar.unpin') : t('sidebar.pin')}
            </button>
            <button
              type="button"
              className="btn btn-ghost btn-small"
              onClick={closing(() =>
                act(() => api.updateConversation(conversation.id, { archived: !conversation.archived })),
              )}
            >
              {conversation.archived ? t('sidebar.unarchive') : t('sidebar.archive')}
            </button>
            <button
              type="button"
              className="btn btn-ghost btn-small btn-danger"
              onClick={closing(() => remove(conversation))}
            >
              {t('common.delete')}
            </button>
          </fieldset>
        </details>
      </li>
    );
  };

  return (
    <div className="sidebar-inner">
      <Link href="/chat" className="btn btn-primary new-chat" onClick={onNavigate}>
        + {t('sidebar.newChat')}
      </Link>
      <search className="sidebar-search">
        <label className="visually-hidden" htmlFor={searchId}>
          {t('sidebar.search')}
        </label>
        <input
          id={searchId}
          type="search"
          className="input"
          placeholder={t('sidebar.searchPlaceholder')}
          value={query}
          onChange={(event) => setQuery(event.target.value)}
        />
      </search>
      {hits !== null || searchError ? (
        <section aria-label={t('sidebar.searchResults')} className="conv-section">
          {searchError ? (
            <p className="alert" role="alert">
              {searchError}
            </p>
          ) : null}
          {hits && hits.length === 0 ? <p className="muted">{t('sidebar.searchEmpty', { query })}</p> : null}
          <ul className="conv-list">
            {(hits ?? []).map((hit) => (
              <li key={`${hit.conversationId}:${hit.messageId ?? ''}`} className="hit">
                <Link
                  href={`/chat/${encodeURIComponent(hit.conversationId)}${hit.messageId ? `?m=${encodeURIComponent(hit.messageId)}` : ''}`}
                  onClick={onNavigate}
                >
                  <strong>{hit.title ?? t('sidebar.untitled')}</strong>
                  <span className="hit-snippet">
                    <Snippet text={hit.snippet} />
                  </span>
                </Link>
              </li>
            ))}
          </ul>
          <button type="button" className="btn btn-small" onClick={() => setQuery('')}>
            {t('sidebar.clearSearch')}
          </button>
        </section>
      ) : (
        <nav aria-label={t('sidebar.conversations')} className="conv-nav">
          {pinned.length > 0 ? (
            <section className="conv-section">
              <h2 className="conv-heading">{t('sidebar.pinned')}</h2>
              <ul className="conv-list">{pinned.map(renderItem)}</ul>
            </section>
          ) : null}
          <section className="conv-section">
            <h2 className="conv-heading">{archived ? t('sidebar.archived') : t('sidebar.recent')}</h2>
            <ul className="conv-list">
              {recent.map(renderItem)}
              <li ref={sentinel} aria-hidden="true" className="sentinel" />
            </ul>
            <LoadState
              error={state === 'error' ? error : undefined}
              loading={state === 'loading'}
              onRetry={() => load(cursor, items.length === 0)}
            />
            {state === 'end' && visible.length === 0 ? <p className="muted">{t('sidebar.empty')}</p> : null}
          </section>
        </nav>
      )}
      <button type="button" className="btn btn-ghost btn-small" onClick={() => setArchived((value) => !value)}>
        {archived ? t('sidebar.hideArchived') : t('sidebar.showArchived')}
      </button>
    </div>
  );
}

/**
 * The pin mark of a pinned conversation: an inline icon, not the 📌 emoji (no emoji font on many Linux desktops, where
 * it showed as a missing-glyph box). Decorative: the list's "Pinned" heading says it to screen readers.
 */
function PinIcon() {
  return (
    <svg className="pin-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">
      <path
        fill="currentColor"
        d="M9.8 1.3a.75.75 0 0 1 1.06 0l3.84 3.84a.75.75 0 0 1 0 1.06l-.9.9a.75.75 0 0 1-.63.21l-1.53-.2-2.3 2.3.36 2.5a.75.75 0 0 1-.21.63l-.7.7a.75.75 0 0 1-1.06 0L5.6 11.1l-3.3 3.3a.75.75 0 1 1-1.06-1.06l3.3-3.3-2.13-2.13a.75.75 0 0 1 0-1.06l.7-.7a.75.75 0 0 1 .63-.21l2.5.36 2.3-2.3-.2-1.53a.75.75 0 0 1 .21-.63z"
      />
    </svg>
  );
}
