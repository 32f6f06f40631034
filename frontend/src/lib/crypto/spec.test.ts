// @vitest-environment node
/**
 * Recomputes the vector outputs from the formulas of docs/e2e.md alone, on the raw
 * @noble primitives, without calling this package's constructions (as the Rust
 * `tests/spec.rs`): a check that the document is complete and true for a port.
 */

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';

import { concat, fromHex as h, toHex } from './encoding.js';
import { loadVectors } from './testSupport.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
const u64 = (v: number) => concat(u32(Math.floor(v / 2 ** 32)), u32(v >>> 0));
const sign = (seed: Uint8Array, label: string, body: Uint8Array) =>
  ed25519.sign(concat(Uint8Array.of(label.length), ascii(label), body), seed);
const kdfRk = (rk: Uint8Array, dh: Uint8Array) => {
  const o = hkdf(sha256, dh, rk, ascii('Chatalot-Ratchet-RK-v1'), 64);
  return [o.slice(0, 32), o.slice(32)] as const;
};
const kdfCk = (ck: Uint8Array) => [hmac(sha256, ck, Uint8Array.of(1)), hmac(sha256, ck, Uint8Array.of(2))] as const;
const keyMaterial = (mk: Uint8Array, info: string) => {
  const o = hkdf(sha256, mk, new Uint8Array(32), ascii(info), 44);
  return [o.slice(0, 32), o.slice(32)] as const;
};
const aead = (key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array) =>
  chacha20poly1305(key, nonce, aad).encrypt(pt);
const draw = (draws: string[], i: number) => h(draws[i] as string);

/** Device certificate per section 3.1, from a party's draws. */
function certificate(p: any): Uint8Array {
  const userSeed = draw(p.user_key_rng_draws, 0);
  const body = concat(
    Uint8Array.of(0x01),
    ed25519.getPublicKey(userSeed),
    h(p.user_id),
    h(p.device_id),
    ed25519.getPublicKey(draw(p.device_rng_draws, 0)),
    x25519.getPublicKey(draw(p.device_rng_draws, 1)),
  );
  return concat(body, sign(userSeed, 'Chatalot-DeviceCert-v1', body));
}

/** Section 4: SPK signature and bundle layout, SK and AD. */
function x3dh(c: any, ephemeral: Uint8Array): { sk: Uint8Array; ad: Uint8Array } {
  const a = c.alice;
  const b = c.bob;
  const spkSecret = draw(c.signed_prekey.rng_draws, 0);
  const spkId = c.signed_prekey.key_id as number;
  const spkPub = x25519.getPublicKey(spkSecret);
  const spkSig = sign(draw(b.device_rng_draws, 0), 'Chatalot-SignedPreKey-v1', concat(h(b.device_id), u32(spkId), spkPub));
  const spkEnc = concat(Uint8Array.of(0x02), u32(spkId), spkPub, spkSig);
  expect(toHex(spkEnc)).toBe(c.signed_prekey.public_encoding);
  const bundle = h(c.bundle);
  const withOpk = bundle.length === 1 + 193 + 100 + 1 + 36;
  const opkSecret = draw(c.one_time_prekey.rng_draws, 0);
  const opkPart = withOpk
    ? concat(Uint8Array.of(1), u32(c.one_time_prekey.key_id), x25519.getPublicKey(opkSecret))
    : Uint8Array.of(0);
  expect(toHex(concat(Uint8Array.of(0x04), certificate(b), spkEnc.subarray(1), opkPart))).toBe(c.bundle);
  const ikA = draw(a.device_rng_draws, 1);
  const ikBPub = x25519.getPublicKey(draw(b.device_rng_draws, 1));
  const dhs = [x25519.getSharedSecret(ikA, spkPub), x25519.getSharedSecret(ephemeral, ikBPub), x25519.getSharedSecret(ephemeral, spkPub)];
  if (withOpk) dhs.push(x25519.getSharedSecret(ephemeral, x25519.getPublicKey(opkSecret)));
  const sk = hkdf(sha256, concat(new Uint8Array(32).fill(0xff), ...dhs), new Uint8Array(32), ascii('Chatalot-X3DH-v1'), 32);
  return { sk, ad: concat(certificate(a), certificate(b)) };
}

/** Splits a ratchet message encoding into (41-byte prefix, ciphertext). */
function splitRatchet(w: Uint8Array): [Uint8Array, Uint8Array] {
  expect(w[0]).toBe(0x06);
  const len = new DataView(w.buffer, w.byteOffset + 41, 4).getUint32(0);
  expect(w.length).toBe(45 + len);
  return [w.subarray(0, 41), w.subarray(45)];
}

describe('docs/e2e.md reproduces the vectors from raw primitives', () => {
  it('section 3: certificates and identity storage', () => {
    for (const p of loadVectors('identity.json').valid) {
      expect(toHex(certificate(p))).toBe(p.device_certificate);
      const dev = concat(Uint8Array.of(0x21), h(p.user_id), h(p.device_id), draw(p.device_rng_draws, 0), draw(p.device_rng_draws, 1));
      expect(toHex(dev)).toBe(p.device_identity_secret_encoding);
      expect(toHex(concat(Uint8Array.of(0x20), h(p.user_id), draw(p.user_key_rng_draws, 0)))).toBe(p.user_key_secret_encoding);
    }
  });

  it('section 4: X3DH shared secret and associated data', () => {
    for (const c of loadVectors('x3dh.json').cases) {
      const out = x3dh(c, draw(c.alice_ephemeral_rng_draws, 0));
      expect(toHex(out.sk)).toBe(c.shared_secret);
      expect(toHex(out.ad)).toBe(c.associated_data);
    }
  });

  it('section 5: first messages, associated data and the reply', () => {
    const v = loadVectors('ratchet.json');
    const ek = draw(v.alice_initiate_rng_draws, 0);
    const aliceDhs = draw(v.alice_initiate_rng_draws, 1);
    const x = x3dh(v, ek);
    const adHash = sha256(x.ad);
    const steps: any[] = v.steps;
    const spkSecret = draw(v.signed_prekey.rng_draws, 0);
    const spkPub = x25519.getPublicKey(spkSecret);
    const [rkA, firstCks] = kdfRk(x.sk, x25519.getSharedSecret(aliceDhs, spkPub));
    let cks = firstCks;
    for (const idx of [0, 1]) {
      const step = steps.find((s) => s.op === 'encrypt' && s.message_index === idx);
      const wire = h(step.wire);
      expect(wire[0]).toBe(0x05);
      const outerLen = 1 + 193 + 32 + 4 + 1 + 4;
      expect(toHex(wire.subarray(1 + 193, 1 + 193 + 32))).toBe(toHex(x25519.getPublicKey(ek)));
      const inner = wire.subarray(outerLen + 4);
      expect(new DataView(wire.buffer, outerLen, 4).getUint32(0)).toBe(inner.length);
      const [prefix, ct] = splitRatchet(inner);
      expect(toHex(prefix.subarray(1, 33))).toBe(toHex(x25519.getPublicKey(aliceDhs)));
      expect(toHex(prefix.subarray(33))).toBe(toHex(concat(u32(0), u32(idx))));
      const [mk, next] = kdfCk(cks);
      cks = next;
      const [key, nonce] = keyMaterial(mk, 'Chatalot-Ratchet-MK-v1');
      const aad = concat(adHash, wire.subarray(0, outerLen), prefix);
      expect(toHex(aead(key, nonce, h(step.plaintext), aad)), `message ${idx}`).toBe(toHex(ct));
    }
    // Bob: root = SK, DHs = SPK; on Alice's first message he ratchets with a new key.
    const respond = steps.find((s) => s.op === 'respond');
    const bobNew = draw(respond.rng_draws, 0);
    const alicePub = x25519.getPublicKey(aliceDhs);
    const [rk, ckrB] = kdfRk(x.sk, x25519.getSharedSecret(spkSecret, alicePub));
    expect(toHex(rk)).toBe(toHex(rkA));
    expect(toHex(ckrB)).toBe(toHex(kdfRk(x.sk, x25519.getSharedSecret(aliceDhs, spkPub))[1]));
    const [, cksB] = kdfRk(rk, x25519.getSharedSecret(bobNew, alicePub));
    const step = steps.find((s) => s.op === 'encrypt' && s.message_index === 2);
    const [prefix, ct] = splitRatchet(h(step.wire));
    expect(toHex(prefix.subarray(1, 33))).toBe(toHex(x25519.getPublicKey(bobNew)));
    expect(toHex(prefix.subarray(33))).toBe(toHex(new Uint8Array(8)));
    const [mk] = kdfCk(cksB);
    const [key, nonce] = keyMaterial(mk, 'Chatalot-Ratchet-MK-v1');
    expect(toHex(aead(key, nonce, h(step.plaintext), concat(adHash, prefix)))).toBe(toHex(ct));
  });

  it('section 6: sender-key distribution and messages', () => {
    const v = loadVectors('sender_key.json');
    const keyId = draw(v.generate_rng_draws, 0);
    let ck = draw(v.generate_rng_draws, 1);
    const seed = draw(v.generate_rng_draws, 2);
    const channel = h(v.channel_id);
    const device = h(v.sender_device_id);
    const dist = concat(Uint8Array.of(0x07), channel, device, keyId, u32(0), ck, ed25519.getPublicKey(seed));
    expect(toHex(dist)).toBe(v.distribution);
    v.messages.forEach((m: any, i: number) => {
      const messageId = h(m.rng_draws[0]);
      const [mk, next] = kdfCk(ck);
      ck = next;
      const [key, nonce] = keyMaterial(mk, 'Chatalot-SenderKey-MK-v1');
      const aad = concat(Uint8Array.of(0x08), channel, device, keyId, u32(i), messageId);
      const ct = aead(key, nonce, h(m.plaintext), aad);
      const unsigned = concat(Uint8Array.of(0x08), keyId, u32(i), messageId, u32(ct.length), ct);
      const sig = sign(seed, 'Chatalot-SenderKeyMessage-v1', concat(channel, device, unsigned));
      expect(toHex(concat(unsigned, sig)), `message ${i}`).toBe(m.wire);
    });
  });

  it('section 7: attachment blobs, digests and pointers', () => {
    for (const c of loadVectors('attachment.json').cases) {
      const fileKey = h(c.file_key);
      const cs = c.chunk_size as number;
      const pt = h(c.plaintext);
      const key = hkdf(sha256, fileKey, undefined, ascii('Chatalot-Attachment-v1'), 32);
      const header = concat(Uint8Array.of(0x09), u32(cs));
      const chunks: Uint8Array[] = [];
      if (pt.length === 0) chunks.push(pt);
      for (let o = 0; o < pt.length; o += cs) chunks.push(pt.subarray(o, o + cs));
      const blob = concat(
        header,
        ...chunks.map((chunk, i) =>
          aead(key, concat(u32(0), u64(i)), chunk, concat(header, u64(i), Uint8Array.of(i + 1 === chunks.length ? 1 : 0))),
        ),
      );
      expect(toHex(blob)).toBe(c.blob);
      const digest = sha256(blob);
      expect(toHex(digest)).toBe(c.digest);
      expect(toHex(concat(Uint8Array.of(0x0a), fileKey, digest, u64(pt.length)))).toBe(c.pointer);
    }
  });

  it('section 8: fingerprints and safety numbers', () => {
    const v = loadVectors('fingerprint.json');
    const digits = v.users.map((u: any) => {
      const k = h(u.user_key);
      let hash = sha512(concat(Uint8Array.of(0, 1), k, h(u.user_id)));
      for (let i = 0; i < 5200; i++) hash = sha512(concat(hash, k));
      let d = '';
      for (let c = 0; c < 6; c++) {
        const v5 = hash.subarray(c * 5, c * 5 + 5).reduce((acc, x) => acc * 256 + x, 0);
        d += String(v5 % 100000).padStart(5, '0');
      }
      expect(d).toBe(u.fingerprint_digits);
      return d;
    });
    for (const p of v.safety_numbers) {
      const a = digits[p.a] as string;
      const b = digits[p.b] as string;
      expect(a <= b ? a + b : b + a).toBe(p.safety_number_digits);
    }
  });
});
