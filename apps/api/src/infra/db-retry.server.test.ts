import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../app.ts';
import { loadConfig } from '../config/index.ts';
import { freePort, tcpForward, waitFor } from '../test/net.ts';

const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Issue: "DB down at start: retries with backoff, says so, readiness 503 until the DB answers, no crash loop." */
describe('database unreachable at start', () => {
  const dbName = `genz_t_retry_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  });

  it('keeps serving 503 while retrying, then migrates and becomes ready when the database appears', async () => {
    const port = await freePort();
    const target = new URL(adminUrl);
    const logs: string[] = [];
    const app = await buildApp({
      config: loadConfig({
        env: {},
        overrides: {
          env: 'test',
          'database.url': `postgres://${target.username}@127.0.0.1:${port}/${dbName}`,
          'database.connectRetryMaxDelayMs': 400,
          'auth.secrets': 'test:0123456789abcdef0123456789abcdef',
        },
      }),
      logger: pino(
        { level: 'info' },
        new Writable({
          write(chunk, _e, done) {
            logs.push(chunk.toString());
            done();
          },
        }),
      ),
    });
    app.get('/api/data', { config: { auth: 'public' } }, async () => ({ ok: true }));
    await app.ready();
    let forward: Awaited<ReturnType<typeof tcpForward>> | undefined;
    try {
      const notReady = await app.inject({ url: '/readyz' });
      expect(notReady.statusCode).toBe(503);
      expect(notReady.json().checks.database).toBe('starting');
      const data = await app.inject({ url: '/api/data' });
      expect(data.statusCode).toBe(503);
      expect(data.json().code).toBe('unavailable');
      expect(data.headers['retry-after']).toBe('2');
      expect((await app.inject({ url: '/livez' })).statusCode).toBe(200);
      await waitFor(
        async () => (logs.some((l) => l.includes('database unreachable; retrying')) ? true : undefined),
        5000,
        'retry log',
      );

      forward = await tcpForward(port, Number(target.port || 5432));
      await waitFor(
        async () => ((await app.inject({ url: '/readyz' })).statusCode === 200 ? true : undefined),
        10_000,
        'readiness after the database appears',
      );
      expect((await app.inject({ url: '/api/data' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await forward?.close();
    }
  });
});
