/**
 * The password policy, shared by the API (the authority) and the web app's forms (the same rule before sending as
 * after). Rules come back as stable codes; each side words them in its own messages.
 */
export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 256;

export type PasswordRule = 'too_short' | 'too_long' | 'is_email' | 'common';

/**
 * A small list of the most used passwords that pass the length rule. A full breach corpus (HIBP) is a later,
 * optional addition; this one catches the obvious.
 */
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

/** Passwords are compared after NFKC, so the same password typed on another keyboard layout still matches. */
export const normalizePassword = (password: string): string => password.normalize('NFKC');

/** Every rule the password breaks (empty when it is acceptable). `email`, when given, must be lower-cased. */
export function passwordRulesBroken(password: string, email?: string): PasswordRule[] {
  const p = normalizePassword(password);
  const length = [...p].length;
  const broken: PasswordRule[] = [];
  if (length < PASSWORD_MIN_LENGTH) broken.push('too_short');
  if (length > PASSWORD_MAX_LENGTH) broken.push('too_long');
  const lower = p.toLowerCase();
  if (email && (lower === email || lower === email.slice(0, email.lastIndexOf('@')))) broken.push('is_email');
  if (common.has(lower) || /^(.)\1+$/u.test(p)) broken.push('common');
  return broken;
}
