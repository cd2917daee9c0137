import { describe, expect, it } from 'vitest';
import { type LiveReply, newReply, runReply } from './generation';

const encoder = new TextEncoder();

const events = [
  'id: 1\nevent: message\ndata: {"userMessageId":"u1","assistantMessageId":"a1","generationId":"g1"}\n\n',
  'id: 2\nevent: part\ndata: {"type":"reasoning","text":"Let me think. "}\n\n',
  'id: 3\nevent: delta\ndata: {"text":"Hello"}\n\n',
  'id: 4\nevent: delta\ndata: {"text":", world"}\n\n',
  'id: 5\nevent: part\ndata: {"type":"citation","url":"https://example.com/a","title":"A"}\n\n',
  'id: 6\nevent: delta\ndata: {"text":"!"}\n\n',
  'id: 7\nevent: done\ndata: {"status":"complete","usage":{"outputTokens":3}}\n\n',
];

/** A body that sends `text` then errors (a dropped connection), or ends cleanly. */
function body(text: string, drop: boolean): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    // Pull-based: error() discards queued chunks, so the drop comes on the read after the text.
    pull(controller) {
      if (!sent) {
        sent = true;
        if (text) controller.enqueue(encoder.encode(text));
        return;
      }
      if (drop) controller.error(new TypeError('network error'));
      else controller.close();
    },
  });
}

const sse = (stream: ReadableStream<Uint8Array>) =>
  new Response(stream, { headers: { 'content-type': 'text/event-stream' } });

describe('runReply', () => {
  it('resumes a dropped stream with Last-Event-ID, at any cut, and ends byte-identical', async () => {
    const whole = events.join('');
    for (let cut = 1; cut < whole.length; cut += 7) {
      const resumes: (string | null)[] = [];
      const fetcher = (async (_url: string, init?: RequestInit) => {
        const last = new Headers(init?.headers).get('last-event-id');
        resumes.push(last);
        const from = Number(last ?? 0);
        return sse(body(events.slice(from).join(''), false));
      }) as typeof fetch;
      const updates: LiveReply[] = [];
      const handle = runReply(
        newReply('c1'),
        async () => sse(body(whole.slice(0, cut), true)),
        (reply) => updates.push(reply),
        { fetcher, sleep: async () => {} },
      );
      if (cut < events[0]!.length) {
        // Cut before the generation id arrived: only the send can be retried (same Idempotency-Key), never
        // resumed; this fake drops every send, so the reply fails with the network error.
        await expect(handle.done).rejects.toThrow('network error');
        expect(resumes).toEqual([]);
        continue;
      }
      const final = await handle.done;
      expect(final.text, `cut at ${cut}`).toBe('Hello, world!');
      expect(final.status).toBe('complete');
      expect(final.parts).toEqual([
        { type: 'reasoning', text: 'Let me think. ' },
        { type: 'citation', url: 'https://example.com/a', title: 'A' },
      ]);
      expect(resumes.length).toBe(1);
    }
  });

  it('retries a send that dropped before its first event, then gives up with the error', async () => {
    let starts = 0;
    const handle = runReply(
      newReply('c1'),
      async () => {
        starts += 1;
        if (starts < 2) return sse(body('', true));
        return sse(body(events.join(''), false));
      },
      () => {},
      { sleep: async () => {} },
    );
    expect((await handle.done).text).toBe('Hello, world!');
    expect(starts).toBe(2);
  });

  it('keeps the text so far and the status when the server reports an error event', async () => {
    const stream = `${events.slice(0, 3).join('')}id: 4\nevent: error\ndata: {"code":"upstream_timeout","detail":"Upstream timed out","status":504}\n\n`;
    const final = await runReply(
      newReply('c1'),
      async () => sse(body(stream, false)),
      () => {},
    ).done;
    expect(final.text).toBe('Hello');
    expect(final.status).toBe('error');
    expect(final.error).toEqual({ code: 'upstream_timeout', detail: 'Upstream timed out', status: 504 });
  });

  it('reports interrupted as the final status', async () => {
    const stream = `${events.slice(0, 3).join('')}id: 4\nevent: done\ndata: {"status":"interrupted"}\n\n`;
    const final = await runReply(
      newReply('c1'),
      async () => sse(body(stream, false)),
      () => {},
    ).done;
    expect(final).toMatchObject({ text: 'Hello', status: 'interrupted' });
  });
});
