import { describe, expect, it } from 'vitest';
import {
  ApiError,
  errorMessage,
  loginHash,
  pendingFromHash,
  pendingLogin,
  request,
  setUnauthenticatedHandler,
} from './api';
import { translator } from './i18n/catalogs';
import { parseRetryAfter } from './problem';

describe('the second step of a log-in', () => {
  it('reads the pending step from the log-in answer; a session answer has none', () => {
    expect(
      pendingLogin({
        status: 'mfa_required',
        challenge: 'eyJ.challenge.sig',
        challengeExpiresAt: '2026-11-28T01:00:00.000Z',
        methods: ['totp', 'passkey'],
      }),
    ).toEqual({ status: 'mfa_required', challenge: 'eyJ.challenge.sig', methods: ['totp', 'passkey'] });
    expect(
      pendingLogin({ sessionId: 's1', tokenType: 'Bearer', accessTokenExpiresAt: 'x', refreshTokenExpiresAt: 'y' }),
    ).toBeNull();
    expect(pendingLogin(undefined)).toBeNull();
    expect(pendingLogin({ status: 'mfa_required', challenge: '' })).toBeNull();
    expect(pendingLogin({ status: 'something_else', challenge: 'c' })).toBeNull();
  });

  it('keeps only the methods it knows and asks for a code when none is named', () => {
    expect(pendingLogin({ status: 'mfa_required', challenge: 'c', methods: ['sms', 'passkey'] })?.methods).toEqual([
      'passkey',
    ]);
    expect(pendingLogin({ status: 'mfa_enrollment_required', challenge: 'c' })?.methods).toEqual(['totp']);
  });

  it('round-trips through the hash the OIDC callback hands over', () => {
    const pending = {
      status: 'mfa_required' as const,
      challenge: 'a.b+c/d=',
      methods: ['totp' as const, 'passkey' as const],
    };
    expect(pendingFromHash(loginHash(pending))).toEqual(pending);
    // What the API's callback writes (URLSearchParams, methods joined by commas).
    expect(pendingFromHash('#status=mfa_enrollment_required&challenge=eyJ.x.y&methods=totp%2Cpasskey')).toEqual({
      status: 'mfa_enrollment_required',
      challenge: 'eyJ.x.y',
      methods: ['totp', 'passkey'],
    });
    expect(pendingFromHash('')).toBeNull();
    expect(pendingFromHash('#section-2')).toBeNull();
  });
});

describe('a throttled request (429)', () => {
  const en = translator('en');
  const de = translator('de');
  /** What a form shows for a call the server answered with this response. */
  async function shown(response: Response, t = en): Promise<string> {
    const failed = await request('/api/auth/login', { fetcher: async () => response, anonymous: true }).catch(
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(ApiError);
    return errorMessage(failed, t);
  }
  const problem = (headers: Record<string, string> = {}) =>
    new Response(JSON.stringify({ status: 429, code: 'rate_limited', detail: 'Slow down.' }), {
      status: 429,
      headers: { 'content-type': 'application/problem+json', ...headers },
    });

  it('says how long to wait when Retry-After does (seconds or an HTTP date)', async () => {
    expect(await shown(problem({ 'retry-after': '7' }))).toBe('Too many attempts. Try again in 7 s.');
    expect(await shown(problem({ 'retry-after': '7' }), de)).toBe('Zu viele Versuche. Versuche es in 7 s erneut.');
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    expect(await shown(problem({ 'retry-after': inAMinute }))).toMatch(/^Too many attempts\. Try again in \d+ s\.$/);
  });

  it('without a usable Retry-After says to wait a moment: never NaN, never blank', async () => {
    const plain = 'Too many attempts. Wait a moment and try again.';
    expect(await shown(problem())).toBe(plain);
    for (const header of ['', 'soon', '-5', '1.5', 'Wed, 21 Oct 2015 07:28:00 GMT']) {
      expect(await shown(problem({ 'retry-after': header })), `Retry-After: ${header}`).toBe(plain);
    }
    // A proxy in front of the API throttling with an empty or HTML body still reads as throttling.
    expect(await shown(new Response(null, { status: 429 }))).toBe(plain);
    expect(await shown(new Response('<html>Too Many Requests</html>', { status: 429 }))).toBe(plain);
    expect(await shown(new Response(null, { status: 429 }), de)).toBe(
      'Zu viele Versuche. Warte einen Moment und versuche es erneut.',
    );
  });

  it('keeps its own message for a spent plan quota, also a 429', async () => {
    const quota = new Response(JSON.stringify({ status: 429, code: 'quota_exceeded' }), {
      status: 429,
      headers: { 'retry-after': '86400' },
    });
    expect(await shown(quota)).toBe('You reached your plan’s limit. Try again later or ask for a larger plan.');
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and future HTTP dates as whole seconds, at least 1', () => {
    const now = Date.parse('2026-11-28T04:00:00Z');
    expect(parseRetryAfter('0', now)).toBe(1);
    expect(parseRetryAfter(' 120 ', now)).toBe(120);
    expect(parseRetryAfter('Sat, 28 Nov 2026 04:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Sat, 28 Nov 2026 04:00:00 GMT', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('NaN', now)).toBeUndefined();
    expect(parseRetryAfter('2030-01-01T00:00:00Z', now), 'not an HTTP date').toBeUndefined();
    expect(parseRetryAfter('99999999999999999999', now)).toBeUndefined();
  });
});

describe('a 401 on a signed-in route', () => {
  const en = translator('en');
  const answer = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json' } });

  it('is a wrong password when the code says so: shown, with no refresh and no trip to log-in', async () => {
    const calls: string[] = [];
    let sentToLogin = 0;
    setUnauthenticatedHandler(() => sentToLogin++);
    const failed = await request('/api/me/password', {
      body: { currentPassword: 'wrong', newPassword: 'a long enough password' },
      fetcher: async (input) => {
        calls.push(String(input));
        return answer(401, { status: 401, code: 'invalid_credentials', detail: 'Email or password is incorrect.' });
      },
    }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(ApiError);
    expect(errorMessage(failed, en)).toBe(en('errors.invalid_credentials'));
    expect(calls).toEqual(['/api/me/password']);
    expect(sentToLogin).toBe(0);
  });

  it('is an expired session otherwise: refreshes once, repeats, and goes to log-in only when both fail', async () => {
    const calls: string[] = [];
    let sentToLogin = 0;
    setUnauthenticatedHandler(() => sentToLogin++);
    const expired = () => answer(401, { status: 401, code: 'token_expired' });
    // The refresh works: the repeated call succeeds.
    let refreshed = false;
    const ok = await request('/api/me', {
      fetcher: async (input) => {
        calls.push(String(input));
        if (input === '/api/auth/refresh') {
          refreshed = true;
          return new Response(null, { status: 204 });
        }
        return refreshed ? new Response('{}', { status: 200 }) : expired();
      },
    });
    expect(ok.status).toBe(200);
    expect(calls).toEqual(['/api/me', '/api/auth/refresh', '/api/me']);
    expect(sentToLogin).toBe(0);
    // The refresh fails too: log-in.
    const failed = await request('/api/me', {
      fetcher: async (input) => (input === '/api/auth/refresh' ? answer(401, { status: 401 }) : expired()),
    }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(ApiError);
    expect(sentToLogin).toBe(1);
  });
});
