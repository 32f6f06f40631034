// @vitest-environment node
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';

import { concat, toHex } from './encoding.js';
import { CryptoError } from './errors.js';
import { MAX_PLAINTEXT_LEN, MAX_SENDER_SKIP, MAX_SENDER_SKIPPED_KEYS } from './limits.js';
import {
  DISTRIBUTION_LEN,
  SenderKeyDistribution,
  SenderKeyMessage,
  SenderKeyReceiver,
  SenderKeySender,
} from './senderKey.js';
import { TestRng, utf8, xorByte } from './testSupport.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).code;
  }
  return 'ok';
}

const CH = new Uint8Array(16).fill(7);
const DEV = new Uint8Array(16).fill(8);
const OTHER = new Uint8Array(16).fill(9);

function setup(seed: number) {
  const rng = new TestRng(seed);
  const s = SenderKeySender.generate(CH, DEV, rng.source);
  const d = SenderKeyDistribution.fromBytes(s.distribution().toBytes());
  const r = SenderKeyReceiver.fromDistribution(d, DEV);
  return { rng, s, r };
}

function rejects(r: SenderKeyReceiver, ch: Uint8Array, dev: Uint8Array, m: Uint8Array, err: string): void {
  const before = toHex(r.toBytes());
  expect(code(() => r.decrypt(ch, dev, m))).toBe(err);
  expect(toHex(r.toBytes()), 'state changed after a failed decrypt').toBe(before);
}

describe('Sender Keys', () => {
  it('round-trip out of order; replays are rejected', () => {
    const { rng, s, r } = setup(1);
    const msgs = [0, 1, 2, 3, 4].map((i) => s.encrypt(new Uint8Array(10).fill(i), rng.source));
    for (const i of [2, 0, 4, 1, 3]) {
      expect(toHex(r.decrypt(CH, DEV, msgs[i] as Uint8Array))).toBe(toHex(new Uint8Array(10).fill(i)));
    }
    expect(r.skippedKeyCount()).toBe(0);
    for (const m of msgs) rejects(r, CH, DEV, m, 'Duplicate');
  });

  it('reject another channel, another sender, tampering and forgery', () => {
    const { rng, s, r } = setup(2);
    const m = s.encrypt(utf8('secret'), rng.source);
    rejects(r, OTHER, DEV, m, 'IdentityMismatch');
    rejects(r, CH, OTHER, m, 'IdentityMismatch');
    // A receiver state with the same key id in another channel still fails: the channel
    // id is in the signature and the AEAD data.
    const d = s.distribution();
    const moved = new SenderKeyDistribution(OTHER, d.senderDeviceId, d.keyId, d.iteration, d.chainKey, d.signingKey);
    const other = SenderKeyReceiver.fromDistribution(moved, DEV);
    rejects(other, OTHER, DEV, m, 'BadSignature');
    for (let i = 1; i < m.length; i++) {
      const before = toHex(r.toBytes());
      expect(code(() => r.decrypt(CH, DEV, xorByte(m.slice(), i, 0x10))), `byte ${i}`).not.toBe('ok');
      expect(toHex(r.toBytes())).toBe(before);
    }
    // A member holding the chain key but not the signing key cannot forge: re-sign a
    // message with another key.
    const msg = SenderKeyMessage.fromBytes(m);
    const forgedSig = ed25519.sign(concat(Uint8Array.of(28), utf8('Chatalot-SenderKeyMessage-v1'), CH, DEV, msg.unsignedBytes()), new Uint8Array(32).fill(3));
    const forged = new SenderKeyMessage(msg.keyId, msg.iteration, msg.messageId, msg.ciphertext, forgedSig);
    rejects(r, CH, DEV, forged.toBytes(), 'BadSignature');
    expect(new TextDecoder().decode(r.decrypt(CH, DEV, m))).toBe('secret');
  });

  it('a distribution must come from its sender and carry a valid key', () => {
    const { s } = setup(3);
    expect(code(() => SenderKeyReceiver.fromDistribution(s.distribution(), new Uint8Array(16).fill(1)))).toBe(
      'IdentityMismatch',
    );
    const d = s.distribution();
    const zero = new SenderKeyDistribution(d.channelId, d.senderDeviceId, d.keyId, d.iteration, d.chainKey, new Uint8Array(32));
    expect(code(() => SenderKeyReceiver.fromDistribution(zero, DEV))).toBe('InvalidPublicKey');
    expect(d.toBytes().length).toBe(DISTRIBUTION_LEN);
    const shown = `${d} ${JSON.stringify(d)} ${s} ${JSON.stringify(s)}`;
    expect(shown).toContain('redacted');
    expect(shown).not.toContain(toHex(d.chainKey));
  });

  it('a late joiner cannot read history', () => {
    const { rng, s } = setup(4);
    const old = s.encrypt(utf8('old'), rng.source);
    const late = SenderKeyReceiver.fromDistribution(s.distribution(), DEV);
    rejects(late, CH, DEV, old, 'Duplicate');
    expect(new TextDecoder().decode(late.decrypt(CH, DEV, s.encrypt(utf8('new'), rng.source)))).toBe('new');
  });

  it('rotation gives a new key id unknown to the old state', () => {
    const { rng, r } = setup(5);
    const rotated = SenderKeySender.generate(CH, DEV, rng.source);
    const m = rotated.encrypt(utf8('after removal'), rng.source);
    const before = toHex(r.toBytes());
    try {
      r.decrypt(CH, DEV, m);
      throw new Error('must fail');
    } catch (e) {
      expect((e as CryptoError).code).toBe('InvalidField');
      expect((e as CryptoError).detail).toBe('sender key id');
    }
    expect(toHex(r.toBytes())).toBe(before);
  });

  it('bounds the forward jump and the skipped-key store', () => {
    const { rng, s, r } = setup(6);
    const msgs: Uint8Array[] = [];
    for (let i = 0; i < MAX_SENDER_SKIP + 2; i++) msgs.push(s.encrypt(utf8('z'), rng.source));
    const tooFar = msgs[MAX_SENDER_SKIP + 1] as Uint8Array;
    rejects(r, CH, DEV, tooFar, 'TooFarAhead');
    r.decrypt(CH, DEV, msgs[MAX_SENDER_SKIP] as Uint8Array);
    expect(r.skippedKeyCount()).toBe(MAX_SENDER_SKIP);
    r.decrypt(CH, DEV, tooFar);
    // One more full jump evicts the oldest keys; the store stays at the bound.
    const more: Uint8Array[] = [];
    for (let i = 0; i <= MAX_SENDER_SKIP; i++) more.push(s.encrypt(utf8('w'), rng.source));
    r.decrypt(CH, DEV, more[more.length - 1] as Uint8Array);
    expect(r.skippedKeyCount()).toBe(MAX_SENDER_SKIPPED_KEYS);
    rejects(r, CH, DEV, msgs[0] as Uint8Array, 'Duplicate');
    r.decrypt(CH, DEV, more[0] as Uint8Array);
  }, 120_000);

  it('encodings round-trip and are strict', () => {
    const { rng, s, r } = setup(7);
    const m = s.encrypt(utf8('a'), rng.source);
    const m2 = s.encrypt(utf8('b'), rng.source);
    r.decrypt(CH, DEV, m2);
    expect(toHex(SenderKeySender.fromBytes(s.toBytes()).toBytes())).toBe(toHex(s.toBytes()));
    const r2 = SenderKeyReceiver.fromBytes(r.toBytes());
    expect(toHex(r2.toBytes())).toBe(toHex(r.toBytes()));
    expect(new TextDecoder().decode(r2.decrypt(CH, DEV, m))).toBe('a');
    for (const bytes of [m, s.toBytes(), r.toBytes(), s.distribution().toBytes()]) {
      const short = bytes.subarray(0, bytes.length - 1);
      const long = concat(bytes, Uint8Array.of(0));
      const wrong = bytes.slice();
      wrong[0] = 0x55;
      for (const b of [short, long, wrong]) {
        expect(code(() => SenderKeyMessage.fromBytes(b))).not.toBe('ok');
        expect(code(() => SenderKeySender.fromBytes(b))).not.toBe('ok');
        expect(code(() => SenderKeyReceiver.fromBytes(b))).not.toBe('ok');
        expect(code(() => SenderKeyDistribution.fromBytes(b))).not.toBe('ok');
      }
    }
    expect(code(() => s.encrypt(new Uint8Array(MAX_PLAINTEXT_LEN + 1), rng.source))).toBe('LimitExceeded');
  });

  it('receiver state decoding checks its invariants', () => {
    const { rng, s, r } = setup(8);
    s.encrypt(utf8('skipped'), rng.source);
    r.decrypt(CH, DEV, s.encrypt(utf8('b'), rng.source));
    const bytes = r.toBytes();
    // Layout: tag | ch 16 | dev 16 | key id 4 | signing key 32 | iteration 4 | ck 32 | count 4 | (it 4 | mk 32)
    const countAt = 1 + 16 + 16 + 4 + 32 + 4 + 32;
    expect(bytes.length).toBe(countAt + 4 + 36);
    const future = bytes.slice();
    future.set(bytes.subarray(1 + 16 + 16 + 4 + 32, 1 + 16 + 16 + 4 + 32 + 4), countAt + 4); // skipped iteration = state iteration
    expect(code(() => SenderKeyReceiver.fromBytes(future))).toBe('InvalidField');
    const over = bytes.slice();
    over.set(Uint8Array.of(0, 0, 0x07, 0xd1), countAt); // 2001
    expect(code(() => SenderKeyReceiver.fromBytes(over))).toBe('LimitExceeded');
    const weak = bytes.slice();
    weak.set(new Uint8Array(32), 1 + 16 + 16 + 4);
    expect(code(() => SenderKeyReceiver.fromBytes(weak))).toBe('InvalidPublicKey');
  });
});
