/**
 * Sender Keys for channels (docs/e2e.md 6): one symmetric chain and one Ed25519 signing
 * key per (sender device, channel, key id). Distribution messages travel only inside
 * pairwise Double Ratchet sessions; every group message is signed and binds channel id,
 * sender device id, key id, iteration and a sender-chosen message id.
 */

import { Reader, Tag, Writer, bytesEqual, checkLen, concat, readU32, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import {
  ID_LEN,
  KEY_LEN,
  MAX_PLAINTEXT_LEN,
  MAX_SENDER_SKIP,
  MAX_SENDER_SKIPPED_KEYS,
  SIGNATURE_LEN,
  TAG_LEN,
  U32_MAX,
} from './limits.js';
import {
  type RandomSource,
  ascii,
  chainStep,
  checkVerifyingKey,
  ctEqual,
  ed25519Public,
  openWithMessageKey,
  randomBytes,
  sealWithMessageKey,
  sign,
  systemRandom,
  verify,
} from './primitives.js';

/** HKDF info deriving the AEAD key and nonce from a sender-key message key. */
export const SENDER_MESSAGE_KEY_INFO = ascii('Chatalot-SenderKey-MK-v1');
/** Signature label of sender-key messages. */
export const SENDER_MESSAGE_LABEL = ascii('Chatalot-SenderKeyMessage-v1');
/** Length of the sender-chosen message id. */
export const MESSAGE_ID_LEN = 16;
/** Encoded length of a {@link SenderKeyDistribution}. */
export const DISTRIBUTION_LEN = 1 + 2 * ID_LEN + 4 + 4 + 2 * KEY_LEN;

/**
 * The secret a sender hands to each member inside a pairwise session: the current chain
 * key and iteration, so the member can read from this iteration on only. Encoding
 * (tag 0x07, 105 bytes): `tag | channel_id(16) | sender_device_id(16) | key_id u32 |
 * iteration u32 | chain_key(32) | signing_key(32)`. Secret.
 */
export class SenderKeyDistribution {
  constructor(
    readonly channelId: Uint8Array,
    readonly senderDeviceId: Uint8Array,
    readonly keyId: number,
    readonly iteration: number,
    /** Chain key at `iteration`. Secret. */
    readonly chainKey: Uint8Array,
    /** Ed25519 public key that signs this sender key's messages. */
    readonly signingKey: Uint8Array,
  ) {
    checkLen(channelId, ID_LEN, 'channel id');
    checkLen(senderDeviceId, ID_LEN, 'sender device id');
    checkLen(chainKey, KEY_LEN, 'chain key');
    checkLen(signingKey, KEY_LEN, 'signing key');
  }

  toBytes(): Uint8Array {
    return new Writer(DISTRIBUTION_LEN)
      .u8(Tag.SENDER_KEY_DISTRIBUTION)
      .bytes(this.channelId)
      .bytes(this.senderDeviceId)
      .u32(this.keyId)
      .u32(this.iteration)
      .bytes(this.chainKey)
      .bytes(this.signingKey)
      .finish();
  }

  static fromBytes(bytes: Uint8Array): SenderKeyDistribution {
    const r = Reader.withTag(bytes, Tag.SENDER_KEY_DISTRIBUTION);
    const channelId = r.bytes(ID_LEN);
    const senderDeviceId = r.bytes(ID_LEN);
    const keyId = r.u32();
    const iteration = r.u32();
    const chainKey = r.bytes(KEY_LEN);
    try {
      const signingKey = r.bytes(KEY_LEN);
      r.finish();
      return new SenderKeyDistribution(channelId, senderDeviceId, keyId, iteration, chainKey, signingKey);
    } catch (e) {
      chainKey.fill(0);
      throw e;
    }
  }

  /** Overwrites the chain key. */
  wipe(): void {
    this.chainKey.fill(0);
  }

  toString(): string {
    return `SenderKeyDistribution(key ${this.keyId}, iteration ${this.iteration}, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

function messageAad(
  channelId: Uint8Array,
  senderDeviceId: Uint8Array,
  keyId: number,
  iteration: number,
  messageId: Uint8Array,
): Uint8Array {
  return new Writer(1 + 2 * ID_LEN + 8 + MESSAGE_ID_LEN)
    .u8(Tag.SENDER_KEY_MESSAGE)
    .bytes(channelId)
    .bytes(senderDeviceId)
    .u32(keyId)
    .u32(iteration)
    .bytes(messageId)
    .finish();
}

/**
 * What a sender-key message's signature covers (label and body), for verifying it ahead of
 * reading it (`verifyAhead`).
 */
export function senderMessageSigned(
  channelId: Uint8Array,
  senderDeviceId: Uint8Array,
  msg: SenderKeyMessage,
): { label: Uint8Array; body: Uint8Array; signature: Uint8Array } {
  return { label: SENDER_MESSAGE_LABEL, body: signatureBody(channelId, senderDeviceId, msg.unsignedBytes()), signature: msg.signature };
}

function signatureBody(channelId: Uint8Array, senderDeviceId: Uint8Array, unsigned: Uint8Array): Uint8Array {
  return new Writer(2 * ID_LEN + unsigned.length)
    .bytes(channelId)
    .bytes(senderDeviceId)
    .bytes(unsigned)
    .finish();
}

/**
 * A group message (tag 0x08): `tag | key_id u32 | iteration u32 | message_id(16) |
 * var(ciphertext) | signature(64)`.
 */
export class SenderKeyMessage {
  constructor(
    readonly keyId: number,
    readonly iteration: number,
    /** Sender-chosen random id; also the idempotency nonce of the send. */
    readonly messageId: Uint8Array,
    /** ChaCha20-Poly1305 ciphertext and tag. */
    readonly ciphertext: Uint8Array,
    /** Ed25519 signature over label, channel id, sender device id and the unsigned encoding. */
    readonly signature: Uint8Array,
  ) {}

  /** The encoding without the signature. */
  unsignedBytes(): Uint8Array {
    return new Writer(1 + 8 + MESSAGE_ID_LEN + 4 + this.ciphertext.length + SIGNATURE_LEN)
      .u8(Tag.SENDER_KEY_MESSAGE)
      .u32(this.keyId)
      .u32(this.iteration)
      .bytes(this.messageId)
      .varBytes(this.ciphertext)
      .finish();
  }

  toBytes(): Uint8Array {
    const u = this.unsignedBytes();
    const out = new Uint8Array(u.length + SIGNATURE_LEN);
    out.set(u);
    out.set(this.signature, u.length);
    return out;
  }

  /** Strict decoding (no verification). */
  static fromBytes(bytes: Uint8Array): SenderKeyMessage {
    const r = Reader.withTag(bytes, Tag.SENDER_KEY_MESSAGE);
    const keyId = r.u32();
    const iteration = r.u32();
    const messageId = r.bytes(MESSAGE_ID_LEN);
    const ciphertext = r.varBytes(MAX_PLAINTEXT_LEN + TAG_LEN, 'sender key ciphertext');
    if (ciphertext.length < TAG_LEN) throw new CryptoError('InvalidField', 'ciphertext shorter than tag');
    const signature = r.bytes(SIGNATURE_LEN);
    r.finish();
    return new SenderKeyMessage(keyId, iteration, messageId, ciphertext, signature);
  }
}

/** The sending side of a sender key (kept only by the sending device). Storage: tag 0x25. */
export class SenderKeySender {
  private readonly signingPublic: Uint8Array;

  private constructor(
    readonly channelId: Uint8Array,
    readonly senderDeviceId: Uint8Array,
    readonly keyId: number,
    private iterationValue: number,
    private chainKey: Uint8Array,
    private readonly signingSeed: Uint8Array,
  ) {
    this.signingPublic = ed25519Public(signingSeed);
  }

  /**
   * A new sender key for a channel. Draws, in order: key id (4 bytes, big-endian),
   * chain key (32 bytes), signing seed (32 bytes).
   */
  static generate(
    channelId: Uint8Array,
    senderDeviceId: Uint8Array,
    rng: RandomSource = systemRandom,
  ): SenderKeySender {
    checkLen(channelId, ID_LEN, 'channel id');
    checkLen(senderDeviceId, ID_LEN, 'sender device id');
    const id = randomBytes(rng, 4);
    const keyId = readU32(id);
    const chainKey = randomBytes(rng, KEY_LEN);
    const seed = randomBytes(rng, KEY_LEN);
    return new SenderKeySender(channelId.slice(), senderDeviceId.slice(), keyId, 0, chainKey, seed);
  }

  /** Iteration of the next message. */
  get iteration(): number {
    return this.iterationValue;
  }

  /** The distribution for members (current iteration: no access to earlier messages). */
  distribution(): SenderKeyDistribution {
    return new SenderKeyDistribution(
      this.channelId.slice(),
      this.senderDeviceId.slice(),
      this.keyId,
      this.iterationValue,
      this.chainKey.slice(),
      this.signingPublic.slice(),
    );
  }

  /** Encrypts and signs one message. Draws the 16-byte message id. */
  encrypt(plaintext: Uint8Array, rng: RandomSource = systemRandom): Uint8Array {
    if (plaintext.length > MAX_PLAINTEXT_LEN) throw new CryptoError('LimitExceeded', 'plaintext');
    if (this.iterationValue === U32_MAX) throw new CryptoError('CounterExhausted');
    const messageId = randomBytes(rng, MESSAGE_ID_LEN);
    const [mk, next] = chainStep(this.chainKey);
    let ciphertext: Uint8Array;
    try {
      ciphertext = sealWithMessageKey(
        mk,
        SENDER_MESSAGE_KEY_INFO,
        plaintext,
        messageAad(this.channelId, this.senderDeviceId, this.keyId, this.iterationValue, messageId),
      );
    } finally {
      mk.fill(0);
    }
    const unsigned = new SenderKeyMessage(
      this.keyId,
      this.iterationValue,
      messageId,
      ciphertext,
      new Uint8Array(SIGNATURE_LEN),
    ).unsignedBytes();
    const signature = sign(
      this.signingSeed,
      SENDER_MESSAGE_LABEL,
      signatureBody(this.channelId, this.senderDeviceId, unsigned),
    );
    this.chainKey.fill(0);
    this.chainKey = next;
    this.iterationValue += 1;
    return concat(unsigned, signature);
  }

  /**
   * Storage encoding (tag 0x25): `tag | channel_id(16) | sender_device_id(16) | key_id u32 |
   * iteration u32 | chain_key(32) | signing seed(32)`. Secret.
   */
  toBytes(): Uint8Array {
    return new Writer(1 + 2 * ID_LEN + 8 + 2 * KEY_LEN)
      .u8(Tag.SENDER_KEY_SENDER_STATE)
      .bytes(this.channelId)
      .bytes(this.senderDeviceId)
      .u32(this.keyId)
      .u32(this.iterationValue)
      .bytes(this.chainKey)
      .bytes(this.signingSeed)
      .finish();
  }

  static fromBytes(bytes: Uint8Array): SenderKeySender {
    const r = Reader.withTag(bytes, Tag.SENDER_KEY_SENDER_STATE);
    const channelId = r.bytes(ID_LEN);
    const senderDeviceId = r.bytes(ID_LEN);
    const keyId = r.u32();
    const iteration = r.u32();
    const chainKey = r.bytes(KEY_LEN);
    let seed: Uint8Array | undefined;
    try {
      seed = r.bytes(KEY_LEN);
      r.finish();
    } catch (e) {
      wipe(chainKey, seed);
      throw e;
    }
    return new SenderKeySender(channelId, senderDeviceId, keyId, iteration, chainKey, seed);
  }

  /** Overwrites the chain key and the signing seed; unusable afterwards. */
  wipe(): void {
    wipe(this.chainKey, this.signingSeed);
  }

  toString(): string {
    return `SenderKeySender(key ${this.keyId}, iteration ${this.iterationValue}, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

interface SkippedSenderKey {
  readonly iteration: number;
  readonly mk: Uint8Array;
}

/** A member's view of one sender key of one (channel, sender device). Storage: tag 0x26. */
export class SenderKeyReceiver {
  private constructor(
    readonly channelId: Uint8Array,
    readonly senderDeviceId: Uint8Array,
    readonly keyId: number,
    private readonly signingKey: Uint8Array,
    private iterationValue: number,
    private chainKey: Uint8Array,
    private skipped: SkippedSenderKey[],
  ) {}

  /**
   * Creates the receiving state from a distribution that arrived inside the pairwise
   * session with device `pairwisePeerDeviceId`: the distribution must name that device as
   * its sender (`IdentityMismatch` otherwise), and carry a valid signing key.
   */
  static fromDistribution(
    distribution: SenderKeyDistribution,
    pairwisePeerDeviceId: Uint8Array,
  ): SenderKeyReceiver {
    if (!ctEqual(distribution.senderDeviceId, pairwisePeerDeviceId)) {
      throw new CryptoError('IdentityMismatch');
    }
    checkVerifyingKey(distribution.signingKey);
    return new SenderKeyReceiver(
      distribution.channelId.slice(),
      distribution.senderDeviceId.slice(),
      distribution.keyId,
      distribution.signingKey.slice(),
      distribution.iteration,
      distribution.chainKey.slice(),
      [],
    );
  }

  /** Iteration of the next expected message. */
  get iteration(): number {
    return this.iterationValue;
  }

  /** Number of stored skipped message keys. */
  skippedKeyCount(): number {
    return this.skipped.length;
  }

  /**
   * Verifies and decrypts a message received in `channelId` from `senderDeviceId` (both as
   * stated by the delivering envelope). A message from another channel or sender, a
   * forged or tampered one, or a replay fails; on any failure the state is unchanged.
   */
  decrypt(channelId: Uint8Array, senderDeviceId: Uint8Array, bytes: Uint8Array): Uint8Array {
    const msg = SenderKeyMessage.fromBytes(bytes);
    if (!bytesEqual(channelId, this.channelId) || !bytesEqual(senderDeviceId, this.senderDeviceId)) {
      throw new CryptoError('IdentityMismatch');
    }
    if (msg.keyId !== this.keyId) throw new CryptoError('InvalidField', 'sender key id');
    verify(
      this.signingKey,
      SENDER_MESSAGE_LABEL,
      signatureBody(channelId, senderDeviceId, msg.unsignedBytes()),
      msg.signature,
    );
    const aad = messageAad(channelId, senderDeviceId, msg.keyId, msg.iteration, msg.messageId);
    if (msg.iteration < this.iterationValue) {
      const i = this.skipped.findIndex((k) => k.iteration === msg.iteration);
      if (i < 0) throw new CryptoError('Duplicate');
      const k = this.skipped[i] as SkippedSenderKey;
      const pt = openWithMessageKey(k.mk, SENDER_MESSAGE_KEY_INFO, msg.ciphertext, aad);
      this.skipped.splice(i, 1);
      k.mk.fill(0);
      return pt;
    }
    if (msg.iteration - this.iterationValue > MAX_SENDER_SKIP) throw new CryptoError('TooFarAhead');
    if (msg.iteration === U32_MAX) throw new CryptoError('CounterExhausted');
    const staged: SkippedSenderKey[] = [];
    let ck: Uint8Array = this.chainKey.slice();
    let mk: Uint8Array | undefined;
    try {
      for (let it = this.iterationValue; it < msg.iteration; it++) {
        const [k, next] = chainStep(ck);
        staged.push({ iteration: it, mk: k });
        ck.fill(0);
        ck = next;
      }
      const [messageKey, next] = chainStep(ck);
      mk = messageKey;
      ck.fill(0);
      ck = next;
      const pt = openWithMessageKey(mk, SENDER_MESSAGE_KEY_INFO, msg.ciphertext, aad);
      // Commit.
      this.chainKey.fill(0);
      this.chainKey = ck;
      this.iterationValue = msg.iteration + 1;
      for (const k of staged) {
        if (this.skipped.length === MAX_SENDER_SKIPPED_KEYS) this.skipped.shift()?.mk.fill(0);
        this.skipped.push(k);
      }
      return pt;
    } catch (e) {
      ck.fill(0);
      for (const k of staged) k.mk.fill(0);
      throw e;
    } finally {
      mk?.fill(0);
    }
  }

  /**
   * Storage encoding (tag 0x26): `tag | channel_id(16) | sender_device_id(16) | key_id u32 |
   * signing_key(32) | iteration u32 | chain_key(32) | count u32 | count x (iteration u32 |
   * message key(32))`. Secret.
   */
  toBytes(): Uint8Array {
    const w = new Writer(128 + this.skipped.length * 36)
      .u8(Tag.SENDER_KEY_RECEIVER_STATE)
      .bytes(this.channelId)
      .bytes(this.senderDeviceId)
      .u32(this.keyId)
      .bytes(this.signingKey)
      .u32(this.iterationValue)
      .bytes(this.chainKey)
      .u32(this.skipped.length);
    for (const k of this.skipped) w.u32(k.iteration).bytes(k.mk);
    return w.finish();
  }

  static fromBytes(bytes: Uint8Array): SenderKeyReceiver {
    const secrets: Uint8Array[] = [];
    try {
      const r = Reader.withTag(bytes, Tag.SENDER_KEY_RECEIVER_STATE);
      const channelId = r.bytes(ID_LEN);
      const senderDeviceId = r.bytes(ID_LEN);
      const keyId = r.u32();
      const signingKey = r.bytes(KEY_LEN);
      checkVerifyingKey(signingKey);
      const iteration = r.u32();
      const chainKey = r.bytes(KEY_LEN);
      secrets.push(chainKey);
      const count = r.u32();
      if (count > MAX_SENDER_SKIPPED_KEYS) throw new CryptoError('LimitExceeded', 'skipped keys');
      const skipped: SkippedSenderKey[] = [];
      for (let i = 0; i < count; i++) {
        const it = r.u32();
        if (it >= iteration) throw new CryptoError('InvalidField', 'skipped iteration not in the past');
        const mk = r.bytes(KEY_LEN);
        secrets.push(mk);
        skipped.push({ iteration: it, mk });
      }
      r.finish();
      return new SenderKeyReceiver(channelId, senderDeviceId, keyId, signingKey, iteration, chainKey, skipped);
    } catch (e) {
      wipe(...secrets);
      throw e;
    }
  }

  /** Overwrites every secret; unusable afterwards. */
  wipe(): void {
    this.chainKey.fill(0);
    for (const k of this.skipped) k.mk.fill(0);
    this.skipped = [];
  }

  toString(): string {
    return `SenderKeyReceiver(key ${this.keyId}, iteration ${this.iterationValue}, skipped ${this.skipped.length}, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}
