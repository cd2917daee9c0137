import { request } from 'node:http';
import { createTestDb, type TestDb } from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../test/app.ts';
import { freePort } from '../test/net.ts';

const token = 'metrics-token-0123456789';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

// One database for the three apps (they differ only in their metrics settings), not one booted per app.
let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db?.dispose());

describe('metrics', () => {
  it('are not exposed at all by default', async () => {
    const t = await buildTestApp({}, { db });
    try {
      expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await t.close();
    }
  });

  describe('behind a token on the API port', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp({ 'metrics.token': token }, { db });
    });
    afterAll(() => t.close());

    it('refuse a missing or wrong token', async () => {
      expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(401);
      const wrong = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}x` } });
      expect(wrong.statusCode).toBe(401);
    });

    it('label requests by route template and count unknown URLs under one label', async () => {
      await t.app.inject({ url: '/livez' });
      await t.app.inject({ url: '/readyz' }); // pings the database
      for (let i = 0; i < 3; i++) await t.app.inject({ url: `/scanner/probe-${i}` });
      const res = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
      const text = res.body;
      expect(text).toMatch(/http_requests_total\{route="\/livez",method="GET",status="200"\} 1/);
      expect(text).toMatch(/http_requests_total\{route="__unmatched__",method="GET",status="404"\} 3/);
      expect(text).not.toContain('probe-1');
      expect(text).toMatch(/http_request_duration_seconds_bucket\{le="0.005",route="\/livez"/);
      expect(text).toContain('nodejs_eventloop_lag_seconds');
      expect(text).toContain('process_resident_memory_bytes');
      expect(text).toContain('db_pool_max');
      expect(text).toContain('http_requests_in_flight');
      expect(text).toMatch(/db_query_duration_seconds_count\{op="select"\} [1-9]/);
    });
  });

  it('can be served on a separate METRICS_PORT without auth', async () => {
    const port = await freePort();
    const t = await buildTestApp({ 'metrics.port': port }, { db });
    try {
      const res = await get(port, '/metrics');
      expect(res.status).toBe(200);
      expect(res.body).toContain('http_requests_total');
      expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await t.close();
    }
  });
});
