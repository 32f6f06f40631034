/**
 * The Double Ratchet (Signal specification, without header encryption) on top of
 * X3DH (docs/e2e.md 5). Headers are authenticated as AEAD associated data together
 * with the hash of the X3DH associated data. Decryption is transactional: a message
 * that fails for any reason leaves the session exactly as it was.
 */

import { Reader, Tag, Writer, bytesEqual, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import { DeviceCertificate, DeviceIdentity } from './identity.js';
import {
  KEY_LEN,
  MAX_PLAINTEXT_LEN,
  MAX_SKIP,
  MAX_SKIPPED_KEYS,
  TAG_LEN,
  U32_MAX,
} from './limits.js';
import {
  type RandomSource,
  ascii,
  chainStep,
  dh,
  hkdfSha256,
  openWithMessageKey,
  randomBytes,
  sealWithMessageKey,
  sha256,
  systemRandom,
  x25519Public,
} from './primitives.js';
import {
  OneTimePreKeySecret,
  PreKeyBundle,
  PreKeyHeader,
  SignedPreKeySecret,
  initiate as x3dhInitiate,
  respond as x3dhRespond,
} from './x3dh.js';

/** HKDF info of KDF_RK. */
export const ROOT_KDF_INFO = ascii('Chatalot-Ratchet-RK-v1');
/** HKDF info deriving the AEAD key and nonce from a message key. */
export const MESSAGE_KEY_INFO = ascii('Chatalot-Ratchet-MK-v1');
/** Length of an encoded message header (ratchet key, previous chain length, number). */
export const HEADER_LEN = KEY_LEN + 4 + 4;

/** Message header: sent in clear, authenticated as associated data. */
export interface Header {
  /** Sender's current ratchet public key. */
  readonly ratchetKey: Uint8Array;
  /** Number of messages in the sender's previous sending chain (PN). */
  readonly previousChainLength: number;
  /** Number of this message in the current sending chain (N). */
  readonly messageNumber: number;
}

/** `tag | ratchet_key(32) | pn u32 | n u32`: the authenticated prefix of a ratchet message. */
function headerBytes(w: Writer, h: Header): Writer {
  return w
    .u8(Tag.RATCHET_MESSAGE)
    .bytes(h.ratchetKey)
    .u32(h.previousChainLength)
    .u32(h.messageNumber);
}

/** A ratchet message (tag 0x06): `tag | header(40) | var(ciphertext)`. */
export class RatchetMessage {
  constructor(
    readonly header: Header,
    /** ChaCha20-Poly1305 ciphertext with its 16-byte tag. */
    readonly ciphertext: Uint8Array,
  ) {}

  toBytes(): Uint8Array {
    const w = new Writer(1 + HEADER_LEN + 4 + this.ciphertext.length);
    return headerBytes(w, this.header).varBytes(this.ciphertext).finish();
  }

  static read(r: Reader): RatchetMessage {
    const header: Header = {
      ratchetKey: r.bytes(KEY_LEN),
      previousChainLength: r.u32(),
      messageNumber: r.u32(),
    };
    const ciphertext = r.varBytes(MAX_PLAINTEXT_LEN + TAG_LEN, 'ratchet ciphertext');
    if (ciphertext.length < TAG_LEN) {
      throw new CryptoError('InvalidField', 'ciphertext shorter than tag');
    }
    return new RatchetMessage(header, ciphertext);
  }

  /** Strict decoding. */
  static fromBytes(bytes: Uint8Array): RatchetMessage {
    const r = Reader.withTag(bytes, Tag.RATCHET_MESSAGE);
    const m = RatchetMessage.read(r);
    r.finish();
    return m;
  }
}

/** Largest encoded ratchet message inside a PreKeyMessage. */
const MAX_INNER_MESSAGE_LEN = 1 + HEADER_LEN + 4 + MAX_PLAINTEXT_LEN + TAG_LEN;

/**
 * The initiator's messages until the first reply (tag 0x05): `tag | X3DH header |
 * var(ratchet message encoding)`.
 */
export class PreKeyMessage {
  constructor(
    readonly header: PreKeyHeader,
    readonly message: RatchetMessage,
  ) {}

  toBytes(): Uint8Array {
    const w = new Writer(300 + this.message.ciphertext.length).u8(Tag.PREKEY_MESSAGE);
    return this.header.write(w).varBytes(this.message.toBytes()).finish();
  }

  /** Strict decoding (no verification). */
  static fromBytes(bytes: Uint8Array): PreKeyMessage {
    const r = Reader.withTag(bytes, Tag.PREKEY_MESSAGE);
    const header = PreKeyHeader.read(r);
    const inner = r.varBytes(MAX_INNER_MESSAGE_LEN, 'inner message');
    const message = RatchetMessage.fromBytes(inner);
    r.finish();
    return new PreKeyMessage(header, message);
  }
}

/** A received message of either kind. */
export type IncomingMessage =
  | { readonly kind: 'prekey'; readonly message: PreKeyMessage }
  | { readonly kind: 'ratchet'; readonly message: RatchetMessage };

/** Decodes a received message by its leading tag (0x05 or 0x06). */
export function decodeIncoming(bytes: Uint8Array): IncomingMessage {
  if (!(bytes instanceof Uint8Array)) throw new CryptoError('InvalidField', 'input is not a byte array');
  if (bytes.length === 0) throw new CryptoError('Truncated');
  const t = bytes[0] as number;
  if (t === Tag.PREKEY_MESSAGE) return { kind: 'prekey', message: PreKeyMessage.fromBytes(bytes) };
  if (t === Tag.RATCHET_MESSAGE) return { kind: 'ratchet', message: RatchetMessage.fromBytes(bytes) };
  throw CryptoError.wrongTag(t);
}

interface SkippedKey {
  readonly ratchetKey: Uint8Array;
  readonly n: number;
  readonly mk: Uint8Array;
}

/** The part of the state a decryption may change (everything but the skipped store). */
interface Chains {
  root: Uint8Array;
  dhs: Uint8Array;
  dhsPublic: Uint8Array;
  dhr: Uint8Array | null;
  cks: Uint8Array | null;
  ckr: Uint8Array | null;
  ns: number;
  nr: number;
  pn: number;
}

function cloneChains(c: Chains): Chains {
  return {
    root: c.root.slice(),
    dhs: c.dhs.slice(),
    dhsPublic: c.dhsPublic.slice(),
    dhr: c.dhr?.slice() ?? null,
    cks: c.cks?.slice() ?? null,
    ckr: c.ckr?.slice() ?? null,
    ns: c.ns,
    nr: c.nr,
    pn: c.pn,
  };
}

function wipeChains(c: Chains): void {
  wipe(c.root, c.dhs, c.cks, c.ckr);
}

/** KDF_RK: HKDF-SHA256(salt = root key, ikm = DH output, info) -> [root key, chain key]. */
function kdfRk(root: Uint8Array, dhOut: Uint8Array): [Uint8Array, Uint8Array] {
  const okm = hkdfSha256(root, dhOut, ROOT_KDF_INFO, 2 * KEY_LEN);
  const out: [Uint8Array, Uint8Array] = [okm.slice(0, KEY_LEN), okm.slice(KEY_LEN)];
  okm.fill(0);
  return out;
}

/**
 * AEAD associated data: `ad_hash || [0x05 || prekey header] || 0x06 || header`. The
 * bracketed part is present exactly when the message travels inside a PreKeyMessage.
 */
function aad(adHash: Uint8Array, prekey: PreKeyHeader | null, header: Header): Uint8Array {
  const w = new Writer(KEY_LEN + 1 + 238 + 1 + HEADER_LEN).bytes(adHash);
  if (prekey !== null) prekey.write(w.u8(Tag.PREKEY_MESSAGE));
  return headerBytes(w, header).finish();
}

/**
 * Derives the skipped keys of the receiving chain up to `until` (exclusive) into `out`;
 * at most MAX_SKIP at once (`TooFarAhead`).
 */
function skipTo(c: Chains, until: number, out: SkippedKey[]): void {
  const dhr = c.dhr;
  if (c.ckr === null || dhr === null) return;
  if (until <= c.nr) return;
  if (until - c.nr > MAX_SKIP) throw new CryptoError('TooFarAhead');
  while (c.nr < until) {
    const [mk, next] = chainStep(c.ckr);
    c.ckr.fill(0);
    c.ckr = next;
    out.push({ ratchetKey: dhr.slice(), n: c.nr, mk });
    c.nr += 1;
  }
}

/** DH ratchet step on receiving a new ratchet key: draws one 32-byte secret. */
function dhRatchet(c: Chains, rng: RandomSource, their: Uint8Array): void {
  c.pn = c.ns;
  c.ns = 0;
  c.nr = 0;
  c.dhr = their.slice();
  const shared1 = dh(c.dhs, their);
  const [rk1, ckr] = kdfRk(c.root, shared1);
  shared1.fill(0);
  c.ckr?.fill(0);
  c.ckr = ckr;
  c.dhs.fill(0);
  c.dhs = randomBytes(rng, KEY_LEN);
  c.dhsPublic = x25519Public(c.dhs);
  const shared2 = dh(c.dhs, their);
  const [rk2, cks] = kdfRk(rk1, shared2);
  wipe(shared2, rk1, c.root);
  c.root = rk2;
  c.cks?.fill(0);
  c.cks = cks;
}

/** Upper bound of the fixed part of an encoded session state. */
const SESSION_STATE_MAX_FIXED_LEN = 1 + 4 * KEY_LEN + 3 * (1 + KEY_LEN) + 12 + 1 + 193 + KEY_LEN + 9 + 4;

/** A pairwise Double Ratchet session. Storage encoding: tag 0x24. */
export class Session {
  private constructor(
    private readonly adHash: Uint8Array,
    private readonly baseKeyBytes: Uint8Array,
    private chains: Chains,
    private skipped: SkippedKey[],
    private pendingPreKey: PreKeyHeader | null,
  ) {}

  /**
   * Alice: runs X3DH against Bob's bundle (verified against the user key Alice trusts
   * for Bob) and creates the session. Draws two 32-byte secrets: the X3DH ephemeral
   * key, then the first ratchet key.
   */
  static initiate(
    ours: DeviceIdentity,
    ourCertificate: DeviceCertificate,
    bundle: PreKeyBundle,
    trustedPeerUserKey: Uint8Array,
    rng: RandomSource = systemRandom,
  ): Session {
    const init = x3dhInitiate(ours, ourCertificate, bundle, trustedPeerUserKey, rng);
    const dhs = randomBytes(rng, KEY_LEN);
    let shared: Uint8Array | undefined;
    try {
      shared = dh(dhs, init.theirSignedPreKey);
      const [root, cks] = kdfRk(init.output.sharedSecret, shared);
      return new Session(
        sha256(init.output.associatedData),
        init.header.ephemeralKey.slice(),
        {
          root,
          dhs,
          dhsPublic: x25519Public(dhs),
          dhr: init.theirSignedPreKey,
          cks,
          ckr: null,
          ns: 0,
          nr: 0,
          pn: 0,
        },
        [],
        init.header,
      );
    } catch (e) {
      dhs.fill(0);
      throw e;
    } finally {
      wipe(shared, init.output.sharedSecret);
    }
  }

  /**
   * Bob: answers a PreKeyMessage with his signed prekey and the one-time prekey it names
   * (if any), verifying the initiator's certificate against the user key Bob trusts for
   * that user, and decrypts the first message. Nothing is created unless the message
   * decrypts; delete the one-time prekey only after this succeeds. Draws one 32-byte
   * secret (Bob's first sending ratchet key).
   */
  static respond(
    ours: DeviceIdentity,
    ourCertificate: DeviceCertificate,
    signedPreKey: SignedPreKeySecret,
    oneTimePreKey: OneTimePreKeySecret | null,
    trustedInitiatorUserKey: Uint8Array,
    message: PreKeyMessage,
    rng: RandomSource = systemRandom,
  ): { session: Session; plaintext: Uint8Array } {
    const out = x3dhRespond(
      ours,
      ourCertificate,
      signedPreKey,
      oneTimePreKey,
      message.header,
      trustedInitiatorUserKey,
    );
    const dhs = signedPreKey.secretCopy();
    const session = new Session(
      sha256(out.associatedData),
      message.header.ephemeralKey.slice(),
      {
        root: out.sharedSecret,
        dhs,
        dhsPublic: x25519Public(dhs),
        dhr: null,
        cks: null,
        ckr: null,
        ns: 0,
        nr: 0,
        pn: 0,
      },
      [],
      null,
    );
    try {
      const plaintext = session.decryptRatchet(rng, message.header, message.message);
      return { session, plaintext };
    } catch (e) {
      session.wipe();
      throw e;
    }
  }

  /** The X3DH base key (initiator's ephemeral public key), the same on both sides. */
  baseKey(): Uint8Array {
    return this.baseKeyBytes.slice();
  }

  /** Number of skipped message keys currently stored. */
  skippedKeyCount(): number {
    return this.skipped.length;
  }

  /** True while this (initiator) session still sends PreKeyMessages. */
  isPendingPreKey(): boolean {
    return this.pendingPreKey !== null;
  }

  /**
   * Encrypts one message. Returns the wire encoding: a PreKeyMessage (tag 0x05) while no
   * reply has been received, otherwise a RatchetMessage (tag 0x06).
   */
  encrypt(plaintext: Uint8Array): Uint8Array {
    if (plaintext.length > MAX_PLAINTEXT_LEN) throw new CryptoError('LimitExceeded', 'plaintext');
    const c = this.chains;
    if (c.cks === null) throw new CryptoError('InvalidState', 'no sending chain');
    if (c.ns === U32_MAX) throw new CryptoError('CounterExhausted');
    const [mk, next] = chainStep(c.cks);
    c.cks.fill(0);
    c.cks = next;
    const header: Header = {
      ratchetKey: c.dhsPublic.slice(),
      previousChainLength: c.pn,
      messageNumber: c.ns,
    };
    c.ns += 1;
    let ciphertext: Uint8Array;
    try {
      ciphertext = sealWithMessageKey(
        mk,
        MESSAGE_KEY_INFO,
        plaintext,
        aad(this.adHash, this.pendingPreKey, header),
      );
    } finally {
      mk.fill(0);
    }
    const message = new RatchetMessage(header, ciphertext);
    return this.pendingPreKey === null
      ? message.toBytes()
      : new PreKeyMessage(this.pendingPreKey, message).toBytes();
  }

  /**
   * Decrypts a received message (either encoding). A PreKeyMessage is accepted only by
   * the responder's session with the same base key. On any error the session is
   * unchanged. May draw one 32-byte secret (DH ratchet step).
   */
  decrypt(bytes: Uint8Array, rng: RandomSource = systemRandom): Uint8Array {
    const incoming = decodeIncoming(bytes);
    if (incoming.kind === 'ratchet') return this.decryptRatchet(rng, null, incoming.message);
    const p = incoming.message;
    if (!bytesEqual(p.header.ephemeralKey, this.baseKeyBytes) || this.pendingPreKey !== null) {
      throw new CryptoError('InvalidState', 'prekey message does not belong to this session');
    }
    return this.decryptRatchet(rng, p.header, p.message);
  }

  private decryptRatchet(rng: RandomSource, prekey: PreKeyHeader | null, m: RatchetMessage): Uint8Array {
    const h = m.header;
    const ad = aad(this.adHash, prekey, h);
    // 1. A stored skipped key: use it and delete it (a second use is a replay).
    const i = this.skipped.findIndex(
      (k) => k.n === h.messageNumber && bytesEqual(k.ratchetKey, h.ratchetKey),
    );
    if (i >= 0) {
      const k = this.skipped[i] as SkippedKey;
      const pt = openWithMessageKey(k.mk, MESSAGE_KEY_INFO, m.ciphertext, ad);
      this.skipped.splice(i, 1);
      k.mk.fill(0);
      this.pendingPreKey = null;
      return pt;
    }
    // 2. Work on a copy of the chains; commit only after the AEAD succeeded.
    const c = cloneChains(this.chains);
    const staged: SkippedKey[] = [];
    let mk: Uint8Array | undefined;
    try {
      if (c.dhr === null || !bytesEqual(c.dhr, h.ratchetKey)) {
        skipTo(c, h.previousChainLength, staged);
        dhRatchet(c, rng, h.ratchetKey);
      }
      if (h.messageNumber < c.nr) throw new CryptoError('Duplicate');
      skipTo(c, h.messageNumber, staged);
      if (c.ckr === null) throw new CryptoError('InvalidState', 'no receiving chain');
      const [messageKey, next] = chainStep(c.ckr);
      mk = messageKey;
      c.ckr.fill(0);
      c.ckr = next;
      if (h.messageNumber === U32_MAX) throw new CryptoError('CounterExhausted');
      c.nr = h.messageNumber + 1;
      const pt = openWithMessageKey(mk, MESSAGE_KEY_INFO, m.ciphertext, ad);
      // Commit.
      wipeChains(this.chains);
      this.chains = c;
      for (const k of staged) {
        if (this.skipped.length === MAX_SKIPPED_KEYS) this.skipped.shift()?.mk.fill(0);
        this.skipped.push(k);
      }
      this.pendingPreKey = null;
      return pt;
    } catch (e) {
      wipeChains(c);
      for (const k of staged) k.mk.fill(0);
      throw e;
    } finally {
      mk?.fill(0);
    }
  }

  /** Storage encoding (tag 0x24); see docs/e2e.md 5.6 for the layout. Secret. */
  toBytes(): Uint8Array {
    const c = this.chains;
    const w = new Writer(SESSION_STATE_MAX_FIXED_LEN + this.skipped.length * 68)
      .u8(Tag.SESSION_STATE)
      .bytes(this.adHash)
      .bytes(this.baseKeyBytes)
      .bytes(c.root)
      .bytes(c.dhs);
    for (const opt of [c.dhr, c.cks, c.ckr]) {
      if (opt === null) w.flag(false);
      else w.flag(true).bytes(opt);
    }
    w.u32(c.ns).u32(c.nr).u32(c.pn);
    if (this.pendingPreKey === null) w.flag(false);
    else this.pendingPreKey.write(w.flag(true));
    w.u32(this.skipped.length);
    for (const k of this.skipped) w.bytes(k.ratchetKey).u32(k.n).bytes(k.mk);
    return w.finish();
  }

  /** Restores a session from {@link Session.toBytes}. */
  static fromBytes(bytes: Uint8Array): Session {
    const secrets: Uint8Array[] = [];
    const secret = (b: Uint8Array): Uint8Array => {
      secrets.push(b);
      return b;
    };
    try {
      const r = Reader.withTag(bytes, Tag.SESSION_STATE);
      const adHash = r.bytes(KEY_LEN);
      const baseKey = r.bytes(KEY_LEN);
      const root = secret(r.bytes(KEY_LEN));
      const dhs = secret(r.bytes(KEY_LEN));
      const dhr = r.flag() ? r.bytes(KEY_LEN) : null;
      const cks = r.flag() ? secret(r.bytes(KEY_LEN)) : null;
      const ckr = r.flag() ? secret(r.bytes(KEY_LEN)) : null;
      const ns = r.u32();
      const nr = r.u32();
      const pn = r.u32();
      let pending: PreKeyHeader | null = null;
      if (r.flag()) {
        pending = PreKeyHeader.read(r);
        if (!bytesEqual(pending.ephemeralKey, baseKey)) {
          throw new CryptoError('InvalidField', 'pending header base key');
        }
      }
      const count = r.u32();
      if (count > MAX_SKIPPED_KEYS) throw new CryptoError('LimitExceeded', 'skipped keys');
      const skipped: SkippedKey[] = [];
      for (let i = 0; i < count; i++) {
        const ratchetKey = r.bytes(KEY_LEN);
        const n = r.u32();
        const mk = secret(r.bytes(KEY_LEN));
        skipped.push({ ratchetKey, n, mk });
      }
      r.finish();
      return new Session(
        adHash,
        baseKey,
        { root, dhs, dhsPublic: x25519Public(dhs), dhr, cks, ckr, ns, nr, pn },
        skipped,
        pending,
      );
    } catch (e) {
      wipe(...secrets);
      throw e;
    }
  }

  /** Overwrites every secret of the session; it is unusable afterwards. */
  wipe(): void {
    wipeChains(this.chains);
    for (const k of this.skipped) k.mk.fill(0);
    this.skipped = [];
  }

  toString(): string {
    return `Session(sent ${this.chains.ns}, received ${this.chains.nr}, skipped ${this.skipped.length}, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

