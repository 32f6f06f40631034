/**
 * X3DH key agreement (Signal specification) with a separate X25519 device identity key
 * certified by the user key, signed prekeys signed by the device Ed25519 key, and
 * optional one-time prekeys (docs/e2e.md 4).
 */

import { Reader, Tag, Writer, bytesEqual, checkLen, checkU32, concat, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import { DeviceCertificate, DeviceIdentity, devicePublicKeysEqual } from './identity.js';
import { ID_LEN, KEY_LEN, SIGNATURE_LEN } from './limits.js';
import {
  type RandomSource,
  ascii,
  dh,
  hkdfSha256,
  randomBytes,
  systemRandom,
  verify,
  x25519Public,
} from './primitives.js';

/** Signature label of signed prekeys. */
export const SIGNED_PREKEY_LABEL = ascii('Chatalot-SignedPreKey-v1');
/** HKDF info of the X3DH shared secret. */
export const X3DH_INFO = ascii('Chatalot-X3DH-v1');

function signedPreKeyBody(deviceId: Uint8Array, keyId: number, publicKey: Uint8Array): Uint8Array {
  return new Writer(ID_LEN + 4 + KEY_LEN).bytes(deviceId).u32(keyId).bytes(publicKey).finish();
}

/** Public half of a signed prekey, as published. Encoding: tag 0x02, 101 bytes. */
export class SignedPreKeyPublic {
  constructor(
    /** Key id chosen by the device. */
    readonly keyId: number,
    /** X25519 public key. */
    readonly publicKey: Uint8Array,
    /** Device Ed25519 signature over the label, device id, key id and public key. */
    readonly signature: Uint8Array,
  ) {
    checkU32(keyId, 'signed prekey id');
    checkLen(publicKey, KEY_LEN, 'signed prekey');
    checkLen(signature, SIGNATURE_LEN, 'signed prekey signature');
  }

  /** Verifies the signature with the device's certified Ed25519 key and device id. */
  verify(deviceSigningKey: Uint8Array, deviceId: Uint8Array): void {
    verify(
      deviceSigningKey,
      SIGNED_PREKEY_LABEL,
      signedPreKeyBody(deviceId, this.keyId, this.publicKey),
      this.signature,
    );
  }

  /** Writes `key_id u32 | public(32) | signature(64)` (no tag). */
  write(w: Writer): Writer {
    return w.u32(this.keyId).bytes(this.publicKey).bytes(this.signature);
  }

  static read(r: Reader): SignedPreKeyPublic {
    return new SignedPreKeyPublic(r.u32(), r.bytes(KEY_LEN), r.bytes(SIGNATURE_LEN));
  }

  toBytes(): Uint8Array {
    return this.write(new Writer(101).u8(Tag.SIGNED_PREKEY)).finish();
  }

  /** Strict decoding (no verification). */
  static fromBytes(bytes: Uint8Array): SignedPreKeyPublic {
    const r = Reader.withTag(bytes, Tag.SIGNED_PREKEY);
    const v = SignedPreKeyPublic.read(r);
    r.finish();
    return v;
  }

  equals(o: SignedPreKeyPublic): boolean {
    return bytesEqual(this.toBytes(), o.toBytes());
  }
}

/** Private half of a signed prekey, kept by its device. Storage encoding: tag 0x22. */
export class SignedPreKeySecret {
  private constructor(
    /** Key id. */
    readonly keyId: number,
    private readonly secret: Uint8Array,
    private readonly signature: Uint8Array,
  ) {}

  /**
   * Generates a signed prekey (draws one 32-byte X25519 secret) and signs it with the
   * device Ed25519 key over `device_id || key_id || public`.
   */
  static generate(
    device: DeviceIdentity,
    keyId: number,
    rng: RandomSource = systemRandom,
  ): SignedPreKeySecret {
    checkU32(keyId, 'signed prekey id');
    const secret = randomBytes(rng, KEY_LEN);
    const publicKey = x25519Public(secret);
    const signature = device.sign(
      SIGNED_PREKEY_LABEL,
      signedPreKeyBody(device.deviceId, keyId, publicKey),
    );
    return new SignedPreKeySecret(keyId, secret, signature);
  }

  /** The public half to publish. */
  public(): SignedPreKeyPublic {
    return new SignedPreKeyPublic(this.keyId, x25519Public(this.secret), this.signature.slice());
  }

  /** X25519 of this prekey with `theirPublic` (contributory check included). */
  dh(theirPublic: Uint8Array): Uint8Array {
    return dh(this.secret, theirPublic);
  }

  /** A copy of the secret, for the responder's first ratchet key pair. */
  secretCopy(): Uint8Array {
    return this.secret.slice();
  }

  /** Storage encoding (tag 0x22): `tag | key_id u32 | secret(32) | signature(64)`. Secret. */
  toBytes(): Uint8Array {
    return new Writer(101)
      .u8(Tag.SIGNED_PREKEY_SECRET)
      .u32(this.keyId)
      .bytes(this.secret)
      .bytes(this.signature)
      .finish();
  }

  static fromBytes(bytes: Uint8Array): SignedPreKeySecret {
    const r = Reader.withTag(bytes, Tag.SIGNED_PREKEY_SECRET);
    const keyId = r.u32();
    const secret = r.bytes(KEY_LEN);
    try {
      const signature = r.bytes(SIGNATURE_LEN);
      r.finish();
      return new SignedPreKeySecret(keyId, secret, signature);
    } catch (e) {
      secret.fill(0);
      throw e;
    }
  }

  wipe(): void {
    this.secret.fill(0);
  }

  toString(): string {
    return `SignedPreKeySecret(${this.keyId}, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Public half of a one-time prekey. Encoding: tag 0x03, 37 bytes. */
export class OneTimePreKeyPublic {
  constructor(
    /** Key id chosen by the device. */
    readonly keyId: number,
    /** X25519 public key. */
    readonly publicKey: Uint8Array,
  ) {
    checkU32(keyId, 'one-time prekey id');
    checkLen(publicKey, KEY_LEN, 'one-time prekey');
  }

  toBytes(): Uint8Array {
    return new Writer(37).u8(Tag.ONE_TIME_PREKEY).u32(this.keyId).bytes(this.publicKey).finish();
  }

  static fromBytes(bytes: Uint8Array): OneTimePreKeyPublic {
    const r = Reader.withTag(bytes, Tag.ONE_TIME_PREKEY);
    const v = new OneTimePreKeyPublic(r.u32(), r.bytes(KEY_LEN));
    r.finish();
    return v;
  }

  equals(o: OneTimePreKeyPublic): boolean {
    return this.keyId === o.keyId && bytesEqual(this.publicKey, o.publicKey);
  }
}

/**
 * Private half of a one-time prekey. Delete it only after the first message that used
 * it decrypted successfully. Storage encoding: tag 0x23.
 */
export class OneTimePreKeySecret {
  private constructor(
    /** Key id. */
    readonly keyId: number,
    private readonly secret: Uint8Array,
  ) {}

  /** Generates a one-time prekey (draws one 32-byte X25519 secret). */
  static generate(keyId: number, rng: RandomSource = systemRandom): OneTimePreKeySecret {
    checkU32(keyId, 'one-time prekey id');
    return new OneTimePreKeySecret(keyId, randomBytes(rng, KEY_LEN));
  }

  /** The public half to upload. */
  public(): OneTimePreKeyPublic {
    return new OneTimePreKeyPublic(this.keyId, x25519Public(this.secret));
  }

  /** X25519 of this prekey with `theirPublic` (contributory check included). */
  dh(theirPublic: Uint8Array): Uint8Array {
    return dh(this.secret, theirPublic);
  }

  /** Storage encoding (tag 0x23): `tag | key_id u32 | secret(32)`. Secret. */
  toBytes(): Uint8Array {
    return new Writer(37).u8(Tag.ONE_TIME_PREKEY_SECRET).u32(this.keyId).bytes(this.secret).finish();
  }

  static fromBytes(bytes: Uint8Array): OneTimePreKeySecret {
    const r = Reader.withTag(bytes, Tag.ONE_TIME_PREKEY_SECRET);
    const keyId = r.u32();
    const secret = r.bytes(KEY_LEN);
    try {
      r.finish();
    } catch (e) {
      secret.fill(0);
      throw e;
    }
    return new OneTimePreKeySecret(keyId, secret);
  }

  wipe(): void {
    this.secret.fill(0);
  }

  toString(): string {
    return `OneTimePreKeySecret(${this.keyId}, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/**
 * What a device publishes for others to start sessions with it. Encoding (tag 0x04):
 * `tag | certificate(193, with its tag) | spk key_id u32 | spk(32) | spk signature(64) |
 * opk flag | [opk key_id u32 | opk(32)]` (295 or 331 bytes).
 */
export class PreKeyBundle {
  constructor(
    /** The device certificate (signed by the user key). */
    readonly certificate: DeviceCertificate,
    /** The current signed prekey. */
    readonly signedPreKey: SignedPreKeyPublic,
    /** A one-time prekey, if one was available. */
    readonly oneTimePreKey: OneTimePreKeyPublic | null = null,
  ) {}

  /**
   * Verifies the certificate under the user key the caller trusts for this user and
   * the signed prekey under the certified device key and device id.
   */
  verify(trustedUserKey: Uint8Array): void {
    this.certificate.verify(trustedUserKey);
    this.signedPreKey.verify(this.certificate.deviceSigningKey, this.certificate.deviceId);
  }

  toBytes(): Uint8Array {
    const w = new Writer(331).u8(Tag.PREKEY_BUNDLE).bytes(this.certificate.toBytes());
    this.signedPreKey.write(w);
    const opk = this.oneTimePreKey;
    if (opk === null) w.flag(false);
    else w.flag(true).u32(opk.keyId).bytes(opk.publicKey);
    return w.finish();
  }

  /** Strict decoding (no verification). */
  static fromBytes(bytes: Uint8Array): PreKeyBundle {
    const r = Reader.withTag(bytes, Tag.PREKEY_BUNDLE);
    const certificate = DeviceCertificate.readTagged(r);
    const signedPreKey = SignedPreKeyPublic.read(r);
    const oneTimePreKey = r.flag() ? new OneTimePreKeyPublic(r.u32(), r.bytes(KEY_LEN)) : null;
    r.finish();
    return new PreKeyBundle(certificate, signedPreKey, oneTimePreKey);
  }
}

/** The X3DH part of the first message(s) of a session, sent by the initiator. */
export class PreKeyHeader {
  constructor(
    /** The initiator's device certificate. */
    readonly initiator: DeviceCertificate,
    /** The initiator's ephemeral X25519 public key (also the session's base key). */
    readonly ephemeralKey: Uint8Array,
    /** Id of the responder's signed prekey that was used. */
    readonly signedPreKeyId: number,
    /** Id of the responder's one-time prekey that was used, if any. */
    readonly oneTimePreKeyId: number | null,
  ) {
    checkLen(ephemeralKey, KEY_LEN, 'ephemeral key');
    checkU32(signedPreKeyId, 'signed prekey id');
    if (oneTimePreKeyId !== null) checkU32(oneTimePreKeyId, 'one-time prekey id');
  }

  /** `certificate(193) | ephemeral(32) | spk_id u32 | opk flag | [opk_id u32]`. */
  write(w: Writer): Writer {
    w.bytes(this.initiator.toBytes()).bytes(this.ephemeralKey).u32(this.signedPreKeyId);
    if (this.oneTimePreKeyId === null) w.flag(false);
    else w.flag(true).u32(this.oneTimePreKeyId);
    return w;
  }

  static read(r: Reader): PreKeyHeader {
    const initiator = DeviceCertificate.readTagged(r);
    const ephemeralKey = r.bytes(KEY_LEN);
    const signedPreKeyId = r.u32();
    const oneTimePreKeyId = r.flag() ? r.u32() : null;
    return new PreKeyHeader(initiator, ephemeralKey, signedPreKeyId, oneTimePreKeyId);
  }

  toBytes(): Uint8Array {
    return this.write(new Writer(238)).finish();
  }

  equals(o: PreKeyHeader): boolean {
    return bytesEqual(this.toBytes(), o.toBytes());
  }
}

/** Output of X3DH on either side. */
export interface X3dhOutput {
  /** SK: the 32-byte shared secret (the first root key). Secret. */
  readonly sharedSecret: Uint8Array;
  /** AD = initiator certificate (193 bytes) || responder certificate (193 bytes). */
  readonly associatedData: Uint8Array;
}

/** Initiator output: SK and AD, the header to send, and the responder's signed prekey. */
export interface Initiation {
  readonly output: X3dhOutput;
  readonly header: PreKeyHeader;
  readonly theirSignedPreKey: Uint8Array;
}

function kdf(dhs: Uint8Array[]): Uint8Array {
  const ikm = concat(new Uint8Array(KEY_LEN).fill(0xff), ...dhs);
  const sk = hkdfSha256(new Uint8Array(KEY_LEN), ikm, X3DH_INFO, KEY_LEN);
  wipe(ikm, ...dhs);
  return sk;
}

function associatedData(initiator: DeviceCertificate, responder: DeviceCertificate): Uint8Array {
  return concat(initiator.toBytes(), responder.toBytes());
}

function checkOwnCertificate(ours: DeviceIdentity, cert: DeviceCertificate): void {
  if (
    !devicePublicKeysEqual(cert.deviceKeys(), ours.publicKeys()) ||
    !bytesEqual(cert.userId, ours.userId)
  ) {
    throw new CryptoError('InvalidState', 'own certificate does not match own device identity');
  }
}

/**
 * Alice's side: verifies the bundle against the user key Alice trusts for Bob, draws one
 * 32-byte ephemeral secret and computes SK from DH1..DH4.
 */
export function initiate(
  ours: DeviceIdentity,
  ourCertificate: DeviceCertificate,
  bundle: PreKeyBundle,
  trustedPeerUserKey: Uint8Array,
  rng: RandomSource = systemRandom,
): Initiation {
  checkOwnCertificate(ours, ourCertificate);
  bundle.verify(trustedPeerUserKey);
  const ephemeral = randomBytes(rng, KEY_LEN);
  const dhs: Uint8Array[] = [];
  try {
    const spk = bundle.signedPreKey.publicKey;
    dhs.push(ours.dh(spk));
    dhs.push(dh(ephemeral, bundle.certificate.deviceDhKey));
    dhs.push(dh(ephemeral, spk));
    if (bundle.oneTimePreKey !== null) dhs.push(dh(ephemeral, bundle.oneTimePreKey.publicKey));
    const sharedSecret = kdf(dhs);
    return {
      output: {
        sharedSecret,
        associatedData: associatedData(ourCertificate, bundle.certificate),
      },
      header: new PreKeyHeader(
        ourCertificate,
        x25519Public(ephemeral),
        bundle.signedPreKey.keyId,
        bundle.oneTimePreKey?.keyId ?? null,
      ),
      theirSignedPreKey: spk.slice(),
    };
  } finally {
    wipe(ephemeral, ...dhs);
  }
}

/**
 * Bob's side: verifies the initiator's certificate against the user key Bob trusts for
 * the initiator, checks the prekey ids, and computes SK.
 */
export function respond(
  ours: DeviceIdentity,
  ourCertificate: DeviceCertificate,
  signedPreKey: SignedPreKeySecret,
  oneTimePreKey: OneTimePreKeySecret | null,
  header: PreKeyHeader,
  trustedInitiatorUserKey: Uint8Array,
): X3dhOutput {
  checkOwnCertificate(ours, ourCertificate);
  header.initiator.verify(trustedInitiatorUserKey);
  if (header.signedPreKeyId !== signedPreKey.keyId) {
    throw new CryptoError('InvalidField', 'signed prekey id mismatch');
  }
  const dhs: Uint8Array[] = [];
  try {
    dhs.push(signedPreKey.dh(header.initiator.deviceDhKey));
    dhs.push(ours.dh(header.ephemeralKey));
    dhs.push(signedPreKey.dh(header.ephemeralKey));
    // DH4 exactly when the header names a one-time prekey and it is the one passed in.
    const id = header.oneTimePreKeyId;
    if (id !== null || oneTimePreKey !== null) {
      if (id === null || oneTimePreKey === null || id !== oneTimePreKey.keyId) {
        throw new CryptoError('InvalidField', 'one-time prekey mismatch');
      }
      dhs.push(oneTimePreKey.dh(header.ephemeralKey));
    }
    return {
      sharedSecret: kdf(dhs),
      associatedData: associatedData(header.initiator, ourCertificate),
    };
  } finally {
    wipe(...dhs);
  }
}
