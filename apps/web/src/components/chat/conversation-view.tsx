'use client';

import { useVirtualizer } from '@tanstack/react-virtual';
import dynamic from 'next/dynamic';
import { useSearchParams } from 'next/navigation';
import {
  type KeyboardEvent,
  memo,
  useCallback,
  useEffect,
  useId,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import { api, type ChatSettings, type Conversation, errorMessage, type Message, type MessagePart } from '@/lib/api';
import {
  clearSnapshot,
  type LiveReply,
  loadSnapshot,
  newReply,
  regenerateStart,
  runReply,
  type StreamHandle,
  sendMessageStart,
} from '@/lib/generation';
import { messageForProblem } from '@/lib/problem';
import { activePath, buildTree, choicesFor, mergeMessages, siblingInfo, type Tree } from '@/lib/tree';
import { CopyButton } from '../copy-button';
import { useT } from '../providers';
import { ShareButton } from '../share-button';
import { useToast } from '../toasts';
import { announceConversation } from './chat-events';
import { safeHref } from './safe-links';

// Markdown, KaTeX and the highlighter are the heaviest part of the page: loaded on first use, never in first load.
const Markdown = dynamic(() => import('./markdown'), {
  ssr: false,
  loading: () => null,
});
// The per-conversation settings open on demand, so their code loads then too (first-load budget, docs/web.md).
const SettingsPanel = dynamic(() => import('./settings-panel').then((m) => m.SettingsPanel), { ssr: false });

const PENDING_USER = 'pending:user';
const PENDING_ASSISTANT = 'pending:assistant';

const textOf = (parts: readonly MessagePart[]) =>
  parts
    .filter((p): p is { type: 'text'; text: string } => p.type === 'text')
    .map((p) => p.text)
    .join('');

/** Folds the live reply into the message list, so the tree and the path treat it like any message. */
function withLive(messages: readonly Message[], live: LiveReply | null): Message[] {
  if (!live) return [...messages];
  const out = [...messages];
  const now = new Date().toISOString();
  const userId = live.userMessageId ?? PENDING_USER;
  const assistantId = live.assistantMessageId ?? PENDING_ASSISTANT;
  const known = new Set(messages.map((m) => m.id));
  const parentOfAssistant = live.userText !== null ? userId : live.parentId;
  if (live.userText !== null && !known.has(userId)) {
    out.push({
      id: userId,
      conversationId: live.conversationId,
      parentId: live.parentId,
      role: 'user',
      parts: [{ type: 'text', text: live.userText }],
      status: 'complete',
      createdAt: now,
    });
  }
  const assistant: Message = {
    id: assistantId,
    conversationId: live.conversationId,
    parentId: parentOfAssistant,
    role: 'assistant',
    parts: [...live.parts, { type: 'text', text: live.text }],
    status: live.status,
    generationId: live.generationId,
    error: live.error ? { code: live.error.code ?? 'internal', detail: live.error.detail ?? '' } : null,
    createdAt: now,
  };
  const index = out.findIndex((m) => m.id === assistantId);
  if (index === -1) out.push(assistant);
  else out[index] = { ...assistant, createdAt: out[index]?.createdAt ?? now };
  return out;
}

async function loadAllMessages(conversationId: string, stillWanted: () => boolean): Promise<Message[]> {
  const all: Message[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 200 && stillWanted(); pages += 1) {
    const page = await api.messages(conversationId, cursor);
    all.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return all;
}

/** The first page holds the whole conversation: one branch, complete to the root, no message with a sibling. */
const wholeConversation = (page: { items: readonly Message[]; nextCursor: string | null }) =>
  page.nextCursor === null && page.items.every((m) => (m.siblingIds?.length ?? 1) <= 1);

const uuid = () =>
  typeof crypto !== 'undefined' && 'randomUUID' in crypto
    ? crypto.randomUUID()
    : `${Date.now()}-${Math.random().toString(16).slice(2)}`;

export function ConversationView({
  conversationId,
  onConversationCreated,
}: {
  conversationId: string | null;
  onConversationCreated(id: string): void;
}) {
  const t = useT();
  const toast = useToast();
  const params = useSearchParams();
  const jumpTo = params.get('m');
  const [conversation, setConversation] = useState<Conversation | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [loadState, setLoadState] = useState<'loading' | 'ready' | 'error'>(conversationId ? 'loading' : 'ready');
  const [loadError, setLoadError] = useState<string | undefined>();
  const [choice, setChoice] = useState<Map<string, string>>(new Map());
  const [live, setLive] = useState<LiveReply | null>(null);
  const [sendError, setSendError] = useState<string | undefined>();
  const [draftSettings, setDraftSettings] = useState<ChatSettings>({});
  const [showSettings, setShowSettings] = useState(false);
  const [highlight, setHighlight] = useState<string | null>(null);
  const handle = useRef<StreamHandle | null>(null);
  const idRef = useRef<string | null>(conversationId);
  // Ids this view created itself: switching to them must not reload over the reply being streamed.
  const createdHere = useRef<string | null>(null);

  const finish = useCallback(async (id: string, final: LiveReply | null) => {
    try {
      // The branch that ends at the reply, merged into what is held (the rest of the tree is already there, or
      // still loading in the background).
      const [fresh, page] = await Promise.all([
        api.conversation(id),
        api.branchMessages(id, { leafId: final?.assistantMessageId }),
      ]);
      if (idRef.current !== id) return;
      setConversation(fresh);
      announceConversation(fresh);
      setMessages((held) => mergeMessages(held, page.items));
      if (final?.assistantMessageId) {
        const tree = buildTree(page.items);
        if (tree.byId.has(final.assistantMessageId)) setChoice(choicesFor(tree, final.assistantMessageId));
      }
      setLive(null);
    } catch {
      // keep the live copy on screen; the next load shows the stored one
    }
  }, []);

  const follow = useCallback(
    (initial: LiveReply, start: Parameters<typeof runReply>[1]) => {
      const id = initial.conversationId;
      setLive(initial);
      setSendError(undefined);
      const h = runReply(initial, start, (reply) => {
        if (idRef.current === id) setLive(reply);
      });
      handle.current = h;
      h.done
        .then((final) => finish(id, final))
        .catch((error: unknown) => {
          if (error instanceof DOMException && error.name === 'AbortError') return;
          if (idRef.current !== id) return;
          setSendError(errorMessage(error, t));
          setLive((reply) => (reply?.generationId ? { ...reply, status: 'error', resuming: false } : null));
        })
        .finally(() => {
          if (handle.current === h) handle.current = null;
        });
    },
    [finish, t],
  );

  // Load the conversation, then pick up a reply still in progress (after a refresh or from another tab).
  useEffect(() => {
    idRef.current = conversationId;
    if (conversationId && createdHere.current === conversationId) {
      createdHere.current = null;
      return;
    }
    handle.current?.abort();
    handle.current = null;
    setLive(null);
    setChoice(new Map());
    setSendError(undefined);
    setShowSettings(false);
    if (!conversationId) {
      setConversation(null);
      setMessages([]);
      setLoadState('ready');
      return;
    }
    setLoadState('loading');
    let cancelled = false;
    // First paint from one request: the newest page of the active branch. The whole tree (older pages, other
    // branches for `< 2/3 >`, an old search hit) follows in the background and is merged in at once.
    Promise.all([api.conversation(conversationId), api.branchMessages(conversationId)])
      .then(([fresh, page]) => {
        if (cancelled) return;
        const list = page.items;
        setConversation(fresh);
        setMessages(list);
        setLoadState('ready');
        if (!wholeConversation(page)) {
          loadAllMessages(conversationId, () => !cancelled)
            .then((everything) => {
              if (!cancelled) setMessages((held) => mergeMessages(everything, held));
            })
            .catch((error: unknown) => {
              if (!cancelled) toast.show(errorMessage(error, t));
            });
        }
        const snapshot = loadSnapshot(conversationId);
        const streaming = [...list].reverse().find((m) => m.status === 'streaming' && m.generationId);
        if (snapshot && (!streaming || snapshot.generationId === streaming.generationId)) {
          follow(snapshot, null);
        } else if (streaming?.generationId) {
          // No local copy: replay the generation from its first event (no Last-Event-ID) over an empty reply.
          follow(
            newReply(conversationId, {
              generationId: streaming.generationId,
              assistantMessageId: streaming.id,
              parentId: streaming.parentId,
              resuming: true,
            }),
            null,
          );
        } else {
          clearSnapshot(conversationId);
        }
      })
      .catch((error: unknown) => {
        if (cancelled) return;
        setLoadError(errorMessage(error, t));
        setLoadState('error');
      });
    return () => {
      cancelled = true;
    };
  }, [conversationId, follow, t, toast]);

  useEffect(() => () => handle.current?.abort(), []);

  const all = useMemo(() => withLive(messages, live), [messages, live]);
  const tree = useMemo(() => buildTree(all), [all]);
  const effectiveChoice = useMemo(() => {
    const liveId = live ? (live.assistantMessageId ?? PENDING_ASSISTANT) : null;
    if (liveId && tree.byId.has(liveId)) return new Map([...choice, ...choicesFor(tree, liveId)]);
    if (jumpTo && tree.byId.has(jumpTo)) return new Map([...choice, ...choicesFor(tree, jumpTo)]);
    return choice;
  }, [choice, live, tree, jumpTo]);
  const path = useMemo(
    () => activePath(tree, effectiveChoice, conversation?.activeLeafId ?? null).filter((m) => m.role !== 'system'),
    [tree, effectiveChoice, conversation?.activeLeafId],
  );

  const busy = live !== null && live.status === 'streaming';
  const settings = conversation?.settings ?? draftSettings;

  async function ensureConversation(): Promise<string> {
    if (conversationId) return conversationId;
    const created = await api.createConversation({ settings: draftSettings });
    createdHere.current = created.id;
    idRef.current = created.id;
    setConversation(created);
    announceConversation(created);
    onConversationCreated(created.id);
    return created.id;
  }

  async function send(content: string, parentId: string | null): Promise<boolean> {
    const text = content.trim();
    if (!text || busy) return false;
    setSendError(undefined);
    let id: string;
    try {
      id = await ensureConversation();
    } catch (error) {
      setSendError(errorMessage(error, t));
      return false;
    }
    const reply = newReply(id, { parentId, userText: text });
    follow(
      reply,
      sendMessageStart(
        id,
        {
          content: text,
          parentId,
          ...(settings.model ? { model: settings.model } : {}),
        },
        uuid(),
      ),
    );
    return true;
  }

  const lastId = path.at(-1)?.id ?? null;

  function regenerate(message: Message) {
    if (busy || !conversationId) return;
    follow(newReply(conversationId, { parentId: message.parentId }), regenerateStart(message.id));
  }

  async function stop() {
    const current = live;
    if (!current) return;
    if (!current.generationId) {
      handle.current?.abort();
      setLive(null);
      return;
    }
    try {
      await api.stopGeneration(current.generationId);
    } catch (error) {
      toast.show(errorMessage(error, t));
    }
  }

  async function saveSettings(next: ChatSettings) {
    if (!conversationId) {
      setDraftSettings(next);
      return;
    }
    const updated = await api.updateConversation(conversationId, { settings: next });
    setConversation(updated);
  }

  const switchBranch = (message: Message, delta: number) => {
    const info = siblingInfo(tree, message);
    const target = info.ids[info.index - 1 + delta];
    if (!target) return;
    const key = message.parentId && tree.byId.has(message.parentId) ? message.parentId : '';
    const next = new Map(choice).set(key, target);
    setChoice(next);
    // The branch shown is remembered by the API (activeLeafId), so a reload or another device opens it too.
    const leaf = activePath(tree, next, conversation?.activeLeafId ?? null).at(-1);
    if (!conversationId || !leaf || leaf.id === conversation?.activeLeafId) return;
    api
      .updateConversation(conversationId, { activeLeafId: leaf.id })
      .then((updated) => {
        if (idRef.current === updated.id) setConversation(updated);
      })
      .catch((error: unknown) => toast.show(errorMessage(error, t)));
  };

  if (loadState === 'loading') {
    return (
      <div className="chat-center" role="status">
        {t('common.loading')}
      </div>
    );
  }
  if (loadState === 'error') {
    return (
      <div className="chat-center">
        <p className="alert" role="alert">
          {t('chat.loadError')} {loadError}
        </p>
      </div>
    );
  }

  return (
    <div className="chat">
      <div className="chat-toolbar">
        <h1 className="chat-title">{conversation?.title ?? t('sidebar.newChat')}</h1>
        <button
          type="button"
          className="btn btn-small"
          aria-expanded={showSettings}
          onClick={() => setShowSettings((v) => !v)}
        >
          ⚙ {t('chat.settings')}
        </button>
        {conversation ? <ShareButton conversationId={conversation.id} /> : null}
      </div>
      {showSettings ? (
        <SettingsPanel settings={settings} onSave={saveSettings} onClose={() => setShowSettings(false)} />
      ) : null}
      {path.length === 0 ? (
        <div className="chat-empty">
          <h2>{t('chat.emptyTitle')}</h2>
          <p className="muted">{t('chat.emptyLead')}</p>
        </div>
      ) : (
        <MessageList
          path={path}
          tree={tree}
          live={live}
          jumpTo={jumpTo}
          highlight={highlight}
          setHighlight={setHighlight}
          onRegenerate={regenerate}
          onEdit={(message, text) => send(text, message.parentId)}
          onSwitch={switchBranch}
          busy={busy}
        />
      )}
      {live?.resuming ? (
        <p className="notice resuming" role="status">
          {t('chat.resuming')}
        </p>
      ) : null}
      <div role="alert" className={sendError ? 'alert chat-error' : undefined}>
        {sendError}
      </div>
      <Composer busy={busy} onSend={(text) => send(text, lastId)} onStop={stop} />
    </div>
  );
}

function Composer({ busy, onSend, onStop }: { busy: boolean; onSend(text: string): Promise<boolean>; onStop(): void }) {
  const t = useT();
  const id = useId();
  const [text, setText] = useState('');
  const submit = async () => {
    const value = text;
    if (!value.trim()) return;
    setText('');
    if (!(await onSend(value))) setText(value);
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      if (!busy) void submit();
    }
  };
  return (
    <form
      className="composer"
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <label htmlFor={id} className="visually-hidden">
        {t('chat.inputLabel')}
      </label>
      <textarea
        id={id}
        className="textarea composer-input"
        rows={2}
        placeholder={t('chat.inputPlaceholder')}
        value={text}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={onKeyDown}
      />
      {busy ? (
        <button type="button" className="btn" onClick={onStop}>
          ■ {t('chat.stop')}
        </button>
      ) : (
        <button type="submit" className="btn btn-primary" disabled={!text.trim()}>
          {t('chat.send')}
        </button>
      )}
    </form>
  );
}

interface ListProps {
  path: Message[];
  tree: Tree<Message>;
  live: LiveReply | null;
  jumpTo: string | null;
  highlight: string | null;
  setHighlight(id: string | null): void;
  onRegenerate(message: Message): void;
  onEdit(message: Message, text: string): Promise<boolean>;
  onSwitch(message: Message, delta: number): void;
  busy: boolean;
}

/**
 * Windowed: only the messages near the viewport are in the DOM, so 2,000 messages scroll like 20.
 *
 * Opening a conversation shows its newest message, and a growing reply stays in view, until the reader scrolls
 * up. "Stuck to the bottom" ends only on an upward scroll away from the bottom: rows measured after the first
 * paint (estimated 140 px, then markdown loads) grow the content under a programmatic scroll, which must not
 * count as the reader leaving.
 */
function MessageList(props: ListProps) {
  const t = useT();
  const { path, jumpTo, setHighlight, busy } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const stuck = useRef(true);
  const lastTop = useRef(0);
  const [following, setFollowing] = useState(true);
  const virtualizer = useVirtualizer({
    count: path.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 140,
    overscan: 6,
    getItemKey: (index) => path[index]?.id ?? index,
  });

  const follow = useCallback((value: boolean) => {
    stuck.current = value;
    setFollowing(value);
  }, []);

  // A reply starting (sent here, or resumed after a reload) is followed again.
  useEffect(() => {
    if (busy) follow(true);
  }, [busy, follow]);

  // While stuck, every change of size keeps the bottom in view: new rows, a growing reply, rows measured late.
  const totalSize = virtualizer.getTotalSize();
  const lastText = path.at(-1) ? textOf(path.at(-1)?.parts ?? []).length : 0;
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-run whenever the content below may have grown
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || !stuck.current || path.length === 0) return;
    el.scrollTop = el.scrollHeight;
  }, [totalSize, path.length, lastText, following]);

  // Older messages arriving above (the whole tree, loaded after the first page) must not move what the reader
  // is looking at: the row at the top of the viewport keeps its place. Stuck to the bottom, the effect above does.
  const anchor = useRef<{ id: string; offset: number } | null>(null);
  const firstId = path[0]?.id;
  // biome-ignore lint/correctness/useExhaustiveDependencies: only rows added above move the content
  useLayoutEffect(() => {
    const el = scroller.current;
    const held = anchor.current;
    if (!el || stuck.current || !held) return;
    const index = path.findIndex((m) => m.id === held.id);
    const start = index === -1 ? undefined : virtualizer.measurementsCache[index]?.start;
    if (start !== undefined) el.scrollTop = start + held.offset;
  }, [firstId]);

  // A search hit: bring the message into view and mark it.
  const jumped = useRef<string | null>(null);
  useEffect(() => {
    if (!jumpTo || jumped.current === jumpTo) return;
    const index = path.findIndex((m) => m.id === jumpTo);
    if (index === -1) return;
    jumped.current = jumpTo;
    follow(false);
    virtualizer.scrollToIndex(index, { align: 'center' });
    setHighlight(jumpTo);
    const timer = setTimeout(() => setHighlight(null), 4000);
    return () => clearTimeout(timer);
  }, [jumpTo, path, virtualizer, setHighlight, follow]);

  return (
    <div
      ref={scroller}
      className="messages"
      onScroll={(event) => {
        const el = event.currentTarget;
        const gap = el.scrollHeight - el.scrollTop - el.clientHeight;
        if (gap < 80) {
          if (!stuck.current) follow(true);
        } else if (el.scrollTop < lastTop.current && stuck.current) {
          follow(false);
        }
        lastTop.current = el.scrollTop;
        const top = virtualizer.getVirtualItems().find((item) => item.end > el.scrollTop);
        const id = top ? path[top.index]?.id : undefined;
        anchor.current = top && id ? { id, offset: el.scrollTop - top.start } : null;
      }}
    >
      <section aria-label={t('chat.messages')} className="messages-inner" style={{ height: totalSize }}>
        {virtualizer.getVirtualItems().map((item) => {
          const message = path[item.index];
          if (!message) return null;
          return (
            <div
              key={item.key}
              data-index={item.index}
              ref={virtualizer.measureElement}
              className="message-slot"
              style={{ transform: `translateY(${item.start}px)` }}
            >
              <MessageItem
                message={message}
                tree={props.tree}
                highlighted={props.highlight === message.id}
                isLast={item.index === path.length - 1}
                busy={props.busy}
                onRegenerate={props.onRegenerate}
                onEdit={props.onEdit}
                onSwitch={props.onSwitch}
              />
            </div>
          );
        })}
      </section>
      {following ? null : (
        <button type="button" className="btn btn-small jump-latest" onClick={() => follow(true)}>
          ↓ {t('chat.jumpToLatest')}
        </button>
      )}
    </div>
  );
}

const MessageItem = memo(function MessageItem(props: {
  message: Message;
  tree: Tree<Message>;
  highlighted: boolean;
  isLast: boolean;
  busy: boolean;
  onRegenerate(message: Message): void;
  onEdit(message: Message, text: string): Promise<boolean>;
  onSwitch(message: Message, delta: number): void;
}) {
  const t = useT();
  const { message } = props;
  const [editing, setEditing] = useState(false);
  const editId = useId();
  const text = textOf(message.parts);
  const siblings = siblingInfo(props.tree, message);
  const reasoning = message.parts.filter((p) => p.type === 'reasoning');
  const citations = message.parts.filter((p): p is Extract<MessagePart, { type: 'citation' }> => p.type === 'citation');
  const tools = message.parts.filter((p): p is Extract<MessagePart, { type: 'tool_call' }> => p.type === 'tool_call');
  const files = message.parts.filter((p): p is Extract<MessagePart, { type: 'file' }> => p.type === 'file');
  const streaming = message.status === 'streaming';
  const user = message.role === 'user';
  const base = typeof window === 'undefined' ? 'http://localhost' : window.location.href;

  return (
    <article
      id={`m-${message.id}`}
      className={`message ${user ? 'message-user' : 'message-assistant'}${props.highlighted ? ' message-hit' : ''}`}
      aria-label={user ? t('chat.you') : t('chat.assistant')}
      aria-busy={streaming || undefined}
    >
      <div className="message-role">{user ? t('chat.you') : (message.model ?? t('chat.assistant'))}</div>
      {reasoning.length > 0 ? (
        <details className="reasoning">
          <summary>{t('chat.reasoning')}</summary>
          <div className="reasoning-text">{reasoning.map((p) => ('text' in p ? p.text : '')).join('\n')}</div>
        </details>
      ) : null}
      {editing ? (
        <form
          className="form"
          onSubmit={(event) => {
            event.preventDefault();
            const value = String(new FormData(event.currentTarget).get('text') ?? '');
            void props.onEdit(message, value).then((ok) => {
              if (ok) setEditing(false);
            });
          }}
        >
          <label htmlFor={editId} className="visually-hidden">
            {t('chat.editLabel')}
          </label>
          <textarea id={editId} name="text" className="textarea" defaultValue={text} rows={4} />
          <div className="row">
            <button type="submit" className="btn btn-primary btn-small" disabled={props.busy}>
              {t('chat.saveAndSend')}
            </button>
            <button type="button" className="btn btn-small" onClick={() => setEditing(false)}>
              {t('common.cancel')}
            </button>
          </div>
        </form>
      ) : user ? (
        <div className="message-text plain">{text}</div>
      ) : text ? (
        <Markdown text={text} />
      ) : streaming ? (
        <p className="muted thinking">{t('chat.thinking')}</p>
      ) : null}
      {tools.map((tool, index) => (
        <details key={tool.id ?? index} className="tool-call">
          <summary>{t('chat.toolCall', { name: tool.name })}</summary>
          <pre>{tool.arguments ?? ''}</pre>
        </details>
      ))}
      {files.map((file, index) => (
        <p key={file.fileId ?? index} className="muted">
          {t('chat.file', { name: file.name ?? file.fileId ?? '' })}
        </p>
      ))}
      {citations.length > 0 ? (
        <div className="citations">
          <h3 className="label">{t('chat.sources')}</h3>
          <ol>
            {[...new Map(citations.map((c) => [c.url, c])).values()].map((citation) => {
              const href = safeHref(citation.url, base);
              return (
                <li key={citation.url}>
                  {href ? (
                    <a href={href} target="_blank" rel="noopener noreferrer nofollow ugc">
                      {citation.title ?? citation.url}
                    </a>
                  ) : (
                    <span>{citation.title ?? citation.url}</span>
                  )}
                </li>
              );
            })}
          </ol>
        </div>
      ) : null}
      {message.status === 'stopped' ? <p className="status-note">{t('chat.status.stopped')}</p> : null}
      {message.status === 'interrupted' ? <p className="status-note">{t('chat.status.interrupted')}</p> : null}
      {message.status === 'error' ? (
        <p className="status-note error">
          {t('chat.status.error')}{' '}
          {message.error
            ? messageForProblem({ status: 500, code: message.error.code, detail: message.error.detail, fields: {} }, t)
            : null}
        </p>
      ) : null}
      {!editing && !streaming ? (
        <div className="message-actions">
          {siblings.total > 1 ? (
            <span className="branches">
              <button
                type="button"
                className="btn btn-ghost btn-icon"
                aria-label={t('chat.prevBranch')}
                disabled={siblings.index <= 1}
                onClick={() => props.onSwitch(message, -1)}
              >
                ‹
              </button>
              <span aria-hidden="true">
                {siblings.index}/{siblings.total}
              </span>
              <span className="visually-hidden">
                {t('chat.branch', { index: siblings.index, total: siblings.total })}
              </span>
              <button
                type="button"
                className="btn btn-ghost btn-icon"
                aria-label={t('chat.nextBranch')}
                disabled={siblings.index >= siblings.total}
                onClick={() => props.onSwitch(message, 1)}
              >
                ›
              </button>
            </span>
          ) : null}
          <CopyButton text={text} label={t('chat.copyMessage')} className="btn btn-ghost btn-small" />
          {user ? (
            <button
              type="button"
              className="btn btn-ghost btn-small"
              disabled={props.busy}
              onClick={() => setEditing(true)}
            >
              {t('chat.edit')}
            </button>
          ) : (
            <button
              type="button"
              className="btn btn-ghost btn-small"
              disabled={props.busy}
              onClick={() => props.onRegenerate(message)}
            >
              {t('chat.regenerate')}
            </button>
          )}
        </div>
      ) : null}
    </article>
  );
});
