'use client';

import dynamic from 'next/dynamic';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { type FormEvent, type InputHTMLAttributes, useEffect, useId, useRef, useState } from 'react';
import {
  api,
  errorMessage,
  fieldErrors,
  loginHash,
  type PendingLogin,
  pendingFromHash,
  pendingLogin,
  safeNext,
} from '@/lib/api';
import type { Translate } from '@/lib/i18n';
import { emailIssue, type Issue, PASSWORD_MIN_LENGTH, passwordIssues } from '@/lib/validation';
import { Field } from './field';
import { FormAlert } from './form-parts';
import { useT } from './providers';

type Errors = Record<string, string | undefined>;

// The second step (WebAuthn, QR codes) is fetched only when a log-in asks for it: /login's first load stays small.
const LoginSecondStep = dynamic(() => import('./login-second-step'), { ssr: false });

const say = (t: Translate, issue: Issue | undefined) => (issue ? t(issue.key, issue.vars) : undefined);

/** Form state shared by the auth forms: pending flag, a form-level message and per-field messages. */
function useFormState() {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [fields, setFields] = useState<Errors>({});
  const [done, setDone] = useState<string | undefined>();
  const errorId = useId();
  return { pending, setPending, error, setError, fields, setFields, done, setDone, errorId };
}

type FormState = ReturnType<typeof useFormState>;

/** The form message, then the submit button, busy while the form's call runs. */
function AlertAndSubmit({ form, label, pendingLabel }: { form: FormState; label: string; pendingLabel: string }) {
  return (
    <>
      <FormAlert id={form.errorId} message={form.error} />
      <button type="submit" className="btn btn-primary" disabled={form.pending} aria-busy={form.pending}>
        {form.pending ? pendingLabel : label}
      </button>
    </>
  );
}

/** The email input of the auth forms; `input` adds to it (a placeholder, a default value). */
function EmailField({ error, ...input }: { error: string | undefined } & InputHTMLAttributes<HTMLInputElement>) {
  const t = useT();
  return (
    <Field
      label={t('auth.email')}
      name="email"
      type="email"
      autoComplete="email"
      inputMode="email"
      required
      error={error}
      {...input}
    />
  );
}

/** Runs an API call for a form: maps a problem to the form message and its field errors to fields. */
async function submit(
  form: FormState,
  t: Translate,
  call: () => Promise<void>,
  fieldMap: Record<string, string> = {},
): Promise<boolean> {
  form.setPending(true);
  form.setError(undefined);
  try {
    await call();
    return true;
  } catch (error) {
    const byField: Errors = {};
    for (const [path, message] of Object.entries(fieldErrors(error))) byField[fieldMap[path] ?? path] = message;
    form.setFields(byField);
    form.setError(errorMessage(error, t));
    return false;
  } finally {
    form.setPending(false);
  }
}

export function LoginForm({ compact = false }: { compact?: boolean }) {
  const t = useT();
  const router = useRouter();
  const params = useSearchParams();
  const form = useFormState();
  const next = safeNext(params.get('next'));
  const [email, setEmail] = useState('');
  const [secondStep, setSecondStep] = useState<PendingLogin | null>(null);

  useEffect(() => {
    // An OIDC log-in that needs a second factor comes back as /login#status=mfa_required&challenge=…
    const handedOver = pendingFromHash(window.location.hash);
    if (!handedOver) return;
    // The challenge stands in for the password for a few minutes: out of the address bar and the history.
    window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}`);
    setSecondStep(handedOver);
  }, []);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const entered = String(data.get('email') ?? '');
    const password = String(data.get('password') ?? '');
    setEmail(entered);
    const fields = { email: say(t, emailIssue(entered)), password: password ? undefined : t('validation.required') };
    form.setFields(fields);
    if (fields.email || fields.password) return;
    let answer: unknown;
    const ok = await submit(form, t, async () => {
      answer = await api.login({ email: entered, password });
    });
    if (!ok) return;
    const pending = pendingLogin(answer);
    if (pending) setSecondStep(pending);
    else router.replace(next);
  }

  if (secondStep) {
    return (
      <LoginSecondStep
        pending={secondStep}
        onSignedIn={() => router.replace(next)}
        onRestart={(message) => {
          setSecondStep(null);
          form.setError(message);
        }}
      />
    );
  }
  return (
    <form className="form" onSubmit={onSubmit} aria-label={t('auth.signIn')} noValidate>
      {!compact && params.get('expired') ? <p className="notice">{t('auth.login.expired')}</p> : null}
      <EmailField placeholder={t('auth.emailPlaceholder')} defaultValue={email} error={form.fields.email} />
      <Field
        label={t('auth.password')}
        name="password"
        type="password"
        autoComplete="current-password"
        required
        error={form.fields.password}
      />
      <AlertAndSubmit form={form} label={t('auth.signIn')} pendingLabel={t('auth.signingIn')} />
      <p className="row hint" style={{ margin: 0 }}>
        <Link href="/reset-password">{t('auth.login.forgot')}</Link>
        <span className="spacer" />
        <span>
          {t('auth.login.noAccount')} <Link href="/signup">{t('auth.signUp')}</Link>
        </span>
      </p>
    </form>
  );
}

/** New-password pair with the API's policy checked as you type (after the first submit). */
function passwordFieldErrors(t: Translate, password: string, confirm: string, email?: string): Errors {
  const first = passwordIssues(password, email)[0];
  return {
    password: say(t, first),
    confirm: confirm !== password ? t('validation.passwordMismatch') : undefined,
  };
}

/** What a form with `NewPasswordFields` submits (`email` is '' where the form has no email field). */
function newPasswordValues(element: HTMLFormElement) {
  const data = new FormData(element);
  const text = (name: string) => String(data.get(name) ?? '');
  return { email: text('email'), password: text('password'), confirm: text('confirm') };
}

/** The new password (the policy as its hint) and its confirmation; `fields` holds their errors. */
function NewPasswordFields({ label, fields }: { label: string; fields: Errors }) {
  const t = useT();
  return (
    <>
      <Field
        label={label}
        name="password"
        type="password"
        autoComplete="new-password"
        required
        hint={t('auth.passwordHint', { min: PASSWORD_MIN_LENGTH })}
        error={fields.password}
      />
      <Field
        label={t('auth.confirmPassword')}
        name="confirm"
        type="password"
        autoComplete="new-password"
        required
        error={fields.confirm}
      />
    </>
  );
}

export function SignupForm() {
  const t = useT();
  const router = useRouter();
  const params = useSearchParams();
  const invite = params.get('invite') ?? undefined;
  const form = useFormState();

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const { email, password, confirm } = newPasswordValues(event.currentTarget);
    const fields = { email: say(t, emailIssue(email)), ...passwordFieldErrors(t, password, confirm, email) };
    form.setFields(fields);
    if (Object.values(fields).some(Boolean)) return;
    let pending = null as PendingLogin | null;
    const ok = await submit(form, t, async () => {
      await api.signup({ email, password, ...(invite ? { inviteToken: invite } : {}) });
      // Sign-up does not start a session; the password works at once (the email is confirmed later).
      pending = pendingLogin(await api.login({ email, password }));
    });
    // A role that requires a second factor enrols it on the log-in page first.
    if (ok && pending) window.location.assign(`/login${loginHash(pending)}`);
    else if (ok) router.replace('/chat');
  }

  return (
    <form className="form" onSubmit={onSubmit} aria-label={t('auth.signUp')} noValidate>
      {invite ? <p className="notice">{t('auth.signup.invited')}</p> : null}
      <EmailField placeholder={t('auth.emailPlaceholder')} error={form.fields.email} />
      <NewPasswordFields label={t('auth.password')} fields={form.fields} />
      <AlertAndSubmit form={form} label={t('auth.signUp')} pendingLabel={t('auth.signingUp')} />
      <p className="hint" style={{ margin: 0 }}>
        {t('auth.signup.haveAccount')} <Link href="/login">{t('auth.signIn')}</Link>
      </p>
    </form>
  );
}

export function VerifyEmail() {
  const t = useT();
  const params = useSearchParams();
  const token = params.get('token');
  const [state, setState] = useState<{ kind: 'pending' | 'done' | 'error'; message?: string }>({ kind: 'pending' });
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    if (!token) {
      setState({ kind: 'error', message: t('auth.verify.missing') });
      return;
    }
    api
      .verifyEmail(token)
      .then(() => setState({ kind: 'done' }))
      .catch((error: unknown) => setState({ kind: 'error', message: errorMessage(error, t) }));
  }, [token, t]);

  if (state.kind === 'pending') return <p role="status">{t('auth.verify.pending')}</p>;
  if (state.kind === 'error')
    return (
      <p className="alert" role="alert">
        {state.message}
      </p>
    );
  return (
    <div className="form">
      <p role="status" className="success">
        {t('auth.verify.done')}
      </p>
      <Link className="btn btn-primary" href="/chat">
        {t('auth.verify.continue')}
      </Link>
    </div>
  );
}

export function ResetRequestForm() {
  const t = useT();
  const form = useFormState();

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const email = String(new FormData(event.currentTarget).get('email') ?? '');
    const fields = { email: say(t, emailIssue(email)) };
    form.setFields(fields);
    if (fields.email) return;
    if (await submit(form, t, async () => void (await api.requestPasswordReset(email)))) {
      form.setDone(t('auth.reset.sent'));
    }
  }

  if (form.done)
    return (
      <p role="status" className="notice">
        {form.done}
      </p>
    );
  return (
    <form className="form" onSubmit={onSubmit} aria-label={t('auth.reset.title')} noValidate>
      <EmailField error={form.fields.email} />
      <AlertAndSubmit form={form} label={t('auth.reset.send')} pendingLabel={t('auth.reset.sending')} />
      <p className="hint" style={{ margin: 0 }}>
        <Link href="/login">{t('auth.signIn')}</Link>
      </p>
    </form>
  );
}

/** New password for a reset link (`/reset-password?token=`) or the first admin (`/setup?token=`). */
export function NewPasswordForm({ mode }: { mode: 'reset' | 'setup' }) {
  const t = useT();
  const params = useSearchParams();
  const token = params.get('token') ?? '';
  const form = useFormState();

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const { email, password, confirm } = newPasswordValues(event.currentTarget);
    const fields: Errors = {
      ...(mode === 'setup' ? { email: say(t, emailIssue(email)) } : {}),
      ...passwordFieldErrors(t, password, confirm, mode === 'setup' ? email : undefined),
    };
    form.setFields(fields);
    if (Object.values(fields).some(Boolean)) return;
    const ok = await submit(
      form,
      t,
      async () => {
        if (mode === 'setup') await api.setup({ token, email, password });
        else await api.confirmPasswordReset(token, password);
      },
      { newPassword: 'password' },
    );
    if (ok) form.setDone(mode === 'setup' ? t('auth.setup.done') : t('auth.reset.done'));
  }

  if (!token) {
    return (
      <p className="alert" role="alert">
        {mode === 'setup' ? t('auth.setup.missing') : t('auth.verify.missing')}
      </p>
    );
  }
  if (form.done) {
    return (
      <div className="form">
        <p role="status" className="success">
          {form.done}
        </p>
        <Link className="btn btn-primary" href="/login">
          {t('auth.signIn')}
        </Link>
      </div>
    );
  }
  const label = mode === 'setup' ? t('auth.setup.submit') : t('auth.reset.confirm');
  return (
    <form className="form" onSubmit={onSubmit} aria-label={label} noValidate>
      {mode === 'setup' ? <EmailField error={form.fields.email} /> : null}
      <NewPasswordFields label={mode === 'setup' ? t('auth.password') : t('auth.newPassword')} fields={form.fields} />
      <AlertAndSubmit form={form} label={label} pendingLabel={t('common.saving')} />
    </form>
  );
}

export function LogoutNow() {
  const t = useT();
  const router = useRouter();
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    api
      .logout()
      .catch(() => undefined)
      .then((answer) => {
        try {
          sessionStorage.clear();
        } catch {
          // storage unavailable: nothing to clear
        }
        // Signed in with OIDC: the identity provider ends its session too, then sends the browser back.
        if (answer?.redirectTo) window.location.assign(answer.redirectTo);
        else router.replace('/login');
      });
  }, [router]);
  return <p role="status">{t('auth.signedOut')}</p>;
}
