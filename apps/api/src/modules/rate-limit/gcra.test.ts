import { describe, expect, it } from 'vitest';
import { gcraStep, type RatePolicy } from './gcra.ts';

const policy: RatePolicy = { name: 't', rate: 10, periodMs: 10_000, burst: 3 };

function run(times: number[], p = policy) {
  let tat: number | undefined;
  return times.map((now) => {
    const { decision, newTat } = gcraStep(tat, now, p);
    if (newTat !== undefined) tat = newTat;
    return decision;
  });
}

describe('GCRA', () => {
  it('admits a burst back to back, then one per emission interval', () => {
    const d = run([0, 0, 0, 0, 999, 1000, 1000]);
    expect(d.map((x) => x.allowed)).toEqual([true, true, true, false, false, true, false]);
    expect(d.map((x) => x.remaining).slice(0, 3)).toEqual([2, 1, 0]);
    expect(d[3]?.retryAfterMs).toBe(1000);
    expect(d[4]?.retryAfterMs).toBe(1);
  });

  it('never admits more than burst + elapsed/T in any interval: no doubled burst at a window edge', () => {
    // Hammer every 10 ms for 30 s; count admissions in every 10 s sliding interval.
    const times = Array.from({ length: 3000 }, (_, i) => i * 10);
    const d = run(times);
    const admitted = times.filter((_, i) => d[i]?.allowed);
    for (const start of times) {
      const inWindow = admitted.filter((t) => t >= start && t < start + policy.periodMs).length;
      expect(inWindow).toBeLessThanOrEqual(policy.rate + policy.burst);
    }
    expect(admitted.length).toBeLessThanOrEqual(30 + policy.burst);
  });

  it('refills to a full burst after idling, and reports when', () => {
    const [, , third] = run([0, 0, 0]);
    expect(third?.resetMs).toBe(3000);
    const d = run([0, 0, 0, 3000, 3000, 3000, 3000]);
    expect(d.slice(3).map((x) => x.allowed)).toEqual([true, true, true, false]);
  });

  it('charges a cost and refuses forever a cost above the burst', () => {
    const { decision } = gcraStep(undefined, 0, policy, 2);
    expect(decision).toMatchObject({ allowed: true, remaining: 1 });
    expect(gcraStep(undefined, 0, policy, 4).decision.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
  });
});
