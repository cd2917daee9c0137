import { describe, expect, it } from 'vitest';
import { loginHash, pendingFromHash, pendingLogin } from './api';

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
