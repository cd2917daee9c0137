'use client';

import { CopyButton } from './copy-button';
import { useT } from './providers';

/**
 * The form-level message. The live region is always in the page (empty until there is something to say), so a
 * screen reader announces the message when it appears.
 */
export function FormAlert({ id, message }: { id?: string | undefined; message: string | undefined }) {
  return (
    <div role="alert" id={id} className={message ? 'alert' : undefined}>
      {message}
    </div>
  );
}

/** The primary submit button of a settings or admin form, on a line of its own. */
export function SubmitButton({
  pending,
  label,
  pendingLabel,
}: {
  pending: boolean;
  label: string;
  pendingLabel: string;
}) {
  return (
    <div>
      <button type="submit" className="btn btn-primary" disabled={pending}>
        {pending ? pendingLabel : label}
      </button>
    </div>
  );
}

/** A secret the API shows once (a new API key, an invitation link): with a copy button, until it is closed. */
export function OneTimeSecret({
  title,
  secret,
  testId,
  onClose,
}: {
  title: string;
  secret: string;
  testId: string;
  onClose(): void;
}) {
  const t = useT();
  return (
    <div className="notice form" role="status">
      <strong>{title}</strong>
      <div className="secret">
        <code data-testid={testId}>{secret}</code>
        <CopyButton text={secret} label={t('common.copy')} />
      </div>
      <div>
        <button type="button" className="btn btn-small" onClick={onClose}>
          {t('common.close')}
        </button>
      </div>
    </div>
  );
}
