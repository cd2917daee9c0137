import {
  normalizePassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  type PasswordRule,
  passwordRulesBroken,
} from '@genz/contracts';
import { hash, verify } from '@node-rs/argon2';
import { DomainError } from '../../http/errors.ts';

/** Algorithm.Argon2id (a const enum, not importable under verbatimModuleSyntax). */
const ARGON2ID = 2;

export { normalizePassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH };

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

const messages: Record<PasswordRule, string> = {
  too_short: `must be at least ${PASSWORD_MIN_LENGTH} characters`,
  too_long: `must be at most ${PASSWORD_MAX_LENGTH} characters`,
  is_email: 'must not be your email address',
  common: 'is too common; choose something less guessable',
};

/** Every rule the password breaks, in words a person can act on (empty when it is acceptable). */
export function passwordProblems(password: string, email?: string): string[] {
  return passwordRulesBroken(password, email).map((rule) => messages[rule]);
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
