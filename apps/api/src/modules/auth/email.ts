import { domainToASCII } from 'node:url';
import { DomainError } from '../../http/errors.ts';

export const EMAIL_MAX_LENGTH = 254;

// Invisible or formatting characters (zero-width joiners, bidi overrides, soft hyphen…), controls and separators.
const invisible = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Z}]/u;
const localPart = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const domainLabel = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

const invalid = (message: string) =>
  new DomainError('validation_failed', `email ${message}`, { errors: [{ path: 'body.email', message }] });

/**
 * The one canonical form of an address, used for storage, uniqueness, log-in and limits: NFKC (so full-width
 * and compatibility forms collapse to plain ones), trimmed, lowercase. Refused with a clear message: invisible
 * characters, a non-ASCII local part (confusables such as Cyrillic "а" in "аdmin@" would otherwise make a second
 * account that looks like the first) and anything that is not a plain dot-atom address. An internationalised domain
 * is stored in its ASCII (punycode) form.
 */
export function normalizeEmail(raw: string): string {
  if (invisible.test(raw.trim())) throw invalid('contains invisible or control characters');
  const email = raw.normalize('NFKC').trim().toLowerCase();
  if (email.length > EMAIL_MAX_LENGTH) throw invalid(`must be at most ${EMAIL_MAX_LENGTH} characters`);
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) throw invalid('must look like name@example.com');
  const local = email.slice(0, at);
  const domainRaw = email.slice(at + 1);
  if (local.length > 64) throw invalid('has a name part longer than 64 characters');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
  if (/[^\x00-\x7f]/.test(local)) throw invalid('must use only ASCII letters, digits and punctuation before the @');
  if (!localPart.test(local)) throw invalid('has characters that are not allowed before the @');
  const domain = domainToASCII(domainRaw);
  if (domain === '' || domain.length > 253) throw invalid('has an invalid domain');
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => domainLabel.test(l)) || /^\d+$/.test(labels.at(-1) ?? '')) {
    throw invalid('has an invalid domain');
  }
  const normalized = `${local}@${domain}`;
  if (normalized.length > EMAIL_MAX_LENGTH) throw invalid(`must be at most ${EMAIL_MAX_LENGTH} characters`);
  return normalized;
}

export const emailDomain = (email: string): string => email.slice(email.lastIndexOf('@') + 1);
