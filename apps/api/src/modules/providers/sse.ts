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
