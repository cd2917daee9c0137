import { insertUsageEvents, type NewUsageEvent } from '@genz/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestApiKey, createTestUser, type TestUser } from '../../test/users.ts';
import { type FakeUpstream, fakeDeployment, startFakeUpstream } from './testing/index.ts';

const DAY = 86_400_000;

describe('admin provider status and usage over time', () => {
  let up: FakeUpstream;
  let t: TestApp;
  let admin: TestUser;
  let user: TestUser;

  beforeAll(async () => {
    up = await startFakeUpstream();
    t = await buildTestApp({
      'providers.deployments': [fakeDeployment('primary', 'openai', up.baseUrl)],
      'providers.aliases': { smart: { deployments: ['primary'] } },
    });
    admin = await createTestUser(t.app, { role: 'admin' });
    user = await createTestUser(t.app);
  });
  afterAll(async () => {
    await t?.close();
    await up?.close();
  });

  const get = (who: TestUser, url: string) => t.app.inject({ url, headers: who.headers });

  it('is for admins only', async () => {
    for (const url of ['/api/admin/providers', '/api/admin/usage']) {
      const res = await get(user, url);
      expect(res.statusCode).toBe(403);
    }
    expect((await t.app.inject({ url: '/api/admin/usage' })).statusCode).toBe(401);
  });

  it('lists every deployment with its circuit, the live latency of this replica and the last hour of calls', async () => {
    const key = await createTestApiKey(t.app, admin, ['inference']);
    const chat = await t.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: key.headers,
      payload: { model: 'smart', stream: true, messages: [{ role: 'user', content: 'Hi' }] },
    });
    expect(chat.statusCode).toBe(200);
    await t.app.usage.writer.flush();

    const res = await get(admin, '/api/admin/providers');
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    type Status = {
      id: string;
      aliases: string[];
      live: { inFlight: number; ttftMs: number | null; healthScore: number };
      lastHour: { requests: number; errors: number; latencyMs: number | null };
    };
    const primary = (res.json() as { items: Status[] }).items.find((d) => d.id === 'primary');
    if (!primary) throw new Error('deployment primary missing');
    expect(primary).toMatchObject({ provider: 'openai', circuit: 'closed' });
    expect(primary.aliases).toContain('smart');
    expect(primary.live).toMatchObject({ inFlight: 0, healthScore: 1 });
    expect(primary.live.ttftMs).not.toBeNull();
    const hour = primary.lastHour;
    expect(hour.requests).toBe(1);
    expect(hour.errors).toBe(0);
    expect(hour.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('sums requests, tokens and cost per UTC day and per model, within the asked window', async () => {
    const today = new Date();
    const at = (daysAgo: number) => new Date(today.getTime() - daysAgo * DAY);
    const row = (daysAgo: number, alias: string, costUsd: number): NewUsageEvent => ({
      createdAt: at(daysAgo),
      requestId: `usage-${daysAgo}-${alias}`,
      userId: user.id,
      apiKeyId: null,
      alias,
      deployment: 'primary',
      endpoint: 'chat.completions',
      status: 'ok',
      inputTokens: 10,
      outputTokens: 5,
      reasoningTokens: 0,
      costUsd,
      priceVersion: 'config',
      latencyMs: 100,
      ttftMs: 20,
    });
    await insertUsageEvents(t.app.db.db, [
      row(3, 'smart', 0.5),
      row(3, 'cheap', 0.25),
      row(2, 'smart', 1),
      row(40, 'smart', 9),
    ]);

    const res = await get(admin, '/api/admin/usage?days=7');
    expect(res.statusCode).toBe(200);
    const body = res.json() as {
      byDay: { key: string; requests: number; inputTokens: number; costUsd: number }[];
      byModel: { key: string; requests: number }[];
    };
    const day = (d: Date) => d.toISOString().slice(0, 10);
    expect(body.byDay.find((b) => b.key === day(at(3)))).toMatchObject({ requests: 2, inputTokens: 20, costUsd: 0.75 });
    expect(body.byDay.find((b) => b.key === day(at(2)))).toMatchObject({ requests: 1, costUsd: 1 });
    expect(body.byDay.some((b) => b.key === day(at(40)))).toBe(false);
    expect(body.byDay.map((b) => b.key)).toEqual([...body.byDay.map((b) => b.key)].sort());
    expect(body.byModel.find((b) => b.key === 'cheap')).toMatchObject({ requests: 1 });

    const longer = (await get(admin, '/api/admin/usage?days=60')).json() as { byDay: { key: string }[] };
    expect(longer.byDay.some((b) => b.key === day(at(40)))).toBe(true);
    const bad = await get(admin, '/api/admin/usage?days=0');
    expect(bad.statusCode).toBe(400);
  });
});
