/**
 * Form checks that mirror the API's own rules (modules/auth password policy and email shape), so a person sees
 * the same rule before sending as after. The API stays the authority: its field errors are shown as well.
 * `validation.test.ts` runs the API's policy beside this one to keep them in step.
 */
import type { MessageKey, Vars } from './i18n';

export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 256;

export interface Issue {
  key: MessageKey;
  vars?: Vars;
}

/** The API's list of common passwords that pass the length rule (apps/api/src/modules/auth/password.ts). */
const common = new Set([
  '1234567890',
  '12345678910',
  '0123456789',
  '0987654321',
  '1111111111',
  '1234512345',
  '1q2w3e4r5t',
  'qwertyuiop',
  'qwerty1234',
  'qwerty12345',
  'password12',
  'password123',
  'password1234',
  'password!1',
  'passw0rd123',
  'iloveyou12',
  'iloveyou123',
  'abcdefghij',
  'abc1234567',
  'abcd123456',
  'letmein123',
  'welcome123',
  'welcome1234',
  'admin12345',
  'administrator',
  'changeme123',
  'football123',
  'baseball123',
  'sunshine123',
  'princess123',
  'monkey12345',
  'dragon12345',
  'superman123',
  'trustno1234',
  'zaq12wsxcde',
  '1qaz2wsx3edc',
  'qazwsxedcrfv',
  'asdfghjkl1',
  'asdfghjkl;',
  'zxcvbnm123',
  'q1w2e3r4t5',
  'aaaaaaaaaa',
  'passwordpassword',
  'genzai1234',
  'genz-ai-password',
]);

/** Lower-cased, trimmed, NFKC: close enough to the API's normalisation to compare a password with it. */
const normalEmail = (email: string) => email.normalize('NFKC').trim().toLowerCase();

/** Every password rule broken, as catalog keys (empty when the API would accept it). */
export function passwordIssues(password: string, email?: string): Issue[] {
  const p = password.normalize('NFKC');
  const length = [...p].length;
  const issues: Issue[] = [];
  if (length < PASSWORD_MIN_LENGTH)
    issues.push({ key: 'validation.passwordShort', vars: { min: PASSWORD_MIN_LENGTH } });
  if (length > PASSWORD_MAX_LENGTH) issues.push({ key: 'validation.passwordLong', vars: { max: PASSWORD_MAX_LENGTH } });
  const lower = p.toLowerCase();
  const mail = email ? normalEmail(email) : '';
  if (mail && (lower === mail || lower === mail.slice(0, mail.lastIndexOf('@')))) {
    issues.push({ key: 'validation.passwordEmail' });
  }
  if (common.has(lower) || /^(.)\1+$/u.test(p)) issues.push({ key: 'validation.passwordCommon' });
  return issues;
}

/** A light shape check; the API normalises and decides. */
export function emailIssue(email: string): Issue | undefined {
  const value = email.trim();
  if (value === '') return { key: 'validation.required' };
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value) || value.length > 254) return { key: 'validation.email' };
  return undefined;
}
