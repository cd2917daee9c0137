'use client';

import Link from 'next/link';
import { type FormEvent, useCallback, useEffect, useId, useState } from 'react';
import {
  ApiError,
  type ApiKey,
  api,
  errorMessage,
  fieldErrors,
  type Preset,
  type Scope,
  type SessionInfo,
  scopes,
  type UsageItem,
  type User,
  type UserStatus,
} from '@/lib/api';
import type { MessageKey } from '@/lib/i18n';
import { type SettingsSection, settingsSections } from '@/lib/settings-sections';
import { passwordIssues } from '@/lib/validation';
import { AdminInvitations, AdminSignup } from './admin-accounts';
import { AdminProviders, AdminUsage } from './admin-status';
import { useMe } from './app-shell';
import { DataTable } from './data-table';
import { Field } from './field';
import { FormAlert, OneTimeSecret, SubmitButton } from './form-parts';
import { LoadState } from './load-state';
import { PrefsControls } from './prefs-controls';
import { useApp, useT } from './providers';
import { Passkeys, SecondFactor } from './security-settings';
import { useToast } from './toasts';
import { useLoad, when } from './use-load';

const sectionTitle: Record<SettingsSection, MessageKey> = {
  profile: 'settings.profile',
  security: 'settings.security',
  'api-keys': 'settings.apiKeys',
  usage: 'settings.usage',
  presets: 'settings.presets',
  appearance: 'settings.appearance',
};

export function SettingsPage({ section }: { section: SettingsSection }) {
  const t = useT();
  return (
    <div className="page">
      <h1>{t('settings.title')}</h1>
      <nav aria-label={t('settings.sections')} className="tabs">
        {settingsSections.map((s) => (
          <Link key={s} href={`/settings/${s}`} aria-current={s === section ? 'page' : undefined}>
            {t(sectionTitle[s])}
          </Link>
        ))}
      </nav>
      {section === 'profile' ? <Profile /> : null}
      {section === 'security' ? (
        <>
          <PasswordForm />
          <SecondFactor />
          <Passkeys />
          <Sessions />
        </>
      ) : null}
      {section === 'api-keys' ? <ApiKeys /> : null}
      {section === 'usage' ? <Usage /> : null}
      {section === 'presets' ? <Presets /> : null}
      {section === 'appearance' ? (
        <section className="card">
          <h2>{t('settings.appearance')}</h2>
          <p className="muted">
            {t('settings.theme')} · {t('settings.language')}
          </p>
          <PrefsControls />
        </section>
      ) : null}
    </div>
  );
}

function Profile() {
  const t = useT();
  const me = useMe();
  if (!me) return null;
  return (
    <section className="card">
      <h2>{t('settings.profile')}</h2>
      <dl className="dl">
        <dt>{t('settings.profile.email')}</dt>
        <dd>{me.email}</dd>
        <dt>{t('settings.profile.role')}</dt>
        <dd>{t(me.role === 'admin' ? 'admin.role.admin' : 'admin.role.user')}</dd>
        <dt>{t('settings.profile.plan')}</dt>
        <dd>{me.plan}</dd>
        <dt>{t('settings.profile.verified')}</dt>
        <dd>{me.emailVerified ? t('common.yes') : t('common.no')}</dd>
        <dt>{t('settings.profile.created')}</dt>
        <dd>{new Date(me.createdAt).toLocaleDateString()}</dd>
      </dl>
    </section>
  );
}

function PasswordForm() {
  const t = useT();
  const me = useMe();
  const [fields, setFields] = useState<Record<string, string | undefined>>({});
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState(false);
  const [pending, setPending] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const current = String(data.get('current') ?? '');
    const next = String(data.get('next') ?? '');
    const issue = passwordIssues(next, me?.email)[0];
    const found = {
      current: current ? undefined : t('validation.required'),
      next: issue ? t(issue.key, issue.vars) : undefined,
    };
    setFields(found);
    setDone(false);
    if (found.current || found.next) return;
    setPending(true);
    setError(undefined);
    try {
      await api.changePassword(current, next);
      setDone(true);
      form.reset();
    } catch (err) {
      // A wrong current password belongs next to that field (the generic sentence speaks of an email).
      if (err instanceof ApiError && err.code === 'invalid_credentials') {
        setFields({ current: t('settings.password.wrongCurrent') });
        return;
      }
      const byField = fieldErrors(err);
      setFields({ next: byField.newPassword, current: byField.currentPassword });
      setError(errorMessage(err, t));
    } finally {
      setPending(false);
    }
  }

  return (
    <section className="card">
      <h2>{t('settings.password.title')}</h2>
      <form className="form" onSubmit={onSubmit} noValidate aria-label={t('settings.password.title')}>
        <Field
          label={t('auth.currentPassword')}
          name="current"
          type="password"
          autoComplete="current-password"
          error={fields.current}
        />
        <Field
          label={t('auth.newPassword')}
          name="next"
          type="password"
          autoComplete="new-password"
          error={fields.next}
        />
        <FormAlert message={error} />
        {done ? (
          <p role="status" className="success">
            {t('settings.password.done')}
          </p>
        ) : null}
        <SubmitButton pending={pending} label={t('common.save')} pendingLabel={t('common.saving')} />
      </form>
    </section>
  );
}

function Sessions() {
  const t = useT();
  const toast = useToast();
  const { locale } = useApp();
  const load = useCallback(() => api.sessions(), []);
  const { view, setData, data } = useLoad(load);
  const revoke = async (session: SessionInfo) => {
    try {
      await api.revokeSession(session.id);
      setData(data ? { ...data, items: data.items.filter((s) => s.id !== session.id) } : data);
    } catch (err) {
      toast.show(errorMessage(err, t));
    }
  };
  const revokeOthers = async () => {
    try {
      await api.revokeOtherSessions();
      setData(data ? { ...data, items: data.items.filter((s) => s.current) } : data);
    } catch (err) {
      toast.show(errorMessage(err, t));
    }
  };
  return (
    <section className="card">
      <h2>{t('settings.sessions.title')}</h2>
      {view((page) => (
        <div className="form">
          <ul className="conv-list">
            {page.items.map((session) => (
              <li key={session.id} className="row">
                <span>
                  <strong>{session.userAgent ?? t('settings.sessions.unknownDevice')}</strong>{' '}
                  <span className="muted">
                    {session.ip ?? ''} · {t('settings.sessions.lastUsed', { when: when(session.lastUsedAt, locale) })}
                  </span>
                </span>
                <span className="spacer" />
                {session.current ? (
                  <span className="badge">{t('settings.sessions.current')}</span>
                ) : (
                  <button type="button" className="btn btn-small" onClick={() => revoke(session)}>
                    {t('settings.sessions.revoke')}
                  </button>
                )}
              </li>
            ))}
          </ul>
          {page.items.some((s) => !s.current) ? (
            <div>
              <button type="button" className="btn btn-danger" onClick={revokeOthers}>
                {t('settings.sessions.revokeOthers')}
              </button>
            </div>
          ) : null}
        </div>
      ))}
    </section>
  );
}

function ApiKeys() {
  const t = useT();
  const toast = useToast();
  const me = useMe();
  const load = useCallback(() => api.apiKeys(), []);
  const { view, setData, data } = useLoad(load);
  const [created, setCreated] = useState<(ApiKey & { key: string }) | null>(null);
  const [error, setError] = useState<string | undefined>();
  const [nameError, setNameError] = useState<string | undefined>();
  const [pending, setPending] = useState(false);
  const legend = useId();
  const allowed = scopes.filter((s) => s !== 'admin' || me?.role === 'admin');

  async function onCreate(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const formData = new FormData(form);
    const name = String(formData.get('name') ?? '').trim();
    const chosen = formData.getAll('scopes').map(String) as Scope[];
    setNameError(name ? undefined : t('validation.required'));
    if (!name) return;
    if (chosen.length === 0) {
      setError(t('settings.keys.pickScope'));
      return;
    }
    setPending(true);
    setError(undefined);
    try {
      const key = await api.createApiKey({ name, scopes: chosen });
      setCreated(key);
      const { key: _secret, ...listed } = key;
      setData(data ? { ...data, items: [listed, ...data.items] } : data);
      form.reset();
    } catch (err) {
      setError(errorMessage(err, t));
    } finally {
      setPending(false);
    }
  }

  const revoke = async (key: ApiKey) => {
    try {
      await api.revokeApiKey(key.id);
      setData(data ? { ...data, items: data.items.filter((k) => k.id !== key.id) } : data);
      toast.show(t('settings.keys.revoked', { name: key.name }));
    } catch (err) {
      toast.show(errorMessage(err, t));
    }
  };

  const baseUrl = typeof window === 'undefined' ? '/v1' : `${window.location.origin}/v1`;
  return (
    <section className="card form">
      <h2>{t('settings.keys.title')}</h2>
      <p className="muted" style={{ margin: 0 }}>
        {t('settings.keys.lead', { baseUrl })}
      </p>
      {created ? (
        <OneTimeSecret
          title={t('settings.keys.created')}
          secret={created.key}
          testId="new-key"
          onClose={() => setCreated(null)}
        />
      ) : null}
      <form className="form" onSubmit={onCreate} noValidate aria-label={t('settings.keys.create')}>
        <Field label={t('settings.keys.name')} name="name" maxLength={100} error={nameError} />
        <fieldset className="form" aria-labelledby={legend} style={{ border: 0, padding: 0, margin: 0 }}>
          <legend id={legend} className="label">
            {t('settings.keys.scopes')}
          </legend>
          {allowed.map((scope) => (
            <label key={scope} className="checkbox">
              <input type="checkbox" name="scopes" value={scope} defaultChecked={scope === 'inference'} />
              <span>{t(`settings.keys.scope.${scope}`)}</span>
            </label>
          ))}
        </fieldset>
        <FormAlert message={error} />
        <SubmitButton pending={pending} label={t('settings.keys.create')} pendingLabel={t('settings.keys.creating')} />
      </form>
      {view((page) =>
        page.items.length === 0 ? (
          <p className="muted">{t('settings.keys.empty')}</p>
        ) : (
          <DataTable
            columns={[
              t('settings.keys.name'),
              t('settings.keys.scopes'),
              t('settings.keys.lastUsed'),
              t('settings.keys.expires'),
            ]}
            action={t('settings.keys.revoke')}
          >
            {page.items.map((key) => (
              <tr key={key.id}>
                <td>
                  {key.name} <code className="muted">{key.prefix}…</code>
                </td>
                <td>{key.scopes.join(', ')}</td>
                <td>{key.lastUsedAt ? when(key.lastUsedAt, 'en') : t('common.never')}</td>
                <td>{key.expiresAt ? when(key.expiresAt, 'en') : t('common.never')}</td>
                <td>
                  <button type="button" className="btn btn-small btn-danger" onClick={() => revoke(key)}>
                    {t('settings.keys.revoke')}
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

/** The limits every signed-in user has; one missing from `/api/me/usage` is switched off (null) for this plan. */
const userPolicies = [
  'user_rpm',
  'user_tpm',
  'user_tokens_day',
  'user_tokens_month',
  'user_cost_month',
  'user_generations',
] as const;
const policyLabel: Record<string, MessageKey> = {
  user_rpm: 'settings.usage.policy.user_rpm',
  key_rpm: 'settings.usage.policy.key_rpm',
  user_tpm: 'settings.usage.policy.user_tpm',
  key_tpm: 'settings.usage.policy.key_tpm',
  user_tokens_day: 'settings.usage.policy.user_tokens_day',
  user_tokens_month: 'settings.usage.policy.user_tokens_month',
  key_tokens_day: 'settings.usage.policy.key_tokens_day',
  key_tokens_month: 'settings.usage.policy.key_tokens_month',
  user_cost_month: 'settings.usage.policy.user_cost_month',
  user_generations: 'settings.usage.policy.user_generations',
};

/** `GET /api/me/usage` as people read it: each limit with used of limit, a bar, and when it resets. */
function Usage() {
  const t = useT();
  const { locale } = useApp();
  const load = useCallback(() => api.usage(), []);
  const { view } = useLoad(load);
  const amount = (item: UsageItem, value: number) =>
    item.unit === 'usd'
      ? new Intl.NumberFormat(locale, { style: 'currency', currency: 'USD', maximumFractionDigits: 2 }).format(value)
      : new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(value);
  const label = (policy: string) => {
    const key = policyLabel[policy];
    return key ? t(key) : policy;
  };
  // A rate limit refills continuously: its reset time is when it is full again. A quota resets at the end of its
  // window. A concurrency cap has no reset; neither has a full bucket (its reset time is now).
  const resets = (item: UsageItem) =>
    item.policy === 'user_generations' || new Date(item.resetAt).getTime() <= Date.now() + 1000
      ? '—'
      : when(item.resetAt, locale);
  return (
    <section className="card form">
      <h2>{t('settings.usage.title')}</h2>
      {view((usage) => {
        const unlimited = userPolicies.filter((p) => !usage.items.some((item) => item.policy === p));
        return (
          <>
            <p className="muted" style={{ margin: 0 }}>
              {t(usage.overridden ? 'settings.usage.planOverridden' : 'settings.usage.plan', { plan: usage.plan })}
              {usage.store === 'memory' ? ` ${t('settings.usage.local')}` : ''}
            </p>
            {usage.items.length === 0 ? (
              <p className="muted">{t('settings.usage.empty')}</p>
            ) : (
              <DataTable
                label={t('settings.usage.title')}
                columns={[t('settings.usage.limit'), t('settings.usage.used'), t('settings.usage.resets')]}
              >
                {usage.items.map((item) => {
                  const used = Math.min(item.used, item.limit);
                  const text = t('settings.usage.usedOf', {
                    used: amount(item, item.used),
                    limit: amount(item, item.limit),
                  });
                  return (
                    <tr key={item.policy} data-policy={item.policy}>
                      <th scope="row">
                        {label(item.policy)}
                        <div className="muted" style={{ fontWeight: 400 }}>
                          {t(item.kind === 'rate' ? 'settings.usage.kind.rate' : 'settings.usage.kind.quota')}
                        </div>
                      </th>
                      <td>
                        <div>{text}</div>
                        <progress
                          className="usage-bar"
                          max={item.limit || 1}
                          value={used}
                          aria-label={`${label(item.policy)}: ${text}`}
                        />
                      </td>
                      <td>{resets(item)}</td>
                    </tr>
                  );
                })}
              </DataTable>
            )}
            {unlimited.length > 0 ? (
              <p className="muted" style={{ margin: 0 }}>
                {t('settings.usage.noLimit', { names: unlimited.map(label).join(', ') })}
              </p>
            ) : null}
          </>
        );
      })}
    </section>
  );
}

function Presets() {
  const t = useT();
  const toast = useToast();
  const load = useCallback(() => api.presets(), []);
  const { view, setData, data } = useLoad(load);
  const remove = async (preset: Preset) => {
    try {
      await api.deletePreset(preset.id);
      setData(data ? { ...data, items: data.items.filter((p) => p.id !== preset.id) } : data);
    } catch (err) {
      toast.show(errorMessage(err, t));
    }
  };
  return (
    <section className="card">
      <h2>{t('settings.presets.title')}</h2>
      {view((page) =>
        page.items.length === 0 ? (
          <p className="muted">{t('settings.presets.empty')}</p>
        ) : (
          <ul className="conv-list">
            {page.items.map((preset) => (
              <li key={preset.id} className="row">
                <strong>{preset.name}</strong>
                <span className="muted">{preset.settings.model ?? t('chat.defaultModel')}</span>
                <span className="spacer" />
                <button type="button" className="btn btn-small btn-danger" onClick={() => remove(preset)}>
                  {t('common.delete')}
                </button>
              </li>
            ))}
          </ul>
        ),
      )}
    </section>
  );
}

export function AdminUsers() {
  const t = useT();
  const toast = useToast();
  const me = useMe();
  const searchId = useId();
  const statusId = useId();
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState<UserStatus | ''>('');
  const [users, setUsers] = useState<User[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    const timer = setTimeout(() => {
      api
        .adminUsers({ q: query.trim() || undefined, status: status || undefined })
        .then((page) => {
          setUsers(page.items);
          setCursor(page.nextCursor);
          setError(undefined);
        })
        .catch((err: unknown) => setError(errorMessage(err, t)));
    }, 200);
    return () => clearTimeout(timer);
  }, [query, status, t]);

  const more = async () => {
    if (!cursor) return;
    try {
      const page = await api.adminUsers({ q: query.trim() || undefined, status: status || undefined, cursor });
      setUsers((list) => [...(list ?? []), ...page.items]);
      setCursor(page.nextCursor);
    } catch (err) {
      setError(errorMessage(err, t));
    }
  };

  /** Applies one change; answers whether the API took it. */
  const update = async (user: User, body: Parameters<typeof api.adminUpdateUser>[1]) => {
    try {
      const updated = await api.adminUpdateUser(user.id, body);
      setUsers((list) => (list ?? []).map((u) => (u.id === updated.id ? updated : u)));
      toast.show(t('admin.updated', { email: updated.email }));
      return true;
    } catch (err) {
      const unknownPlan = body.plan !== undefined && fieldErrors(err).plan;
      toast.show(unknownPlan ? t('admin.planUnknown', { plan: body.plan ?? '' }) : errorMessage(err, t));
      return false;
    }
  };

  if (me && me.role !== 'admin') {
    return (
      <div className="page">
        <p className="alert" role="alert">
          {t('errors.forbidden')}
        </p>
      </div>
    );
  }

  return (
    <div className="page">
      <h1>{t('admin.title')}</h1>
      <section className="card form">
        <h2>{t('admin.users')}</h2>
        <div className="row">
          <label htmlFor={searchId} className="visually-hidden">
            {t('admin.searchUsers')}
          </label>
          <input
            id={searchId}
            type="search"
            className="input"
            style={{ flex: 1, minWidth: 200 }}
            placeholder={t('admin.searchUsers')}
            value={query}
            onChange={(event) => setQuery(event.target.value)}
          />
          <label htmlFor={statusId} className="visually-hidden">
            {t('admin.statusFilter')}
          </label>
          <select
            id={statusId}
            className="select"
            style={{ width: 'auto' }}
            value={status}
            onChange={(event) => setStatus(event.target.value as UserStatus | '')}
          >
            <option value="">{t('admin.statusFilter.all')}</option>
            <option value="pending_approval">{t('admin.status.pending_approval')}</option>
            <option value="active">{t('admin.status.active')}</option>
            <option value="disabled">{t('admin.status.disabled')}</option>
          </select>
        </div>
        <LoadState error={error} loading={users === null} />
        {users && users.length === 0 ? <p className="muted">{t('admin.noUsers')}</p> : null}
        {users && users.length > 0 ? (
          <DataTable
            columns={[t('admin.email'), t('admin.role'), t('admin.plan'), t('admin.status')]}
            action={t('admin.status')}
          >
            {users.map((user) => (
              <tr key={user.id}>
                <td>{user.email}</td>
                <td>
                  <select
                    className="select"
                    aria-label={`${t('admin.role')}: ${user.email}`}
                    value={user.role}
                    disabled={user.id === me?.id}
                    onChange={(event) => update(user, { role: event.target.value as User['role'] })}
                  >
                    <option value="user">{t('admin.role.user')}</option>
                    <option value="admin">{t('admin.role.admin')}</option>
                  </select>
                </td>
                <td>
                  <input
                    className="input"
                    aria-label={`${t('admin.plan')}: ${user.email}`}
                    defaultValue={user.plan}
                    maxLength={32}
                    onBlur={(event) => {
                      const input = event.target;
                      const plan = input.value.trim();
                      if (!plan || plan === user.plan) {
                        input.value = user.plan;
                        return;
                      }
                      // A refused plan goes back to the one the user has, so the field never shows a lie.
                      void update(user, { plan }).then((ok) => {
                        if (!ok) input.value = user.plan;
                      });
                    }}
                  />
                </td>
                <td>{t(`admin.status.${user.status}`)}</td>
                <td>
                  {user.id === me?.id ? null : user.status === 'active' ? (
                    <button
                      type="button"
                      className="btn btn-small btn-danger"
                      onClick={() => update(user, { status: 'disabled' })}
                    >
                      {t('admin.disable')}
                    </button>
                  ) : (
                    <button type="button" className="btn btn-small" onClick={() => update(user, { status: 'active' })}>
                      {user.status === 'pending_approval' ? t('admin.approve') : t('admin.enable')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        ) : null}
        {cursor ? (
          <div>
            <button type="button" className="btn" onClick={more}>
              {t('common.loadMore')}
            </button>
          </div>
        ) : null}
      </section>
      <AdminSignup />
      <AdminInvitations />
      <AdminProviders />
      <AdminUsage />
    </div>
  );
}
