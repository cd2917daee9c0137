import type { Metadata } from 'next';
import Link from 'next/link';
import { notFound } from 'next/navigation';
import Markdown from '@/components/chat/markdown';
import { getLocale, getT } from '@/lib/i18n/server';
import { readShare } from './snapshot';

/** Rendered per request from the API's snapshot (see snapshot.ts): a revoked link must vanish on every replica. */
export const dynamic = 'force-dynamic';

type Props = { params: Promise<{ token: string }> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const [{ token }, t] = await Promise.all([params, getT()]);
  const snapshot = await readShare(token);
  return {
    title: snapshot ? snapshot.title : t('share.goneTitle'),
    robots: { index: false, follow: false },
    referrer: 'no-referrer',
  };
}

export default async function SharePage({ params }: Props) {
  const [{ token }, t, locale] = await Promise.all([params, getT(), getLocale()]);
  const snapshot = await readShare(token);
  if (!snapshot) notFound();
  const date = new Date(snapshot.createdAt).toLocaleDateString(locale, { dateStyle: 'long' });
  return (
    <main id="main" className="page share-page">
      <header className="share-header">
        <p className="muted">{t('share.pageLabel')}</p>
        <h1>{snapshot.title}</h1>
        <p className="muted">{t('share.sharedOn', { date })}</p>
      </header>
      <ol className="share-messages">
        {snapshot.messages.map((message, index) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: a snapshot never changes order
          <li key={index} className={`share-message share-${message.role}`}>
            <p className="share-role">
              <strong>{message.role === 'user' ? t('share.role.user') : t('chat.assistant')}</strong>
              {message.model ? <span className="muted"> · {message.model}</span> : null}
            </p>
            {message.content.map((part, i) =>
              part.type === 'text' && part.text ? (
                // biome-ignore lint/suspicious/noArrayIndexKey: parts of an immutable message
                <Markdown key={i} text={part.text} />
              ) : null,
            )}
          </li>
        ))}
      </ol>
      <p>
        <Link className="btn" href="/">
          {t('share.openApp')}
        </Link>
      </p>
    </main>
  );
}
