/**
 * Incremental Server-Sent Events parser: feed decoded text, get `{ event, data }` records for complete events.
 * Handles \n, \r\n and \r line ends and multi-line data. Bounded: an event larger than `maxEventBytes` throws.
 */
export class SseParser {
  private buffer = '';
  private readonly maxEventBytes: number;

  constructor(maxEventBytes = 4 * 1024 * 1024) {
    this.maxEventBytes = maxEventBytes;
  }

  push(text: string): { event: string | undefined; data: string }[] {
    this.buffer += text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
    const out: { event: string | undefined; data: string }[] = [];
    let boundary = this.buffer.indexOf('\n\n');
    while (boundary !== -1) {
      const block = this.buffer.slice(0, boundary);
      this.buffer = this.buffer.slice(boundary + 2);
      const parsed = parseBlock(block);
      if (parsed) out.push(parsed);
      boundary = this.buffer.indexOf('\n\n');
    }
    if (this.buffer.length > this.maxEventBytes) throw new Error('SSE event exceeds the size bound');
    return out;
  }

  /** What is left when the stream ends (an event without its trailing blank line). */
  flush(): { event: string | undefined; data: string }[] {
    const rest = this.buffer;
    this.buffer = '';
    const parsed = rest.trim() ? parseBlock(rest) : undefined;
    return parsed ? [parsed] : [];
  }
}

function parseBlock(block: string): { event: string | undefined; data: string } | undefined {
  let event: string | undefined;
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (line.startsWith('data:')) {
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data === undefined ? value : `${data}\n${value}`;
    } else if (line.startsWith('event:')) {
      event = line.slice(6).trim();
    }
  }
  return data === undefined ? undefined : { event, data };
}

const LF = 10;
const CR = 13;
const BLANK = Buffer.from('\n\n');

/**
 * Splits SSE bytes into whole events without decoding them, so a relay can forward what the upstream wrote as it
 * is, one slice per read. `push` returns the complete events received so far (line ends normalised to \n, the last
 * one ending with its blank line) or null; an incomplete event waits for the next read. Bounded as SseParser.
 * Walk the events with {@link eventEnd}.
 */
export class SseSplitter {
  private pending: Buffer | null = null;
  private readonly maxEventBytes: number;

  constructor(maxEventBytes = 4 * 1024 * 1024) {
    this.maxEventBytes = maxEventBytes;
  }

  push(chunk: Buffer): Buffer | null {
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let held: Buffer | null = null;
    if (buf.indexOf(CR) !== -1) {
      // A CR at the end may be the first half of a CRLF: it waits for the next read.
      if (buf[buf.length - 1] === CR) {
        held = buf.subarray(buf.length - 1);
        buf = buf.subarray(0, buf.length - 1);
      }
      buf = normaliseLineEnds(buf);
    }
    const last = buf.lastIndexOf(BLANK);
    const rest = last === -1 ? 0 : last + 2;
    if (rest < buf.length || held) this.keep(held ? Buffer.concat([buf.subarray(rest), held]) : buf.subarray(rest));
    return last === -1 ? null : buf.subarray(0, last + 2);
  }

  /** What is left when the stream ends (an event without its trailing blank line), completed with one. */
  flush(): Buffer | null {
    const rest = this.pending;
    this.pending = null;
    if (rest === null || rest.every((b) => b === LF || b === CR)) return null;
    return Buffer.concat([normaliseLineEnds(rest), BLANK]);
  }

  private keep(rest: Buffer) {
    if (rest.length > this.maxEventBytes) throw new Error('SSE event exceeds the size bound');
    // A copy: a slice would keep the whole read alive until the event completes.
    this.pending = Buffer.from(rest);
  }
}

function normaliseLineEnds(buf: Buffer): Buffer {
  return Buffer.from(buf.toString('latin1').replace(/\r\n?/g, '\n'), 'latin1');
}

/**
 * Where the event starting at `start` in SseSplitter output ends (the index of its blank line), or -1 when only line
 * ends are left. The next event starts 2 bytes further; an event of zero length is an extra blank line.
 */
export function eventEnd(events: Buffer, start: number): number {
  return events.indexOf(BLANK, start);
}

/** Where the data of a one-line `data: ...` event `events[start, end)` begins, or -1 when it has another shape. */
export function singleDataLine(events: Buffer, start: number, end: number): number {
  if (
    end - start < 6 ||
    events[start] !== 100 || // d
    events[start + 1] !== 97 || // a
    events[start + 2] !== 116 || // t
    events[start + 3] !== 97 || // a
    events[start + 4] !== 58 || // :
    events[start + 5] !== 32 // space
  ) {
    return -1;
  }
  const lf = events.indexOf(LF, start + 6);
  return lf === -1 || lf >= end ? start + 6 : -1;
}

/** One event block (without its blank line) as SseParser reads it, for the shapes singleDataLine does not take. */
export const parseEventBlock = parseBlock;
