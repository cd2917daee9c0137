import { createTestDb, type TestDb } from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';

// One database for the apps of this file (they differ only in their settings), not one booted per app.
let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db?.dispose());

describe('health', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({}, { db });
  });
  afterAll(() => t.close());

  it('is live and ready when the database (and Redis, when configured) answer', async () => {
    expect((await t.app.inject({ url: '/livez' })).statusCode).toBe(200);
    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.database).toBe('ok');
    if (t.config.redis.url) expect(ready.json().checks.redis).toBe('ok');
  });

  it('reports not ready while draining, and stays live', async () => {
    t.app.draining = true;
    try {
      const ready = await t.app.inject({ url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks.draining).toBe('draining');
      expect((await t.app.inject({ url: '/livez' })).statusCode).toBe(200);
    } finally {
      t.app.draining = false;
    }
  });

  it('serves the OpenAPI document', async () => {
    const res = await t.app.inject({ url: '/api/docs/json' });
    expect(res.statusCode).toBe(200);
    expect(res.json().openapi).toBe('3.1.0');
    expect(Object.keys(res.json().paths)).toContain('/readyz');
  });
});

describe('health with an unreachable Redis', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Nothing listens on port 1: the configured Redis is down for the whole test.
    t = await buildTestApp({ 'redis.url': 'redis://127.0.0.1:1' }, { redis: false, db });
  });
  afterAll(() => t.close());

  it('is not ready, stays live, and still answers quickly', async () => {
    const started = Date.now();
    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.redis).toMatch(/^down: /);
    expect(ready.json().checks.database).toBe('ok');
    expect(Date.now() - started).toBeLessThan(1000 + 500); // the 1 s check budget plus a fixed margin
    expect((await t.app.inject({ url: '/livez' })).statusCode).toBe(200);
  });
});
