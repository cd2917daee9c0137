import { describe, expect, it } from 'vitest';
import { emailIssue, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordIssues } from './validation';

const samples = [
  '',
  'short',
  '123456789',
  '1234567890',
  'Password123',
  'aaaaaaaaaaaa',
  'bob@example.com',
  'bob',
  'bobbobbobbob',
  'a long enough password',
  'correct horse battery staple',
  'Ｐａｓｓｗｏｒｄ１２３', // full-width: NFKC makes it a common password
  'x'.repeat(257),
  'ümlaut-pässwörd',
];

describe('passwordIssues mirrors the API policy', () => {
  it('accepts and refuses the same passwords as apps/api', async () => {
    // A runtime path, so the web type check does not pull the API's sources in.
    const apiPolicy = '../../../api/src/modules/auth/password.ts';
    const api = (await import(/* @vite-ignore */ apiPolicy).catch(() => undefined)) as
      | {
          PASSWORD_MIN_LENGTH: number;
          PASSWORD_MAX_LENGTH: number;
          passwordProblems(password: string, email?: string): string[];
        }
      | undefined;
    if (!api) throw new Error('apps/api/src/modules/auth/password.ts moved: point this test at the policy');
    expect(api.PASSWORD_MIN_LENGTH).toBe(PASSWORD_MIN_LENGTH);
    expect(api.PASSWORD_MAX_LENGTH).toBe(PASSWORD_MAX_LENGTH);
    for (const password of samples) {
      for (const email of [undefined, 'bob@example.com']) {
        expect(passwordIssues(password, email).length, `${password} / ${email}`).toBe(
          api.passwordProblems(password, email).length,
        );
      }
    }
  });

  it('names each broken rule', () => {
    expect(passwordIssues('short').map((i) => i.key)).toEqual(['validation.passwordShort']);
    expect(passwordIssues('bob@example.com', 'Bob@Example.com').map((i) => i.key)).toEqual([
      'validation.passwordEmail',
    ]);
    expect(passwordIssues('password123').map((i) => i.key)).toEqual(['validation.passwordCommon']);
    expect(passwordIssues('a long enough password')).toEqual([]);
  });

  it('checks email shape', () => {
    expect(emailIssue('')?.key).toBe('validation.required');
    expect(emailIssue('nope')?.key).toBe('validation.email');
    expect(emailIssue('ada@example.com')).toBeUndefined();
  });
});
