/**
 * Form checks with the API's own rules: the password policy is the shared one in @genz/contracts, so a person sees
 * the same rule before sending as after. The API stays the authority: its field errors are shown as well.
 */
import {
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  type PasswordRule,
  passwordRulesBroken,
} from '@genz/contracts/password-policy';
import type { MessageKey, Vars } from './i18n';

export { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH };

export interface Issue {
  key: MessageKey;
  vars?: Vars;
}

const issueOf: Record<PasswordRule, Issue> = {
  too_short: { key: 'validation.passwordShort', vars: { min: PASSWORD_MIN_LENGTH } },
  too_long: { key: 'validation.passwordLong', vars: { max: PASSWORD_MAX_LENGTH } },
  is_email: { key: 'validation.passwordEmail' },
  common: { key: 'validation.passwordCommon' },
};

/** Lower-cased, trimmed, NFKC: close enough to the API's normalisation to compare a password with it. */
const normalEmail = (email: string) => email.normalize('NFKC').trim().toLowerCase();

/** Every password rule broken, as catalog keys (empty when the API would accept it). */
export function passwordIssues(password: string, email?: string): Issue[] {
  return passwordRulesBroken(password, email ? normalEmail(email) : undefined).map((rule) => issueOf[rule]);
}

/** A light shape check; the API normalises and decides. */
export function emailIssue(email: string): Issue | undefined {
  const value = email.trim();
  if (value === '') return { key: 'validation.required' };
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value) || value.length > 254) return { key: 'validation.email' };
  return undefined;
}
