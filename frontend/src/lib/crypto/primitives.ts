/**
 * Building blocks on the audited @noble packages: injected randomness, HKDF/HMAC
 * chain steps, ChaCha20-Poly1305, X25519 with the contributory check, and
 * domain-separated Ed25519 signatures verified with the rules of ed25519-dalek's
 * `verify_strict`.
 */

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ED25519_TORSION_SUBGROUP, ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import { hexToBytes } from '@noble/hashes/utils.js';

import { concat } from './encoding.js';
import { CryptoError } from './errors.js';
import { KEY_LEN, NONCE_LEN, SIGNATURE_LEN } from './limits.js';

/**
 * A source of randomness: fills the whole array with secure random bytes. Every
 * random value is drawn with exactly one call of the stated length (docs/e2e.md 1),
 * so recorded draws can be replayed.
 */
export type RandomSource = (out: Uint8Array) => void;

/** The production source: the platform CSPRNG (`crypto.getRandomValues`). */
export const systemRandom: RandomSource = (out) => {
  globalThis.crypto.getRandomValues(out as Uint8Array<ArrayBuffer>);
};

/** Draws `n` bytes with one call of `rng`. */
export function randomBytes(rng: RandomSource, n: number): Uint8Array {
  const out = new Uint8Array(n);
  rng(out);
  return out;
}

const ZERO_SALT = new Uint8Array(KEY_LEN);

/** HKDF-SHA256; a missing salt is 32 zero bytes (RFC 5869 default). */
export function hkdfSha256(
  salt: Uint8Array | undefined,
  ikm: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return hkdf(nobleSha256, ikm, salt ?? ZERO_SALT, info, length);
}

/** HMAC-SHA256(key, data). */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(nobleSha256, key, data);
}

const ONE = Uint8Array.of(0x01);
const TWO = Uint8Array.of(0x02);

/** Symmetric chain step: [message key = HMAC(ck, 0x01), next chain key = HMAC(ck, 0x02)]. */
export function chainStep(ck: Uint8Array): [Uint8Array, Uint8Array] {
  return [hmacSha256(ck, ONE), hmacSha256(ck, TWO)];
}

/** SHA-256 of the concatenation of the parts. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = nobleSha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

/** SHA-512 of the concatenation of the parts. */
export function sha512Of(...parts: Uint8Array[]): Uint8Array {
  const h = sha512.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

/** ChaCha20-Poly1305 (RFC 8439): ciphertext || 16-byte tag. */
export function aeadEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  return chacha20poly1305(key, nonce, aad).encrypt(plaintext);
}

/** ChaCha20-Poly1305 decryption; any failure is `DecryptFailed`. */
export function aeadDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  try {
    return chacha20poly1305(key, nonce, aad).decrypt(ciphertext);
  } catch {
    throw new CryptoError('DecryptFailed');
  }
}

/**
 * AEAD key and nonce of one message key: HKDF-SHA256(salt = none, ikm = mk, info, 44),
 * key = bytes 0..32, nonce = bytes 32..44.
 */
export class AeadKey {
  private constructor(
    private readonly key: Uint8Array,
    private readonly nonce: Uint8Array,
  ) {}

  static fromMessageKey(mk: Uint8Array, info: Uint8Array): AeadKey {
    const okm = hkdfSha256(undefined, mk, info, KEY_LEN + NONCE_LEN);
    const k = new AeadKey(okm.slice(0, KEY_LEN), okm.slice(KEY_LEN));
    okm.fill(0);
    return k;
  }

  encrypt(plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    return aeadEncrypt(this.key, this.nonce, plaintext, aad);
  }

  decrypt(ciphertext: Uint8Array, aad: Uint8Array): Uint8Array {
    return aeadDecrypt(this.key, this.nonce, ciphertext, aad);
  }

  wipe(): void {
    this.key.fill(0);
    this.nonce.fill(0);
  }
}

/** Encrypts once with the AEAD key of `mk` and wipes the derived key. */
export function sealWithMessageKey(
  mk: Uint8Array,
  info: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const k = AeadKey.fromMessageKey(mk, info);
  try {
    return k.encrypt(plaintext, aad);
  } finally {
    k.wipe();
  }
}

/** Decrypts once with the AEAD key of `mk` and wipes the derived key. */
export function openWithMessageKey(
  mk: Uint8Array,
  info: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const k = AeadKey.fromMessageKey(mk, info);
  try {
    return k.decrypt(ciphertext, aad);
  } finally {
    k.wipe();
  }
}

/** X25519 public key of a 32-byte secret (clamped inside). */
export function x25519Public(secret: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secret);
}

/**
 * X25519(secret, public) that rejects a non-contributory (all-zero) result, i.e. a
 * low-order peer key, with `InvalidPublicKey`.
 */
export function dh(secret: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  let out: Uint8Array;
  try {
    out = x25519.getSharedSecret(secret, theirPublic);
  } catch {
    throw new CryptoError('InvalidPublicKey');
  }
  let acc = 0;
  for (const b of out) acc |= b;
  if (acc === 0) throw new CryptoError('InvalidPublicKey');
  return out;
}

/** Ed25519 public key of a 32-byte seed. */
export function ed25519Public(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

/** The bytes a signature covers: `u8 len(label) || label || body`. */
function signingInput(label: Uint8Array, body: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(label.length), label, body);
}

/** Ed25519 signature (RFC 8032) over a domain-separated message. */
export function sign(seed: Uint8Array, label: Uint8Array, body: Uint8Array): Uint8Array {
  return ed25519.sign(signingInput(label, body), seed);
}

const Point = ed25519.Point;
const L = Point.Fn.ORDER;

function decodePoint(bytes: Uint8Array): InstanceType<typeof Point> | null {
  try {
    // zip215 decoding accepts exactly what curve25519-dalek's `decompress` accepts
    // (y is reduced mod p; x = 0 with the sign bit set is allowed); canonicity of R
    // is enforced below by comparing encodings, small order is rejected explicitly.
    return Point.fromBytes(bytes, true);
  } catch {
    return null;
  }
}

function bytesToNumberLE(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
  return v;
}

/** The canonical encodings of the eight points of small order (the 8-torsion subgroup). */
const SMALL_ORDER = ED25519_TORSION_SUBGROUP.map((h) => hexToBytes(h));

function isSmallOrderEncoding(b: Uint8Array): boolean {
  return SMALL_ORDER.some((t) => ctEqual(t, b));
}

/**
 * Verifying keys decoded and checked lately, by their bytes (the least lately used leave first).
 * A sender key's signing key verifies every message of the key: from its second use it keeps a
 * window-4 table (about 100 KiB), which makes `[k]A` about three times faster.
 */
const VERIFYING_KEYS_KEPT = 48;
const verifyingKeys = new Map<string, { point: InstanceType<typeof Point>; uses: number }>();

/** The decoded public key, null when it is not a curve point or of small order ("weak"). */
function verifyingPoint(publicKey: Uint8Array): InstanceType<typeof Point> | null {
  const id = String.fromCharCode(...publicKey);
  const held = verifyingKeys.get(id);
  if (held) {
    verifyingKeys.delete(id);
    verifyingKeys.set(id, held);
    if (++held.uses === 2) held.point.precompute(4);
    return held.point;
  }
  const a = decodePoint(publicKey);
  if (a === null || a.isSmallOrder()) return null;
  verifyingKeys.set(id, { point: a, uses: 1 });
  if (verifyingKeys.size > VERIFYING_KEYS_KEPT) verifyingKeys.delete(verifyingKeys.keys().next().value as string);
  return a;
}

/**
 * Parses an Ed25519 public key, rejecting encodings that are not a curve point and
 * small-order ("weak") points with `InvalidPublicKey`.
 */
export function checkVerifyingKey(publicKey: Uint8Array): void {
  if (publicKey.length !== KEY_LEN || verifyingPoint(publicKey) === null) throw new CryptoError('InvalidPublicKey');
}

/**
 * Ed25519 verification with ed25519-dalek's `verify_strict` rules: A and R must decode
 * and not be of small order, s must be canonical (s < L), and the cofactorless equation
 * must hold with R compared by its encoding ([s]B - [k]A encodes to exactly R).
 *
 * R is not decoded: a computed point's encoding is canonical, so an R that does not decode, or
 * is not canonical, never equals it; of the canonical ones, the eight of small order are
 * refused by their bytes.
 */
export function verifyStrict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== KEY_LEN || signature.length !== SIGNATURE_LEN) return false;
  const rBytes = signature.subarray(0, 32);
  const a = verifyingPoint(publicKey);
  if (a === null || isSmallOrderEncoding(rBytes)) return false;
  const s = bytesToNumberLE(signature.subarray(32));
  if (s >= L) return false;
  const sig = String.fromCharCode(...signature);
  const ahead = verifiedAhead.get(sig);
  if (ahead) {
    verifiedAhead.delete(sig);
    if (ctEqual(ahead.publicKey, publicKey) && ctEqual(ahead.message, message)) return true;
  }
  const k = bytesToNumberLE(sha512Of(rBytes, publicKey, message)) % L;
  const expected = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k));
  const enc = expected.toBytes();
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= (enc[i] as number) ^ (rBytes[i] as number);
  return diff === 0;
}

/**
 * Signatures the platform's WebCrypto verified ahead (`verifyAhead`), by their bytes, with the
 * key and the exact bytes they cover; each is taken once by the `verifyStrict` that asks for it.
 * Bounded: the oldest go first.
 */
const VERIFIED_AHEAD_KEPT = 1024;
const verifiedAhead = new Map<string, { publicKey: Uint8Array; message: Uint8Array }>();
/** WebCrypto keys of the public keys verified ahead lately. */
const webKeys = new Map<string, Promise<CryptoKey>>();
let webEd25519: Promise<boolean> | null = null;

/** Whether this platform's WebCrypto verifies Ed25519 (a known signature checked once). */
function hasWebEd25519(): Promise<boolean> {
  webEd25519 ??= (async () => {
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) return false;
    try {
      const seed = new Uint8Array(32).fill(7);
      const msg = Uint8Array.of(1, 2, 3);
      const key = await subtle.importKey('raw', ed25519.getPublicKey(seed), { name: 'Ed25519' }, false, ['verify']);
      const good = await subtle.verify({ name: 'Ed25519' }, key, ed25519.sign(msg, seed), msg);
      const bad = await subtle.verify({ name: 'Ed25519' }, key, ed25519.sign(Uint8Array.of(9), seed), msg);
      return good && !bad;
    } catch {
      return false;
    }
  })();
  return webEd25519;
}

/**
 * Verifies many domain-separated signatures at once with the platform's WebCrypto Ed25519 (a
 * native implementation, several times faster than the JavaScript one) where it has one, so
 * that the `verify` of each, later, finds it done. The rules `verifyStrict` adds to RFC 8032's
 * equation (A decodes and is not of small order, R is not of small order, s < L) are checked here
 * in JavaScript first; WebCrypto then checks the cofactorless equation, as `verifyStrict` does.
 * A signature WebCrypto refuses is simply not remembered: its `verify` checks it again and gives
 * the answer. Never throws; returns how many were verified.
 */
export async function verifyAhead(
  items: ReadonlyArray<{ publicKey: Uint8Array; label: Uint8Array; body: Uint8Array; signature: Uint8Array }>,
): Promise<number> {
  if (!items.length || !(await hasWebEd25519())) return 0;
  const subtle = globalThis.crypto.subtle;
  const done = await Promise.all(
    items.slice(0, VERIFIED_AHEAD_KEPT).map(async (it) => {
      try {
        const { publicKey, signature } = it;
        if (publicKey.length !== KEY_LEN || signature.length !== SIGNATURE_LEN) return false;
        if (verifyingPoint(publicKey) === null || isSmallOrderEncoding(signature.subarray(0, 32))) return false;
        if (bytesToNumberLE(signature.subarray(32)) >= L) return false;
        const id = String.fromCharCode(...publicKey);
        let key = webKeys.get(id);
        if (!key) {
          key = subtle.importKey('raw', publicKey.slice(), { name: 'Ed25519' }, false, ['verify']);
          webKeys.set(id, key);
          if (webKeys.size > VERIFYING_KEYS_KEPT) webKeys.delete(webKeys.keys().next().value as string);
        }
        const message = signingInput(it.label, it.body);
        if (!(await subtle.verify({ name: 'Ed25519' }, await key, signature.slice(), message as Uint8Array<ArrayBuffer>))) return false;
        verifiedAhead.set(String.fromCharCode(...signature), { publicKey: publicKey.slice(), message });
        if (verifiedAhead.size > VERIFIED_AHEAD_KEPT) verifiedAhead.delete(verifiedAhead.keys().next().value as string);
        return true;
      } catch {
        return false;
      }
    }),
  );
  return done.filter(Boolean).length;
}

/**
 * Verifies a domain-separated signature: `InvalidPublicKey` for a bad or weak key,
 * `BadSignature` when the signature does not verify.
 */
export function verify(
  publicKey: Uint8Array,
  label: Uint8Array,
  body: Uint8Array,
  signature: Uint8Array,
): void {
  checkVerifyingKey(publicKey);
  if (!verifyStrict(publicKey, signingInput(label, body), signature)) {
    throw new CryptoError('BadSignature');
  }
}

/** Constant-time equality of two byte strings (the lengths are not secret). */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** ASCII bytes of a label. */
export function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
