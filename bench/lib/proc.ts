import { readFileSync } from 'node:fs';

/** Linux clock ticks per second (`getconf CLK_TCK`); 100 on every mainstream kernel/arch. */
export const CLOCK_TICKS = 100;

/** CPU time used by a process (user + system), in clock ticks, from the text of `/proc/<pid>/stat`. */
export function parseStatCpuTicks(stat: string): number {
  // Field 2 (comm) is parenthesised and may itself hold spaces or ')': split after the last ')'.
  const rest = stat
    .slice(stat.lastIndexOf(')') + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unparseable /proc/<pid>/stat');
  return utime + stime;
}

/** Resident set size in bytes, from the text of `/proc/<pid>/status` (its `VmRSS:` line, in kB). */
export function parseStatusRssBytes(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match?.[1]) throw new Error('no VmRSS in /proc/<pid>/status');
  return Number(match[1]) * 1024;
}

export interface ProcSample {
  /** performance.now() when taken, ms. */
  at: number;
  cpuTicks: number;
  rssBytes: number;
}

export function readProcSample(pid: number): ProcSample {
  return {
    at: performance.now(),
    cpuTicks: parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')),
    rssBytes: parseStatusRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8')),
  };
}

/** CPU use between two samples as a percentage of one core (can exceed 100: GC and libuv threads). */
export function cpuPercent(from: ProcSample, to: ProcSample): number {
  const wallSeconds = (to.at - from.at) / 1000;
  if (wallSeconds <= 0) return 0;
  return ((to.cpuTicks - from.cpuTicks) / CLOCK_TICKS / wallSeconds) * 100;
}

/** Samples a process every `intervalMs` until stopped; returns every sample taken (first and last included). */
export function startSampler(pid: number, intervalMs = 200): { stop(): ProcSample[] } {
  const samples: ProcSample[] = [readProcSample(pid)];
  const timer = setInterval(() => {
    try {
      samples.push(readProcSample(pid));
    } catch {
      // The process exited; the runner notices through the child's exit event.
    }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      samples.push(readProcSample(pid));
      return samples;
    },
  };
}

export interface MachineCpu {
  /** Ticks summed over all cores (first `cpu` line of /proc/stat). */
  total: number;
  /** Everything but idle and iowait. */
  busy: number;
  /** Softirq: loopback networking is mostly here and is charged to no process. */
  softirq: number;
  steal: number;
}

/** The machine-wide line of `/proc/stat`: user nice system idle iowait irq softirq steal … */
export function parseProcStatCpu(stat: string): MachineCpu {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no cpu line in /proc/stat');
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return {
    total: user + nice + system + idle + iowait + irq + softirq + steal,
    busy: user + nice + system + irq + softirq + steal,
    softirq,
    steal,
  };
}

export function readMachineCpu(): MachineCpu {
  return parseProcStatCpu(readFileSync('/proc/stat', 'utf8'));
}
