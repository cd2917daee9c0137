'use client';

import { type FormEvent, useId, useState } from 'react';
import { responseProblemMessage } from '@/lib/problem';
import styles from './page.module.css';

type Status = { kind: 'idle' } | { kind: 'pending' } | { kind: 'error'; message: string } | { kind: 'done' };

export function SignInForm() {
  const [status, setStatus] = useState<Status>({ kind: 'idle' });
  const errorId = useId();

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    setStatus({ kind: 'pending' });
    try {
      const response = await fetch('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify({ email: data.get('email'), password: data.get('password') }),
      });
      if (!response.ok) {
        setStatus({ kind: 'error', message: await responseProblemMessage(response) });
        return;
      }
      setStatus({ kind: 'done' });
    } catch {
      setStatus({ kind: 'error', message: 'Could not reach GenZ AI. Check your connection and try again.' });
    }
  }

  const pending = status.kind === 'pending';
  const error = status.kind === 'error' ? status.message : undefined;

  return (
    <form
      className={styles.form}
      onSubmit={onSubmit}
      aria-label="Sign in"
      aria-describedby={error ? errorId : undefined}
    >
      <div className={styles.field}>
        <label htmlFor="email">Email</label>
        <input
          id="email"
          name="email"
          type="email"
          autoComplete="email"
          inputMode="email"
          required
          placeholder="you@example.com"
        />
      </div>
      <div className={styles.field}>
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required minLength={8} />
      </div>
      <div role="alert" id={errorId} className={error ? styles.error : undefined}>
        {error}
      </div>
      {status.kind === 'done' ? (
        <p role="status" className={styles.success}>
          Signed in.
        </p>
      ) : null}
      <button type="submit" className={styles.submit} disabled={pending} aria-busy={pending}>
        {pending ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
