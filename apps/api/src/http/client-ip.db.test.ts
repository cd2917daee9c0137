import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../test/app.ts';

/** A forged X-Forwarded-For from an untrusted peer must not change the client IP that limits and audit use. */
describe('client IP behind trusted proxies', () => {
  let t: TestApp | undefined;
  afterEach(() => t?.close());

  const build = async (trustProxy: string) => {
    t = await buildTestApp(
      { 'server.trustProxy': trustProxy },
      {
        routes(app) {
          app.get('/api/whoami-ip', { config: { auth: 'public' } }, async (request) => ({ ip: request.ip }));
        },
      },
    );
    return t.app;
  };
  const ipOf = async (app: Awaited<ReturnType<typeof build>>, remoteAddress: string, xff?: string) =>
    (
      await app.inject({
        url: '/api/whoami-ip',
        remoteAddress,
        headers: xff ? { 'x-forwarded-for': xff } : {},
      })
    ).json().ip;

  it('trusts X-Forwarded-For only from loopback by default', async () => {
    const app = await build('loopback');
    expect(await ipOf(app, '203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
    expect(await ipOf(app, '127.0.0.1', '198.51.100.1')).toBe('198.51.100.1');
    // A client that prepends its own value through the proxy still gets the address the proxy saw.
    expect(await ipOf(app, '127.0.0.1', '10.9.9.9, 198.51.100.1')).toBe('198.51.100.1');
  });

  it('ignores the header entirely when trust is off', async () => {
    const app = await build('false');
    expect(await ipOf(app, '127.0.0.1', '198.51.100.1')).toBe('127.0.0.1');
  });

  it('honours a CIDR list and a hop count', async () => {
    const cidr = await build('10.0.0.0/8');
    expect(await ipOf(cidr, '10.1.2.3', '198.51.100.1')).toBe('198.51.100.1');
    expect(await ipOf(cidr, '192.0.2.1', '198.51.100.1')).toBe('192.0.2.1');
    await t?.close();
    const hops = await build('1');
    expect(await ipOf(hops, '192.0.2.1', '198.51.100.7, 198.51.100.1')).toBe('198.51.100.1');
  });
});
