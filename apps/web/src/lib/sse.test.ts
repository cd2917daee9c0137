import { describe, expect, it } from 'vitest';
import { createSseParser, readSse, type SseEvent } from './sse';

const encoder = new TextEncoder();

function parseAll(chunks: (Uint8Array | string)[]): SseEvent[] {
  const parser = createSseParser();
  const out: SseEvent[] = [];
  for (const chunk of chunks) out.push(...parser.push(chunk));
  out.push(...parser.end());
  return out;
}

/** Every way of cutting `bytes` in two, plus one byte at a time. */
function splits(bytes: Uint8Array): Uint8Array[][] {
  const ways: Uint8Array[][] = [];
  for (let i = 0; i <= bytes.length; i += 1) ways.push([bytes.slice(0, i), bytes.slice(i)]);
  ways.push(Array.from(bytes, (b) => Uint8Array.of(b)));
  return ways;
}

const stream = [
  ': keep-alive comment',
  'id: 1',
  'event: message',
  'data: {"userMessageId":"u1","assistantMessageId":"a1","generationId":"g1"}',
  '',
  'id: 2',
  'event: delta',
  'data: {"text":"Grüße, 世界 🌍"}',
  '',
  'id: 3',
  'event: delta',
  'data: line one',
  'data: line two',
  'data:',
  '',
  'event: done',
  'data: {"status":"complete"}',
  '',
  '',
].join('\n');

const expected: SseEvent[] = [
  {
    event: 'message',
    data: '{"userMessageId":"u1","assistantMessageId":"a1","generationId":"g1"}',
    id: '1',
  },
  { event: 'delta', data: '{"text":"Grüße, 世界 🌍"}', id: '2' },
  { event: 'delta', data: 'line one\nline two\n', id: '3' },
  // No id field: the last one stays in force (what Last-Event-ID must send).
  { event: 'done', data: '{"status":"complete"}', id: '3' },
];

describe('createSseParser', () => {
  it('parses ids, event types, comments and multi-line data', () => {
    expect(parseAll([stream])).toEqual(expected);
  });

  it('gives the same events however the bytes are split, including inside UTF-8 sequences', () => {
    const bytes = encoder.encode(stream);
    for (const chunks of splits(bytes)) expect(parseAll(chunks)).toEqual(expected);
  });

  it('accepts \\r\\n and \\r line ends, also when \\r\\n is split across chunks', () => {
    for (const eol of ['\r\n', '\r']) {
      const bytes = encoder.encode(stream.replaceAll('\n', eol));
      for (const chunks of splits(bytes)) expect(parseAll(chunks)).toEqual(expected);
    }
  });

  it('drops an event cut off by the end of the stream, and data-less events', () => {
    expect(parseAll(['id: 7\nevent: delta\n\n', 'data: {"text":"half'])).toEqual([]);
    const parser = createSseParser();
    parser.push('id: 7\n\n');
    expect(parser.lastEventId).toBe('7');
  });

  it('handles field edge cases: no space after the colon, no colon, retry, BOM, unknown fields', () => {
    const events = parseAll(['\uFEFFdata:x\nretry: 1500\nfoo: bar\ndata\n\nid\ndata: y\n\n']);
    expect(events).toEqual([
      { event: 'message', data: 'x\n', id: undefined, retry: 1500 },
      { event: 'message', data: 'y', id: '' },
    ]);
  });

  it('ignores an id containing NUL and bounds line length', () => {
    expect(parseAll(['id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n']).map((e) => e.id)).toEqual(['1', '1']);
    const parser = createSseParser({ maxLineLength: 10 });
    expect(() => parser.push('data: 0123456789')).toThrow(/longer than/);
  });
});

describe('readSse', () => {
  it('delivers each event as soon as its chunk arrives', async () => {
    const seen: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('id: 1\nevent: delta\ndata: a\n\nid: 2\nevent: de'));
        await gate;
        controller.enqueue(encoder.encode('lta\ndata: b\n\n'));
        controller.close();
      },
    });
    const done = readSse(body, (event) => {
      seen.push(`${event.id}:${event.data}`);
      if (seen.length === 1) release();
    });
    await done;
    expect(seen).toEqual(['1:a', '2:b']);
  });
});
