import { testRedisUrl } from '@genz/db/testing';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll } from 'vitest';

/**
 * The ioredis clients of one test file, all disconnected after its tests. Call it once at the top of the file:
 * `const redis = testRedisClients();`, then `redis.shared({ keyPrefix: testRedisPrefix() })` for the shared test
 * Redis, or `redis.failFast(url, prefix)` for a client that, like the limiters', gives up at once when Redis is down.
 */
export function testRedisClients() {
  const clients: Redis[] = [];
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });
  function open(url: string, options: RedisOptions): Redis {
    const c = new Redis(url, options);
    clients.push(c);
    return c;
  }
  return {
    /** A client of the shared test Redis (TEST_REDIS_URL). */
    shared: (options: RedisOptions = {}) => open(testRedisUrl, options),
    /**
     * No offline queue, one retry, 200 ms a command, reconnecting every 500 ms and quiet about connection errors:
     * for a Redis that is unreachable or goes away during the test.
     */
    failFast(url: string, keyPrefix: string): Redis {
      const c = open(url, {
        keyPrefix,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: 200,
        retryStrategy: () => 500,
      });
      c.on('error', () => {});
      return c;
    },
  };
}
