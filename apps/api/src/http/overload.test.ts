import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.ts';
import { createOverloadGate } from './overload.ts';

/** Holds this thread for `ms`, as a long synchronous stretch of the boot (imports, migrations) does. */
const stall = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('overload gate', () => {
  it('counts event-loop delay from start(): stalls of the boot before it shed nothing, the same stalls after it do', async () => {
    const { server } = loadConfig({
      env: {},
      overrides: {
        'auth.secrets': 'test:0000000000000000000000000000000000000000000',
        'server.overload.maxEventLoopDelayMs': 20,
        'server.overload.sampleIntervalMs': 10,
        'server.overload.maxInFlight': 0,
      },
    });
    const gate = createOverloadGate(server.overload);
    const res = {} as ServerResponse;
    try {
      // Two long stretches in a row, each followed by the timers' turn (an overdue sample runs before the 1 ms sleep
      // ends, and none between the stalls): the boot on a busy host.
      for (let i = 0; i < 2; i++) {
        stall(80);
        await sleep(1);
      }
      gate.start();
      expect(gate.admit(res)).toBeNull();

      for (let i = 0; i < 2; i++) {
        stall(80);
        await sleep(1);
      }
      expect(gate.admit(res)).toBe('event_loop_delay');
    } finally {
      gate.stop();
    }
  });
});
