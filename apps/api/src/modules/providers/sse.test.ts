import { describe, expect, it } from 'vitest';
import { eventEnd, SseSplitter, singleDataLine } from './sse.ts';

/** The events of SseSplitter output as strings, walked the way the relay walks them. */
function events(buf: Buffer | null): string[] {
  const out: string[] = [];
  if (!buf) return out;
  for (let start = 0; ; ) {
    const end = eventEnd(buf, start);
    if (end === -1) break;
    if (end > start) out.push(buf.toString('utf8', start, end));
    start = end + 2;
  }
  return out;
}

describe('SseSplitter', () => {
  it('returns whole events only, keeping a partial one for the next read', () => {
    const s = new SseSplitter();
    expect(events(s.push(Buffer.from('data: {"a":1}\n\ndata: {"b"')))).toEqual(['data: {"a":1}']);
    expect(events(s.push(Buffer.from(':2}\n\n')))).toEqual(['data: {"b":2}']);
    expect(s.push(Buffer.from('data: x'))).toBeNull();
    expect(events(s.flush())).toEqual(['data: x']);
    expect(s.flush()).toBeNull();
  });

  it('normalises CRLF and CR line ends, also when a CRLF is split across reads', () => {
    const s = new SseSplitter();
    expect(events(s.push(Buffer.from('data: 1\r\n\r')))).toEqual([]);
    // The last CR may be half a CRLF: the event it ends completes with the next read.
    expect(events(s.push(Buffer.from('\ndata: 2\r\r')))).toEqual(['data: 1']);
    expect(events(s.push(Buffer.from('event: e\r\ndata: 3\r\n\r\n')))).toEqual(['data: 2', 'event: e\ndata: 3']);
  });

  it('keeps multi-byte characters split across reads intact', () => {
    const s = new SseSplitter();
    const bytes = Buffer.from('data: {"c":"héllo 👋"}\n\n');
    expect(s.push(bytes.subarray(0, 17))).toBeNull();
    expect(events(s.push(bytes.subarray(17)))).toEqual(['data: {"c":"héllo 👋"}']);
  });

  it('skips extra blank lines and bounds an event that never ends', () => {
    const s = new SseSplitter(16);
    expect(events(s.push(Buffer.from('\n\ndata: a\n\n\n\ndata: b\n\n\n')))).toEqual(['data: a', 'data: b']);
    expect(() => s.push(Buffer.from('data: 0123456789abcdef'))).toThrow(/size bound/);
  });
});

describe('singleDataLine', () => {
  const at = (text: string) => {
    const buf = Buffer.from(`${text}\n\n`);
    return singleDataLine(buf, 0, eventEnd(buf, 0));
  };
  it('finds the data of a one-line `data: ` event and refuses other shapes', () => {
    expect(at('data: {"a":1}')).toBe(6);
    expect(at('data:{"a":1}')).toBe(-1);
    expect(at('data: a\ndata: b')).toBe(-1);
    expect(at('event: x\ndata: a')).toBe(-1);
    expect(at(': comment')).toBe(-1);
  });
});
