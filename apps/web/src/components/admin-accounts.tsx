'use client';

import { type FormEvent, useCallback, useId, useState } from 'react';
import {
  api,
  errorMessage,
  fieldErrors,
  type Invitation,
  type Role,
  type SignupMode,
  type SignupSettings,
  signupModes,
} from '@/lib/api';
import { emailIssue } from '@/lib/validation';
import { DataTable } from './data-table';
import { Field } from './field';
import { FormAlert, OneTimeSecret, SubmitButton } from './form-parts';
import { useApp, useT } from './providers';
import { useToast } from './toasts';
import { useLoad, when } from './use-load';

/** The API's pattern for an allowed domain (SignupSettingsBody in apps/api/src/modules/auth/auth.schemas.ts). */
const domainPattern = /^[a-z0-9.-]+\.[a-z]{2,}$/;

/** Who may join (`GET/PUT /api/admin/settings/signup`): the mode, and the allowed domains for `domain`. */
export function AdminSignup() {
  const t = useT();
  const load = useCallback(() => api.adminSignupSettings(), []);
  const { view, setData } = useLoad(load);
  const legend = useId();
  const domainsId = useId();
  const [mode, setMode] = useState<SignupMode | null>(null);
  const [error, setError] = useState<string | undefined>();
  const [saved, setSaved] = useState(false);
  const [pending, setPending] = useState(false);

  async function onSave(event: FormEvent<HTMLFormElement>, current: SignupSettings) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const chosen = (String(data.get('mode') ?? '') || current.mode) as SignupMode;
    const allowedDomains = String(data.get('domains') ?? '')
      .split(/[\s,]+/)
      .map((d) => d.trim().toLowerCase())
      .filter(Boolean);
    const problem =
      chosen === 'domain' && allowedDomains.length === 0
        ? t('admin.signup.domainsRequired')
        : allowedDomains.some((d) => !domainPattern.test(d) || d.length > 253)
          ? t('admin.signup.domainsInvalid')
          : undefined;
    if (problem) {
      setSaved(false);
      setError(problem);
      return;
    }
    setPending(true);
    setError(undefined);
    setSaved(false);
    try {
      const next = await api.adminSetSignupSettings({ mode: chosen, allowedDomains });
      setData(next);
      setMode(next.mode);
      setSaved(true);
    } catch (err) {
      const badDomain = Object.keys(fieldErrors(err)).some((field) => field.startsWith('allowedDomains'));
      setError(badDomain ? t('admin.signup.domainsInvalid') : errorMessage(err, t));
    } finally {
      setPending(false);
    }
  }

  return (
    <section className="card form">
      <h2>{t('admin.signup.title')}</h2>
      {view((settings) => {
        const selected = mode ?? settings.mode;
        return (
          <form
            className="form"
            aria-label={t('admin.signup.title')}
            noValidate
            onSubmit={(event) => onSave(event, settings)}
          >
            <fieldset className="form" aria-labelledby={legend} style={{ border: 0, padding: 0, margin: 0 }}>
              <legend id={legend} className="label">
                {t('admin.signup.mode')}
              </legend>
              {signupModes.map((value) => (
                <label key={value} className="checkbox">
                  <input
                    type="radio"
                    name="mode"
                    value={value}
                    aria-labelledby={`${legend}-${value}`}
                    aria-describedby={`${legend}-${value}-hint`}
                    checked={selected === value}
                    onChange={() => {
                      setMode(value);
                      setSaved(false);
                    }}
                  />
                  <span>
                    <strong id={`${legend}-${value}`}>{t(`admin.signup.mode.${value}`)}</strong>
                    <br />
                    <span id={`${legend}-${value}-hint`} className="muted">
                      {t(`admin.signup.mode.${value}.hint`)}
                    </span>
                  </span>
                </label>
              ))}
            </fieldset>
            <div className="field">
              <label htmlFor={domainsId}>{t('admin.signup.domains')}</label>
              <textarea
                id={domainsId}
                name="domains"
                className="textarea"
                rows={3}
                defaultValue={settings.allowedDomains.join('\n')}
                aria-describedby={`${domainsId}-hint`}
              />
              <span id={`${domainsId}-hint`} className="hint">
                {t('admin.signup.domainsHint')}
              </span>
            </div>
            <FormAlert message={error} />
            {saved ? (
              <p role="status" className="success" style={{ margin: 0 }}>
                {t('admin.signup.saved', { mode: t(`admin.signup.mode.${settings.mode}`) })}
              </p>
            ) : null}
            <SubmitButton pending={pending} label={t('common.save')} pendingLabel={t('common.saving')} />
          </form>
        );
      })}
    </section>
  );
}

/** Invitation links (`/api/admin/invitations`): create one (shown once, with a copy button), list and revoke. */
export function AdminInvitations() {
  const t = useT();
  const toast = useToast();
  const { locale } = useApp();
  const load = useCallback(() => api.adminInvitations(), []);
  const { view, setData, data } = useLoad(load);
  const [created, setCreated] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string | undefined>>({});
  const [error, setError] = useState<string | undefined>();
  const [pending, setPending] = useState(false);
  const roleId = useId();

  async function onCreate(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const formData = new FormData(form);
    const email = String(formData.get('email') ?? '').trim();
    const plan = String(formData.get('plan') ?? '').trim();
    const role = String(formData.get('role') ?? 'user') as Role;
    const issue = email ? emailIssue(email) : undefined;
    const emailError = issue ? t(issue.key) : undefined;
    setFields({ email: emailError });
    if (emailError) return;
    setPending(true);
    setError(undefined);
    try {
      const invitation = await api.adminCreateInvitation({
        role,
        ...(email ? { email } : {}),
        ...(plan ? { plan } : {}),
      });
      const { url, ...listed } = invitation;
      setCreated(url);
      setData(data ? { ...data, items: [listed, ...data.items] } : data);
      form.reset();
    } catch (err) {
      const byField = fieldErrors(err);
      setFields({ email: byField.email, plan: byField.plan });
      setError(errorMessage(err, t));
    } finally {
      setPending(false);
    }
  }

  const revoke = async (invitation: Invitation) => {
    try {
      await api.adminRevokeInvitation(invitation.id);
      setData(data ? { ...data, items: data.items.filter((i) => i.id !== invitation.id) } : data);
      toast.show(t('admin.invite.revoked'));
    } catch (err) {
      toast.show(errorMessage(err, t));
    }
  };

  return (
    <section className="card form">
      <h2>{t('admin.invite.title')}</h2>
      <p className="muted" style={{ margin: 0 }}>
        {t('admin.invite.lead')}
      </p>
      {created ? (
        <OneTimeSecret
          title={t('admin.invite.created')}
          secret={created}
          testId="invite-link"
          onClose={() => setCreated(null)}
        />
      ) : null}
      <form className="form" onSubmit={onCreate} noValidate aria-label={t('admin.invite.create')}>
        <Field
          label={t('admin.invite.email')}
          name="email"
          type="email"
          autoComplete="off"
          hint={t('admin.invite.emailHint')}
          error={fields.email}
        />
        <div className="field">
          <label htmlFor={roleId}>{t('admin.role')}</label>
          <select id={roleId} name="role" className="select" defaultValue="user">
            <option value="user">{t('admin.role.user')}</option>
            <option value="admin">{t('admin.role.admin')}</option>
          </select>
        </div>
        <Field
          label={t('admin.invite.plan')}
          name="plan"
          maxLength={32}
          hint={t('admin.invite.planHint')}
          error={fields.plan}
        />
        <FormAlert message={error} />
        <SubmitButton pending={pending} label={t('admin.invite.create')} pendingLabel={t('admin.invite.creating')} />
      </form>
      <h3>{t('admin.invite.pending')}</h3>
      {view((page) =>
        page.items.length === 0 ? (
          <p className="muted">{t('admin.invite.empty')}</p>
        ) : (
          <DataTable
            columns={[t('admin.email'), t('admin.role'), t('admin.plan'), t('admin.invite.expires')]}
            action={t('admin.invite.revoke')}
          >
            {page.items.map((invitation) => (
              <tr key={invitation.id}>
                <td>{invitation.email ?? t('admin.invite.anyone')}</td>
                <td>{t(invitation.role === 'admin' ? 'admin.role.admin' : 'admin.role.user')}</td>
                <td>{invitation.plan ?? t('admin.invite.defaultPlan')}</td>
                <td>{when(invitation.expiresAt, locale)}</td>
                <td>
                  <button
                    type="button"
                    className="btn btn-small btn-danger"
                    aria-label={t('admin.invite.revokeFor', {
                      email: invitation.email ?? t('admin.invite.anyone'),
                    })}
                    onClick={() => revoke(invitation)}
                  >
                    {t('admin.invite.revoke')}
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        ),
      )}
    </section>
  );
}
