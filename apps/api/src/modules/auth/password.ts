import { hash, verify } from '@node-rs/argon2';

/** Algorithm.Argon2id (a const enum, not importable under verbatimModuleSyntax). */
const ARGON2ID = 2;

import { DomainError } from '../../http/errors.ts';

export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 256;

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

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

/** Every rule the password breaks, in words a person can act on (empty when it is acceptable). */
export function passwordProblems(password: string, email?: string): string[] {
  const p = normalizePassword(password);
  const length = [...p].length;
  const problems: string[] = [];
  if (length < PASSWORD_MIN_LENGTH) problems.push(`must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (length > PASSWORD_MAX_LENGTH) problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters`);
  const lower = p.toLowerCase();
  if (email && (lower === email || lower === email.slice(0, email.lastIndexOf('@')))) {
    problems.push('must not be your email address');
  }
  if (common.has(lower) || /^(.)\1+$/.test(p)) problems.push('is too common; choose something less guessable');
  return problems;
}

export function assertPasswordPolicy(password: string, email: string | undefined, field = 'password'): void {
  const problems = passwordProblems(password, email);
  if (problems.length === 0) return;
  throw new DomainError('weak_password', `${field} ${problems.join('; ')}`, {
    errors: problems.map((message) => ({ path: `body.${field}`, message })),
  });
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Constant work whether or not `hash` is null (unknown account): a dummy hash is verified instead. */
  verify(hash: string | null, password: string): Promise<boolean>;
  /** True when a stored hash was made with other parameters than the configured ones (rehash on log-in). */
  needsRehash(hash: string): boolean;
}

export function createPasswordHasher(params: Argon2Params): PasswordHasher {
  const options = { algorithm: ARGON2ID, ...params };
  const marker = `$argon2id$v=19$m=${params.memoryCost},t=${params.timeCost},p=${params.parallelism}$`;
  // Made lazily once; verifying against it costs what verifying a real hash costs.
  let dummy: Promise<string> | undefined;
  return {
    hash: (password) => hash(normalizePassword(password), options),
    async verify(stored, password) {
      if (stored === null) {
        dummy ??= hash('dummy password that matches nothing', options);
        await verify(await dummy, normalizePassword(password)).catch(() => false);
        return false;
      }
      return verify(stored, normalizePassword(password)).catch(() => false);
    },
    needsRehash: (stored) => !stored.startsWith(marker),
  };
}
