import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { REASONS, startLoadWorker } from './open-loop.ts';

/**
 * The overload bench's generator reads answers by hand (status line, Content-Length, Retry-After, a 503's reason), so
 * this checks it against a real HTTP server that answers 200s and 503s in a known rotation, some with the body
 * written in a later chunk: what the generator counts must be exactly what the server sent.
 */
let server: Server | undefined;
afterEach(() => new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined))));

it('counts statuses, 503 reasons and Retry-After exactly as the server sent them, bodies split or not', async () => {
  const sent = { ok: 0, inFlight: 0, loop: 0, noRetryAfter: 0, livez: 0 };
  let n = 0;
  let badAuth = 0;
  server = createServer((req, res) => {
    if (req.url === '/livez') {
      sent.livez++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 11 }).end('{"ok":true}');
      return;
    }
    if (req.headers.authorization !== 'Bearer t') badAuth++;
    const i = n++;
    const kind = i % 4;
    const body =
      kind === 0 || kind === 3
        ? JSON.stringify({ id: 'u', padding: 'x'.repeat(3000) })
        : JSON.stringify({ code: 'overloaded', reason: kind === 1 ? 'in_flight' : 'event_loop_delay' });
    const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
    if (kind === 1 || (kind === 2 && i % 8 !== 2)) headers['retry-after'] = 2;
    if (kind === 0 || kind === 3) sent.ok++;
    else if (kind === 1) sent.inFlight++;
    else sent.loop++;
    if (kind === 2 && headers['retry-after'] === undefined) sent.noRetryAfter++;
    res.writeHead(kind === 0 || kind === 3 ? 200 : 503, headers);
    if (kind === 3) {
      // Headers now, the body in a later chunk.
      res.flushHeaders();
      setTimeout(() => res.end(body), 2);
    } else res.end(body);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const load = startLoadWorker({
    port,
    path: '/api/me',
    headers: { authorization: 'Bearer t' },
    probePath: '/livez',
    probeEveryMs: 5,
  });
  try {
    await load.openPool(8);
    const closed = await load.closed(4, 200);
    expect(closed.ok + closed.other).toBe(n);
    expect(closed.ok).toBe(sent.ok);

    Object.assign(sent, { ok: 0, inFlight: 0, loop: 0, noRetryAfter: 0, livez: 0 });
    n = 0;
    const r = await load.open(400, 300);
    expect(r.sent).toBe(120);
    expect(r.errors).toBe(0);
    expect(r.unsent).toBe(0);
    expect(r.status.length).toBe(n);
    const count = (pred: (i: number) => boolean) => r.status.filter((_, i) => pred(i)).length;
    expect(count((i) => r.status[i] === 200)).toBe(sent.ok);
    expect(count((i) => r.status[i] === 503 && r.reason[i] === REASONS.indexOf('in_flight'))).toBe(sent.inFlight);
    expect(count((i) => r.status[i] === 503 && r.reason[i] === REASONS.indexOf('event_loop_delay'))).toBe(sent.loop);
    expect(count((i) => r.status[i] === 503 && r.retryAfter[i] === 0)).toBe(sent.noRetryAfter);
    expect(r.probe.length).toBe(sent.livez);
    expect(r.probeFailed).toBe(0);
    expect(r.probe.length).toBeGreaterThan(0);
    expect(badAuth).toBe(0);
    for (const ms of [...r.sendToStatus, ...r.arrivalToStatus]) expect(ms).toBeGreaterThanOrEqual(0);
  } finally {
    await load.stop();
  }
});
