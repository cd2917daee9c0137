import { DomainError } from '../../http/errors.ts';
import { type SecretBox, createSecretBox as secretBox } from '../../infra/secret-box.ts';

export { type SecretBox, SecretError } from '../../infra/secret-box.ts';

/** Provider keys at rest (ARCHITECTURE §12: ENCRYPTION_KEY): null without a key (then none may be stored). */
export function createSecretBox(encryptionKey: string | undefined): SecretBox | null {
  return encryptionKey ? secretBox(encryptionKey, 'genz-ai provider secrets v1') : null;
}

/** The problem an admin gets when a key must be stored but no ENCRYPTION_KEY is set. */
export const encryptionKeyMissing = () =>
  new DomainError(
    'conflict',
    'Provider keys are stored encrypted, and ENCRYPTION_KEY is not set. Set ENCRYPTION_KEY (e.g. `openssl rand -base64 32`) ' +
      'on every replica and restart, or reference the key by environment variable in genz.yaml (apiKeyEnv).',
    { param: 'apiKey' },
  );
