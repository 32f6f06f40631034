// @vitest-environment node
import { describe, expect, it } from 'vitest';

import { Tag, Writer, concat, toHex } from './encoding.js';
import { CryptoError } from './errors.js';
import { MAX_PLAINTEXT_LEN, MAX_SKIP, MAX_SKIPPED_KEYS } from './limits.js';
import { PreKeyMessage, RatchetMessage, Session, decodeIncoming } from './ratchet.js';
import { TestRng, pair, party, utf8, xorByte } from './testSupport.js';
import { PreKeyBundle, PreKeyHeader, SignedPreKeySecret } from './x3dh.js';
import { DeviceCertificate } from './identity.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).code;
  }
  return 'ok';
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Decrypting `m` fails with `err` and leaves `s` byte-identical. */
function rejects(rng: TestRng, s: Session, m: Uint8Array, err: string): void {
  const before = toHex(s.toBytes());
  expect(code(() => s.decrypt(m, rng.source))).toBe(err);
  expect(toHex(s.toBytes()), 'state changed after a failed decrypt').toBe(before);
}

function withCertificate(h: PreKeyHeader, cert: DeviceCertificate): PreKeyHeader {
  return new PreKeyHeader(cert, h.ephemeralKey, h.signedPreKeyId, h.oneTimePreKeyId);
}

describe('Double Ratchet', () => {
  it('round-trips a conversation; the prekey header stops after the first reply', () => {
    const { rng, a, b } = pair(1);
    const m2 = a.encrypt(utf8('second'));
    expect(m2[0]).toBe(Tag.PREKEY_MESSAGE);
    expect(text(b.decrypt(m2, rng.source))).toBe('second');
    const r = b.encrypt(utf8('reply'));
    expect(r[0]).toBe(Tag.RATCHET_MESSAGE);
    expect(text(a.decrypt(r, rng.source))).toBe('reply');
    expect(a.isPendingPreKey()).toBe(false);
    const m3 = a.encrypt(utf8('third'));
    expect(m3[0]).toBe(Tag.RATCHET_MESSAGE);
    expect(text(b.decrypt(m3, rng.source))).toBe('third');
    for (let i = 0; i < 5; i++) {
      const x = b.encrypt(new Uint8Array(3).fill(i));
      expect(toHex(a.decrypt(x, rng.source))).toBe(toHex(new Uint8Array(3).fill(i)));
      const y = a.encrypt(new Uint8Array(4).fill(i));
      expect(toHex(b.decrypt(y, rng.source))).toBe(toHex(new Uint8Array(4).fill(i)));
    }
    expect(toHex(a.baseKey())).toBe(toHex(b.baseKey()));
  });

  it('authenticates the prekey envelope', () => {
    const { rng, b, a } = pair(30);
    const m = a.encrypt(utf8('second'));
    const pm = PreKeyMessage.fromBytes(m);
    // Stripped to the bare ratchet message.
    rejects(rng, b, pm.message.toBytes(), 'DecryptFailed');
    // Outer header fields changed (certificate, prekey ids).
    const c = pm.header.initiator;
    const dev = c.deviceId.slice();
    xorByte(dev, 0);
    const cert = new DeviceCertificate(c.userKey, c.userId, dev, c.deviceSigningKey, c.deviceDhKey, c.signature);
    rejects(rng, b, new PreKeyMessage(withCertificate(pm.header, cert), pm.message).toBytes(), 'DecryptFailed');
    const h = pm.header;
    const noOpk = new PreKeyHeader(h.initiator, h.ephemeralKey, h.signedPreKeyId, null);
    rejects(rng, b, new PreKeyMessage(noOpk, pm.message).toBytes(), 'DecryptFailed');
    // A bare message wrapped into a prekey envelope.
    const r = b.encrypt(utf8('r'));
    const wrapped = new PreKeyMessage(h, RatchetMessage.fromBytes(r)).toBytes();
    const aBefore = toHex(a.toBytes());
    // Alice is the initiator: a prekey message is never for her session.
    expect(code(() => a.decrypt(wrapped, rng.source))).toBe('InvalidState');
    expect(toHex(a.toBytes())).toBe(aBefore);
    expect(text(b.decrypt(m, rng.source))).toBe('second');
  });

  it('handles out-of-order delivery across DH steps', () => {
    const { rng, a, b } = pair(2);
    a.decrypt(b.encrypt(utf8('r')), rng.source);
    const a1 = [0, 1, 2, 3].map((i) => a.encrypt(Uint8Array.of(i)));
    expect(toHex(b.decrypt(a1[3] as Uint8Array, rng.source))).toBe('03');
    expect(b.skippedKeyCount()).toBe(3);
    a.decrypt(b.encrypt(utf8('r2')), rng.source);
    const a2 = a.encrypt(utf8('new chain'));
    const a2b = a.encrypt(utf8('new chain 2'));
    expect(text(b.decrypt(a2b, rng.source))).toBe('new chain 2');
    expect(toHex(b.decrypt(a1[1] as Uint8Array, rng.source))).toBe('01');
    expect(text(b.decrypt(a2, rng.source))).toBe('new chain');
    expect(toHex(b.decrypt(a1[0] as Uint8Array, rng.source))).toBe('00');
    expect(toHex(b.decrypt(a1[2] as Uint8Array, rng.source))).toBe('02');
    expect(b.skippedKeyCount()).toBe(0);
    for (const m of [...a1, a2, a2b]) {
      const before = toHex(b.toBytes());
      expect(code(() => b.decrypt(m, rng.source))).not.toBe('ok');
      expect(toHex(b.toBytes())).toBe(before);
    }
  });

  it('rejects replays and leaves the state unchanged', () => {
    const { rng, a, b } = pair(3);
    const m = a.encrypt(utf8('once'));
    b.decrypt(m, rng.source);
    rejects(rng, b, m, 'Duplicate');
    const m1 = a.encrypt(utf8('1'));
    const m2 = a.encrypt(utf8('2'));
    b.decrypt(m2, rng.source);
    b.decrypt(m1, rng.source);
    rejects(rng, b, m1, 'Duplicate');
    rejects(rng, b, m2, 'Duplicate');
  });

  it('rejects tampering anywhere and leaves the state unchanged', () => {
    const { rng, a, b } = pair(4);
    a.decrypt(b.encrypt(utf8('r')), rng.source);
    const m = a.encrypt(utf8('payload'));
    expect(m[0]).toBe(Tag.RATCHET_MESSAGE);
    for (let i = 1; i < m.length; i++) {
      const t = m.slice();
      xorByte(t, i);
      const before = toHex(b.toBytes());
      expect(code(() => b.decrypt(t, rng.source)), `byte ${i}`).not.toBe('ok');
      expect(toHex(b.toBytes()), `byte ${i}`).toBe(before);
    }
    // A low-order ratchet key in the header.
    const msg = RatchetMessage.fromBytes(m);
    const low = new RatchetMessage({ ...msg.header, ratchetKey: new Uint8Array(32) }, msg.ciphertext);
    rejects(rng, b, low.toBytes(), 'InvalidPublicKey');
    expect(text(b.decrypt(m, rng.source))).toBe('payload');
  });

  it('bounds the forward jump by MAX_SKIP', () => {
    const { rng, a, b } = pair(5);
    const msgs: Uint8Array[] = [];
    for (let i = 0; i <= MAX_SKIP + 1; i++) msgs.push(a.encrypt(utf8('x')));
    // Bob has received message 0 of this chain ("hello"); nr = 1.
    const tooFar = msgs[MAX_SKIP + 1] as Uint8Array;
    rejects(rng, b, tooFar, 'TooFarAhead');
    b.decrypt(msgs[MAX_SKIP] as Uint8Array, rng.source);
    expect(b.skippedKeyCount()).toBe(MAX_SKIP);
    expect(text(b.decrypt(tooFar, rng.source))).toBe('x');
  });

  it('bounds the previous-chain skip by MAX_SKIP as well', () => {
    const { rng, a, b } = pair(15);
    a.decrypt(b.encrypt(utf8('r')), rng.source);
    // Bob receives message 0 of Alice's new chain, then loses MAX_SKIP + 1 more of it.
    b.decrypt(a.encrypt(utf8('seen')), rng.source);
    for (let i = 0; i < MAX_SKIP + 1; i++) a.encrypt(utf8('lost'));
    // Bob replies from a new chain; Alice answers from a new chain with PN = MAX_SKIP + 2,
    // which would make Bob derive MAX_SKIP + 1 keys of the old chain.
    a.decrypt(b.encrypt(utf8('r2')), rng.source);
    const next = a.encrypt(utf8('new chain'));
    expect(RatchetMessage.fromBytes(next).header.previousChainLength).toBe(MAX_SKIP + 2);
    rejects(rng, b, next, 'TooFarAhead');
    // One key fewer in the old chain is within the bound.
    const { rng: rng2, a: a2, b: b2 } = pair(16);
    a2.decrypt(b2.encrypt(utf8('r')), rng2.source);
    b2.decrypt(a2.encrypt(utf8('seen')), rng2.source);
    for (let i = 0; i < MAX_SKIP; i++) a2.encrypt(utf8('lost'));
    a2.decrypt(b2.encrypt(utf8('r2')), rng2.source);
    expect(text(b2.decrypt(a2.encrypt(utf8('new chain')), rng2.source))).toBe('new chain');
    expect(b2.skippedKeyCount()).toBe(MAX_SKIP);
  });

  it('keeps the skipped-key store bounded and evicts the oldest', () => {
    const { rng, a, b } = pair(6);
    const firstOfChain: Uint8Array[] = [];
    for (let round = 0; round < 3; round++) {
      const chain: Uint8Array[] = [];
      for (let i = 0; i <= MAX_SKIP; i++) chain.push(a.encrypt(utf8('y')));
      b.decrypt(chain[chain.length - 1] as Uint8Array, rng.source);
      firstOfChain.push(chain[0] as Uint8Array);
      expect(b.skippedKeyCount()).toBeLessThanOrEqual(MAX_SKIPPED_KEYS);
      a.decrypt(b.encrypt(utf8('r')), rng.source);
    }
    expect(b.skippedKeyCount()).toBe(MAX_SKIPPED_KEYS);
    // The oldest chain's keys were evicted; the newest are still there.
    expect(code(() => b.decrypt(firstOfChain[0] as Uint8Array, rng.source))).not.toBe('ok');
    expect(text(b.decrypt(firstOfChain[2] as Uint8Array, rng.source))).toBe('y');
    expect(Session.fromBytes(b.toBytes()).skippedKeyCount()).toBe(MAX_SKIPPED_KEYS - 1);
  });

  it('serialization round-trips and preserves behaviour', () => {
    const { rng, a, b } = pair(7);
    const m1 = a.encrypt(utf8('1'));
    const m2 = a.encrypt(utf8('2'));
    b.decrypt(m2, rng.source);
    const aBytes = a.toBytes();
    const bBytes = b.toBytes();
    const a2 = Session.fromBytes(aBytes);
    const b2 = Session.fromBytes(bBytes);
    expect(toHex(a2.toBytes())).toBe(toHex(aBytes));
    expect(toHex(b2.toBytes())).toBe(toHex(bBytes));
    expect(text(b2.decrypt(m1, rng.source))).toBe('1');
    expect(text(a2.decrypt(b2.encrypt(utf8('r')), rng.source))).toBe('r');
    const shown = `${a2} ${JSON.stringify(a2)}`;
    expect(shown).toContain('redacted');
    expect(shown).not.toContain(toHex(aBytes.subarray(65, 97)));
  });

  it('decodes session state strictly', () => {
    const { a } = pair(8);
    const bytes = a.toBytes();
    for (const cut of [0, 1, 40, bytes.length - 1]) {
      expect(code(() => Session.fromBytes(bytes.subarray(0, cut))), `cut ${cut}`).not.toBe('ok');
    }
    expect(code(() => Session.fromBytes(concat(bytes, Uint8Array.of(0))))).toBe('TrailingBytes');
    const wrong = bytes.slice();
    wrong[0] = Tag.SENDER_KEY_SENDER_STATE;
    expect(code(() => Session.fromBytes(wrong))).toBe('WrongTag');
    const over = bytes.slice();
    over.set(new Writer(4).u32(MAX_SKIPPED_KEYS + 1).finish(), over.length - 4);
    expect(code(() => Session.fromBytes(over))).toBe('LimitExceeded');
    // The pending header's ephemeral key must be the base key.
    const otherBase = bytes.slice();
    xorByte(otherBase, 33);
    expect(code(() => Session.fromBytes(otherBase))).toBe('InvalidField');
    // A flag byte other than 0/1.
    const badFlag = bytes.slice();
    badFlag[1 + 4 * 32] = 2;
    expect(code(() => Session.fromBytes(badFlag))).toBe('InvalidField');
  });

  it('decodes messages strictly', () => {
    const { rng, a, b } = pair(9);
    const p = a.encrypt(utf8('p'));
    const r = b.encrypt(utf8('r'));
    for (const m of [p, r]) {
      expect(code(() => decodeIncoming(m.subarray(0, m.length - 1)))).not.toBe('ok');
      expect(code(() => decodeIncoming(concat(m, Uint8Array.of(0))))).toBe('TrailingBytes');
    }
    expect(code(() => decodeIncoming(new Uint8Array(0)))).toBe('Truncated');
    expect(code(() => decodeIncoming(Uint8Array.of(0x42)))).toBe('WrongTag');
    // Oversized length prefix.
    const big = concat(r.subarray(0, 41), Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    expect(code(() => RatchetMessage.fromBytes(big))).toBe('LimitExceeded');
    // Ciphertext shorter than the tag.
    const short = concat(r.subarray(0, 41), Uint8Array.of(0, 0, 0, 15), new Uint8Array(15));
    expect(code(() => RatchetMessage.fromBytes(short))).toBe('InvalidField');
    // Too long plaintext refused at encryption.
    expect(code(() => a.encrypt(new Uint8Array(MAX_PLAINTEXT_LEN + 1)))).toBe('LimitExceeded');
    expect(text(a.decrypt(r, rng.source))).toBe('r');
  });

  it('a forged first message creates nothing', () => {
    const rng = new TestRng(20);
    const alice = party(rng, 1);
    const bob = party(rng, 2);
    const spk = SignedPreKeySecret.generate(bob.device, 1, rng.source);
    const bundle = new PreKeyBundle(bob.cert, spk.public());
    const a = Session.initiate(alice.device, alice.cert, bundle, bob.user.publicKey, rng.source);
    const m = a.encrypt(utf8('hi'));
    const pm = PreKeyMessage.fromBytes(m);
    const ct = pm.message.ciphertext.slice();
    xorByte(ct, ct.length - 1);
    const forged = new PreKeyMessage(pm.header, new RatchetMessage(pm.message.header, ct));
    expect(
      code(() => Session.respond(bob.device, bob.cert, spk, null, alice.user.publicKey, forged, rng.source)),
    ).toBe('DecryptFailed');
    // A prekey message with another base key is refused by an existing session.
    const other = pair(21);
    rejects(other.rng, other.b, m, 'InvalidState');
  });

  it('matches the Rust session for the same draws (pair(1) fixture)', () => {
    // Same seed, same draws, same code path: both sides' states restore byte-identically.
    const { a, b } = pair(1);
    expect(toHex(Session.fromBytes(a.toBytes()).toBytes())).toBe(toHex(a.toBytes()));
    expect(toHex(Session.fromBytes(b.toBytes()).toBytes())).toBe(toHex(b.toBytes()));
    expect(a.toBytes()[0]).toBe(Tag.SESSION_STATE);
  });
});
