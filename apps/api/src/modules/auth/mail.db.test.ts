import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { waitFor } from '../../test/net.ts';
import { createTestUser } from '../../test/users.ts';

/** A real SMTP server on loopback (the network edge): the app speaks SMTP to it through nodemailer. */
interface Received {
  from: string;
  to: string[];
  raw: string;
}
const received: Received[] = [];
const sink = new SMTPServer({
  secure: false,
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(stream, session, done) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      received.push({
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        to: session.envelope.rcptTo.map((r) => r.address),
        raw: Buffer.concat(chunks).toString('utf8'),
      });
      done();
    });
  },
});

let t: TestApp;
beforeAll(async () => {
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const { port } = sink.server.address() as AddressInfo;
  t = await buildTestApp({ 'mail.url': `smtp://127.0.0.1:${port}`, 'mail.from': 'GenZ AI <no-reply@genz.test>' });
});
afterAll(async () => {
  await t?.close();
  await new Promise<void>((resolve) => sink.close(() => resolve()));
});

/** Quoted-printable soft breaks (=\r\n) and =3D would split a link; undo them. */
const unfold = (raw: string) => raw.replace(/=\r?\n/g, '').replaceAll('=3D', '=');

it('mails a single-use reset link over SMTP that sets a new password and ends every session', async () => {
  const u = await createTestUser(t.app);
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password-reset/request',
    payload: { email: u.email },
  });
  expect(res.statusCode).toBe(202);
  const mail = await waitFor(async () => received.find((m) => m.to.includes(u.email)), 10_000, 'the reset mail');
  expect(mail.from).toBe('no-reply@genz.test');
  expect(mail.raw).toMatch(/Subject: Reset your password/);
  const token = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(unfold(mail.raw))?.[1];
  expect(token).toBeTruthy();
  expect(t.app.mailer.outbox()).toHaveLength(0); // delivered, so not kept in the dev outbox

  const confirm = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password-reset/confirm',
    payload: { token, newPassword: 'a completely new password' },
  });
  expect(confirm.statusCode).toBe(200);
  expect((await t.app.inject({ url: '/api/me', headers: u.headers })).statusCode).toBe(401);
  const login = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { email: u.email, password: 'a completely new password', delivery: 'bearer' },
  });
  expect(login.statusCode).toBe(200);
  const again = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password-reset/confirm',
    payload: { token, newPassword: 'yet another password 1' },
  });
  expect(again.json().code).toBe('invalid_token');
});

it('answers a reset request for an unknown address exactly like a known one, and mails nothing', async () => {
  const before = received.length;
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password-reset/request',
    payload: { email: 'nobody-here@example.com' },
  });
  expect(res.statusCode).toBe(202);
  expect(res.json()).toEqual({
    status: 'accepted',
    message: 'If an account uses this address, a reset link is on its way.',
  });
  await new Promise((r) => setTimeout(r, 300));
  expect(received.length).toBe(before);
});
