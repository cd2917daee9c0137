import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createSecretBox, isSealed } from '../../infra/secret-box.ts';

/**
 * RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s steps: what every authenticator app speaks) and RFC 4648 base32, on
 * node:crypto alone.
 */
export const TOTP_PERIOD_SEC = 30;
export const TOTP_DIGITS = 6;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Buffer {
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const idx = ALPHABET.indexOf(ch);
    if (idx < 0) throw new Error('not base32');
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** A new 160-bit seed (RFC 4226 recommends 160 bits), base32. */
export const newTotpSecret = (): string => base32Encode(randomBytes(20));

export function hotp(secret: Buffer, counter: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0xf;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** TOTP_DIGITS).padStart(TOTP_DIGITS, '0');
}

export const totpStep = (nowMs: number): number => Math.floor(nowMs / 1000 / TOTP_PERIOD_SEC);

/** The code for `nowMs` (tests and the software authenticator in them). */
export const totpCode = (secretB32: string, nowMs = Date.now()): string =>
  hotp(base32Decode(secretB32), totpStep(nowMs));

/**
 * The step a code matches within ±`window` steps of now (clock skew), newer than `afterStep` (a code once used,
 * or any older one, is refused: no replay), or null.
 */
export function matchTotp(
  secretB32: string,
  code: string,
  opts: { nowMs?: number; window?: number; afterStep?: number | null } = {},
): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const secret = base32Decode(secretB32);
  const now = totpStep(opts.nowMs ?? Date.now());
  const window = opts.window ?? 1;
  const given = Buffer.from(code);
  let found: number | null = null;
  for (let step = now - window; step <= now + window; step++) {
    // Compare every candidate (constant work whichever matches).
    const ok = timingSafeEqual(Buffer.from(hotp(secret, step)), given);
    if (ok && found === null) found = step;
  }
  if (found === null) return null;
  if (opts.afterStep !== null && opts.afterStep !== undefined && found <= opts.afterStep) return null;
  return found;
}

export function otpauthUri(opts: { secret: string; account: string; issuer: string }): string {
  const label = `${encodeURIComponent(opts.issuer)}:${encodeURIComponent(opts.account)}`;
  const q = new URLSearchParams({
    secret: opts.secret,
    issuer: opts.issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SEC),
  });
  return `otpauth://totp/${label}?${q.toString()}`;
}

/** Recovery codes: 10 characters of base32 (50 bits), shown as `xxxxx-xxxxx`. */
export const newRecoveryCode = (): string => {
  const raw = base32Encode(randomBytes(7)).slice(0, 10).toLowerCase();
  return `${raw.slice(0, 5)}-${raw.slice(5)}`;
};
/** Spaces, dashes and case do not matter when a user types one back. */
export const normalizeRecoveryCode = (code: string): string => code.toLowerCase().replace(/[\s-]/g, '');
export const hashRecoveryCode = (code: string): string =>
  createHash('sha256').update(normalizeRecoveryCode(code)).digest('hex');

/**
 * TOTP seeds at rest: with ENCRYPTION_KEY, AES-256-GCM under an HKDF-derived key (`v1.<key id>.<iv>.<tag>.<ct>`);
 * without one the seed is stored as is (`plain.<seed>`), and docs/accounts.md says so. A sealed seed read without
 * the key (or with another) fails loudly rather than locking the user out silently.
 */
export interface SeedBox {
  readonly encrypted: boolean;
  seal(seed: string): string;
  open(stored: string): string;
}

export function createSeedBox(encryptionKey: string | undefined): SeedBox {
  const box = encryptionKey ? createSecretBox(encryptionKey, 'genz-ai totp seeds v1') : null;
  return {
    encrypted: box !== null,
    seal: (seed) => (box ? box.seal(seed) : `plain.${seed}`),
    open(stored) {
      if (stored.startsWith('plain.')) return stored.slice('plain.'.length);
      if (!isSealed(stored)) throw new Error('not a stored TOTP seed');
      if (!box) throw new Error('this TOTP seed is encrypted and ENCRYPTION_KEY is not set');
      return box.open(stored);
    },
  };
}
