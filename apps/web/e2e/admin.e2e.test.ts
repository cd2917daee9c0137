import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFromPage, axeViolations, type LaunchedBrowser, launchBrowser, logIn, PASSWORD, send } from './browser';
import { STACK_START_MS, type Stack, setUpAdmin, startStack } from './stack';

/**
 * The admin's account screens against the real API (PGlite, demo model): the sign-up mode, invitations, approvals,
 * and search / role / plan / disable on the user list; and a user's usage page after a chat message. Two browsers,
 * each with its own cookies: the admin's stays signed in while the visitor's signs up, in and out.
 */
let stack: Stack;
let adminBrowser: LaunchedBrowser;
let visitorBrowser: LaunchedBrowser;
let admin: Page;
let visitor: Page;

beforeAll(async () => {
  stack = await startStack({ demoChunkDelayMs: 0 });
  await setUpAdmin(stack, 'root@example.com', PASSWORD);
  adminBrowser = await launchBrowser();
  visitorBrowser = await launchBrowser();
  admin = await adminBrowser.context.newPage();
  visitor = await visitorBrowser.context.newPage();
  await logIn(admin, stack.url, 'root@example.com', '/admin');
}, STACK_START_MS);

afterAll(async () => {
  await adminBrowser?.close();
  await visitorBrowser?.close();
  await stack?.stop();
});

const card = (page: Page, heading: string) =>
  page.locator('section.card').filter({ has: page.getByRole('heading', { name: heading, exact: true }) });

/** On /admin: picks a sign-up mode, saves, and waits for the API's answer to be shown. */
async function setSignupMode(mode: string): Promise<void> {
  await admin.goto(`${stack.url}/admin`);
  const signup = card(admin, 'Sign-up');
  await signup.getByRole('radio', { name: mode, exact: true }).check();
  await signup.getByRole('button', { name: 'Save' }).click();
  await signup
    .getByRole('status')
    .filter({ hasText: `Saved. Sign-up: ${mode}.` })
    .waitFor();
}

/** The visitor fills the sign-up form (at `path`, e.g. an invitation link) and submits it. */
async function fillSignup(path: string, email: string): Promise<void> {
  await visitor.goto(path.startsWith('http') ? path : `${stack.url}${path}`);
  const form = visitor.getByRole('form', { name: 'Create account' });
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await form.getByLabel('Repeat the password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Create account' }).click();
}

const signupAlert = () => visitor.getByRole('form', { name: 'Create account' }).getByRole('alert');

async function logOut(page: Page): Promise<void> {
  await page.goto(`${stack.url}/logout`);
  await page.waitForURL(/\/login/);
}

/** On /admin: the user list narrowed to one address; answers that user's row once it is the only one. */
async function findUser(email: string) {
  await admin.goto(`${stack.url}/admin`);
  const users = card(admin, 'Users');
  await users.getByRole('searchbox', { name: 'Search users by email' }).fill(email);
  const row = users.getByRole('row').filter({ has: admin.getByRole('cell', { name: email, exact: true }) });
  await row.waitFor();
  await expect.poll(() => users.locator('tbody tr').count()).toBe(1);
  return row;
}

describe('admin: sign-up mode, invitations, approvals, users (real API)', () => {
  it('sets sign-up to invitation only: a stranger is refused, the invitee joins with the invitation’s plan', async () => {
    await setSignupMode('Invitation only');
    expect((await apiFromPage(admin, '/api/auth/signup-mode')).body).toMatchObject({ mode: 'invite' });
    // Reloaded from the API, the choice stays.
    await admin.reload();
    await expect
      .poll(() => card(admin, 'Sign-up').getByRole('radio', { name: 'Invitation only', exact: true }).isChecked())
      .toBe(true);

    await fillSignup('/signup', 'stranger@example.com');
    await signupAlert().filter({ hasText: 'Sign-up is closed here' }).waitFor();
    expect(visitor.url()).toBe(`${stack.url}/signup`);
    const strangers = await apiFromPage<{ items: unknown[] }>(admin, '/api/admin/users?q=stranger');
    expect(strangers.body.items).toEqual([]);

    // An invitation bound to an address, for the pro plan: the link is shown once, the invitation is listed.
    const invitations = card(admin, 'Invitations');
    await invitations.getByText('No pending invitations.').waitFor();
    const create = invitations.getByRole('form', { name: 'Create invitation' });
    await create.getByLabel('Email (optional)').fill('not an address');
    await create.getByRole('button', { name: 'Create invitation' }).click();
    await create.getByText('Enter an email address like name@example.com.').waitFor();
    await create.getByLabel('Email (optional)').fill('invitee@example.com');
    await create.getByLabel('Plan (optional)').fill('pro');
    await create.getByRole('button', { name: 'Create invitation' }).click();
    const link = (await invitations.getByTestId('invite-link').textContent()) ?? '';
    expect(link).toMatch(new RegExp(`^${stack.url}/signup\\?invite=[A-Za-z0-9_-]{20,}$`));
    const pending = invitations.getByRole('row').filter({ hasText: 'invitee@example.com' });
    await pending.waitFor();
    expect(await pending.textContent()).toContain('pro');
    expect(await axeViolations(admin), 'axe on /admin with the sign-up and invitation cards').toEqual([]);

    // The link is bound to its address: another one is refused, the invitee gets in.
    await fillSignup(link, 'someone-else@example.com');
    await signupAlert().filter({ hasText: 'Sign-up is closed here' }).waitFor();
    await fillSignup(link, 'invitee@example.com');
    await visitor.waitForURL(`${stack.url}/chat`);
    expect((await apiFromPage(visitor, '/api/me')).body).toMatchObject({
      email: 'invitee@example.com',
      plan: 'pro',
      role: 'user',
      status: 'active',
    });

    // Spent: it left the pending list, and it does not work a second time.
    await admin.reload();
    await card(admin, 'Invitations').getByText('No pending invitations.').waitFor();
    await logOut(visitor);
    await fillSignup(link, 'invitee@example.com');
    await signupAlert().filter({ hasText: 'invalid, was already used or has expired' }).waitFor();
  });

  it('revokes an invitation: it leaves the list and its link stops working', async () => {
    await admin.goto(`${stack.url}/admin`);
    const invitations = card(admin, 'Invitations');
    await invitations.getByRole('button', { name: 'Create invitation' }).click();
    const link = (await invitations.getByTestId('invite-link').textContent()) ?? '';
    const row = invitations.getByRole('row').filter({ hasText: 'Anyone with the link' });
    await row.waitFor();
    await row.getByRole('button', { name: 'Revoke the invitation for Anyone with the link' }).click();
    await admin.getByText('Invitation revoked.').waitFor();
    await invitations.getByText('No pending invitations.').waitFor();

    await fillSignup(link, 'late@example.com');
    await signupAlert().filter({ hasText: 'invalid, was already used or has expired' }).waitFor();
  });

  it('with approval on, a new account waits until the admin approves it', async () => {
    await setSignupMode('With approval');
    await fillSignup('/signup', 'pending@example.com');
    await signupAlert().filter({ hasText: 'waits for an administrator’s approval' }).waitFor();
    expect((await apiFromPage(visitor, '/api/me')).status).toBe(401);

    // The admin narrows the list to accounts awaiting approval and approves this one.
    await admin.goto(`${stack.url}/admin`);
    const users = card(admin, 'Users');
    await users.getByRole('combobox', { name: 'Show users with status' }).selectOption('pending_approval');
    const row = users.getByRole('row').filter({ hasText: 'pending@example.com' });
    await row.getByRole('cell', { name: 'Awaiting approval' }).waitFor();
    await expect.poll(() => users.locator('tbody tr').count()).toBe(1);
    expect(await axeViolations(admin), 'axe on /admin, pending users').toEqual([]);
    await row.getByRole('button', { name: 'Approve' }).click();
    await admin.getByText('pending@example.com updated.').waitFor();
    await row.getByRole('cell', { name: 'Active', exact: true }).waitFor();

    await logIn(visitor, stack.url, 'pending@example.com');
    expect((await apiFromPage(visitor, '/api/me')).body).toMatchObject({ status: 'active' });
    await logOut(visitor);
    await setSignupMode('Anyone');
  });

  it('searches a user, changes role and plan, disables them: signed out at once and refused at log-in', async () => {
    await logIn(visitor, stack.url, 'invitee@example.com');

    await admin.goto(`${stack.url}/admin`);
    const users = card(admin, 'Users');
    await users.getByRole('searchbox', { name: 'Search users by email' }).fill('nobody-like-this');
    await users.getByText('No user matches.').waitFor();

    const row = await findUser('invitee@example.com');
    await row.getByRole('combobox', { name: 'Role: invitee@example.com' }).selectOption('admin');
    await admin.getByText('invitee@example.com updated.').first().waitFor();
    const plan = row.getByRole('textbox', { name: 'Plan: invitee@example.com' });
    // A plan genz.yaml does not name is refused, said so, and the field goes back to the user's plan.
    await plan.fill('platinum');
    await plan.press('Tab');
    await admin.getByText('There is no plan “platinum”.', { exact: false }).waitFor();
    await expect.poll(() => plan.inputValue()).toBe('pro');
    await plan.fill('free');
    await plan.press('Tab');
    await expect
      .poll(async () => (await apiFromPage<{ items: { plan: string }[] }>(admin, '/api/admin/users?q=invitee')).body)
      .toMatchObject({ items: [{ plan: 'free' }] });
    expect((await apiFromPage(visitor, '/api/me')).body).toMatchObject({ role: 'admin', plan: 'free' });

    // Back to a user, then disabled: the list says so and the visitor's session ends on its next request.
    await row.getByRole('combobox', { name: 'Role: invitee@example.com' }).selectOption('user');
    await expect
      .poll(async () => (await apiFromPage<{ items: { role: string }[] }>(admin, '/api/admin/users?q=invitee')).body)
      .toMatchObject({ items: [{ role: 'user' }] });
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByRole('cell', { name: 'Disabled', exact: true }).waitFor();
    await row.getByRole('button', { name: 'Enable' }).waitFor();
    expect(await axeViolations(admin), 'axe on /admin after the changes').toEqual([]);
    expect((await apiFromPage(visitor, '/api/me')).status).toBe(401);

    await visitor.goto(`${stack.url}/login`);
    const form = visitor.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Email').fill('invitee@example.com');
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await form.getByRole('alert').filter({ hasText: 'This account is disabled' }).waitFor();
    expect((await apiFromPage(visitor, '/api/me')).status).toBe(401);
  });
});

describe('settings → usage (real API)', () => {
  /** The "used of limit" figure of one row of the usage table, as numbers. */
  async function usedOf(page: Page, label: string): Promise<{ used: number; limit: number }> {
    const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: label }) });
    const text = (await row.locator('td').first().textContent()) ?? '';
    const match = /^([\d,]+) of ([\d,]+)/.exec(text);
    if (!match?.[1] || !match[2]) throw new Error(`no "used of limit" in ${JSON.stringify(text)}`);
    return { used: Number(match[1].replaceAll(',', '')), limit: Number(match[2].replaceAll(',', '')) };
  }

  it('shows each limit as used of limit, and the tokens of a chat reply counted against the daily quota', async () => {
    await logIn(visitor, stack.url, 'pending@example.com', '/settings/usage');
    const usage = card(visitor, 'Usage against your limits');
    await usage.getByRole('table', { name: 'Usage against your limits' }).waitFor();
    expect(await usage.textContent()).toContain('Plan: free.');
    // The defaults of docs/limits.md, read through the catalog's labels: no API field name on the page.
    expect(await usedOf(visitor, 'Tokens today (UTC)')).toEqual({ used: 0, limit: 500_000 });
    expect(await usedOf(visitor, 'Tokens this month')).toEqual({ used: 0, limit: 5_000_000 });
    expect(await usedOf(visitor, 'Replies generating at once')).toEqual({ used: 0, limit: 3 });
    const text = (await usage.textContent()) ?? '';
    expect(text).not.toMatch(/user_|tokens_day|resetAt|\[object/);
    // A quota names when it resets.
    const dayRow = visitor
      .getByRole('row')
      .filter({ has: visitor.getByRole('rowheader', { name: 'Tokens today (UTC)' }) });
    expect(await dayRow.locator('td').nth(1).textContent()).not.toBe('—');
    expect(await axeViolations(visitor), 'axe on /settings/usage').toEqual([]);

    await visitor.goto(`${stack.url}/chat`);
    await send(visitor, 'Count my tokens, please.');
    const last = visitor.locator('.message-assistant').last();
    await last.getByRole('button', { name: 'Regenerate' }).waitFor({ timeout: 30_000 });

    await visitor.goto(`${stack.url}/settings/usage`);
    await usage.getByRole('table', { name: 'Usage against your limits' }).waitFor();
    const day = await usedOf(visitor, 'Tokens today (UTC)');
    expect(day.limit).toBe(500_000);
    expect(day.used).toBeGreaterThan(0);
    expect((await usedOf(visitor, 'Tokens this month')).used).toBe(day.used);
    const bar = usage.getByRole('progressbar', { name: /^Tokens today \(UTC\):/ });
    expect(Number(await bar.getAttribute('value'))).toBe(day.used);
  });
});
