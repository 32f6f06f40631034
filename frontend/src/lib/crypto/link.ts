/**
 * Device linking (docs/e2e.md 18.2): a device of the account that holds the user key
 * (`E`) hands a new device (`N`) its certificate, the user key and the backup key, over a
 * channel the server only relays. The user carries a 128-bit code from `N` to `E` (typed
 * or scanned); the server knows neither the code nor the X25519 secrets, so it can neither
 * read nor forge the exchange, nor make `E` answer a request `N` did not make.
 *
 * `N`: {@link PendingLink.start} → send {@link PendingLink.request} to the server, show
 * {@link PendingLink.code} → {@link PendingLink.finish} with the response. `E`:
 * {@link LinkRequest.matches} to find the request of the code typed in → {@link respond}.
 */

import { Reader, Tag, Writer, bytesEqual, checkLen, checkU64, crockfordText, readCrockford, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import {
  DEVICE_CERTIFICATE_LEN,
  DeviceCertificate,
  DeviceIdentity,
  type DevicePublicKeys,
  USER_KEY_PAIR_LEN,
  UserKeyPair,
  devicePublicKeysEqual,
} from './identity.js';
import { ID_LEN, KEY_LEN, NONCE_LEN, TAG_LEN } from './limits.js';
import {
  type RandomSource,
  aeadDecrypt,
  aeadEncrypt,
  ascii,
  checkVerifyingKey,
  ctEqual,
  dh,
  hkdfSha256,
  hmacSha256,
  randomBytes,
  sha256,
  systemRandom,
  x25519Public,
} from './primitives.js';

/** Bytes of a link code. */
export const LINK_CODE_LEN = 16;
/** Characters of a link code's text (Crockford base32; the last 2 bits are zero). */
export const LINK_CODE_CHARS = 26;
/** Length of a {@link LinkRequest} encoding. */
export const LINK_REQUEST_LEN = 1 + ID_LEN + ID_LEN + 3 * KEY_LEN + KEY_LEN;
/** HKDF info of the request MAC key. */
export const LINK_REQUEST_LABEL = ascii('Chatalot-LinkRequest-v1');
/** HKDF info prefix of the link key (followed by the request digest). */
export const LINK_KEY_LABEL = ascii('Chatalot-Link-v1');

const LINK_SECRETS_LEN = 1 + DEVICE_CERTIFICATE_LEN + USER_KEY_PAIR_LEN + KEY_LEN + 8 + 8;
/** Length of a link response encoding: tag, ephemeral key, nonce, and the sealed secrets with their length. */
export const LINK_RESPONSE_LEN = 1 + KEY_LEN + NONCE_LEN + 4 + LINK_SECRETS_LEN + TAG_LEN;

/** The secret the user carries from the new device to the linking one. */
export class LinkCode {
  private constructor(private readonly code: Uint8Array) {}

  /** The code as raw bytes (copied). */
  static fromBytes(bytes: Uint8Array): LinkCode {
    return new LinkCode(checkLen(bytes, LINK_CODE_LEN, 'link code').slice());
  }

  /** The 26-character text to show (and to put in a QR code), in groups of four joined by `-`. */
  toText(): string {
    return crockfordText(this.code);
  }

  /**
   * Reads a typed code: case, `-` and spaces do not matter; `I`/`L` read as `1` and `O`
   * as `0`. Anything else, another length, or nonzero padding bits is `InvalidField`.
   */
  static parse(text: string): LinkCode {
    return new LinkCode(readCrockford(text, LINK_CODE_LEN, 'link code'));
  }

  /** The raw code (a copy; secret). */
  bytes(): Uint8Array {
    return this.code.slice();
  }

  /** True when both are the same code (constant time). */
  equals(other: LinkCode): boolean {
    return ctEqual(this.code, other.code);
  }

  /** @internal HKDF(salt = none, ikm = code, "Chatalot-LinkRequest-v1", 32). */
  macKey(): Uint8Array {
    return hkdfSha256(undefined, this.code, LINK_REQUEST_LABEL, KEY_LEN);
  }

  /** @internal The link key of one exchange (the code is the HKDF salt). */
  linkKey(shared: Uint8Array, digest: Uint8Array): Uint8Array {
    const info = new Writer(LINK_KEY_LABEL.length + KEY_LEN).bytes(LINK_KEY_LABEL).bytes(digest).finish();
    return hkdfSha256(this.code, shared, info, KEY_LEN);
  }

  /** Overwrites the code; unusable afterwards. */
  wipe(): void {
    this.code.fill(0);
  }

  toString(): string {
    return 'LinkCode(<redacted>)';
  }

  toJSON(): string {
    return this.toString();
  }
}

/**
 * What the new device asks the server to hold for the account (tag 0x62, 161 bytes):
 * `0x62 | user_id | device_id | device_signing_key | device_dh_key | ephemeral | mac`, with
 * `mac = HMAC(HKDF(code, "Chatalot-LinkRequest-v1"), first 129 bytes)`.
 */
export class LinkRequest {
  constructor(
    /** The account. */
    readonly userId: Uint8Array,
    /** The new device's public keys (its device id, signing key and X25519 key). */
    readonly device: DevicePublicKeys,
    /** The new device's ephemeral X25519 public key for this link. */
    readonly ephemeral: Uint8Array,
    /** The MAC under the link code. */
    readonly mac: Uint8Array,
  ) {
    checkLen(userId, ID_LEN, 'user id');
    checkLen(device.deviceId, ID_LEN, 'device id');
    checkLen(device.signingKey, KEY_LEN, 'device signing key');
    checkLen(device.dhKey, KEY_LEN, 'device dh key');
    checkLen(ephemeral, KEY_LEN, 'ephemeral key');
    checkLen(mac, KEY_LEN, 'mac');
  }

  /** The MACed part: the encoding without the MAC. */
  private body(): Uint8Array {
    return this.toBytes().subarray(0, LINK_REQUEST_LEN - KEY_LEN);
  }

  toBytes(): Uint8Array {
    return new Writer(LINK_REQUEST_LEN)
      .u8(Tag.LINK_REQUEST)
      .bytes(this.userId)
      .bytes(this.device.deviceId)
      .bytes(this.device.signingKey)
      .bytes(this.device.dhKey)
      .bytes(this.ephemeral)
      .bytes(this.mac)
      .finish();
  }

  /** Strict decoding. */
  static fromBytes(bytes: Uint8Array): LinkRequest {
    const r = Reader.withTag(bytes, Tag.LINK_REQUEST);
    const userId = r.bytes(ID_LEN);
    const device = { deviceId: r.bytes(ID_LEN), signingKey: r.bytes(KEY_LEN), dhKey: r.bytes(KEY_LEN) };
    const ephemeral = r.bytes(KEY_LEN);
    const mac = r.bytes(KEY_LEN);
    r.finish();
    return new LinkRequest(userId, device, ephemeral, mac);
  }

  /** The request with the MAC of `code` over its body. */
  static withMac(userId: Uint8Array, device: DevicePublicKeys, ephemeral: Uint8Array, code: LinkCode): LinkRequest {
    const unsigned = new LinkRequest(userId, device, ephemeral, new Uint8Array(KEY_LEN));
    const key = code.macKey();
    try {
      return new LinkRequest(userId, device, ephemeral, hmacSha256(key, unsigned.body()));
    } finally {
      key.fill(0);
    }
  }

  /**
   * True when this request was made with `code` (constant-time MAC comparison): the
   * request the linking device answers.
   */
  matches(code: LinkCode): boolean {
    const key = code.macKey();
    try {
      return ctEqual(hmacSha256(key, this.body()), this.mac);
    } finally {
      key.fill(0);
    }
  }

  /** SHA-256 of the whole encoding, which the response is bound to. */
  digest(): Uint8Array {
    return sha256(this.toBytes());
  }

  /** A deep copy. */
  clone(): LinkRequest {
    return LinkRequest.fromBytes(this.toBytes());
  }
}

/**
 * What the linking device hands over (tag 0x64, only inside a link response):
 * `0x64 | DeviceCertificate | UserKeyPair | backup_key | storage_version u64 | head_seq u64`.
 */
export class LinkSecrets {
  constructor(
    /** The new device's certificate, signed by the user key. */
    readonly certificate: DeviceCertificate,
    /** The account's user key. Secret. */
    readonly userKey: UserKeyPair,
    /** The account's backup key. Secret. */
    readonly backupKey: Uint8Array,
    /** The latest version of the account's secret storage the linking device knows. */
    readonly storageVersion: bigint,
    /** The latest backup head the linking device knows: the new device refuses older ones. */
    readonly headSeq: bigint,
  ) {
    checkLen(backupKey, KEY_LEN, 'backup key');
  }

  /** @internal The plaintext encoding. Secret. */
  toBytes(): Uint8Array {
    const user = this.userKey.toBytes();
    try {
      return new Writer(LINK_SECRETS_LEN)
        .u8(Tag.LINK_SECRETS)
        .bytes(this.certificate.toBytes())
        .bytes(user)
        .bytes(this.backupKey)
        .u64(this.storageVersion)
        .u64(this.headSeq)
        .finish();
    } finally {
      user.fill(0);
    }
  }

  /** @internal Strict decoding of the plaintext. */
  static fromBytes(bytes: Uint8Array): LinkSecrets {
    const r = Reader.withTag(bytes, Tag.LINK_SECRETS);
    const certificate = DeviceCertificate.readTagged(r);
    const userBytes = r.bytes(USER_KEY_PAIR_LEN);
    let userKey: UserKeyPair | undefined;
    let backupKey: Uint8Array | undefined;
    try {
      userKey = UserKeyPair.fromBytes(userBytes);
      backupKey = r.bytes(KEY_LEN);
      const storageVersion = r.u64();
      const headSeq = r.u64();
      r.finish();
      return new LinkSecrets(certificate, userKey, backupKey, storageVersion, headSeq);
    } catch (e) {
      userKey?.wipe();
      wipe(backupKey);
      throw e;
    } finally {
      userBytes.fill(0);
    }
  }

  /** Overwrites the user key and the backup key. */
  wipe(): void {
    this.userKey.wipe();
    this.backupKey.fill(0);
  }

  toString(): string {
    return `LinkSecrets(storage version ${this.storageVersion}, head ${this.headSeq}, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** `0x63 | ephemeral | request digest`: the response's AEAD data. */
function responseAad(ephemeral: Uint8Array, digest: Uint8Array): Uint8Array {
  return new Writer(1 + 2 * KEY_LEN).u8(Tag.LINK_RESPONSE).bytes(ephemeral).bytes(digest).finish();
}

/** A device linked: its identity and what the linking device handed over. */
export interface Linked {
  /** The device's own identity (the one given to {@link PendingLink.start}, copied). */
  readonly identity: DeviceIdentity;
  /** What the linking device handed over; the certificate names `identity`'s keys. */
  readonly secrets: LinkSecrets;
}

/** The new device's side of a link in progress. */
export class PendingLink {
  private constructor(
    private readonly identity: DeviceIdentity,
    private readonly ephemeralSecret: Uint8Array,
    /** The code to show. */
    readonly code: LinkCode,
    /** The request to hand to the server. */
    readonly request: LinkRequest,
  ) {}

  /**
   * Starts linking `identity` (the new device's keys): draws the ephemeral X25519 secret
   * (32 bytes), then the code (16 bytes).
   */
  static start(identity: DeviceIdentity, rng: RandomSource = systemRandom): PendingLink {
    const ephemeralSecret = randomBytes(rng, KEY_LEN);
    const codeBytes = randomBytes(rng, LINK_CODE_LEN);
    const code = LinkCode.fromBytes(codeBytes);
    codeBytes.fill(0);
    const request = LinkRequest.withMac(identity.userId, identity.publicKeys(), x25519Public(ephemeralSecret), code);
    return new PendingLink(identity, ephemeralSecret, code, request);
  }

  /**
   * Opens the linking device's response. `publishedUserKey` is the user key the server
   * publishes for the account: the handed-over user key must be that one
   * (`IdentityMismatch`), and the certificate must name this device's keys and verify
   * under it. A response not made for this request and code is `DecryptFailed`. A refused
   * response changes nothing: the genuine one can still be opened after it.
   */
  finish(response: Uint8Array, publishedUserKey: Uint8Array): Linked {
    const r = Reader.withTag(response, Tag.LINK_RESPONSE);
    const ephemeral = r.bytes(KEY_LEN);
    const nonce = r.bytes(NONCE_LEN);
    const ciphertext = r.varBytes(LINK_SECRETS_LEN + TAG_LEN, 'link response');
    r.finish();
    const digest = this.request.digest();
    const shared = dh(this.ephemeralSecret, ephemeral);
    const key = this.code.linkKey(shared, digest);
    shared.fill(0);
    let plain: Uint8Array;
    try {
      plain = aeadDecrypt(key, nonce, ciphertext, responseAad(ephemeral, digest));
    } finally {
      key.fill(0);
    }
    let secrets: LinkSecrets;
    try {
      secrets = LinkSecrets.fromBytes(plain);
    } finally {
      plain.fill(0);
    }
    try {
      const userKey = secrets.userKey.publicKey;
      if (!ctEqual(userKey, publishedUserKey) || !bytesEqual(secrets.userKey.userId, this.request.userId)) {
        throw new CryptoError('IdentityMismatch');
      }
      secrets.certificate.verify(userKey);
      if (
        !devicePublicKeysEqual(secrets.certificate.deviceKeys(), this.identity.publicKeys()) ||
        !bytesEqual(secrets.certificate.userId, this.request.userId)
      ) {
        throw new CryptoError('IdentityMismatch');
      }
    } catch (e) {
      secrets.wipe();
      throw e;
    }
    return { identity: DeviceIdentity.fromBytes(this.identity.toBytes()), secrets };
  }

  /** Overwrites the ephemeral secret and the code (not the identity); unusable afterwards. */
  wipe(): void {
    this.ephemeralSecret.fill(0);
    this.code.wipe();
  }

  toString(): string {
    return 'PendingLink(<redacted>)';
  }

  toJSON(): string {
    return this.toString();
  }
}

/**
 * The linking device's answer to `request`, for the user who typed `code`: certifies the
 * new device with `userKey` and seals the user key, the backup key and the versions for
 * it: `0x63 | ephemeral | nonce | var(AEAD(k, nonce, LinkSecrets, aad = 0x63 | ephemeral |
 * request digest))`. Draws the ephemeral X25519 secret (32 bytes), then the nonce (12
 * bytes). A request that does not match the code, or is for another account, is refused
 * (`IdentityMismatch`) before anything is drawn or signed; a request whose device signing
 * key is not a valid key is `InvalidPublicKey`.
 */
export function respond(
  code: LinkCode,
  request: LinkRequest,
  userKey: UserKeyPair,
  backupKey: Uint8Array,
  storageVersion: bigint | number,
  headSeq: bigint | number,
  rng: RandomSource = systemRandom,
): Uint8Array {
  checkLen(backupKey, KEY_LEN, 'backup key');
  const version = checkU64(storageVersion, 'storage version');
  const head = checkU64(headSeq, 'head seq');
  if (!request.matches(code) || !bytesEqual(request.userId, userKey.userId)) {
    throw new CryptoError('IdentityMismatch');
  }
  checkVerifyingKey(request.device.signingKey);
  const userBytes = userKey.toBytes();
  const secrets = new LinkSecrets(
    userKey.certifyDevice(request.device),
    UserKeyPair.fromBytes(userBytes),
    backupKey.slice(),
    version,
    head,
  );
  userBytes.fill(0);
  const ephemeralSecret = randomBytes(rng, KEY_LEN);
  let plain: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  try {
    const ephemeral = x25519Public(ephemeralSecret);
    const nonce = randomBytes(rng, NONCE_LEN);
    const digest = request.digest();
    const shared = dh(ephemeralSecret, request.ephemeral);
    key = code.linkKey(shared, digest);
    shared.fill(0);
    plain = secrets.toBytes();
    const ciphertext = aeadEncrypt(key, nonce, plain, responseAad(ephemeral, digest));
    return new Writer(LINK_RESPONSE_LEN)
      .u8(Tag.LINK_RESPONSE)
      .bytes(ephemeral)
      .bytes(nonce)
      .varBytes(ciphertext)
      .finish();
  } finally {
    wipe(ephemeralSecret, plain, key);
    secrets.wipe();
  }
}
