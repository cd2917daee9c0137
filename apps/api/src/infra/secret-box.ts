import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Secrets at rest under ENCRYPTION_KEY (ARCHITECTURE §12): AES-256-GCM with a random 96-bit IV per value; the
 * 256-bit key is derived from ENCRYPTION_KEY with HKDF-SHA256 and a per-use `info` (provider keys, TOTP seeds), so
 * any sufficiently random secret works and one use's values never open as another's. Stored form:
 * `v1.<key id>.<iv>.<tag>.<ciphertext>` (base64url), where the key id (a hash prefix of the derived key) tells a
 * wrong or rotated ENCRYPTION_KEY apart from a corrupted value.
 */
export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

export class SecretError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'SecretError';
  }
}

/** Whether a stored value has the sealed form (whatever key sealed it). */
export function isSealed(stored: string): boolean {
  const [version, id, iv, tag, ct] = stored.split('.');
  return version === 'v1' && Boolean(id) && Boolean(iv) && Boolean(tag) && ct !== undefined;
}

export function createSecretBox(encryptionKey: string, info: string): SecretBox {
  const key = Buffer.from(hkdfSync('sha256', encryptionKey, 'genz-ai', info, 32));
  const keyId = createHash('sha256').update(key).digest('base64url').slice(0, 8);
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return ['v1', keyId, iv.toString('base64url'), tag.toString('base64url'), ct.toString('base64url')].join('.');
    },
    open(sealed) {
      const [version, id, iv, tag, ct] = sealed.split('.');
      if (version !== 'v1' || !id || !iv || !tag || ct === undefined) throw new SecretError('not a sealed secret');
      if (id !== keyId) {
        throw new SecretError(`sealed with another ENCRYPTION_KEY (key id ${id}, this one is ${keyId})`);
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
      } catch (err) {
        throw new SecretError('the sealed value failed authentication (corrupted or tampered)', err);
      }
    },
  };
}
