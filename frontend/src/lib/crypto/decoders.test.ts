// @vitest-environment node
/**
 * Seeded mutation fuzzing of every decoder and of the stateful decrypt paths (as the
 * Rust `tests/decoders.rs`): no input throws anything but a CryptoError, and a rejected
 * message leaves the state byte-identical.
 */

import { describe, expect, it } from 'vitest';

import { AttachmentDecryptor, AttachmentPointer, decryptAttachment, encryptAttachmentWithKey } from './attachment.js';
import { bytesEqual, toHex } from './encoding.js';
import { CryptoError } from './errors.js';
import { DeviceCertificate, DeviceIdentity, UserKeyPair } from './identity.js';
import { PreKeyMessage, RatchetMessage, Session, decodeIncoming } from './ratchet.js';
import { SenderKeyDistribution, SenderKeyMessage, SenderKeyReceiver, SenderKeySender } from './senderKey.js';
import { TestRng, utf8 } from './testSupport.js';
import {
  OneTimePreKeyPublic,
  OneTimePreKeySecret,
  PreKeyBundle,
  SignedPreKeyPublic,
  SignedPreKeySecret,
} from './x3dh.js';

const ROUNDS = 3000;

function mutate(rng: TestRng, input: Uint8Array): Uint8Array {
  const v = Array.from(input);
  for (let n = 1 + rng.below(3); n > 0; n--) {
    const op = rng.below(6);
    if (op === 0 && v.length > 0) {
      const i = rng.below(v.length);
      v[i] = (v[i] as number) ^ (1 << rng.below(8));
    } else if (op === 1 && v.length > 0) {
      v[rng.below(v.length)] = rng.below(256);
    } else if (op === 2) {
      v.length = rng.below(v.length + 1);
    } else if (op === 3) {
      for (let k = 1 + rng.below(8); k > 0; k--) v.push(rng.below(256));
    } else if (op === 4 && v.length > 8) {
      const i = rng.below(v.length - 4);
      v.splice(i, 4, 0xff, 0xff, 0xff, rng.below(256));
    } else {
      v.splice(rng.below(v.length + 1), 0, rng.below(256));
    }
  }
  return Uint8Array.from(v);
}

/** Runs `f`; an exception other than a CryptoError fails the test. Returns whether it succeeded. */
function onlyCryptoErrors(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (!(e instanceof CryptoError)) throw e;
    return false;
  }
}

function decodeAll(b: Uint8Array): void {
  onlyCryptoErrors(() => DeviceCertificate.fromBytes(b));
  onlyCryptoErrors(() => UserKeyPair.fromBytes(b));
  onlyCryptoErrors(() => DeviceIdentity.fromBytes(b));
  onlyCryptoErrors(() => SignedPreKeyPublic.fromBytes(b));
  onlyCryptoErrors(() => OneTimePreKeyPublic.fromBytes(b));
  onlyCryptoErrors(() => SignedPreKeySecret.fromBytes(b));
  onlyCryptoErrors(() => OneTimePreKeySecret.fromBytes(b));
  onlyCryptoErrors(() => PreKeyBundle.fromBytes(b));
  onlyCryptoErrors(() => PreKeyMessage.fromBytes(b));
  onlyCryptoErrors(() => RatchetMessage.fromBytes(b));
  onlyCryptoErrors(() => decodeIncoming(b));
  onlyCryptoErrors(() => Session.fromBytes(b));
  onlyCryptoErrors(() => SenderKeyDistribution.fromBytes(b));
  onlyCryptoErrors(() => SenderKeyMessage.fromBytes(b));
  onlyCryptoErrors(() => SenderKeySender.fromBytes(b));
  onlyCryptoErrors(() => SenderKeyReceiver.fromBytes(b));
  onlyCryptoErrors(() => AttachmentPointer.fromBytes(b));
}

describe('decoders and decrypt paths under mutation', () => {
  it('never throw anything but CryptoError and never change state', () => {
    const rng = new TestRng(77);
    const user = UserKeyPair.generate(new Uint8Array(16).fill(1), rng.source);
    const device = DeviceIdentity.generate(new Uint8Array(16).fill(1), new Uint8Array(16).fill(2), rng.source);
    const cert = user.certifyDevice(device.publicKeys());
    const bobUser = UserKeyPair.generate(new Uint8Array(16).fill(3), rng.source);
    const bob = DeviceIdentity.generate(new Uint8Array(16).fill(3), new Uint8Array(16).fill(4), rng.source);
    const bobCert = bobUser.certifyDevice(bob.publicKeys());
    const spk = SignedPreKeySecret.generate(bob, 5, rng.source);
    const opk = OneTimePreKeySecret.generate(6, rng.source);
    const bundle = new PreKeyBundle(bobCert, spk.public(), opk.public());
    const a = Session.initiate(device, cert, bundle, bobUser.publicKey, rng.source);
    const first = a.encrypt(utf8('first'));
    const { session: b } = Session.respond(bob, bobCert, spk, opk, user.publicKey, PreKeyMessage.fromBytes(first), rng.source);
    const second = a.encrypt(utf8('second'));
    const reply = b.encrypt(utf8('reply'));
    const ch = new Uint8Array(16).fill(8);
    const dev = new Uint8Array(16).fill(2);
    const sender = SenderKeySender.generate(ch, dev, rng.source);
    const receiver = SenderKeyReceiver.fromDistribution(sender.distribution(), dev);
    const group = sender.encrypt(utf8('group'), rng.source);
    const { pointer, blob } = encryptAttachmentWithKey(new Uint8Array(32).fill(9), 64, new Uint8Array(150).fill(1));

    const samples = [
      cert.toBytes(),
      user.toBytes(),
      device.toBytes(),
      spk.public().toBytes(),
      opk.public().toBytes(),
      spk.toBytes(),
      opk.toBytes(),
      bundle.toBytes(),
      first,
      second,
      reply,
      a.toBytes(),
      b.toBytes(),
      sender.distribution().toBytes(),
      group,
      sender.toBytes(),
      receiver.toBytes(),
      pointer.toBytes(),
      blob,
    ];
    let rejected = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const src = samples[rng.below(samples.length)] as Uint8Array;
      const m = mutate(rng, src);
      decodeAll(m);
      if (bytesEqual(m, src)) continue;
      const before = [toHex(b.toBytes()), toHex(a.toBytes()), toHex(receiver.toBytes())];
      expect(!onlyCryptoErrors(() => b.decrypt(m, rng.source)) || bytesEqual(m, second)).toBe(true);
      expect(!onlyCryptoErrors(() => a.decrypt(m, rng.source)) || bytesEqual(m, reply)).toBe(true);
      expect(onlyCryptoErrors(() => receiver.decrypt(ch, dev, m))).toBe(false);
      expect(onlyCryptoErrors(() => decryptAttachment(pointer, m))).toBe(false);
      onlyCryptoErrors(() => {
        const d = new AttachmentDecryptor(pointer, m.subarray(0, Math.min(5, m.length)));
        d.decryptChunk(m.subarray(Math.min(5, m.length)));
      });
      expect([toHex(b.toBytes()), toHex(a.toBytes()), toHex(receiver.toBytes())]).toEqual(before);
      rejected++;
    }
    expect(rejected).toBeGreaterThan(ROUNDS / 2);
    // The genuine messages still work after all that.
    expect(new TextDecoder().decode(b.decrypt(second, rng.source))).toBe('second');
    expect(new TextDecoder().decode(a.decrypt(reply, rng.source))).toBe('reply');
    expect(new TextDecoder().decode(receiver.decrypt(ch, dev, group))).toBe('group');
    expect(decryptAttachment(pointer, blob).every((x) => x === 1)).toBe(true);
  }, 120_000);

  it('values that are not byte arrays are refused with a CryptoError', () => {
    for (const v of [undefined, null, 'abc', [1, 2, 3], new ArrayBuffer(4), new Uint16Array(4)]) {
      decodeAll(v as unknown as Uint8Array);
      const { pointer } = encryptAttachmentWithKey(new Uint8Array(32), 64, new Uint8Array(1));
      expect(onlyCryptoErrors(() => decryptAttachment(pointer, v as unknown as Uint8Array))).toBe(false);
    }
  });

  it('random bytes never throw anything but CryptoError', () => {
    const rng = new TestRng(78);
    const tags = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0a, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26];
    for (let round = 0; round < ROUNDS; round++) {
      const v = Uint8Array.from({ length: rng.below(400) }, () => rng.below(256));
      if (v.length > 0 && rng.below(2) === 0) v[0] = tags[rng.below(tags.length)] as number;
      decodeAll(v);
    }
  }, 120_000);
});
