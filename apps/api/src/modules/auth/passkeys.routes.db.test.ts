import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/app.ts';
import { createTestUser } from '../../test/users.ts';

const ORIGIN = 'http://localhost:3000';
const RP_ID = 'localhost';
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

/** A software authenticator: one ES256 (P-256) credential, user verification always on, a counting signer. */
function softwareAuthenticator() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const credentialId = randomBytes(16);
  let counter = 0;
  const cose = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x ?? '', 'base64url')],
      [-3, Buffer.from(jwk.y ?? '', 'base64url')],
    ]),
  );
  const authData = (flags: number, attested?: Buffer) => {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(RP_ID), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  };
  const clientData = (type: string, challenge: string) =>
    Buffer.from(JSON.stringify({ type, challenge, origin: ORIGIN, crossOrigin: false }));
  return {
    id: b64(credentialId),
    create(challenge: string) {
      const idLen = Buffer.alloc(2);
      idLen.writeUInt16BE(credentialId.length);
      const attested = Buffer.concat([Buffer.alloc(16), idLen, credentialId, Buffer.from(cose)]);
      const attestationObject = isoCBOR.encode(
        new Map<string, string | Map<string, never> | Uint8Array>([
          ['fmt', 'none'],
          ['attStmt', new Map<string, never>()],
          ['authData', authData(0x45, attested)],
        ]),
      );
      return {
        id: b64(credentialId),
        rawId: b64(credentialId),
        type: 'public-key',
        response: {
          clientDataJSON: b64(clientData('webauthn.create', challenge)),
          attestationObject: b64(attestationObject),
          transports: ['internal'],
        },
        clientExtensionResults: {},
      };
    },
    get(challenge: string, userHandle: string, key: KeyObject = privateKey) {
      counter++;
      const data = authData(0x05);
      const cd = clientData('webauthn.get', challenge);
      const signature = sign('sha256', Buffer.concat([data, sha256(cd)]), key);
      return {
        id: b64(credentialId),
        rawId: b64(credentialId),
        type: 'public-key',
        response: {
          clientDataJSON: b64(cd),
          authenticatorData: b64(data),
          signature: b64(signature),
          userHandle,
        },
        clientExtensionResults: {},
      };
    },
  };
}

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ 'limits.auth.loginPerIp': { rate: 1000, periodMs: 60_000, burst: 1000 } });
});
afterAll(() => t?.close());

const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, payload, headers });

describe('passkeys (WebAuthn) with a software authenticator', () => {
  it('registers a passkey, logs in with it once per ceremony, refuses a wrong signature, removes it', async () => {
    const u = await createTestUser(t.app);
    const device = softwareAuthenticator();

    const reg = await post('/api/me/passkeys/registration/options', {}, u.headers);
    expect(reg.statusCode).toBe(200);
    const { ceremony, options } = reg.json<{ ceremony: string; options: { challenge: string; rp: { id: string } } }>();
    expect(options.rp.id).toBe(RP_ID);
    const wrongChallenge = await post(
      '/api/me/passkeys/registration/verify',
      { ceremony, response: device.create(b64(randomBytes(32))) },
      u.headers,
    );
    expect(wrongChallenge.statusCode).toBe(401);
    const added = await post(
      '/api/me/passkeys/registration/verify',
      { ceremony, response: device.create(options.challenge), name: 'laptop' },
      u.headers,
    );
    expect(added.statusCode, added.body).toBe(201);
    const list = await t.app.inject({ method: 'GET', url: '/api/me/passkeys', headers: u.headers });
    expect(list.json()).toMatchObject([{ name: 'laptop', lastUsedAt: null }]);

    const userHandle = b64(new TextEncoder().encode(u.id));
    const start = (await post('/api/auth/passkeys/options', {})).json<{
      ceremony: string;
      options: { challenge: string };
    }>();
    const assertion = device.get(start.options.challenge, userHandle);
    const ok = await post('/api/auth/passkeys/verify', {
      ceremony: start.ceremony,
      response: assertion,
      delivery: 'bearer',
    });
    expect(ok.statusCode, ok.body).toBe(200);
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/me',
      headers: { authorization: `Bearer ${ok.json().accessToken}` },
    });
    expect(me.json().id).toBe(u.id);

    // The same ceremony cannot be used twice.
    const replay = await post('/api/auth/passkeys/verify', { ceremony: start.ceremony, response: assertion });
    expect(replay.statusCode).toBe(400);

    // A signature by another key fails.
    const next = (await post('/api/auth/passkeys/options', {})).json<{
      ceremony: string;
      options: { challenge: string };
    }>();
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forged = await post('/api/auth/passkeys/verify', {
      ceremony: next.ceremony,
      response: device.get(next.options.challenge, userHandle, stranger),
    });
    expect(forged.statusCode).toBe(401);

    const id = list.json()[0].id as string;
    const other = await createTestUser(t.app);
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/api/me/passkeys/${id}`, headers: other.headers })).statusCode,
    ).toBe(404);
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/api/me/passkeys/${id}`, headers: u.headers })).statusCode,
    ).toBe(204);
    const third = (await post('/api/auth/passkeys/options', {})).json<{
      ceremony: string;
      options: { challenge: string };
    }>();
    const removed = await post('/api/auth/passkeys/verify', {
      ceremony: third.ceremony,
      response: device.get(third.options.challenge, userHandle),
    });
    expect(removed.statusCode).toBe(401);
  });
});
