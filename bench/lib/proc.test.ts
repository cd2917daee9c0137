import { describe, expect, it } from 'vitest';
import { CLOCK_TICKS, cpuPercent, parseProcStatCpu, parseStatCpuTicks, parseStatusRssBytes } from './proc.ts';

describe('/proc parsers', () => {
  it('reads utime + stime even when the command name holds spaces and parentheses', () => {
    const stat =
      '4242 (node (a) b) S 1 4242 4242 0 -1 4194560 9000 0 0 0 250 75 0 0 20 0 11 0 123456 1100000000 12000 18446744073709551615';
    expect(parseStatCpuTicks(stat)).toBe(325);
  });

  it('reads VmRSS in bytes', () => {
    const status = 'Name:\tnode\nVmPeak:\t 1200000 kB\nVmRSS:\t   81920 kB\nRssAnon:\t   60000 kB\n';
    expect(parseStatusRssBytes(status)).toBe(81920 * 1024);
    expect(() => parseStatusRssBytes('Name:\tkthreadd\n')).toThrow(/VmRSS/);
  });

  it('turns tick deltas into % of one core', () => {
    const a = { at: 0, cpuTicks: 100, rssBytes: 0 };
    const b = { at: 2000, cpuTicks: 100 + 3 * CLOCK_TICKS, rssBytes: 0 };
    expect(cpuPercent(a, b)).toBeCloseTo(150);
  });
});

describe('/proc/stat', () => {
  it('sums the machine-wide cpu line into busy, softirq and steal ticks', () => {
    const stat = 'cpu  100 5 50 1000 20 1 30 4 0 0\ncpu0 50 2 25 500 10 0 15 2 0 0\nintr 12345\n';
    expect(parseProcStatCpu(stat)).toEqual({ total: 1210, busy: 190, softirq: 30, steal: 4 });
  });
});
