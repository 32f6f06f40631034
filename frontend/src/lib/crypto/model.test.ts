// @vitest-environment node
/**
 * Seeded interaction models (as the Rust `tests/model.rs`, same RNG stream and choices):
 * two parties over the Double Ratchet, and a three-member channel over Sender Keys, with
 * random sends, delivery in random order, drops, duplicates, state restore, sender-key
 * rotation and a member removal. Every delivered message decrypts exactly once; every
 * duplicate fails without changing state; bounds hold; a removed member reads nothing new.
 */

import { describe, expect, it } from 'vitest';

import { toHex } from './encoding.js';
import { CryptoError } from './errors.js';
import { MAX_SENDER_SKIPPED_KEYS, MAX_SKIPPED_KEYS } from './limits.js';
import { PreKeyMessage, Session } from './ratchet.js';
import { SenderKeyDistribution, SenderKeyMessage, SenderKeyReceiver, SenderKeySender } from './senderKey.js';
import { TestRng, party } from './testSupport.js';
import { OneTimePreKeySecret, PreKeyBundle, SignedPreKeySecret } from './x3dh.js';

const RATCHET_SEEDS = 4;
const GROUP_SEEDS = 2;
const STEPS = 1500;

function swapRemove<T>(v: T[], i: number): T {
  const item = v[i] as T;
  const last = v.pop() as T;
  if (i < v.length) v[i] = last;
  return item;
}

function plaintext(rng: TestRng, id: number): Uint8Array {
  const len = rng.below(40);
  const head = new TextEncoder().encode(`msg-${id}-`);
  const out = new Uint8Array(head.length + len);
  out.set(head);
  for (let i = 0; i < len; i++) out[head.length + i] = (i * id) & 0xff;
  return out;
}

function fails(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch (e) {
    if (!(e instanceof CryptoError)) throw e;
    return true;
  }
}

interface InFlight {
  id: number;
  to: number;
  wire: Uint8Array;
  plaintext: Uint8Array;
}

describe('interaction models', () => {
  it('Double Ratchet: every message exactly once, duplicates rejected, bounds hold', () => {
    for (let seed = 0; seed < RATCHET_SEEDS; seed++) {
      const rng = new TestRng(1000 + seed);
      const alice = party(rng, 1);
      const bob = party(rng, 2);
      const spk = SignedPreKeySecret.generate(bob.device, 1, rng.source);
      const opk = OneTimePreKeySecret.generate(1, rng.source);
      const bundle = new PreKeyBundle(bob.cert, spk.public(), opk.public());
      const a = Session.initiate(alice.device, alice.cert, bundle, bob.user.publicKey, rng.source);
      const pending: InFlight[] = [];
      let nextId = 0;
      for (let n = 1 + rng.below(3); n > 0; n--) {
        const p = plaintext(rng, nextId);
        pending.push({ id: nextId, to: 1, wire: a.encrypt(p), plaintext: p });
        nextId++;
      }
      const first = swapRemove(pending, rng.below(pending.length));
      const resp = Session.respond(
        bob.device,
        bob.cert,
        spk,
        opk,
        alice.user.publicKey,
        PreKeyMessage.fromBytes(first.wire),
        rng.source,
      );
      expect(toHex(resp.plaintext)).toBe(toHex(first.plaintext));
      const sessions: [Session, Session] = [a, resp.session];
      const delivered: InFlight[] = [first];
      const counts = new Map<number, number>([[first.id, 1]]);
      let dropped = 0;
      const deliver = (m: InFlight): void => {
        const pt = (sessions[m.to] as Session).decrypt(m.wire, rng.source);
        expect(toHex(pt), `seed ${seed}, message ${m.id}`).toBe(toHex(m.plaintext));
        counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
      };
      for (let step = 0; step < STEPS; step++) {
        const r = rng.below(100);
        if (r <= 59) {
          const from = rng.below(100) >= 50 ? 1 : 0;
          const p = plaintext(rng, nextId);
          const wire = (sessions[from] as Session).encrypt(p);
          pending.push({ id: nextId, to: 1 - from, wire, plaintext: p });
          nextId++;
        } else if (r <= 84 && pending.length > 0) {
          const m = swapRemove(pending, rng.below(pending.length));
          deliver(m);
          delivered.push(m);
        } else if (r <= 88 && r >= 85 && pending.length > 0) {
          swapRemove(pending, rng.below(pending.length));
          dropped++;
        } else if (r <= 94 && r >= 89 && delivered.length > 0) {
          const m = delivered[rng.below(delivered.length)] as InFlight;
          const s = sessions[m.to] as Session;
          const before = toHex(s.toBytes());
          expect(fails(() => s.decrypt(m.wire, rng.source)), `seed ${seed}: duplicate accepted`).toBe(true);
          expect(toHex(s.toBytes())).toBe(before);
        } else if (r >= 95) {
          const who = rng.below(2);
          const bytes = (sessions[who] as Session).toBytes();
          const restored = Session.fromBytes(bytes);
          expect(toHex(restored.toBytes())).toBe(toHex(bytes));
          sessions[who] = restored;
        }
        for (const s of sessions) expect(s.skippedKeyCount()).toBeLessThanOrEqual(MAX_SKIPPED_KEYS);
      }
      while (pending.length > 0) {
        const m = swapRemove(pending, rng.below(pending.length));
        deliver(m);
        delivered.push(m);
      }
      expect(counts.size + dropped, `seed ${seed}`).toBe(nextId);
      expect([...counts.values()].every((c) => c === 1)).toBe(true);
    }
  }, 300_000);

  it('Sender Keys: group of three with rotation, restore and a removed member', () => {
    const MEMBERS = 3;
    const CHANNEL = new Uint8Array(16).fill(0xc0);
    const dev = (i: number) => new Uint8Array(16).fill(i + 1);
    interface Member {
      sender: SenderKeySender;
      receivers: Map<string, SenderKeyReceiver>;
    }
    interface GroupMsg extends InFlight {
      from: number;
    }
    const keyOf = (from: number, keyId: number) => `${from}/${keyId}`;
    const decryptGroup = (m: Member, msg: GroupMsg): Uint8Array => {
      const keyId = SenderKeyMessage.fromBytes(msg.wire).keyId;
      const r = m.receivers.get(keyOf(msg.from, keyId));
      if (r === undefined) throw new CryptoError('InvalidField', 'sender key id');
      return r.decrypt(CHANNEL, dev(msg.from), msg.wire);
    };
    const distribute = (members: Member[], from: number, to: number[]): void => {
      const bytes = (members[from] as Member).sender.distribution().toBytes();
      for (const j of to) {
        if (j === from) continue;
        const d = SenderKeyDistribution.fromBytes(bytes);
        (members[j] as Member).receivers.set(keyOf(from, d.keyId), SenderKeyReceiver.fromDistribution(d, dev(from)));
      }
    };
    for (let seed = 0; seed < GROUP_SEEDS; seed++) {
      const rng = new TestRng(5000 + seed);
      const members: Member[] = [];
      for (let i = 0; i < MEMBERS; i++) {
        members.push({ sender: SenderKeySender.generate(CHANNEL, dev(i), rng.source), receivers: new Map() });
      }
      const all = [0, 1, 2];
      for (const i of all) distribute(members, i, all);
      let active = all.slice();
      let removed: number | null = null;
      let pending: GroupMsg[] = [];
      const delivered: GroupMsg[] = [];
      const counts = new Map<string, number>();
      let sent = 0;
      const removeAt = STEPS / 2 + rng.below(100);
      for (let step = 0; step < STEPS; step++) {
        if (step === removeAt) {
          removed = 2;
          active = active.filter((m) => m !== 2);
          for (const i of active) {
            (members[i] as Member).sender = SenderKeySender.generate(CHANNEL, dev(i), rng.source);
            distribute(members, i, active);
          }
          pending = pending.filter((m) => m.to !== 2);
        }
        const r = rng.below(100);
        if (r <= 34) {
          const from = active[rng.below(active.length)] as number;
          const p = plaintext(rng, sent);
          const wire = (members[from] as Member).sender.encrypt(p, rng.source);
          for (const to of active) if (to !== from) pending.push({ id: sent, from, to, wire, plaintext: p });
          if (removed !== null) {
            const gone: GroupMsg = { id: sent, from, to: removed, wire, plaintext: p };
            expect(fails(() => decryptGroup(members[removed as number] as Member, gone)), 'removed member read').toBe(true);
          }
          sent++;
        } else if (r <= 74 && pending.length > 0) {
          const m = swapRemove(pending, rng.below(pending.length));
          expect(toHex(decryptGroup(members[m.to] as Member, m))).toBe(toHex(m.plaintext));
          const k = `${m.id}/${m.to}`;
          counts.set(k, (counts.get(k) ?? 0) + 1);
          delivered.push(m);
        } else if (r >= 75 && r <= 79 && pending.length > 0) {
          swapRemove(pending, rng.below(pending.length));
        } else if (r >= 80 && r <= 89 && delivered.length > 0) {
          const m = delivered[rng.below(delivered.length)] as GroupMsg;
          const keyId = SenderKeyMessage.fromBytes(m.wire).keyId;
          const recv = (members[m.to] as Member).receivers.get(keyOf(m.from, keyId));
          const before = recv === undefined ? null : toHex(recv.toBytes());
          expect(fails(() => decryptGroup(members[m.to] as Member, m)), 'duplicate accepted').toBe(true);
          const after = (members[m.to] as Member).receivers.get(keyOf(m.from, keyId));
          expect(after === undefined ? null : toHex(after.toBytes())).toBe(before);
          if (after !== undefined) {
            expect(fails(() => after.decrypt(new Uint8Array(16).fill(0xee), dev(m.from), m.wire))).toBe(true);
          }
        } else if (r >= 90 && r <= 94) {
          const i = active[rng.below(active.length)] as number;
          (members[i] as Member).sender = SenderKeySender.generate(CHANNEL, dev(i), rng.source);
          distribute(members, i, active);
        } else if (r >= 95) {
          const m = members[rng.below(MEMBERS)] as Member;
          m.sender = SenderKeySender.fromBytes(m.sender.toBytes());
          for (const [k, recv] of m.receivers) {
            const bytes = recv.toBytes();
            const restored = SenderKeyReceiver.fromBytes(bytes);
            expect(toHex(restored.toBytes())).toBe(toHex(bytes));
            m.receivers.set(k, restored);
          }
        }
        for (const m of members) {
          for (const recv of m.receivers.values()) {
            expect(recv.skippedKeyCount()).toBeLessThanOrEqual(MAX_SENDER_SKIPPED_KEYS);
          }
        }
      }
      while (pending.length > 0) {
        const m = swapRemove(pending, rng.below(pending.length));
        expect(toHex(decryptGroup(members[m.to] as Member, m))).toBe(toHex(m.plaintext));
        const k = `${m.id}/${m.to}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      expect([...counts.values()].every((c) => c === 1), `seed ${seed}`).toBe(true);
      expect(removed).toBe(2);
    }
  }, 300_000);
});
