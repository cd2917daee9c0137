'use client';

import { startRegistration } from '@simplewebauthn/browser';
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { ApiError, apiJson, errorMessage, type TotpEnrollment } from '@/lib/api';
import { Field } from './field';
import { LoadState } from './load-state';
import { RecoveryCodes, TotpCodeField, TotpEnrollmentFields } from './mfa-parts';
import { useT } from './providers';
import { useToast } from './toasts';

interface MfaStatus {
  totp: boolean;
  pendingEnrollment: boolean;
  recoveryCodesLeft: number;
  required: boolean;
}
interface Passkey {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** Authenticator app (TOTP): enrol with a QR code or the secret, confirm with a code, get recovery codes once. */
export function SecondFactor() {
  const t = useT();
  const toast = useToast();
  const [status, setStatus] = useState<MfaStatus | null>(null);
  const [error, setError] = useState<string | undefined>();
  const [enrollment, setEnrollment] = useState<TotpEnrollment | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const [pending, setPending] = useState(false);

  const load = useCallback(() => {
    apiJson<MfaStatus>('/api/me/mfa')
      .then(setStatus)
      .catch((err: unknown) => setError(errorMessage(err, t)));
  }, [t]);
  useEffect(load, [load]);

  const run = async (work: () => Promise<void>) => {
    setPending(true);
    setError(undefined);
    try {
      await work();
    } catch (err) {
      setError(errorMessage(err, t));
    } finally {
      setPending(false);
    }
  };

  const start = () =>
    run(async () => {
      setEnrollment(await apiJson('/api/me/mfa/totp', { method: 'POST' }));
      setCode('');
    });

  const confirm = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    return run(async () => {
      const answer = await apiJson<{ recoveryCodes: string[] }>('/api/me/mfa/totp/confirm', { body: { code } });
      setEnrollment(null);
      setCode('');
      setCodes(answer.recoveryCodes);
      toast.show(t('mfa.enabled'));
      load();
    });
  };

  const regenerate = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    return run(async () => {
      const answer = await apiJson<{ recoveryCodes: string[] }>('/api/me/mfa/recovery-codes', { body: { code } });
      setCode('');
      setCodes(answer.recoveryCodes);
      load();
    });
  };

  const disable = () =>
    run(async () => {
      await apiJson<void>('/api/me/mfa/totp/disable', { body: { password, code } });
      setPassword('');
      setCode('');
      toast.show(t('mfa.disabled'));
      load();
    });

  return (
    <section className="card" aria-labelledby="mfa-title">
      <h2 id="mfa-title">{t('mfa.title')}</h2>
      <LoadState error={error} loading={status === null} />
      {codes ? <RecoveryCodes codes={codes} onDone={() => setCodes(null)} /> : null}
      {status && !status.totp && !enrollment ? (
        <>
          <p className="muted">{status.required ? t('mfa.required') : t('mfa.off')}</p>
          <div>
            <button type="button" className="btn btn-primary" disabled={pending} onClick={start}>
              {t('mfa.setUp')}
            </button>
          </div>
        </>
      ) : null}
      {enrollment ? (
        <form className="form" onSubmit={confirm} aria-label={t('mfa.setUp')}>
          <TotpEnrollmentFields enrollment={enrollment} code={code} onCode={setCode} />
          <div className="row">
            <button type="submit" className="btn btn-primary" disabled={pending}>
              {t('mfa.confirm')}
            </button>
            <button type="button" className="btn" onClick={() => setEnrollment(null)}>
              {t('common.cancel')}
            </button>
          </div>
        </form>
      ) : null}
      {status?.totp ? (
        <form className="form" onSubmit={regenerate} aria-label={t('mfa.title')}>
          <p>
            {t('mfa.on')} {t('mfa.codesLeft', { count: status.recoveryCodesLeft })}
          </p>
          <TotpCodeField value={code} onChange={setCode} />
          <Field
            label={t('mfa.password')}
            hint={t('mfa.passwordHint')}
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <div className="row">
            <button type="submit" className="btn" disabled={pending}>
              {t('mfa.newCodes')}
            </button>
            <button
              type="button"
              className="btn btn-danger"
              disabled={pending || password === '' || code === ''}
              onClick={disable}
            >
              {t('mfa.disable')}
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}

/** Passkeys: register one with this device (WebAuthn), list, remove. */
export function Passkeys() {
  const t = useT();
  const toast = useToast();
  const [items, setItems] = useState<Passkey[] | null>(null);
  const [error, setError] = useState<string | undefined>();
  const [name, setName] = useState('');
  const [pending, setPending] = useState(false);
  const supported = typeof window !== 'undefined' && 'PublicKeyCredential' in window;

  const load = useCallback(() => {
    apiJson<Passkey[]>('/api/me/passkeys')
      .then(setItems)
      .catch((err: unknown) => setError(errorMessage(err, t)));
  }, [t]);
  useEffect(load, [load]);

  const add = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setPending(true);
    setError(undefined);
    try {
      const { ceremony, options } = await apiJson<{ ceremony: string; options: unknown }>(
        '/api/me/passkeys/registration/options',
        { body: {} },
      );
      const response = await startRegistration({
        optionsJSON: options as Parameters<typeof startRegistration>[0]['optionsJSON'],
      });
      const added = await apiJson<Passkey>('/api/me/passkeys/registration/verify', {
        body: { ceremony, response, ...(name.trim() ? { name: name.trim() } : {}) },
      });
      setItems((list) => [...(list ?? []), added]);
      setName('');
      toast.show(t('passkeys.added'));
    } catch (err) {
      // The browser's own refusals (cancelled, no authenticator) are DOMExceptions, not API problems.
      setError(err instanceof ApiError ? errorMessage(err, t) : t('passkeys.browserRefused'));
    } finally {
      setPending(false);
    }
  };

  const remove = async (passkey: Passkey) => {
    try {
      await apiJson<void>(`/api/me/passkeys/${encodeURIComponent(passkey.id)}`, { method: 'DELETE' });
      setItems((list) => (list ?? []).filter((p) => p.id !== passkey.id));
      toast.show(t('passkeys.removed', { name: passkey.name }));
    } catch (err) {
      setError(errorMessage(err, t));
    }
  };

  return (
    <section className="card" aria-labelledby="passkeys-title">
      <h2 id="passkeys-title">{t('passkeys.title')}</h2>
      <p className="muted">{t('passkeys.lead')}</p>
      <LoadState error={error} loading={items === null} />
      {items && items.length === 0 ? <p className="muted">{t('passkeys.none')}</p> : null}
      {items && items.length > 0 ? (
        <ul className="conv-list">
          {items.map((passkey) => (
            <li key={passkey.id} className="row">
              <strong>{passkey.name}</strong>
              <span className="muted">
                {t('passkeys.lastUsed', {
                  when: passkey.lastUsedAt ? new Date(passkey.lastUsedAt).toLocaleString() : t('common.never'),
                })}
              </span>
              <span className="spacer" />
              <button type="button" className="btn btn-small btn-danger" onClick={() => remove(passkey)}>
                {t('passkeys.remove')}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {supported ? (
        <form className="row" onSubmit={add} aria-label={t('passkeys.add')}>
          <Field label={t('passkeys.name')} maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          <button type="submit" className="btn btn-primary" disabled={pending}>
            {t('passkeys.add')}
          </button>
        </form>
      ) : (
        <p className="muted">{t('passkeys.unsupported')}</p>
      )}
    </section>
  );
}
