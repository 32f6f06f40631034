/**
 * History keys (docs/e2e.md 18.4): what a device keeps, backs up and hands to new members
 * so that channel messages stay readable after its live receiver state has moved on.
 *
 * A history key is a sender key at the first iteration its holder could read, attested by
 * the sending device with its certified device key: whoever forwards it, a receiver checks
 * the attestation against the sender's certificate, so a member cannot hand out a sender
 * key in another's name. Reading a history message derives forward from the first
 * iteration (at most `SENDER_KEY_ROTATE_AFTER` steps) on a fresh receiver state; no live
 * state changes.
 */

import { Reader, Tag, Writer, bytesEqual, checkLen, checkU32, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import type { DeviceCertificate, DeviceIdentity } from './identity.js';
import { ID_LEN, KEY_LEN, SENDER_KEY_ROTATE_AFTER, SIGNATURE_LEN } from './limits.js';
import { ascii, chainStep, ctEqual, verify } from './primitives.js';
import { SenderKeyDistribution, SenderKeyMessage, SenderKeyReceiver } from './senderKey.js';

/** Signature label of a sender-key attestation. */
export const ATTESTATION_LABEL = ascii('Chatalot-SenderKeyAttest-v1');
/** Length of a {@link HistoryKey} encoding. */
export const HISTORY_KEY_LEN = 1 + 2 * ID_LEN + 4 + 4 + 2 * KEY_LEN + SIGNATURE_LEN;

/** `channel_id | sender_device_id | key_id | first_iteration | signing_public`: what an attestation signs. */
function attestedBody(
  channelId: Uint8Array,
  senderDeviceId: Uint8Array,
  keyId: number,
  firstIteration: number,
  signingKey: Uint8Array,
): Uint8Array {
  return new Writer(2 * ID_LEN + 8 + KEY_LEN)
    .bytes(channelId)
    .bytes(senderDeviceId)
    .u32(keyId)
    .u32(firstIteration)
    .bytes(signingKey)
    .finish();
}

/**
 * A sender key from its first readable iteration on (tag 0x65, 169 bytes): `0x65 |
 * channel_id | sender_device_id | key_id u32 | first_iteration u32 | chain_key |
 * signing_key | attestation`. Secret.
 */
export class HistoryKey {
  constructor(
    /** The channel. */
    readonly channelId: Uint8Array,
    /** The sending device. */
    readonly senderDeviceId: Uint8Array,
    /** The sender key's id. */
    readonly keyId: number,
    /** The first iteration `chainKey` reads. */
    readonly firstIteration: number,
    /** The chain key at `firstIteration`. Secret. */
    readonly chainKey: Uint8Array,
    /** The Ed25519 key that signs the sender key's messages. */
    readonly signingKey: Uint8Array,
    /** The sending device's signature over the above but the chain key. */
    readonly attestation: Uint8Array,
  ) {
    checkLen(channelId, ID_LEN, 'channel id');
    checkLen(senderDeviceId, ID_LEN, 'sender device id');
    checkU32(keyId, 'key id');
    checkU32(firstIteration, 'first iteration');
    checkLen(chainKey, KEY_LEN, 'chain key');
    checkLen(signingKey, KEY_LEN, 'signing key');
    checkLen(attestation, SIGNATURE_LEN, 'attestation');
  }

  /**
   * The sender's own history key for `distribution` (its current sender key), attested
   * with its device key. The distribution must be this device's (`IdentityMismatch`).
   */
  static attest(device: DeviceIdentity, distribution: SenderKeyDistribution): HistoryKey {
    if (!bytesEqual(distribution.senderDeviceId, device.deviceId)) throw new CryptoError('IdentityMismatch');
    const attestation = device.sign(
      ATTESTATION_LABEL,
      attestedBody(
        distribution.channelId,
        distribution.senderDeviceId,
        distribution.keyId,
        distribution.iteration,
        distribution.signingKey,
      ),
    );
    return HistoryKey.withAttestation(distribution, attestation);
  }

  /** A history key from a distribution received with the sender's attestation (copied). */
  static withAttestation(distribution: SenderKeyDistribution, attestation: Uint8Array): HistoryKey {
    return new HistoryKey(
      distribution.channelId.slice(),
      distribution.senderDeviceId.slice(),
      distribution.keyId,
      distribution.iteration,
      distribution.chainKey.slice(),
      distribution.signingKey.slice(),
      attestation.slice(),
    );
  }

  /**
   * The distribution this key was made from (at `firstIteration`): what a receiver starts
   * its live state from when the key arrives as an attested distribution. Its chain key
   * is a copy the caller should wipe.
   */
  distribution(): SenderKeyDistribution {
    return new SenderKeyDistribution(
      this.channelId.slice(),
      this.senderDeviceId.slice(),
      this.keyId,
      this.firstIteration,
      this.chainKey.slice(),
      this.signingKey.slice(),
    );
  }

  /**
   * Checks the attestation against the sender device's certificate, which the caller has
   * verified under the sender's pinned user key: the certificate must be the sending
   * device's (`IdentityMismatch`) and the attestation its signature (`BadSignature`).
   */
  verify(sender: DeviceCertificate): void {
    if (!ctEqual(sender.deviceId, this.senderDeviceId)) throw new CryptoError('IdentityMismatch');
    verify(
      sender.deviceSigningKey,
      ATTESTATION_LABEL,
      attestedBody(this.channelId, this.senderDeviceId, this.keyId, this.firstIteration, this.signingKey),
      this.attestation,
    );
  }

  /**
   * Verifies and decrypts a message of this sender key received in `channelId` from
   * `senderDeviceId` (as the delivery states them). A message of another key is
   * `InvalidField("sender key id")`, one before `firstIteration` is `Duplicate` (this key
   * never read it), one more than `SENDER_KEY_ROTATE_AFTER` past it `TooFarAhead`; a
   * forged or tampered one fails as on a live receiver. Changes nothing.
   */
  decrypt(channelId: Uint8Array, senderDeviceId: Uint8Array, bytes: Uint8Array): Uint8Array {
    const msg = SenderKeyMessage.fromBytes(bytes);
    if (msg.keyId !== this.keyId) throw new CryptoError('InvalidField', 'sender key id');
    if (msg.iteration < this.firstIteration) throw new CryptoError('Duplicate');
    const steps = msg.iteration - this.firstIteration;
    if (steps > SENDER_KEY_ROTATE_AFTER) throw new CryptoError('TooFarAhead');
    let chainKey: Uint8Array = this.chainKey.slice();
    for (let i = 0; i < steps; i++) {
      const [mk, next] = chainStep(chainKey);
      wipe(mk, chainKey);
      chainKey = next;
    }
    const at = new SenderKeyDistribution(
      this.channelId,
      this.senderDeviceId,
      this.keyId,
      msg.iteration,
      chainKey,
      this.signingKey,
    );
    let receiver: SenderKeyReceiver | undefined;
    try {
      receiver = SenderKeyReceiver.fromDistribution(at, this.senderDeviceId);
      return receiver.decrypt(channelId, senderDeviceId, bytes);
    } finally {
      chainKey.fill(0);
      receiver?.wipe();
    }
  }

  toBytes(): Uint8Array {
    return new Writer(HISTORY_KEY_LEN)
      .u8(Tag.HISTORY_KEY)
      .bytes(this.channelId)
      .bytes(this.senderDeviceId)
      .u32(this.keyId)
      .u32(this.firstIteration)
      .bytes(this.chainKey)
      .bytes(this.signingKey)
      .bytes(this.attestation)
      .finish();
  }

  /** Strict decoding (no verification: see {@link HistoryKey.verify}). */
  static fromBytes(bytes: Uint8Array): HistoryKey {
    const r = Reader.withTag(bytes, Tag.HISTORY_KEY);
    const channelId = r.bytes(ID_LEN);
    const senderDeviceId = r.bytes(ID_LEN);
    const keyId = r.u32();
    const firstIteration = r.u32();
    const chainKey = r.bytes(KEY_LEN);
    try {
      const signingKey = r.bytes(KEY_LEN);
      const attestation = r.bytes(SIGNATURE_LEN);
      r.finish();
      return new HistoryKey(channelId, senderDeviceId, keyId, firstIteration, chainKey, signingKey, attestation);
    } catch (e) {
      chainKey.fill(0);
      throw e;
    }
  }

  /** Overwrites the chain key; unusable afterwards. */
  wipe(): void {
    this.chainKey.fill(0);
  }

  toString(): string {
    return `HistoryKey(key ${this.keyId}, first iteration ${this.firstIteration}, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** A {@link HistoryReader} keeps the chain key of every this many iterations. */
export const HISTORY_CHECKPOINT_EVERY = 64;

/**
 * Reads the messages of one history key in any order, for a device reading a channel's
 * history (newest page first, then older ones): the first walk from the key's first iteration
 * keeps the chain key of every {@link HISTORY_CHECKPOINT_EVERY}th iteration in memory, so every
 * later message costs at most that many chain steps from the nearest one before it. Accepts and
 * refuses exactly what {@link HistoryKey.decrypt} does; changes nothing persistent. Secret.
 */
export class HistoryReader {
  /** iteration (a multiple of the interval from the first) → the chain key there. */
  private checkpoints = new Map<number, Uint8Array>();
  /** The chain key after the last message read, so that reading in order costs one step. */
  private cursor: { iteration: number; chainKey: Uint8Array } | null = null;
  /**
   * The chain keys of the last stretch walked from a checkpoint (`keys[j]` is the chain key at
   * iteration `start + j`, fewer than the interval): reading newest first, as a timeline scrolls
   * back, takes the older messages of the stretch from here instead of walking again.
   */
  private stretch: { start: number; keys: Uint8Array[] } | null = null;

  constructor(readonly key: HistoryKey) {
    this.checkpoints.set(key.firstIteration, key.chainKey.slice());
  }

  decrypt(channelId: Uint8Array, senderDeviceId: Uint8Array, bytes: Uint8Array): Uint8Array {
    const k = this.key;
    const msg = SenderKeyMessage.fromBytes(bytes);
    if (msg.keyId !== k.keyId) throw new CryptoError('InvalidField', 'sender key id');
    if (msg.iteration < k.firstIteration) throw new CryptoError('Duplicate');
    const steps = msg.iteration - k.firstIteration;
    if (steps > SENDER_KEY_ROTATE_AFTER) throw new CryptoError('TooFarAhead');
    // The nearest checkpoint at or before the message (the first iteration is always one).
    let at = k.firstIteration + Math.floor(steps / HISTORY_CHECKPOINT_EVERY) * HISTORY_CHECKPOINT_EVERY;
    while (!this.checkpoints.has(at)) at -= HISTORY_CHECKPOINT_EVERY;
    let chainKey: Uint8Array;
    const st = this.stretch;
    const inStretch = st !== null && msg.iteration >= st.start && msg.iteration < st.start + st.keys.length;
    if (inStretch) {
      at = msg.iteration;
      chainKey = st.keys[msg.iteration - st.start]!.slice();
    } else if (this.cursor && this.cursor.iteration <= msg.iteration && this.cursor.iteration > at) {
      at = this.cursor.iteration;
      chainKey = this.cursor.chainKey.slice();
    } else {
      chainKey = this.checkpoints.get(at)!.slice();
    }
    // a walk of more than one step is kept as the stretch (replacing the one before)
    const walked: Uint8Array[] | null = msg.iteration - at > 1 ? [chainKey.slice()] : null;
    const walkStart = at;
    for (let it = at; it < msg.iteration; it++) {
      const [mk, next] = chainStep(chainKey);
      wipe(mk, chainKey);
      chainKey = next;
      const reached = it + 1;
      if (walked && reached < msg.iteration) walked.push(chainKey.slice());
      if ((reached - k.firstIteration) % HISTORY_CHECKPOINT_EVERY === 0 && !this.checkpoints.has(reached)) {
        this.checkpoints.set(reached, chainKey.slice());
      }
    }
    if (walked) {
      this.wipeStretch();
      this.stretch = { start: walkStart, keys: walked };
    }
    const dist = new SenderKeyDistribution(k.channelId, k.senderDeviceId, k.keyId, msg.iteration, chainKey, k.signingKey);
    let receiver: SenderKeyReceiver | undefined;
    try {
      receiver = SenderKeyReceiver.fromDistribution(dist, k.senderDeviceId);
      const plain = receiver.decrypt(channelId, senderDeviceId, bytes);
      // Read: the next message in order starts from the chain key after this one.
      const [mk, next] = chainStep(chainKey);
      mk.fill(0);
      this.cursor?.chainKey.fill(0);
      this.cursor = { iteration: msg.iteration + 1, chainKey: next };
      return plain;
    } finally {
      chainKey.fill(0);
      receiver?.wipe();
    }
  }

  /** Chain keys kept (for tests and bounds: at most 10,000 / 64 + 1). */
  get checkpointCount(): number {
    return this.checkpoints.size;
  }

  private wipeStretch(): void {
    for (const c of this.stretch?.keys ?? []) c.fill(0);
    this.stretch = null;
  }

  /** Overwrites every chain key kept (the key itself is the caller's). */
  wipe(): void {
    this.wipeStretch();
    for (const c of this.checkpoints.values()) c.fill(0);
    this.checkpoints.clear();
    this.cursor?.chainKey.fill(0);
    this.cursor = null;
  }
}

/**
 * Most history keys in one {@link HistoryBundle}: a bundle travels in one envelope of at most
 * 16 KiB (80 × 169 bytes is 13,520).
 */
export const MAX_HISTORY_BUNDLE_KEYS = 80;

/**
 * History keys of one channel handed to a new member's devices (tag 0x69, docs/e2e.md 18.5):
 * `0x69 | channel_id | count u16 | count × HistoryKey`. Every key is of the channel. Secret.
 */
export class HistoryBundle {
  constructor(
    readonly channelId: Uint8Array,
    readonly keys: HistoryKey[],
  ) {
    checkLen(channelId, ID_LEN, 'channel id');
  }

  toBytes(): Uint8Array {
    if (this.keys.length > MAX_HISTORY_BUNDLE_KEYS) throw new CryptoError('LimitExceeded', 'history keys');
    if (this.keys.some((k) => !bytesEqual(k.channelId, this.channelId))) throw new CryptoError('InvalidField', 'channel');
    const w = new Writer(1 + ID_LEN + 2 + this.keys.length * HISTORY_KEY_LEN)
      .u8(Tag.HISTORY_BUNDLE)
      .bytes(this.channelId)
      .u8(this.keys.length >> 8)
      .u8(this.keys.length & 0xff);
    for (const k of this.keys) w.bytes(k.toBytes());
    return w.finish();
  }

  /** Strict decoding, with the rules of {@link HistoryBundle.toBytes}. */
  static fromBytes(bytes: Uint8Array): HistoryBundle {
    const r = Reader.withTag(bytes, Tag.HISTORY_BUNDLE);
    const channelId = r.bytes(ID_LEN);
    const count = (r.u8() << 8) | r.u8();
    if (count > MAX_HISTORY_BUNDLE_KEYS) throw new CryptoError('LimitExceeded', 'history keys');
    const keys: HistoryKey[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const k = HistoryKey.fromBytes(r.bytes(HISTORY_KEY_LEN));
        keys.push(k);
        if (!bytesEqual(k.channelId, channelId)) throw new CryptoError('InvalidField', 'channel');
      }
      r.finish();
    } catch (e) {
      for (const k of keys) k.wipe();
      throw e;
    }
    return new HistoryBundle(channelId, keys);
  }

  /** Overwrites every chain key. */
  wipe(): void {
    for (const k of this.keys) k.wipe();
  }
}
