import { hash, randomBytes } from 'node:crypto';
import { API_KEY_PREFIX } from '@genz/contracts';

/** 256 random bits, URL-safe: refresh tokens, one-time tokens, API key bodies. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/**
 * Stored form of a high-entropy secret: SHA-256 hex (no salt or slow hash needed at 256 bits of entropy). One-shot
 * `hash` (no Hash object): every API-key request hashes its key.
 */
export const sha256 = (value: string): string => hash('sha256', value, 'hex');

/** `gz_` + 43 base64url characters. */
export const API_KEY_PATTERN = /^gz_[A-Za-z0-9_-]{43}$/;
/** A key anywhere in a string (to refuse keys sent in the wrong place). */
export const API_KEY_ANYWHERE = /gz_[A-Za-z0-9_-]{43}/;

export function newApiKey(): { key: string; prefix: string; hash: string } {
  const key = `${API_KEY_PREFIX}${randomToken(32)}`;
  return { key, prefix: key.slice(0, API_KEY_PREFIX.length + 6), hash: sha256(key) };
}
