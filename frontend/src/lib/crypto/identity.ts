/**
 * Identities: the user key (Ed25519) that cross-signs the user's devices, and the
 * device identity (an Ed25519 signing key plus a separate X25519 key), bound together
 * by a {@link DeviceCertificate} signed by the user key (docs/e2e.md 2-3).
 */

import { Reader, Tag, Writer, bytesEqual, checkLen } from './encoding.js';
import { CryptoError } from './errors.js';
import { ID_LEN, KEY_LEN, SIGNATURE_LEN } from './limits.js';
import {
  type RandomSource,
  ascii,
  checkVerifyingKey,
  ctEqual,
  dh,
  ed25519Public,
  randomBytes,
  sign,
  systemRandom,
  verify,
  x25519Public,
} from './primitives.js';

/** Signature label of device certificates. */
export const DEVICE_CERT_LABEL = ascii('Chatalot-DeviceCert-v1');

/** Encoded length of a {@link DeviceCertificate}. */
export const DEVICE_CERTIFICATE_LEN = 1 + KEY_LEN + ID_LEN + ID_LEN + KEY_LEN + KEY_LEN + SIGNATURE_LEN;

/** Encoded length of a {@link UserKeyPair} (its storage encoding, tag 0x20). */
export const USER_KEY_PAIR_LEN = 1 + ID_LEN + KEY_LEN;

/** The public keys of one device. */
export interface DevicePublicKeys {
  /** Device id (UUID bytes). */
  readonly deviceId: Uint8Array;
  /** Device Ed25519 public key (signs prekeys). */
  readonly signingKey: Uint8Array;
  /** Device X25519 identity public key (used in X3DH). */
  readonly dhKey: Uint8Array;
}

/** True when both describe the same device keys. */
export function devicePublicKeysEqual(a: DevicePublicKeys, b: DevicePublicKeys): boolean {
  return (
    bytesEqual(a.deviceId, b.deviceId) &&
    bytesEqual(a.signingKey, b.signingKey) &&
    bytesEqual(a.dhKey, b.dhKey)
  );
}

/**
 * A user's long-term key pair. It signs the user's device certificates; its public half
 * is what safety numbers are computed over.
 */
export class UserKeyPair {
  /** The Ed25519 public key. */
  readonly publicKey: Uint8Array;

  private constructor(
    /** The user id this key belongs to. */
    readonly userId: Uint8Array,
    private readonly seed: Uint8Array,
  ) {
    this.publicKey = ed25519Public(seed);
  }

  /** Generates a user key: draws one 32-byte Ed25519 seed. */
  static generate(userId: Uint8Array, rng: RandomSource = systemRandom): UserKeyPair {
    checkLen(userId, ID_LEN, 'user id');
    return new UserKeyPair(userId.slice(), randomBytes(rng, KEY_LEN));
  }

  /** Signs a certificate for one of this user's devices. */
  certifyDevice(device: DevicePublicKeys): DeviceCertificate {
    const unsigned = new DeviceCertificate(
      this.publicKey,
      this.userId,
      checkLen(device.deviceId, ID_LEN, 'device id'),
      checkLen(device.signingKey, KEY_LEN, 'device signing key'),
      checkLen(device.dhKey, KEY_LEN, 'device dh key'),
      new Uint8Array(SIGNATURE_LEN),
    );
    const signature = sign(this.seed, DEVICE_CERT_LABEL, unsigned.signedBody());
    return unsigned.withSignature(signature);
  }

  /** Storage encoding (tag 0x20): `tag | user_id(16) | ed25519 seed(32)`. Secret. */
  toBytes(): Uint8Array {
    return new Writer(USER_KEY_PAIR_LEN)
      .u8(Tag.USER_KEY_SECRET)
      .bytes(this.userId)
      .bytes(this.seed)
      .finish();
  }

  /** Decodes {@link UserKeyPair.toBytes}. */
  static fromBytes(bytes: Uint8Array): UserKeyPair {
    const r = Reader.withTag(bytes, Tag.USER_KEY_SECRET);
    const userId = r.bytes(ID_LEN);
    const seed = r.bytes(KEY_LEN);
    try {
      r.finish();
    } catch (e) {
      seed.fill(0);
      throw e;
    }
    return new UserKeyPair(userId, seed);
  }

  /** Overwrites the secret seed; the object is unusable afterwards. */
  wipe(): void {
    this.seed.fill(0);
  }

  toString(): string {
    return 'UserKeyPair(<redacted>)';
  }

  toJSON(): string {
    return this.toString();
  }
}

/** A device's private identity: an Ed25519 signing key and an X25519 key. */
export class DeviceIdentity {
  private readonly keys: DevicePublicKeys;

  private constructor(
    /** The owning user's id. */
    readonly userId: Uint8Array,
    /** This device's id. */
    readonly deviceId: Uint8Array,
    private readonly seed: Uint8Array,
    private readonly dhSecret: Uint8Array,
  ) {
    this.keys = {
      deviceId,
      signingKey: ed25519Public(seed),
      dhKey: x25519Public(dhSecret),
    };
  }

  /** Generates a device identity: draws the Ed25519 seed, then the X25519 secret (32 bytes each). */
  static generate(
    userId: Uint8Array,
    deviceId: Uint8Array,
    rng: RandomSource = systemRandom,
  ): DeviceIdentity {
    checkLen(userId, ID_LEN, 'user id');
    checkLen(deviceId, ID_LEN, 'device id');
    const seed = randomBytes(rng, KEY_LEN);
    const dhSecret = randomBytes(rng, KEY_LEN);
    return new DeviceIdentity(userId.slice(), deviceId.slice(), seed, dhSecret);
  }

  /** The public keys, to be certified by the user key (fresh copies). */
  publicKeys(): DevicePublicKeys {
    return {
      deviceId: this.keys.deviceId.slice(),
      signingKey: this.keys.signingKey.slice(),
      dhKey: this.keys.dhKey.slice(),
    };
  }

  /** Signs `u8 len(label) || label || body` with the device Ed25519 key. */
  sign(label: Uint8Array, body: Uint8Array): Uint8Array {
    return sign(this.seed, label, body);
  }

  /** X25519 of the device identity key with `theirPublic` (contributory check included). */
  dh(theirPublic: Uint8Array): Uint8Array {
    return dh(this.dhSecret, theirPublic);
  }

  /**
   * Storage encoding (tag 0x21): `tag | user_id(16) | device_id(16) | ed25519 seed(32) |
   * x25519 secret(32)`. Secret.
   */
  toBytes(): Uint8Array {
    return new Writer(1 + 2 * ID_LEN + 2 * KEY_LEN)
      .u8(Tag.DEVICE_IDENTITY_SECRET)
      .bytes(this.userId)
      .bytes(this.deviceId)
      .bytes(this.seed)
      .bytes(this.dhSecret)
      .finish();
  }

  /** Decodes {@link DeviceIdentity.toBytes}. */
  static fromBytes(bytes: Uint8Array): DeviceIdentity {
    const r = Reader.withTag(bytes, Tag.DEVICE_IDENTITY_SECRET);
    const userId = r.bytes(ID_LEN);
    const deviceId = r.bytes(ID_LEN);
    const seed = r.bytes(KEY_LEN);
    let dhSecret: Uint8Array | undefined;
    try {
      dhSecret = r.bytes(KEY_LEN);
      r.finish();
    } catch (e) {
      seed.fill(0);
      dhSecret?.fill(0);
      throw e;
    }
    return new DeviceIdentity(userId, deviceId, seed, dhSecret);
  }

  /** Overwrites both secrets; the object is unusable afterwards. */
  wipe(): void {
    this.seed.fill(0);
    this.dhSecret.fill(0);
  }

  toString(): string {
    return 'DeviceIdentity(<redacted>)';
  }

  toJSON(): string {
    return this.toString();
  }
}

/**
 * A user key's signature over one device's keys: a device the server invents has no
 * valid certificate under the user key a peer has pinned, so it is not trusted.
 * Encoding (tag 0x01, 193 bytes): `tag | user_key(32) | user_id(16) | device_id(16) |
 * device_signing_key(32) | device_dh_key(32) | signature(64)`.
 */
export class DeviceCertificate {
  constructor(
    /** The signing user key (Ed25519 public). */
    readonly userKey: Uint8Array,
    /** The user id. */
    readonly userId: Uint8Array,
    /** The device id. */
    readonly deviceId: Uint8Array,
    /** The device's Ed25519 public key. */
    readonly deviceSigningKey: Uint8Array,
    /** The device's X25519 identity public key. */
    readonly deviceDhKey: Uint8Array,
    /** Ed25519 signature by `userKey` over the label and the first 129 bytes. */
    readonly signature: Uint8Array,
  ) {
    checkLen(userKey, KEY_LEN, 'user key');
    checkLen(userId, ID_LEN, 'user id');
    checkLen(deviceId, ID_LEN, 'device id');
    checkLen(deviceSigningKey, KEY_LEN, 'device signing key');
    checkLen(deviceDhKey, KEY_LEN, 'device dh key');
    checkLen(signature, SIGNATURE_LEN, 'signature');
  }

  /** A copy with another signature. */
  withSignature(signature: Uint8Array): DeviceCertificate {
    return new DeviceCertificate(
      this.userKey,
      this.userId,
      this.deviceId,
      this.deviceSigningKey,
      this.deviceDhKey,
      signature,
    );
  }

  /** The signed body: the encoding without the trailing signature. */
  signedBody(): Uint8Array {
    return this.toBytes().subarray(0, DEVICE_CERTIFICATE_LEN - SIGNATURE_LEN);
  }

  toBytes(): Uint8Array {
    return new Writer(DEVICE_CERTIFICATE_LEN)
      .u8(Tag.DEVICE_CERTIFICATE)
      .bytes(this.userKey)
      .bytes(this.userId)
      .bytes(this.deviceId)
      .bytes(this.deviceSigningKey)
      .bytes(this.deviceDhKey)
      .bytes(this.signature)
      .finish();
  }

  /** Strict decoding without verification (see {@link DeviceCertificate.verify}). */
  static fromBytes(bytes: Uint8Array): DeviceCertificate {
    const r = Reader.withTag(bytes, Tag.DEVICE_CERTIFICATE);
    const cert = DeviceCertificate.readFields(r);
    r.finish();
    return cert;
  }

  /** Reads a certificate including its own tag byte. */
  static readTagged(r: Reader): DeviceCertificate {
    r.expectTag(Tag.DEVICE_CERTIFICATE);
    return DeviceCertificate.readFields(r);
  }

  private static readFields(r: Reader): DeviceCertificate {
    return new DeviceCertificate(
      r.bytes(KEY_LEN),
      r.bytes(ID_LEN),
      r.bytes(ID_LEN),
      r.bytes(KEY_LEN),
      r.bytes(KEY_LEN),
      r.bytes(SIGNATURE_LEN),
    );
  }

  /**
   * Verifies the certificate against the user key the caller trusts (pinned, or
   * verified through the safety number): `IdentityMismatch` when signed by another
   * key, `InvalidPublicKey` for a bad device signing key, `BadSignature` when forged.
   */
  verify(trustedUserKey: Uint8Array): void {
    if (!ctEqual(this.userKey, trustedUserKey)) throw new CryptoError('IdentityMismatch');
    checkVerifyingKey(this.deviceSigningKey);
    verify(this.userKey, DEVICE_CERT_LABEL, this.signedBody(), this.signature);
  }

  /** The certified device public keys. */
  deviceKeys(): DevicePublicKeys {
    return {
      deviceId: this.deviceId.slice(),
      signingKey: this.deviceSigningKey.slice(),
      dhKey: this.deviceDhKey.slice(),
    };
  }

  equals(other: DeviceCertificate): boolean {
    return bytesEqual(this.toBytes(), other.toBytes());
  }
}
