'use client';

import { startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { ApiError, api, errorMessage, NetworkError, type PendingLogin, type TotpEnrollment } from '@/lib/api';
import type { MessageKey } from '@/lib/i18n';
import { Field } from './field';
import { RecoveryCodes, TotpCodeField, TotpEnrollmentFields } from './mfa-parts';
import { useT } from './providers';

/**
 * The second step of a log-in (docs/accounts.md "Second factor"), loaded only when the API asks for it: a code, a
 * recovery code or a passkey for `mfa_required`; the enrolment of a factor for `mfa_enrollment_required`.
 */
export interface SecondStepProps {
  pending: PendingLogin;
  /** The session has started: go on as after a plain log-in. */
  onSignedIn(): void;
  /** Back to the password (the challenge expired, or the person asked to), with a message or none. */
  onRestart(message?: string): void;
}

type WebAuthnOptions<F extends (arg: { optionsJSON: never }) => unknown> = Parameters<F>[0]['optionsJSON'];

const passkeysSupported = () => typeof window !== 'undefined' && 'PublicKeyCredential' in window;

/** Pending flag and message for a step; an expired or spent challenge sends the person back to the password. */
function useStep({ onRestart }: Pick<SecondStepProps, 'onRestart'>) {
  const t = useT();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const run = async (work: () => Promise<void>, refused: MessageKey) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_token') onRestart(t('auth.mfa.expired'));
      else if (err instanceof ApiError && err.code === 'invalid_credentials') setError(t(refused));
      else if (err instanceof ApiError || err instanceof NetworkError) setError(errorMessage(err, t));
      // What is left is the browser's own refusal of a WebAuthn ceremony (cancelled, no authenticator).
      else setError(t('auth.mfa.passkeyCancelled'));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

function StepAlert({ message }: { message: string | undefined }) {
  return (
    <div role="alert" className={message ? 'alert' : undefined}>
      {message}
    </div>
  );
}

function SecondFactor({ pending, onSignedIn, onRestart }: SecondStepProps) {
  const t = useT();
  const step = useStep({ onRestart });
  const totp = pending.methods.includes('totp');
  const passkey = pending.methods.includes('passkey') && passkeysSupported();
  const [recovery, setRecovery] = useState(false);
  const [value, setValue] = useState('');
  const [fieldError, setFieldError] = useState<string | undefined>();
  const { challenge } = pending;

  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const entered = value.trim();
    const invalid = recovery
      ? entered.length < 8 && t('auth.mfa.recoveryInvalid')
      : !/^[0-9]{6}$/.test(entered) && t('auth.mfa.codeInvalid');
    setFieldError(invalid || undefined);
    if (invalid) return;
    return step.run(
      async () => {
        await api.mfaVerify(recovery ? { challenge, recoveryCode: entered } : { challenge, code: entered });
        onSignedIn();
      },
      recovery ? 'auth.mfa.wrongRecovery' : 'auth.mfa.wrongCode',
    );
  };

  const withPasskey = () =>
    step.run(async () => {
      const { ceremony, options } = await api.passkeyLoginOptions();
      const response = await startAuthentication({
        optionsJSON: options as WebAuthnOptions<typeof startAuthentication>,
      });
      await api.mfaVerify({ challenge, passkey: { ceremony, response } });
      onSignedIn();
    }, 'auth.mfa.passkeyRefused');

  const switchKind = () => {
    setRecovery((was) => !was);
    setValue('');
    setFieldError(undefined);
    step.setError(undefined);
  };

  return (
    <form className="form" onSubmit={onSubmit} aria-label={t('auth.mfa.title')} noValidate>
      <p>{totp ? (recovery ? t('auth.mfa.recoveryLead') : t('auth.mfa.codeLead')) : t('auth.mfa.passkeyLead')}</p>
      {totp && !recovery ? <TotpCodeField value={value} onChange={setValue} error={fieldError} /> : null}
      {totp && recovery ? (
        <Field
          label={t('auth.mfa.recoveryCode')}
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          maxLength={32}
          required
          value={value}
          error={fieldError}
          onChange={(e) => setValue(e.target.value)}
        />
      ) : null}
      <StepAlert message={step.error} />
      {totp ? (
        <button type="submit" className="btn btn-primary" disabled={step.busy} aria-busy={step.busy}>
          {step.busy ? t('auth.mfa.verifying') : t('auth.mfa.verify')}
        </button>
      ) : null}
      {passkey ? (
        <button type="button" className={totp ? 'btn' : 'btn btn-primary'} disabled={step.busy} onClick={withPasskey}>
          {t('auth.mfa.usePasskey')}
        </button>
      ) : null}
      {!totp && !passkeysSupported() ? <p className="muted">{t('passkeys.unsupported')}</p> : null}
      <p className="row hint" style={{ margin: 0 }}>
        {totp ? (
          <button type="button" className="btn btn-small" onClick={switchKind}>
            {recovery ? t('auth.mfa.useCode') : t('auth.mfa.useRecovery')}
          </button>
        ) : null}
        <span className="spacer" />
        <button type="button" className="btn btn-small" onClick={() => onRestart()}>
          {t('auth.mfa.startOver')}
        </button>
      </p>
    </form>
  );
}

/** A role that requires a factor and an account without one: enrol the authenticator app (or a passkey) now. */
function Enrollment({ pending, onSignedIn, onRestart }: SecondStepProps) {
  const t = useT();
  const step = useStep({ onRestart });
  const [enrollment, setEnrollment] = useState<TotpEnrollment | null>(null);
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const started = useRef(false);
  const { challenge } = pending;

  useEffect(() => {
    // Once: every call makes a new seed, and React runs effects twice in development.
    if (started.current) return;
    started.current = true;
    void step.run(async () => setEnrollment(await api.mfaEnroll(challenge)), 'auth.mfa.wrongCode');
  }, [challenge, step.run]);

  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!/^[0-9]{6}$/.test(code)) {
      step.setError(t('auth.mfa.codeInvalid'));
      return;
    }
    return step.run(
      async () => setCodes((await api.mfaEnrollConfirm(challenge, code)).recoveryCodes),
      'auth.mfa.wrongCode',
    );
  };

  const withPasskey = () =>
    step.run(async () => {
      const { ceremony, options } = await api.mfaEnrollPasskeyOptions(challenge);
      const response = await startRegistration({
        optionsJSON: options as WebAuthnOptions<typeof startRegistration>,
      });
      await api.mfaEnrollPasskeyVerify(challenge, ceremony, response);
      onSignedIn();
    }, 'auth.mfa.passkeyRefused');

  // Signed in already; the codes are shown this once, and "I saved them" goes on.
  if (codes) return <RecoveryCodes codes={codes} onDone={onSignedIn} />;
  return (
    <form className="form" onSubmit={onSubmit} aria-label={t('auth.mfa.enrollTitle')} noValidate>
      <p>{t('auth.mfa.enrollLead')}</p>
      {enrollment ? (
        <TotpEnrollmentFields enrollment={enrollment} code={code} onCode={setCode} />
      ) : step.error ? null : (
        <p role="status" className="muted">
          {t('common.loading')}
        </p>
      )}
      <StepAlert message={step.error} />
      {enrollment ? (
        <button type="submit" className="btn btn-primary" disabled={step.busy} aria-busy={step.busy}>
          {t('auth.mfa.enrollConfirm')}
        </button>
      ) : null}
      {pending.methods.includes('passkey') && passkeysSupported() ? (
        <button type="button" className="btn" disabled={step.busy} onClick={withPasskey}>
          {t('auth.mfa.enrollPasskey')}
        </button>
      ) : null}
      <p className="row hint" style={{ margin: 0 }}>
        <span className="spacer" />
        <button type="button" className="btn btn-small" onClick={() => onRestart()}>
          {t('auth.mfa.startOver')}
        </button>
      </p>
    </form>
  );
}

export default function LoginSecondStep(props: SecondStepProps) {
  return props.pending.status === 'mfa_required' ? <SecondFactor {...props} /> : <Enrollment {...props} />;
}
