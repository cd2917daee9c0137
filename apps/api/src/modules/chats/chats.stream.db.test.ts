import { testRedisPrefix } from '@genz/db/testing';
import { describe, expect, it } from 'vitest';
import { testBackend } from '../../test/app.ts';
import { testRedisClients } from '../../test/redis.ts';
import { memoryStreamBuffer, redisStreamBuffer, type StreamBuffer, type StreamEvent } from './chats.stream.ts';

/** The stream buffer contract, in memory always and in Redis on the server backend. */
const clients = testRedisClients();

function buffers(): [string, () => StreamBuffer][] {
  const list: [string, () => StreamBuffer][] = [
    ['memory', () => memoryStreamBuffer({ ttlSec: 60, maxEvents: 1000, maxGenerations: 100 })],
  ];
  if (testBackend === 'server') {
    list.push([
      'redis',
      () => {
        const keyPrefix = testRedisPrefix();
        const client = clients.shared({ keyPrefix });
        const subscriber = clients.shared();
        return redisStreamBuffer({ client, subscriber, keyPrefix, ttlSec: 60, maxEvents: 1000 });
      },
    ]);
  }
  return list;
}

const ev = (seq: number, event: StreamEvent['event'] = 'delta'): StreamEvent => ({
  seq,
  event,
  data: JSON.stringify({ text: `t${seq}` }),
});

describe.each(buffers())('%s stream buffer', (_name, make) => {
  it('appends in order, refuses a seq that exists (fencing), replays after an id', async () => {
    const b = make();
    const gid = crypto.randomUUID();
    expect(await b.append(gid, ev(1, 'message'))).toBe(true);
    expect(await b.append(gid, ev(2))).toBe(true);
    expect(await b.append(gid, ev(2))).toBe(false);
    expect(await b.append(gid, ev(1))).toBe(false);
    expect(await b.append(gid, ev(3, 'done'))).toBe(true);
    expect((await b.range(gid, 0)).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(await b.range(gid, 1)).toEqual([ev(2), ev(3, 'done')]);
    expect(await b.range(crypto.randomUUID(), 0)).toEqual([]);
    await b.close();
  });

  it('notifies subscribers live and delivers stop requests', async () => {
    const b = make();
    const gid = crypto.randomUUID();
    const got: number[] = [];
    const arrived = new Promise<void>((resolve) => {
      void b.subscribe(gid, (e) => {
        got.push(e.seq);
        if (e.seq === 2) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 50));
    await b.append(gid, ev(1, 'message'));
    await b.append(gid, ev(2));
    await arrived;
    expect(got).toEqual([1, 2]);
    const stopped = new Promise<string>((resolve) => b.onStop(resolve));
    await new Promise((r) => setTimeout(r, 50));
    expect(await b.stopRequested(gid)).toBe(false);
    await b.requestStop(gid);
    expect(await stopped).toBe(gid);
    expect(await b.stopRequested(gid)).toBe(true);
    await b.close();
  });
});
