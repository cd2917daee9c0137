import { connect, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { SHED_REASONS } from '../../apps/api/src/http/shed-reasons.ts';

/**
 * A light HTTP/1.1 load generator for overload runs, in a worker thread of its own (its own event loop and a small
 * heap, away from whatever the bench process loaded to seed the database). Raw `node:net` keep-alive sockets opened
 * beforehand, one request at a time per socket (no pipelining: a shed answer must not wait behind an admitted one),
 * the request bytes built once, and per response only the status line, Content-Length, the presence of Retry-After
 * and (on a 503) the body's `reason` are read. Times are `performance.now()` in the worker:
 * - send→status: from writing the request to reading the chunk that holds the status line;
 * - arrival→status: from the arrival's scheduled time (open loop) to the same point, so a wait for an idle socket
 *   or a late tick of the generator counts too.
 * The generator's own event-loop delay (1 ms resolution) and its send lateness are reported beside them: a lagging
 * generator reads answers late and adds that lag to every figure.
 */

/** The server's shed reasons, and `?` for a 503 whose reason this list does not know. */
export const REASONS = [...SHED_REASONS, '?'] as const;

export interface Target {
  port: number;
  path: string;
  headers: Record<string, string>;
  /** A route that is never shed (e.g. `/livez`), sent every `probeEveryMs` on a connection of its own during the
   * open loop: the same event-loop wait without the gate, the in-run peer for the shed figures. */
  probePath: string;
  probeEveryMs: number;
}
export type Command =
  | { kind: 'open-pool'; connections: number }
  | { kind: 'closed'; clients: number; ms: number }
  | { kind: 'open'; rate: number; ms: number };

export interface ClosedResult {
  ok: number;
  other: number;
}
export interface OpenResult {
  sent: number;
  /** Per answer, in completion order. */
  status: Uint16Array;
  sendToStatus: Float64Array;
  arrivalToStatus: Float64Array;
  /** Index into REASONS for 503s, 255 otherwise. */
  reason: Uint8Array;
  retryAfter: Uint8Array;
  errors: number;
  /** The generator's event-loop delay beyond its 1 ms sampling interval, and how late arrivals were sent (ms). */
  lag: { p50: number; p99: number; max: number };
  lateness: { p50: number; p99: number };
  queuedArrivals: number;
  /** send→status of each probe answered 200 (ms), and how many probes got anything else or no answer. */
  probe: Float64Array;
  probeFailed: number;
  /** Arrivals never sent because every socket had closed. */
  unsent: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

type Done = (status: number, statusAt: number, retryAfter: boolean, reason: number) => void;

class Connection {
  readonly socket: Socket;
  sentAt = 0;
  private chunks: Buffer[] = [];
  private length = 0;
  private status = 0;
  private statusAt = 0;
  private done: Done | null = null;

  constructor(port: number, onClose: (c: Connection) => void) {
    this.socket = connect({ port, host: '127.0.0.1', noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      const done = this.done;
      this.done = null;
      done?.(0, performance.now(), false, 255);
      onClose(this);
    });
  }

  get busy() {
    return this.done !== null;
  }

  send(bytes: Buffer, done: Done) {
    this.done = done;
    this.chunks = [];
    this.length = 0;
    this.status = 0;
    this.sentAt = performance.now();
    this.socket.write(bytes);
  }

  private read(chunk: Buffer) {
    if (this.status === 0 && this.length === 0 && chunk.length >= 12) {
      this.statusAt = performance.now();
      // "HTTP/1.1 503 ": the three digits at 9..11.
      this.status = Number(chunk.toString('latin1', 9, 12));
    }
    this.chunks.push(chunk);
    this.length += chunk.length;
    const all = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.length);
    const headEnd = all.indexOf(CRLFCRLF);
    if (headEnd < 0) return;
    if (this.status === 0) {
      this.statusAt = performance.now();
      this.status = Number(all.toString('latin1', 9, 12));
    }
    const head = all.toString('latin1', 0, headEnd).toLowerCase();
    const cl = head.indexOf('\ncontent-length:');
    if (cl < 0) {
      // Every answer here carries Content-Length; anything else is a broken exchange.
      this.socket.destroy();
      return;
    }
    const bodyLength = Number.parseInt(head.slice(cl + 16, head.indexOf('\r', cl + 16)), 10);
    const end = headEnd + 4 + bodyLength;
    if (all.length < end) {
      this.chunks = [all];
      return;
    }
    let reason = 255;
    if (this.status === 503) {
      const body = all.toString('latin1', headEnd + 4, end);
      const at = body.indexOf('"reason":"');
      const name = at < 0 ? '?' : body.slice(at + 10, body.indexOf('"', at + 10));
      const known = REASONS.indexOf(name as (typeof REASONS)[number]);
      reason = known < 0 ? REASONS.length - 1 : known;
    }
    const retryAfter = head.includes('\nretry-after:');
    const done = this.done;
    this.done = null;
    this.chunks = [];
    this.length = 0;
    done?.(this.status, this.statusAt, retryAfter, reason);
  }
}

const requestBytes = (target: Target, path: string, headers: Record<string, string>) =>
  Buffer.from(
    `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${target.port}\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`,
    'latin1',
  );

function runWorker(target: Target) {
  const port = parentPort;
  if (!port) return;
  const request = requestBytes(target, target.path, target.headers);
  const probeRequest = requestBytes(target, target.probePath, {});
  let pool: Connection[] = [];
  let probe: Connection | undefined;
  const replace = (dead: Connection) => {
    const i = pool.indexOf(dead);
    if (i >= 0) pool[i] = new Connection(target.port, replace);
  };

  port.on('message', async (cmd: Command) => {
    if (cmd.kind === 'open-pool') {
      pool = Array.from({ length: cmd.connections }, () => new Connection(target.port, replace));
      probe = new Connection(target.port, () => {});
      await Promise.all([...pool, probe].map((c) => new Promise((resolve) => c.socket.once('connect', resolve))));
      port.postMessage({ kind: 'open-pool' });
    } else if (cmd.kind === 'closed') {
      const result: ClosedResult = { ok: 0, other: 0 };
      const until = performance.now() + cmd.ms;
      await Promise.all(
        pool.slice(0, cmd.clients).map(
          (c) =>
            new Promise<void>((resolve) => {
              const next = () => {
                if (performance.now() >= until) return resolve();
                c.send(request, (status) => {
                  if (status === 200) result.ok++;
                  else result.other++;
                  // A closed socket (status 0) ends this client; the pool replaces the socket for later phases.
                  if (status === 0) resolve();
                  else next();
                });
              };
              next();
            }),
        ),
      );
      port.postMessage({ kind: 'closed', result });
    } else {
      const probes: number[] = [];
      let probeFailed = 0;
      let lastProbe = Promise.resolve();
      const probing = setInterval(() => {
        const c = probe;
        if (!c || c.busy) return;
        lastProbe = new Promise((resolve) =>
          c.send(probeRequest, (code, statusAt) => {
            if (code === 200) probes.push(statusAt - c.sentAt);
            else probeFailed++;
            resolve();
          }),
        );
      }, target.probeEveryMs);
      const result = await openLoop(pool, request, cmd.rate, cmd.ms);
      clearInterval(probing);
      await lastProbe;
      port.postMessage({ kind: 'open', result: { ...result, probe: Float64Array.from(probes), probeFailed } });
    }
  });
}

async function openLoop(
  pool: Connection[],
  request: Buffer,
  rate: number,
  ms: number,
): Promise<Omit<OpenResult, 'probe' | 'probeFailed'>> {
  const capacity = Math.ceil((rate * ms) / 1000) + 16;
  const status = new Uint16Array(capacity);
  const sendToStatus = new Float64Array(capacity);
  const arrivalToStatus = new Float64Array(capacity);
  const reasonOf = new Uint8Array(capacity);
  const retryAfterOf = new Uint8Array(capacity);
  const lateness = new Float64Array(capacity);
  let answered = 0;
  let errors = 0;
  let sent = 0;
  let queuedArrivals = 0;
  const idle: Connection[] = pool.filter((c) => !c.busy);
  /** Scheduled times of arrivals that found no idle socket, oldest first. */
  const queue: number[] = [];
  let queueHead = 0;
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();

  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let closed = false;

  const dispatch = (c: Connection, arrival: number) => {
    lateness[sent] = performance.now() - arrival;
    sent++;
    c.send(request, (code, statusAt, retryAfter, reason) => {
      if (code === 0) errors++;
      else {
        status[answered] = code;
        sendToStatus[answered] = statusAt - c.sentAt;
        arrivalToStatus[answered] = statusAt - arrival;
        reasonOf[answered] = reason;
        retryAfterOf[answered] = retryAfter ? 1 : 0;
        answered++;
      }
      // A socket that closed (code 0) is replaced in the pool for later phases, not reused here.
      if (code !== 0) {
        if (queueHead < queue.length) dispatch(c, queue[queueHead++] as number);
        else idle.push(c);
      }
      // Nothing in flight after the last arrival: done (arrivals still queued then had no live socket left).
      if (closed && answered + errors === sent) finish();
    });
  };

  const start = performance.now();
  const total = Math.floor((rate * ms) / 1000);
  let scheduled = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) / 1000) * rate));
      for (; scheduled < due; scheduled++) {
        const arrival = start + (scheduled * 1000) / rate;
        const c = idle.pop();
        if (c && !c.busy) dispatch(c, arrival);
        else {
          queue.push(arrival);
          queuedArrivals++;
        }
      }
      if (scheduled >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  closed = true;
  if (answered + errors === sent) finish();
  await finished;
  lag.disable();
  const late = lateness.slice(0, sent).sort();
  const pick = (a: Float64Array, p: number) => a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] ?? 0;
  return {
    sent,
    status: status.slice(0, answered),
    sendToStatus: sendToStatus.slice(0, answered),
    arrivalToStatus: arrivalToStatus.slice(0, answered),
    reason: reasonOf.slice(0, answered),
    retryAfter: retryAfterOf.slice(0, answered),
    errors,
    // monitorEventLoopDelay's figures include its own 1 ms interval.
    lag: {
      p50: Math.max(0, lag.percentile(50) / 1e6 - 1),
      p99: Math.max(0, lag.percentile(99) / 1e6 - 1),
      max: Math.max(0, lag.max / 1e6 - 1),
    },
    lateness: { p50: pick(late, 50), p99: pick(late, 99) },
    queuedArrivals,
    unsent: queue.length - queueHead,
  };
}

/** Starts the generator worker against `target`; each call runs one phase there and resolves with its result. */
export function startLoadWorker(target: Target) {
  const worker = new Worker(new URL(import.meta.url), { workerData: target });
  const run = <T>(cmd: Command) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: { kind: string; result: T }) => {
        if (m.kind !== cmd.kind) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(m.result);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.postMessage(cmd);
    });
  return {
    openPool: (connections: number) => run<void>({ kind: 'open-pool', connections }),
    closed: (clients: number, ms: number) => run<ClosedResult>({ kind: 'closed', clients, ms }),
    open: (rate: number, ms: number) => run<OpenResult>({ kind: 'open', rate, ms }),
    stop: () => worker.terminate(),
  };
}

if (!isMainThread) runWorker(workerData as Target);
