'use client';

import { type InputHTMLAttributes, useId } from 'react';

/** A labelled input whose error is announced and tied to it (`aria-invalid`, `aria-describedby`). */
export function Field(
  props: {
    label: string;
    error?: string | undefined;
    hint?: string | undefined;
  } & InputHTMLAttributes<HTMLInputElement>,
) {
  const { label, error, hint, id: givenId, ...input } = props;
  const autoId = useId();
  const id = givenId ?? autoId;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const described = [hint ? hintId : null, error ? errorId : null].filter(Boolean).join(' ');
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        className="input"
        aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined}
        {...input}
      />
      {hint ? (
        <span id={hintId} className="hint">
          {hint}
        </span>
      ) : null}
      <span id={errorId} className="field-error">
        {error}
      </span>
    </div>
  );
}
