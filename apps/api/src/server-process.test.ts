import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, httpStatus, waitFor } from './test/net.ts';
import { spawnApi } from './test/process.ts';

/** The process contract of server.ts: config errors name the key; SIGTERM drains and exits 0. */
/** Each test boots real processes on a fresh PGlite dir; a loaded 2-core machine can take several seconds. */
describe('server process', { timeout: 60_000 }, () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  function start(env: Record<string, string>) {
    const p = spawnApi({ PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env });
    children.push(p.child);
    const exited = new Promise<number | null>((resolve) => p.child.on('exit', (code) => resolve(code)));
    return { ...p, exited };
  }

  it('refuses to boot on a bad setting, naming it', async () => {
    const p = start({ PORT: 'eighty', DATA_DIR: mkdtempSync(join(tmpdir(), 'genz-srv-')) });
    expect(await p.exited).toBe(1);
    expect(p.output()).toContain('PORT: server.port must be integer');
  });

  it('refuses an embedded data dir that another running server holds', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'genz-srv-'));
    const port = await freePort();
    const first = start({ PORT: String(port), DATA_DIR: dataDir });
    await waitFor(async () => ((await httpStatus(port, '/readyz')) === 200 ? true : undefined), 30_000, 'readiness');
    const second = start({ PORT: String(await freePort()), DATA_DIR: dataDir });
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/is in use by process \d+ \(genz server\)/);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
  });

  it('on SIGTERM flips readiness to 503, finishes in-flight requests and exits 0', async () => {
    const port = await freePort();
    const p = start({
      PORT: String(port),
      DATA_DIR: mkdtempSync(join(tmpdir(), 'genz-srv-')),
      SHUTDOWN_DRAIN_DELAY_MS: '600',
      SHUTDOWN_GRACE_MS: '5000',
    });
    await waitFor(async () => ((await httpStatus(port, '/readyz')) === 200 ? true : undefined), 30_000, 'readiness');

    // An upload still in flight when the signal arrives must be answered, not cut.
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/api/upload',
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': '11' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write('{"a":');
      setTimeout(() => req.end('12345}'), 300);
    });
    await new Promise((r) => setTimeout(r, 50));
    p.child.kill('SIGTERM');
    await waitFor(
      async () => ((await httpStatus(port, '/readyz')) === 503 ? true : undefined),
      500,
      'readiness 503 while draining',
    );
    expect(await inFlight).toBe(404);
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain('draining: readiness is now 503');
  });
});
