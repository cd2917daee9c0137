import { describe, expect, it } from 'vitest';
import { createSecretBox, isSealed, SecretError } from './secret-box.ts';

describe('secret box', () => {
  const key = 'k'.repeat(32);

  it('opens what it sealed, with a fresh IV each time', () => {
    const box = createSecretBox(key, 'test v1');
    const [a, b] = [box.seal('sk-secret'), box.seal('sk-secret')];
    expect(a).not.toBe(b);
    expect(isSealed(a)).toBe(true);
    expect(a).not.toContain('sk-secret');
    expect(box.open(a)).toBe('sk-secret');
  });

  it('refuses a value of another use or another ENCRYPTION_KEY, naming the key ids', () => {
    const sealed = createSecretBox(key, 'test v1').seal('x');
    expect(() => createSecretBox(key, 'other use v1').open(sealed)).toThrow(/another ENCRYPTION_KEY/);
    expect(() => createSecretBox('z'.repeat(32), 'test v1').open(sealed)).toThrow(SecretError);
  });

  it('refuses a tampered ciphertext and a malformed value', () => {
    const box = createSecretBox(key, 'test v1');
    const parts = box.seal('hello').split('.');
    const ct = Buffer.from(parts[4] ?? '', 'base64url');
    ct[0] = (ct[0] ?? 0) ^ 1;
    parts[4] = ct.toString('base64url');
    expect(() => box.open(parts.join('.'))).toThrow(/failed authentication/);
    expect(isSealed('plain.abc')).toBe(false);
    expect(() => box.open('plain.abc')).toThrow(/not a sealed secret/);
  });
});
