import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Deadlines } from './deadlines.ts';

describe('coarse deadlines', () => {
  it('fires once after its time, within a tick, and never when cleared first', async () => {
    const deadlines = new Deadlines(5);
    const fired: string[] = [];
    const t0 = performance.now();
    let firedAt = 0;
    deadlines.after(30, () => {
      fired.push('due');
      firedAt = performance.now() - t0;
    });
    const cleared = deadlines.after(30, () => fired.push('cleared'));
    deadlines.clear(cleared);
    await sleep(80);
    expect(fired).toEqual(['due']);
    expect(firedAt).toBeGreaterThanOrEqual(30);
    expect(deadlines.size).toBe(0);
  });

  it('honours a deadline moved later (an idle timeout refreshed by a chunk)', async () => {
    const deadlines = new Deadlines(5);
    let fired = false;
    const idle = deadlines.after(30, () => {
      fired = true;
    });
    await sleep(20);
    idle.at = performance.now() + 60;
    await sleep(30);
    expect(fired).toBe(false);
    await sleep(60);
    expect(fired).toBe(true);
  });

  it('keeps working after the sweep stopped for want of deadlines', async () => {
    const deadlines = new Deadlines(5);
    let n = 0;
    deadlines.after(1, () => n++);
    await sleep(30); // fired, then an empty sweep stops the interval
    deadlines.after(1, () => n++);
    await sleep(30);
    expect(n).toBe(2);
  });
});
