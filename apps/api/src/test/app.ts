import { Writable } from 'node:stream';
import { createTestDb, type TestDb, testRedisPrefix, testRedisUrl } from '@genz/db/testing';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../app.ts';
import { type AppConfig, loadConfig } from '../config/index.ts';
import { loggerOptions } from '../infra/logger.ts';

/** JWT signing keys of test apps (kid `test`); route-matrix and JWT tests sign with them. */
export const TEST_AUTH_SECRETS = 'test:genz-test-signing-secret-0123456789abcdef';

export const testBackend = process.env.GENZ_TEST_BACKEND === 'server' ? 'server' : 'embedded';

export interface TestApp {
  app: FastifyInstance;
  config: AppConfig;
  /** Every log line the app wrote, as raw JSON text (to prove secrets never reach it). */
  logs: string[];
  /** The app's database (hand it to a second replica with `buildTestApp(..., { db })`). */
  db: TestDb;
  close(): Promise<void>;
}

/**
 * A real app on a real database cloned from the migrated template (PGlite or PostgreSQL, by GENZ_TEST_BACKEND),
 * with Redis and its own key prefix on the server backend. Nothing is mocked; only the network edge is faked by
 * the tests that need an outside service.
 */
export async function buildTestApp(
  overrides: Record<string, unknown> = {},
  options: {
    redis?: boolean;
    keyPrefix?: string;
    routes?: (app: FastifyInstance) => void;
    /** Load the configuration from this genz.yaml (overrides still apply) and watch it, as server.ts does. */
    configFile?: string;
    /** Share another app's database (a second replica); it is not disposed by this app's close(). */
    db?: TestDb;
  } = {},
): Promise<TestApp> {
  const useRedis = options.redis ?? testBackend === 'server';
  const keyPrefix = options.keyPrefix ?? testRedisPrefix();
  // A fresh object per load: loadConfig freezes what it is given, and a hot reload loads again.
  const overridesOf = () => ({
    env: 'test',
    'log.level': 'info',
    'server.port': 0,
    // Fixed test keys: otherwise embedded mode would generate auth-secrets into the repository's ./data.
    'auth.secrets': TEST_AUTH_SECRETS,
    ...(useRedis ? { 'redis.url': testRedisUrl, 'redis.keyPrefix': keyPrefix } : {}),
    ...structuredClone(overrides),
  });
  const configEnv = options.configFile ? { GENZ_CONFIG: options.configFile } : {};
  const configSource = options.configFile
    ? { file: options.configFile, load: () => loadConfig({ env: configEnv, overrides: overridesOf() }) }
    : undefined;
  const config = loadConfig({ env: configEnv, overrides: overridesOf() });
  const db = options.db ?? (await createTestDb());
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const app = await buildApp({
    config,
    db,
    logger: pino(loggerOptions(config), stream),
    ...(configSource ? { configSource } : {}),
  });
  options.routes?.(app);
  await app.ready();
  await app.dbReadyPromise;
  return {
    app,
    config,
    logs,
    db,
    async close() {
      await app.close();
      if (!options.db) await db.dispose();
    },
  };
}
