/**
 * Helpers shared by the tests: the deterministic test RNG of the Rust crate
 * (`src/test_rng.rs`), a queue RNG replaying recorded draws, vector loading, and
 * parties/sessions for the unit tests. Not for production use.
 */

import { readFileSync } from 'node:fs';

import { sha256 } from '@noble/hashes/sha2.js';

import { concat, fromHex, toHex } from './encoding.js';
import { DeviceCertificate, DeviceIdentity, UserKeyPair } from './identity.js';
import type { RandomSource } from './primitives.js';
import { PreKeyMessage, Session } from './ratchet.js';
import { OneTimePreKeySecret, PreKeyBundle, SignedPreKeySecret } from './x3dh.js';

/**
 * Deterministic byte stream for tests only: block i = SHA-256("Chatalot-TestRng" ||
 * seed u64 || i u64), the same stream as the Rust crate's TestRng. NOT secure.
 */
export class TestRng {
  private counter = 0n;
  private buf = new Uint8Array(32);
  private used = 32;

  constructor(private readonly seed: bigint | number) {}

  private refill(): void {
    const w = new Uint8Array(16);
    const v = new DataView(w.buffer);
    v.setBigUint64(0, BigInt(this.seed));
    v.setBigUint64(8, this.counter);
    this.buf = sha256(concat(new TextEncoder().encode('Chatalot-TestRng'), w));
    this.counter += 1n;
    this.used = 0;
  }

  fill(out: Uint8Array): void {
    for (let i = 0; i < out.length; i++) {
      if (this.used === 32) this.refill();
      out[i] = this.buf[this.used] as number;
      this.used += 1;
    }
  }

  /** A value in 0..n (n > 0), as the Rust `below`. */
  below(n: number): number {
    const b = new Uint8Array(8);
    this.fill(b);
    return Number(new DataView(b.buffer).getBigUint64(0) % BigInt(n));
  }

  /** This stream as a {@link RandomSource}. */
  readonly source: RandomSource = (out) => this.fill(out);
}

/** Replays recorded draws; throws when the code draws differently. */
export class QueueRng {
  private readonly draws: Uint8Array[];

  constructor(hexDraws: readonly string[] = []) {
    this.draws = hexDraws.map(fromHex);
  }

  readonly source: RandomSource = (out) => {
    const next = this.draws.shift();
    if (next === undefined) throw new Error('an unexpected RNG draw');
    if (next.length !== out.length) throw new Error(`draw length ${out.length}, recorded ${next.length}`);
    out.set(next);
  };

  get remaining(): number {
    return this.draws.length;
  }
}

/** Loads a vector file from the repository's `crypto/vectors/`. */
export function loadVectors(name: string): any {
  const url = new URL(`../../../../crypto/vectors/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8'));
}

export { fromHex as hex, toHex };

/** A party of the unit tests: user key, device identity, certificate. */
export interface Party {
  user: UserKeyPair;
  device: DeviceIdentity;
  cert: DeviceCertificate;
}

/** As the Rust test_support `party`: user id [n;16], device id [n+100;16]. */
export function party(rng: TestRng, n: number): Party {
  const user = UserKeyPair.generate(new Uint8Array(16).fill(n), rng.source);
  const device = DeviceIdentity.generate(new Uint8Array(16).fill(n), new Uint8Array(16).fill(n + 100), rng.source);
  return { user, device, cert: user.certifyDevice(device.publicKeys()) };
}

/**
 * Alice and Bob with established sessions: Alice sent "hello" (a prekey message) which
 * Bob decrypted; Alice is still pending. Same draws as the Rust `pair(seed)`.
 */
export function pair(seed: number): { rng: TestRng; a: Session; b: Session } {
  const rng = new TestRng(seed);
  const alice = party(rng, 1);
  const bob = party(rng, 2);
  const spk = SignedPreKeySecret.generate(bob.device, 1, rng.source);
  const opk = OneTimePreKeySecret.generate(9, rng.source);
  const bundle = new PreKeyBundle(bob.cert, spk.public(), opk.public());
  const a = Session.initiate(alice.device, alice.cert, bundle, bob.user.publicKey, rng.source);
  const first = a.encrypt(new TextEncoder().encode('hello'));
  const { session: b, plaintext } = Session.respond(
    bob.device,
    bob.cert,
    spk,
    opk,
    alice.user.publicKey,
    PreKeyMessage.fromBytes(first),
    rng.source,
  );
  if (new TextDecoder().decode(plaintext) !== 'hello') throw new Error('pair: first message');
  return { rng, a, b };
}

/** UTF-8 bytes. */
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** XORs `mask` into byte `i` of `b` (in place) and returns `b`. */
export function xorByte(b: Uint8Array, i: number, mask = 1): Uint8Array {
  b[i] = (b[i] as number) ^ mask;
  return b;
}
