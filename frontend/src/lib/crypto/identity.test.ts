// @vitest-environment node
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';

import { concat, toHex } from './encoding.js';
import { CryptoError } from './errors.js';
import { DEVICE_CERTIFICATE_LEN, DeviceCertificate, DeviceIdentity, UserKeyPair, devicePublicKeysEqual } from './identity.js';
import { checkVerifyingKey, sha512Of, verifyAhead, verifyStrict } from './primitives.js';
import { TestRng, xorByte } from './testSupport.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).code;
  }
  return 'ok';
}

const ids = (b: number) => new Uint8Array(16).fill(b);

function setup() {
  const rng = new TestRng(1);
  const user = UserKeyPair.generate(ids(1), rng.source);
  const dev = DeviceIdentity.generate(ids(1), ids(2), rng.source);
  const cert = user.certifyDevice(dev.publicKeys());
  return { user, dev, cert };
}

/** A certificate with one field replaced. */
function modified(c: DeviceCertificate, field: keyof DeviceCertificate & string, i: number): DeviceCertificate {
  const f = {
    userKey: c.userKey.slice(),
    userId: c.userId.slice(),
    deviceId: c.deviceId.slice(),
    deviceSigningKey: c.deviceSigningKey.slice(),
    deviceDhKey: c.deviceDhKey.slice(),
    signature: c.signature.slice(),
  } as Record<string, Uint8Array>;
  xorByte(f[field] as Uint8Array, i);
  return new DeviceCertificate(
    f.userKey as Uint8Array,
    f.userId as Uint8Array,
    f.deviceId as Uint8Array,
    f.deviceSigningKey as Uint8Array,
    f.deviceDhKey as Uint8Array,
    f.signature as Uint8Array,
  );
}

describe('device certificates', () => {
  it('verify and round-trip', () => {
    const { user, dev, cert } = setup();
    cert.verify(user.publicKey);
    const bytes = cert.toBytes();
    expect(bytes.length).toBe(DEVICE_CERTIFICATE_LEN);
    expect(DeviceCertificate.fromBytes(bytes).equals(cert)).toBe(true);
    expect(devicePublicKeysEqual(cert.deviceKeys(), dev.publicKeys())).toBe(true);
  });

  it('are rejected when tampered or signed by another user key', () => {
    const { user, dev, cert } = setup();
    const other = UserKeyPair.generate(ids(1), new TestRng(2).source);
    // A device the server invents, certified by a key the peer does not trust.
    const forged = other.certifyDevice(dev.publicKeys());
    expect(code(() => forged.verify(user.publicKey))).toBe('IdentityMismatch');
    // Same user key claimed, but signed by another key.
    const swapped = new DeviceCertificate(
      user.publicKey,
      forged.userId,
      forged.deviceId,
      forged.deviceSigningKey,
      forged.deviceDhKey,
      forged.signature,
    );
    expect(code(() => swapped.verify(user.publicKey))).toBe('BadSignature');
    for (const [field, i] of [
      ['deviceId', 0],
      ['deviceDhKey', 5],
      ['userId', 3],
      ['signature', 10],
    ] as const) {
      expect(code(() => modified(cert, field, i).verify(user.publicKey)), field).not.toBe('ok');
    }
  });

  it('decode strictly', () => {
    const { cert } = setup();
    const bytes = cert.toBytes();
    expect(code(() => DeviceCertificate.fromBytes(bytes.subarray(0, bytes.length - 1)))).toBe('Truncated');
    expect(code(() => DeviceCertificate.fromBytes(concat(bytes, Uint8Array.of(0))))).toBe('TrailingBytes');
    const wrong = bytes.slice();
    wrong[0] = 0x7f;
    expect(code(() => DeviceCertificate.fromBytes(wrong))).toBe('WrongTag');
    expect(code(() => DeviceCertificate.fromBytes(new Uint8Array(0)))).toBe('Truncated');
  });

  it('reject a small-order device signing key', () => {
    const { user, dev } = setup();
    const keys = dev.publicKeys();
    const identity = new Uint8Array(32);
    identity[0] = 1; // the neutral element: small order
    const cert = user.certifyDevice({ ...keys, signingKey: identity });
    expect(code(() => cert.verify(user.publicKey))).toBe('InvalidPublicKey');
  });
});

describe('secret storage encodings', () => {
  it('round-trip, are strict, and are never printed', () => {
    const { user, dev } = setup();
    expect(toHex(UserKeyPair.fromBytes(user.toBytes()).publicKey)).toBe(toHex(user.publicKey));
    const d2 = DeviceIdentity.fromBytes(dev.toBytes());
    expect(devicePublicKeysEqual(d2.publicKeys(), dev.publicKeys())).toBe(true);
    const shown = `${dev} ${user} ${JSON.stringify({ dev, user })}`;
    expect(shown).toContain('redacted');
    expect(shown).not.toContain(toHex(dev.toBytes().subarray(33, 65)));
    expect(code(() => UserKeyPair.fromBytes(user.toBytes().subarray(0, 10)))).toBe('Truncated');
    expect(code(() => DeviceIdentity.fromBytes(user.toBytes()))).toBe('WrongTag');
    expect(code(() => UserKeyPair.fromBytes(concat(user.toBytes(), Uint8Array.of(1))))).toBe('TrailingBytes');
  });

  it('wipe overwrites the secrets', () => {
    const { user, dev } = setup();
    user.wipe();
    dev.wipe();
    expect(user.toBytes().subarray(17).every((b) => b === 0)).toBe(true);
    expect(dev.toBytes().subarray(33).every((b) => b === 0)).toBe(true);
  });

  it('refuse ids of the wrong length', () => {
    const rng = new TestRng(3);
    expect(code(() => UserKeyPair.generate(new Uint8Array(15), rng.source))).toBe('InvalidField');
    expect(code(() => DeviceIdentity.generate(ids(1), new Uint8Array(17), rng.source))).toBe('InvalidField');
  });
});

describe('strict Ed25519 verification (ed25519-dalek verify_strict rules)', () => {
  const seed = new Uint8Array(32).fill(7);
  const pub = ed25519.getPublicKey(seed);
  const msg = Uint8Array.of(1, 2, 3);
  const Point = ed25519.Point;
  const L = Point.Fn.ORDER;
  const le = (b: Uint8Array) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
  const toLe = (v: bigint) => {
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
    return out;
  };
  // An order-8 point (the torsion subgroup's generator).
  const T = Point.fromBytes(
    Uint8Array.from([
      0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53,
      0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ]),
  );

  it('accepts honest signatures', () => {
    expect(verifyStrict(pub, msg, ed25519.sign(msg, seed))).toBe(true);
    expect(verifyStrict(pub, Uint8Array.of(1, 2, 4), ed25519.sign(msg, seed))).toBe(false);
  });

  it('rejects a non-canonical s (s + L)', () => {
    const sig = ed25519.sign(msg, seed);
    const s = le(sig.subarray(32)) + L;
    expect(s < 2n ** 256n).toBe(true);
    const bad = concat(sig.subarray(0, 32), toLe(s));
    expect(verifyStrict(pub, msg, bad)).toBe(false);
  });

  it('rejects R with a torsion component that a cofactored verifier accepts', () => {
    expect(T.isSmallOrder()).toBe(true);
    expect(T.is0()).toBe(false);
    const { scalar } = ed25519.utils.getExtendedPublicKey(seed);
    const r = 123456789n;
    const R = Point.BASE.multiply(r).add(T).toBytes();
    const k = le(sha512Of(R, pub, msg)) % L;
    const s = (r + k * scalar) % L;
    const sig = concat(R, toLe(s));
    // [8]([s]B - R - [k]A) = [8](-T) = 0: the cofactored equation holds...
    expect(ed25519.verify(sig, msg, pub, { zip215: false })).toBe(true);
    // ...but [s]B - [k]A = rB does not encode to R: verify_strict rejects.
    expect(verifyStrict(pub, msg, sig)).toBe(false);
  });

  it('accepts a non-canonical public key encoding exactly as ed25519-dalek does', () => {
    // y = p + 3 (top bit clear): curve25519-dalek reduces y and accepts this point, which
    // is not of small order; an RFC 8032-strict decoder refuses it.
    const nonCanonical = new Uint8Array(32).fill(0xff);
    nonCanonical[0] = 0xf0;
    nonCanonical[31] = 0x7f;
    expect(code(() => checkVerifyingKey(nonCanonical))).toBe('ok');
    expect(() => Point.fromBytes(nonCanonical, false)).toThrow();
    expect(Point.fromBytes(nonCanonical, true).equals(Point.fromBytes(toLe(3n), false))).toBe(true);
  });

  it('verified ahead by WebCrypto: the same answers, each for exactly its key and bytes', async () => {
    const label = Uint8Array.of(7, 7);
    const signed = (body: Uint8Array) => ed25519.sign(concat(Uint8Array.of(label.length), label, body), seed);
    const honest = signed(msg);
    const { scalar } = ed25519.utils.getExtendedPublicKey(seed);
    const R = Point.BASE.multiply(99n).add(T).toBytes();
    const input = concat(Uint8Array.of(label.length), label, msg);
    const torsion = concat(R, toLe((99n + (le(sha512Of(R, pub, input)) % L) * scalar) % L));
    const nonCanonicalS = concat(honest.subarray(0, 32), toLe(le(honest.subarray(32)) + L));
    const n = await verifyAhead([
      { publicKey: pub, label, body: msg, signature: honest },
      { publicKey: pub, label, body: msg, signature: torsion },
      { publicKey: pub, label, body: msg, signature: nonCanonicalS },
    ]);
    // Node's WebCrypto verifies Ed25519: the honest one only
    expect(n).toBe(1);
    expect(verifyStrict(pub, input, torsion)).toBe(false);
    expect(verifyStrict(pub, input, nonCanonicalS)).toBe(false);
    // what was verified ahead stands only for the very bytes and key it was verified with
    expect(await verifyAhead([{ publicKey: pub, label, body: msg, signature: honest }])).toBe(1);
    expect(verifyStrict(pub, concat(input, Uint8Array.of(0)), honest)).toBe(false);
    expect(await verifyAhead([{ publicKey: pub, label, body: msg, signature: honest }])).toBe(1);
    const other = ed25519.getPublicKey(new Uint8Array(32).fill(3));
    expect(verifyStrict(other, input, honest)).toBe(false);
    expect(await verifyAhead([{ publicKey: pub, label, body: msg, signature: honest }])).toBe(1);
    expect(verifyStrict(pub, input, honest)).toBe(true);
    // and taken once: the next check is the JavaScript one, with the same answer
    expect(verifyStrict(pub, input, honest)).toBe(true);
    // a forgery is not remembered
    const forged = honest.slice();
    forged[5] = (forged[5] as number) ^ 1;
    expect(await verifyAhead([{ publicKey: pub, label, body: msg, signature: forged }])).toBe(0);
    expect(verifyStrict(pub, input, forged)).toBe(false);
  });

  it('rejects small-order public keys and R', () => {
    const zeroKey = Point.ZERO.toBytes();
    expect(code(() => checkVerifyingKey(zeroKey))).toBe('InvalidPublicKey');
    expect(code(() => checkVerifyingKey(T.toBytes()))).toBe('InvalidPublicKey');
    expect(code(() => checkVerifyingKey(new Uint8Array(31)))).toBe('InvalidPublicKey');
    // A signature whose R is small order, with s chosen so that the cofactorless
    // equation would need R = -[k]A + [s]B: impossible to satisfy, but make sure the
    // small-order check comes first and no exception escapes.
    const sig = concat(T.toBytes(), new Uint8Array(32));
    expect(verifyStrict(pub, msg, sig)).toBe(false);
  });
});
