import { describe, expect, it } from 'vitest';
import {
  base32Decode,
  base32Encode,
  createSeedBox,
  hashRecoveryCode,
  hotp,
  matchTotp,
  newTotpSecret,
  otpauthUri,
  totpCode,
} from './mfa-totp.ts';

describe('TOTP (RFC 6238)', () => {
  // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", 8-digit values truncated to their last 6 digits.
  const seed = base32Encode(Buffer.from('12345678901234567890'));
  it('matches the RFC test vectors', () => {
    expect(totpCode(seed, 59_000)).toBe('287082');
    expect(totpCode(seed, 1_111_111_109_000)).toBe('081804');
    expect(totpCode(seed, 1_234_567_890_000)).toBe('005924');
    expect(totpCode(seed, 2_000_000_000_000)).toBe('279037');
    expect(hotp(Buffer.from('12345678901234567890'), 0)).toBe('755224'); // RFC 4226
  });
  it('round-trips base32 and accepts ±1 step, never a used or older step', () => {
    const s = newTotpSecret();
    expect(base32Encode(base32Decode(s))).toBe(s);
    const now = 1_700_000_000_000;
    const step = Math.floor(now / 30_000);
    expect(matchTotp(s, totpCode(s, now), { nowMs: now })).toBe(step);
    expect(matchTotp(s, totpCode(s, now - 30_000), { nowMs: now })).toBe(step - 1);
    expect(matchTotp(s, totpCode(s, now - 90_000), { nowMs: now })).toBeNull();
    expect(matchTotp(s, totpCode(s, now), { nowMs: now, afterStep: step })).toBeNull();
    expect(matchTotp(s, 'abcdef', { nowMs: now })).toBeNull();
  });
  it('builds an otpauth URI and hashes recovery codes loosely', () => {
    const uri = otpauthUri({ secret: 'ABC', account: 'a@b.c', issuer: 'GenZ AI' });
    expect(uri).toMatch(/^otpauth:\/\/totp\/GenZ%20AI:a%40b\.c\?secret=ABC&issuer=GenZ\+AI/);
    expect(hashRecoveryCode('ABCDE-fghij')).toBe(hashRecoveryCode('abcdefghij'));
  });
  it('seals seeds with ENCRYPTION_KEY and refuses another key', () => {
    const box = createSeedBox('k'.repeat(32));
    const sealed = box.seal('SEED');
    expect(sealed).not.toContain('SEED');
    expect(box.open(sealed)).toBe('SEED');
    expect(() => createSeedBox('z'.repeat(32)).open(sealed)).toThrow(/another ENCRYPTION_KEY/);
    expect(() => createSeedBox(undefined).open(sealed)).toThrow(/not set/);
    expect(createSeedBox(undefined).open(createSeedBox(undefined).seal('S'))).toBe('S');
  });
});
