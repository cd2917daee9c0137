import { executeRows, listAuditEvents } from '@genz/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestApiKey, createTestUser, type TestUser } from '../../test/users.ts';
import { type FakeUpstream, fakeDeployment, startFakeUpstream } from './testing/index.ts';

const ENCRYPTION_KEY = 'test-encryption-key-0123456789abcdef-0123456789';

const put = (t: TestApp, admin: TestUser, body: object, version: number | string | undefined) =>
  t.app.inject({
    method: 'PUT',
    url: '/api/admin/config',
    headers: { ...admin.headers, ...(version === undefined ? {} : { 'if-match': `"${version}"` }) },
    payload: body,
  });

describe('admin provider configuration (database layer over genz.yaml)', () => {
  let a: FakeUpstream;
  let b: FakeUpstream;
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    a = await startFakeUpstream();
    b = await startFakeUpstream();
    t = await buildTestApp({
      encryptionKey: ENCRYPTION_KEY,
      'providers.deployments': [fakeDeployment('a', 'openai', a.baseUrl)],
      'providers.aliases': { smart: { deployments: ['a'] } },
    });
    admin = await createTestUser(t.app, { role: 'admin' });
  });
  afterAll(async () => {
    await t.close();
    await a.close();
    await b.close();
  });

  const chat = async (model = 'smart') => {
    const key = await createTestApiKey(t.app, admin, ['inference']);
    return t.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: key.headers,
      payload: { model, messages: [{ role: 'user', content: 'Hi' }] },
    });
  };

  it('shows both layers and what is in force, with the version as ETag and no key', async () => {
    const res = await t.app.inject({ url: '/api/admin/config', headers: admin.headers });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe('"0"');
    const body = res.json();
    expect(body).toMatchObject({
      version: 0,
      readonly: false,
      encryption: true,
      admin: { deployments: {}, aliases: {} },
    });
    expect(body.file.deployments[0]).toMatchObject({ id: 'a', apiKeySet: true });
    expect(body.effective.aliases).toContainEqual({ name: 'smart', strategy: 'fallback', deployments: ['a'] });
    expect(res.body).not.toContain('sk-fake-upstream-key');
  });

  it('needs If-Match and refuses a stale version', async () => {
    const missing = await put(t, admin, { aliases: {} }, undefined);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().detail).toContain('If-Match');
    const stale = await put(t, admin, { aliases: {} }, 7);
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({ code: 'conflict' });
  });

  it('refuses an invalid layer as a whole, naming the key, and keeps the configuration', async () => {
    const res = await put(t, admin, { aliases: { smart: { deployments: ['nope'] } } }, 0);
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toContainEqual({
      path: 'providers.aliases.smart.deployments',
      message: 'unknown deployment nope',
    });
    const typo = await put(t, admin, { deployments: { x: { provider: 'openai', model: 'm', wieght: 2 } } }, 0);
    expect(typo.statusCode).toBe(400);
    expect(typo.json().detail).toContain('providers.deployments.x');
    // A name its pattern does not allow is refused too, whatever its value (it was a 500 when the value was no object).
    for (const bad of [{ aliases: { '': false } }, { deployments: { '-x': null } }]) {
      const res = await put(t, admin, bad, 0);
      expect(res.statusCode, res.body).toBe(400);
    }
    expect(t.app.providersConfig.version).toBe(0);
    expect((await chat()).headers['x-genz-deployment']).toBe('a');
  });

  it('adds a deployment with an encrypted key, re-points an alias, applies at once, and audits it', async () => {
    const res = await put(
      t,
      admin,
      {
        deployments: {
          b: { ...fakeDeployment('b', 'openai', b.baseUrl, { apiKey: 'sk-admin-secret-key-b' }), id: undefined },
        },
        aliases: { smart: { deployments: ['b', 'a'] } },
        comment: 'move smart to b',
      },
      0,
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers.etag).toBe('"1"');
    expect(res.body).not.toContain('sk-admin-secret-key-b');
    expect(res.json().admin.deployments.b).toMatchObject({ apiKeySet: true, model: 'gpt-4o-mini' });

    const answer = await chat();
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-genz-deployment']).toBe('b');
    expect(b.requests.at(-1)?.headers.authorization).toBe('Bearer sk-admin-secret-key-b');

    // At rest the key is sealed (AES-256-GCM), never in clear.
    const rows = await executeRows<{ doc: string }>(
      t.app.db.db,
      sql`select document::text as doc from provider_config_versions`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.doc).not.toContain('sk-admin-secret-key-b');
    expect(rows[0]?.doc).toMatch(/"apiKeySealed":\s*"v1\./);

    const audit = await listAuditEvents(t.app.db.db, { event: 'config.providers_changed', limit: 5 });
    expect(audit.items[0]).toMatchObject({
      actorUserId: admin.id,
      targetId: '1',
      data: { version: 1, deployments: ['b'], aliases: ['smart'], keysChanged: ['b'], comment: 'move smart to b' },
    });
    expect(JSON.stringify(audit.items[0])).not.toContain('sk-admin-secret-key-b');
  });

  it('keeps a stored key when an edit omits it, and removes entries with null', async () => {
    const res = await put(
      t,
      admin,
      {
        deployments: { b: { provider: 'openai', model: 'gpt-4o-mini', baseUrl: b.baseUrl, weight: 2 } },
        aliases: { smart: null, solo: { deployments: ['b'] } },
      },
      1,
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().admin.deployments.b.apiKeySet).toBe(true);
    expect((await chat('solo')).statusCode).toBe(200);
    expect(b.requests.at(-1)?.headers.authorization).toBe('Bearer sk-admin-secret-key-b');
    // `smart` was genz.yaml's; null removed it, and 'a' is now reachable by its model name only.
    expect((await chat('smart')).statusCode).toBe(400);
  });
});

describe('admin configuration refusals', () => {
  it('refuses to store a provider key without ENCRYPTION_KEY, with a message saying what to do', async () => {
    const t = await buildTestApp();
    try {
      const admin = await createTestUser(t.app, { role: 'admin' });
      const res = await put(
        t,
        admin,
        { deployments: { x: { provider: 'openai', model: 'gpt-4o-mini', apiKey: 'sk-123' } } },
        0,
      );
      expect(res.statusCode).toBe(409);
      expect(res.json().detail).toMatch(/ENCRYPTION_KEY is not set/);
      expect(t.app.providersConfig.version).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('answers config_readonly when GENZ_CONFIG_READONLY is set', async () => {
    const t = await buildTestApp({ configReadonly: true });
    try {
      const admin = await createTestUser(t.app, { role: 'admin' });
      const res = await put(t, admin, { aliases: { x: { deployments: ['demo'] } } }, 0);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ code: 'config_readonly' });
      expect(res.json().detail).toContain('GENZ_CONFIG_READONLY');
      const get = await t.app.inject({ url: '/api/admin/config', headers: admin.headers });
      expect(get.json().readonly).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe('GET /api/models', () => {
  let up: FakeUpstream;
  let t: TestApp;
  beforeAll(async () => {
    up = await startFakeUpstream();
    t = await buildTestApp({
      'providers.deployments': [
        fakeDeployment('one', 'openai', up.baseUrl),
        fakeDeployment('two', 'anthropic', up.baseUrl),
        fakeDeployment('three', 'openai', up.baseUrl, { model: 'other-model' }),
      ],
      'providers.aliases': {
        smart: { deployments: ['one', 'two'], description: 'Best' },
        fast: { deployments: ['three'] },
        'pro-large': { deployments: ['one'] },
      },
      plans: { free: { models: ['smart', 'fast'] }, pro: { models: ['*'] } },
      'providers.routing': { breakerFailureThreshold: 1, breakerOpenMs: 60_000 },
    });
  });
  afterAll(async () => {
    await t.close();
    await up.close();
  });

  it('lists aliases with health and what the plan allows; /v1 refuses a model outside the plan', async () => {
    const user = await createTestUser(t.app, { plan: 'free' });
    const res = await t.app.inject({ url: '/api/models', headers: user.headers });
    expect(res.statusCode).toBe(200);
    const byId = Object.fromEntries((res.json().items as { id: string }[]).map((m) => [m.id, m]));
    expect(byId.smart).toMatchObject({ provider: 'mixed', health: 'healthy', allowed: true, description: 'Best' });
    expect(byId['pro-large']).toMatchObject({ provider: 'openai', allowed: false });

    // 'three' fails once (threshold 1): its breaker opens, 'fast' is down; 'one' failing makes 'smart' degraded.
    up.fail({ kind: 'status', status: 500 });
    const key = await createTestApiKey(t.app, { ...user, role: 'user' }, ['inference']);
    const ask = (model: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: key.headers,
        payload: { model, messages: [{ role: 'user', content: 'Hi' }] },
      });
    expect((await ask('fast')).statusCode).toBe(503);
    up.fail({ kind: 'status', status: 500 });
    expect((await ask('smart')).statusCode).toBe(200); // failed over to 'two'
    const after = await t.app.inject({ url: '/api/models', headers: user.headers });
    const health = Object.fromEntries(
      (after.json().items as { id: string; health: string }[]).map((m) => [m.id, m.health]),
    );
    expect(health).toMatchObject({ fast: 'down', smart: 'degraded' });
    // /v1/models reports the same verdict, in the same words.
    const v1 = await t.app.inject({ url: '/v1/models', headers: key.headers });
    const v1Health = Object.fromEntries(
      (v1.json().data as { id: string; genz: { health: string } }[]).map((m) => [m.id, m.genz.health]),
    );
    expect(v1Health).toMatchObject({ fast: 'down', smart: 'degraded' });
    const one = await t.app.inject({ url: '/v1/models/fast', headers: key.headers });
    expect(one.json().genz.health).toBe('down');

    const refused = await ask('pro-large');
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toMatchObject({ param: 'model' });
    expect(refused.json().error.message).toContain("'free' plan");
  });
});
