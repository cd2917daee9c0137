import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../../config/index.ts';
import { normalizeEmail } from './email.ts';
import { createPasswordHasher, passwordProblems } from './password.ts';
import { AccessTokenError, createAccessTokens, loadSigningKeys } from './signing-keys.ts';

describe('normalizeEmail', () => {
  it('maps case, width and surrounding space to one address and IDN domains to punycode', () => {
    expect(normalizeEmail('  Bob@Example.COM ')).toBe('bob@example.com');
    expect(normalizeEmail('ｂｏｂ@ｅｘａｍｐｌｅ.com')).toBe('bob@example.com');
    expect(normalizeEmail('bob@bücher.de')).toBe('bob@xn--bcher-kva.de');
  });

  it('refuses invisible characters, confusable letters and malformed addresses with a reason', () => {
    for (const bad of [
      'bo\u200bb@example.com',
      'bob\u202e@example.com',
      'b\u00adob@example.com',
      '\u0430dmin@example.com',
      'bob@example',
      'bob@@example.com',
      '.bob@example.com',
      'bob..x@example.com',
      'bob@-example.com',
      'bob@example.123',
      'bob example@example.com',
      `${'a'.repeat(65)}@example.com`,
      `a@${'b'.repeat(250)}.com`,
    ]) {
      expect(() => normalizeEmail(bad), bad).toThrow(/^email /);
    }
  });
});

describe('password policy', () => {
  it('lists every broken rule', () => {
    expect(passwordProblems('short')).toEqual(['must be at least 10 characters']);
    expect(passwordProblems('password123')).toEqual(['is too common; choose something less guessable']);
    expect(passwordProblems('bob@example.com', 'bob@example.com')).toEqual(['must not be your email address']);
    expect(passwordProblems('a'.repeat(257))).toHaveLength(2);
    expect(passwordProblems('correct horse battery staple', 'bob@example.com')).toEqual([]);
  });

  it('hashes with argon2id at the configured cost, verifies NFKC-equal input and flags old parameters', async () => {
    const hasher = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    const hash = await hasher.hash('ｐａｓｓword-with-width');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=8192,t=1,p=1\$/);
    expect(await hasher.verify(hash, 'password-with-width')).toBe(true);
    expect(await hasher.verify(hash, 'wrong')).toBe(false);
    expect(await hasher.verify(null, 'anything')).toBe(false);
    expect(hasher.needsRehash(hash)).toBe(false);
    expect(createPasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }).needsRehash(hash)).toBe(true);
  });
});

describe('signing keys', () => {
  it('are generated once into DATA_DIR in embedded mode (0600) and reused', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'genz-keys-'));
    const first = loadSigningKeys({ dataDir });
    expect(first.source).toBe('generated');
    const file = join(dataDir, 'auth-secrets');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = loadSigningKeys({ dataDir });
    expect(second.source).toBe('data-dir');
    expect(second.current.kid).toBe(first.current.kid);
    expect(readFileSync(file, 'utf8')).toContain(first.current.kid);
  });

  it('parse AUTH_SECRETS: the first signs, all verify', () => {
    const keys = loadSigningKeys({ secrets: `new:${'n'.repeat(32)},old:${'o'.repeat(32)}`, dataDir: '/nonexistent' });
    expect(keys.current.kid).toBe('new');
    expect([...keys.byKid.keys()]).toEqual(['new', 'old']);
  });

  it('are refused as missing when DATABASE_URL is set, and unknown plans stop the boot', () => {
    expect(() => loadConfig({ env: { DATABASE_URL: 'postgres://x@127.0.0.1/x' } })).toThrow(/AUTH_SECRETS/);
    expect(() => loadConfig({ env: { AUTH_SECRETS: 'short:secret' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, overrides: { 'signup.defaultPlan': 'gold' } })).toThrow(/unknown plan "gold"/);
  });

  it('stops the boot on an OIDC group mapping to an unknown plan or role, naming the key', () => {
    const problems = (groupMappings: unknown) => {
      try {
        loadConfig({ env: {}, overrides: { 'oidc.groupMappings': groupMappings } });
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      return [];
    };
    expect(problems([{ group: 'staff', plan: 'pro' }])).toEqual([]);
    expect(
      problems([
        { group: 'staff', plan: 'pro' },
        { group: 'vip', plan: 'gold' },
      ]),
    ).toEqual(['oidc.groupMappings.1.plan: unknown plan "gold" for group "vip" (plans: free, pro)']);
    expect(problems([{ group: 'ops', role: 'root' }])).toEqual([
      'config: oidc.groupMappings.0.role must be one of: user, admin',
    ]);
  });
});

describe('access tokens: the verified-token cache', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const keys = loadSigningKeys({ secrets: `k1:${'s'.repeat(40)}`, dataDir: tmpdir() });
  const opts = { issuer: 'genz', audience: 'genz-api', ttlSec: 60, verifiedCacheSize: 2 };

  it('answers a repeat from the cache, never a tampered copy, and still honours exp', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tokens = createAccessTokens(keys, opts);
    const { token } = await tokens.sign({ userId: 'u1', sessionId: 's1' });
    expect(await tokens.verify(token)).toMatchObject({ userId: 'u1', sessionId: 's1' });
    expect(await tokens.verify(token)).toMatchObject({ userId: 'u1', sessionId: 's1' });
    const [h, p] = token.split('.');
    await expect(tokens.verify(`${h}.${p}.${'A'.repeat(43)}`)).rejects.toBeInstanceOf(AccessTokenError);
    vi.setSystemTime(Date.now() + 61_000);
    await expect(tokens.verify(token)).rejects.toMatchObject({ reason: 'expired' });
  });
});
