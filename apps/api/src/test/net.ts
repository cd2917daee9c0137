import { type ChildProcess, spawn } from 'node:child_process';
import { type Agent, request } from 'node:http';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A TCP forwarder on 127.0.0.1:listenPort -> target, for bringing a dependency "up" or "down" mid-test. */
export function tcpForward(listenPort: number, targetPort: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve) => {
    server.listen(listenPort, '127.0.0.1', () =>
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}

export interface HttpReply {
  status: number;
  text: string;
}

/**
 * One request to 127.0.0.1:port over a real socket (a fresh connection unless `agent` is given), `body` sent as
 * JSON; resolves with the whole reply as text, rejects on a connection error.
 */
export function httpCall(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
  agent: Agent | false = false,
): Promise<HttpReply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent,
        headers: {
          ...headers,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    )
      .on('error', reject)
      .end(payload);
  });
}

/** The status code of a GET to 127.0.0.1:port on a fresh connection (a readiness probe). */
export async function httpStatus(port: number, path: string): Promise<number> {
  return (await httpCall(port, 'GET', path)).status;
}

export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A test's own redis-server on 127.0.0.1:port (no persistence), never the shared one, so the test may kill, stop or
 * restart it. Resolves once it accepts connections.
 */
export async function startRedisServer(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  await waitFor(
    () =>
      new Promise<true | undefined>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.end('PING\r\n');
          resolve(true);
        });
        s.once('error', () => resolve(undefined));
      }),
    10_000,
    'redis-server',
  );
  return child;
}
