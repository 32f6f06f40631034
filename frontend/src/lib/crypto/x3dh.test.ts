// @vitest-environment node
import { describe, expect, it } from 'vitest';

import { concat, toHex } from './encoding.js';
import { CryptoError } from './errors.js';
import { TestRng, party, type Party, xorByte } from './testSupport.js';
import {
  OneTimePreKeyPublic,
  OneTimePreKeySecret,
  PreKeyBundle,
  PreKeyHeader,
  SignedPreKeyPublic,
  SignedPreKeySecret,
  initiate,
  respond,
} from './x3dh.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).code;
  }
  return 'ok';
}

function bobKeys(rng: TestRng, bob: Party) {
  return {
    spk: SignedPreKeySecret.generate(bob.device, 7, rng.source),
    opk: OneTimePreKeySecret.generate(42, rng.source),
  };
}

function flip(b: Uint8Array, i: number): Uint8Array {
  const c = b.slice();
  return xorByte(c, i);
}

describe('X3DH', () => {
  it('both sides agree with and without a one-time prekey', () => {
    const rng = new TestRng(10);
    const alice = party(rng, 1);
    const bob = party(rng, 2);
    const { spk, opk } = bobKeys(rng, bob);
    for (const withOpk of [true, false]) {
      const b0 = new PreKeyBundle(bob.cert, spk.public(), withOpk ? opk.public() : null);
      const bundle = PreKeyBundle.fromBytes(b0.toBytes());
      expect(bundle.toBytes().length).toBe(withOpk ? 331 : 295);
      const init = initiate(alice.device, alice.cert, bundle, bob.user.publicKey, rng.source);
      const resp = respond(bob.device, bob.cert, spk, withOpk ? opk : null, init.header, alice.user.publicKey);
      expect(toHex(init.output.sharedSecret)).toBe(toHex(resp.sharedSecret));
      expect(toHex(init.output.associatedData)).toBe(toHex(resp.associatedData));
      expect(init.output.associatedData.length).toBe(386);
    }
  });

  it('rejects bad bundles', () => {
    const rng = new TestRng(11);
    const alice = party(rng, 1);
    const bob = party(rng, 2);
    const mallory = party(rng, 3);
    const { spk } = bobKeys(rng, bob);
    const good = spk.public();
    const bk = bob.user.publicKey;
    const init = (b: PreKeyBundle) => initiate(alice.device, alice.cert, b, bk, rng.source);
    // Tampered signed prekey signature or key.
    const badSig = new SignedPreKeyPublic(good.keyId, good.publicKey, flip(good.signature, 3));
    expect(code(() => init(new PreKeyBundle(bob.cert, badSig)))).toBe('BadSignature');
    const badKey = new SignedPreKeyPublic(good.keyId, flip(good.publicKey, 3), good.signature);
    expect(code(() => init(new PreKeyBundle(bob.cert, badKey)))).not.toBe('ok');
    const badId = new SignedPreKeyPublic(good.keyId + 1, good.publicKey, good.signature);
    expect(code(() => init(new PreKeyBundle(bob.cert, badId)))).toBe('BadSignature');
    // Swapped bundle: the server substitutes Mallory's device.
    const mspk = SignedPreKeySecret.generate(mallory.device, 1, rng.source);
    expect(code(() => init(new PreKeyBundle(mallory.cert, mspk.public())))).toBe('IdentityMismatch');
    // Signed prekey of another device re-used in Bob's bundle.
    expect(code(() => init(new PreKeyBundle(bob.cert, mspk.public())))).toBe('BadSignature');
    // Low-order one-time prekey (all zero) gives a zero DH output.
    const zeroOpk = new OneTimePreKeyPublic(1, new Uint8Array(32));
    expect(code(() => init(new PreKeyBundle(bob.cert, good, zeroOpk)))).toBe('InvalidPublicKey');
    // The initiator's own certificate must match its identity.
    expect(code(() => initiate(alice.device, bob.cert, new PreKeyBundle(bob.cert, good), bk, rng.source))).toBe(
      'InvalidState',
    );
  });

  it('the responder rejects bad headers', () => {
    const rng = new TestRng(12);
    const alice = party(rng, 1);
    const bob = party(rng, 2);
    const { spk, opk } = bobKeys(rng, bob);
    const bundle = new PreKeyBundle(bob.cert, spk.public(), opk.public());
    const init = initiate(alice.device, alice.cert, bundle, bob.user.publicKey, rng.source);
    const ak = alice.user.publicKey;
    const h = init.header;
    // Missing one-time prekey.
    expect(code(() => respond(bob.device, bob.cert, spk, null, h, ak))).toBe('InvalidField');
    // One-time prekey with another id.
    const otherOpk = OneTimePreKeySecret.generate(43, rng.source);
    expect(code(() => respond(bob.device, bob.cert, spk, otherOpk, h, ak))).toBe('InvalidField');
    // Wrong signed prekey id.
    const wrongSpk = new PreKeyHeader(h.initiator, h.ephemeralKey, 8, h.oneTimePreKeyId);
    expect(code(() => respond(bob.device, bob.cert, spk, opk, wrongSpk, ak))).toBe('InvalidField');
    // Untrusted initiator user key.
    expect(code(() => respond(bob.device, bob.cert, spk, opk, h, bob.user.publicKey))).toBe('IdentityMismatch');
    // Low-order ephemeral key.
    const lowOrder = new PreKeyHeader(h.initiator, new Uint8Array(32), h.signedPreKeyId, h.oneTimePreKeyId);
    expect(code(() => respond(bob.device, bob.cert, spk, opk, lowOrder, ak))).toBe('InvalidPublicKey');
    // Own certificate that does not match the identity.
    expect(code(() => respond(bob.device, alice.cert, spk, opk, h, ak))).toBe('InvalidState');
  });

  it('prekey encodings are strict', () => {
    const rng = new TestRng(13);
    const bob = party(rng, 2);
    const { spk, opk } = bobKeys(rng, bob);
    const bundle = new PreKeyBundle(bob.cert, spk.public(), opk.public());
    const bytes = bundle.toBytes();
    expect(toHex(PreKeyBundle.fromBytes(bytes).toBytes())).toBe(toHex(bytes));
    expect(code(() => PreKeyBundle.fromBytes(bytes.subarray(0, bytes.length - 1)))).toBe('Truncated');
    expect(code(() => PreKeyBundle.fromBytes(concat(bytes, Uint8Array.of(1))))).toBe('TrailingBytes');
    const noOpk = new PreKeyBundle(bob.cert, spk.public()).toBytes();
    noOpk[noOpk.length - 1] = 2;
    expect(code(() => PreKeyBundle.fromBytes(noOpk))).toBe('InvalidField');
    const innerTag = bytes.slice();
    innerTag[1] = 0x02;
    expect(code(() => PreKeyBundle.fromBytes(innerTag))).toBe('WrongTag');
    const spkPub = spk.public();
    expect(SignedPreKeyPublic.fromBytes(spkPub.toBytes()).equals(spkPub)).toBe(true);
    expect(OneTimePreKeyPublic.fromBytes(opk.public().toBytes()).equals(opk.public())).toBe(true);
    expect(SignedPreKeySecret.fromBytes(spk.toBytes()).public().equals(spk.public())).toBe(true);
    expect(OneTimePreKeySecret.fromBytes(opk.toBytes()).public().equals(opk.public())).toBe(true);
    for (const enc of [spkPub.toBytes(), opk.public().toBytes(), spk.toBytes(), opk.toBytes()]) {
      const short = enc.subarray(0, enc.length - 1);
      const long = concat(enc, Uint8Array.of(0));
      for (const b of [short, long]) {
        expect(code(() => SignedPreKeyPublic.fromBytes(b))).not.toBe('ok');
        expect(code(() => OneTimePreKeyPublic.fromBytes(b))).not.toBe('ok');
        expect(code(() => SignedPreKeySecret.fromBytes(b))).not.toBe('ok');
        expect(code(() => OneTimePreKeySecret.fromBytes(b))).not.toBe('ok');
      }
    }
    const shown = `${spk} ${opk} ${JSON.stringify([spk, opk])}`;
    expect(shown).toContain('redacted');
    expect(shown).not.toContain(toHex(spk.toBytes().subarray(5, 37)));
  });

  it('refuses key ids that are not u32', () => {
    const rng = new TestRng(14);
    const bob = party(rng, 2);
    expect(code(() => SignedPreKeySecret.generate(bob.device, -1, rng.source))).toBe('InvalidField');
    expect(code(() => OneTimePreKeySecret.generate(2 ** 32, rng.source))).toBe('InvalidField');
  });
});
