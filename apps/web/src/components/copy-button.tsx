'use client';

import { useState } from 'react';
import { useT } from './providers';

/** Copies text to the clipboard and says so for a moment. */
export function CopyButton({
  text,
  label,
  className = 'btn btn-small copy-btn',
}: {
  text: string;
  label: string;
  className?: string;
}) {
  const t = useT();
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className={className}
      onClick={() => {
        navigator.clipboard
          ?.writeText(text)
          .then(() => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1500);
          })
          .catch(() => undefined);
      }}
    >
      {copied ? t('common.copied') : label}
    </button>
  );
}
