// @vitest-environment node
/**
 * The vectors of every device of an account (crypto/vectors/devices.json, docs/e2e.md 18):
 * device linking, the recovery key and secret storage, history keys and the key backup,
 * replayed through the public API with a queue RNG fed from the recorded draws, checking
 * everything the Rust `devices_vectors_verify` checks, and the vector outputs recomputed
 * from the document's formulas on raw primitives.
 */

import { describe, expect, it } from 'vitest';

import { BACKUP_HEAD_LEN, BackupHead, openBackupChunk, sealBackupChunk } from './backup.js';
import { concat } from './encoding.js';
import { CryptoError } from './errors.js';
import { HISTORY_KEY_LEN, HistoryBundle, HistoryKey } from './history.js';
import { DeviceCertificate, DeviceIdentity, UserKeyPair } from './identity.js';
import { LINK_CODE_CHARS, LINK_REQUEST_LEN, LINK_RESPONSE_LEN, LinkCode, LinkRequest, PendingLink, respond } from './link.js';
import { aeadDecrypt, ascii, hkdfSha256, hmacSha256, sha256 } from './primitives.js';
import { RECOVERY_KEY_CHARS, RecoveryKey, SECRET_STORAGE_LEN, openSecretStorage, sealSecretStorage } from './secretStorage.js';
import { SenderKeySender } from './senderKey.js';
import { QueueRng, hex, loadVectors, toHex } from './testSupport.js';

const v = loadVectors('devices.json');

interface Party {
  user: UserKeyPair;
  device: DeviceIdentity;
  cert: DeviceCertificate;
}

/** Runs `f` and returns the code of the CryptoError it throws (fails otherwise). */
function errorCode(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).code;
  }
  throw new Error('expected a CryptoError');
}

function party(p: any): Party {
  const userId = hex(p.user_id);
  let q = new QueueRng(p.user_key_rng_draws);
  const user = UserKeyPair.generate(userId, q.source);
  expect(q.remaining).toBe(0);
  q = new QueueRng(p.device_rng_draws);
  const device = DeviceIdentity.generate(userId, hex(p.device_id), q.source);
  expect(q.remaining).toBe(0);
  const cert = user.certifyDevice(device.publicKeys());
  expect(toHex(user.publicKey)).toBe(p.user_key_public);
  expect(toHex(cert.toBytes())).toBe(p.device_certificate);
  expect(toHex(user.toBytes())).toBe(p.user_key_secret_encoding);
  expect(toHex(device.toBytes())).toBe(p.device_identity_secret_encoding);
  return { user, device, cert };
}

const alice = party(v.account);
const userId = alice.user.userId;
const l = v.link;
const backupKey = hex(l.backup_key);

/** The new device's identity and pending link, from the recorded draws. */
function startLink(): PendingLink {
  let q = new QueueRng(l.new_device_rng_draws);
  const newDevice = DeviceIdentity.generate(userId, hex(l.new_device_id), q.source);
  expect(q.remaining).toBe(0);
  expect(toHex(newDevice.toBytes())).toBe(l.new_device_identity_secret_encoding);
  q = new QueueRng(l.start_rng_draws);
  const pending = PendingLink.start(newDevice, q.source);
  expect(q.remaining).toBe(0);
  return pending;
}

describe('devices.json: linking (18.2)', () => {
  it('reproduces the request, the code and the response, and the new device opens it', () => {
    const pending = startLink();
    expect(toHex(pending.request.toBytes())).toBe(l.request);
    expect(pending.request.toBytes()).toHaveLength(LINK_REQUEST_LEN);
    expect(toHex(pending.request.digest())).toBe(l.request_digest);
    expect(pending.code.toText()).toBe(l.code_text);
    expect(l.code_text.replace(/-/g, '')).toHaveLength(LINK_CODE_CHARS);

    // The linking device sees the request as bytes and the code as typed.
    const request = LinkRequest.fromBytes(hex(l.request));
    expect(toHex(request.toBytes())).toBe(l.request);
    const code = LinkCode.parse(l.code_text);
    expect(code.equals(pending.code)).toBe(true);
    expect(request.matches(code)).toBe(true);
    const q = new QueueRng(l.respond_rng_draws);
    const response = respond(code, request, alice.user, backupKey, BigInt(l.storage_version), BigInt(l.head_seq), q.source);
    expect(q.remaining).toBe(0);
    expect(toHex(response)).toBe(l.response);
    expect(response).toHaveLength(LINK_RESPONSE_LEN);

    // Refused responses change nothing: the genuine one opens after them.
    expect(l.invalid_responses).toHaveLength(2);
    for (const c of l.invalid_responses) {
      const code = errorCode(() => pending.finish(hex(c.response), hex(c.published_user_key)));
      expect(code, c.description).toBe(c.error);
    }
    const linked = pending.finish(response, alice.user.publicKey);
    expect(toHex(linked.secrets.certificate.toBytes())).toBe(l.linked_certificate);
    expect(toHex(linked.secrets.userKey.toBytes())).toBe(toHex(alice.user.toBytes()));
    expect(toHex(linked.secrets.backupKey)).toBe(l.backup_key);
    expect(linked.secrets.storageVersion).toBe(BigInt(l.storage_version));
    expect(linked.secrets.headSeq).toBe(BigInt(l.head_seq));
    expect(toHex(linked.identity.toBytes())).toBe(l.new_device_identity_secret_encoding);
    linked.secrets.certificate.verify(alice.user.publicKey);
    // Opens again (finish is read-only).
    expect(toHex(pending.finish(response, alice.user.publicKey).secrets.certificate.toBytes())).toBe(
      l.linked_certificate,
    );
  });

  it('refuses every invalid request before drawing', () => {
    expect(l.invalid_requests).toHaveLength(2);
    for (const c of l.invalid_requests) {
      const r = LinkRequest.fromBytes(hex(c.request));
      const code = LinkCode.parse(c.code_text);
      expect(r.matches(code), c.description).toBe(false);
      const q = new QueueRng([]);
      const got = errorCode(() => respond(code, r, alice.user, backupKey, 0n, 0n, q.source));
      expect(got, c.description).toBe(c.error);
    }
  });

  it('matches the formulas of section 18.2', () => {
    const request = hex(l.request);
    const code = LinkCode.parse(l.code_text).bytes();
    const macKey = hkdfSha256(undefined, code, ascii('Chatalot-LinkRequest-v1'), 32);
    expect(toHex(hmacSha256(macKey, request.subarray(0, 129)))).toBe(toHex(request.subarray(129)));
    expect(toHex(sha256(request))).toBe(l.request_digest);
    // The start draws: the ephemeral secret, then the code.
    expect(toHex(code)).toBe(l.start_rng_draws[1]);
  });
});

describe('devices.json: recovery key and secret storage (18.3)', () => {
  const st = v.secret_storage;

  it('reproduces the recovery key text and the storage, and opens it', () => {
    let q = new QueueRng(st.recovery_key_rng_draws);
    const rk = RecoveryKey.generate(q.source);
    expect(q.remaining).toBe(0);
    expect(rk.toText()).toBe(st.recovery_key_text);
    expect(st.recovery_key_text.replace(/-/g, '')).toHaveLength(RECOVERY_KEY_CHARS);
    expect(RecoveryKey.parse(st.recovery_key_typed).equals(rk)).toBe(true);
    const version = BigInt(st.version);
    q = new QueueRng(st.seal_rng_draws);
    const storage = sealSecretStorage(rk, alice.user, backupKey, version, q.source);
    expect(q.remaining).toBe(0);
    expect(toHex(storage)).toBe(st.storage);
    expect(storage).toHaveLength(SECRET_STORAGE_LEN);
    const opened = openSecretStorage(rk, storage, userId, version);
    expect(toHex(opened.userKey.toBytes())).toBe(toHex(alice.user.toBytes()));
    expect(toHex(opened.backupKey)).toBe(l.backup_key);
    expect(opened.version).toBe(version);
  });

  it('refuses every invalid case with the recorded error', () => {
    expect(st.invalid).toHaveLength(4);
    for (const c of st.invalid) {
      const key = RecoveryKey.parse(c.recovery_key_text);
      const got = errorCode(() => openSecretStorage(key, hex(c.storage), hex(c.user_id), BigInt(c.min_version)));
      expect(got, c.description).toBe(c.error);
    }
    expect(st.invalid_texts).toHaveLength(3);
    for (const t of st.invalid_texts) expect(errorCode(() => RecoveryKey.parse(t)), t).toBe('InvalidField');
  });

  it('matches the formulas of section 18.3', () => {
    const storage = hex(st.storage);
    const ssk = hkdfSha256(undefined, hex(st.recovery_key_rng_draws[0]), ascii('Chatalot-SecretStorage-v1'), 32);
    const nonce = storage.subarray(25, 37);
    expect(toHex(nonce)).toBe(st.seal_rng_draws[0]);
    const plain = aeadDecrypt(ssk, nonce, storage.subarray(41), storage.subarray(0, 25));
    expect(toHex(plain)).toBe(`61${v.account.user_key_secret_encoding}${l.backup_key}`);
  });
});

describe('devices.json: history keys (18.4)', () => {
  const hv = v.history;
  const channel = hex(hv.channel_id);

  it('reproduces the attested history keys and reads every message with them', () => {
    let q = new QueueRng(hv.sender_generate_rng_draws);
    const sender = SenderKeySender.generate(channel, alice.device.deviceId, q.source);
    expect(q.remaining).toBe(0);
    const hk = HistoryKey.attest(alice.device, sender.distribution());
    expect(toHex(hk.toBytes())).toBe(hv.history_key);
    expect(hk.toBytes()).toHaveLength(HISTORY_KEY_LEN);
    const decoded = HistoryKey.fromBytes(hex(hv.history_key));
    expect(toHex(decoded.toBytes())).toBe(hv.history_key);
    decoded.verify(alice.cert);
    expect(hv.messages).toHaveLength(3);
    for (const m of hv.messages) {
      q = new QueueRng(m.rng_draws);
      const wire = sender.encrypt(hex(m.plaintext), q.source);
      expect(q.remaining).toBe(0);
      expect(toHex(wire)).toBe(m.wire);
      expect(toHex(decoded.decrypt(channel, alice.device.deviceId, wire))).toBe(m.plaintext);
    }
    // Read-only: in any order, again.
    for (const m of [...hv.messages].reverse()) {
      expect(toHex(decoded.decrypt(channel, alice.device.deviceId, hex(m.wire)))).toBe(m.plaintext);
    }
    const later = HistoryKey.attest(alice.device, sender.distribution());
    expect(toHex(later.toBytes())).toBe(hv.later_history_key);
    HistoryKey.fromBytes(hex(hv.later_history_key)).verify(alice.cert);
    // 18.5: both keys in one bundle, and the bundles the decoder refuses
    const bundle = HistoryBundle.fromBytes(hex(hv.bundle));
    expect(bundle.keys.map((k) => toHex(k.toBytes()))).toEqual([hv.history_key, hv.later_history_key]);
    expect(toHex(new HistoryBundle(channel, [decoded, later]).toBytes())).toBe(hv.bundle);
    expect(hv.invalid_bundles).toHaveLength(3);
    for (const c of hv.invalid_bundles) {
      expect(errorCode(() => HistoryBundle.fromBytes(hex(c.bundle))), c.description).toBe(c.error);
    }
  });

  it('refuses every invalid case with the recorded error', () => {
    expect(hv.invalid).toHaveLength(4);
    for (const c of hv.invalid) {
      const k = HistoryKey.fromBytes(hex(c.history_key));
      let got: string;
      if (c.wire !== undefined) {
        const ch = c.channel_id === undefined ? channel : hex(c.channel_id);
        got = errorCode(() => k.decrypt(ch, alice.device.deviceId, hex(c.wire)));
      } else {
        const cert = c.certificate === undefined ? alice.cert : DeviceCertificate.fromBytes(hex(c.certificate));
        got = errorCode(() => k.verify(cert));
      }
      expect(got, c.description).toBe(c.error);
    }
  });
});

describe('devices.json: key backup (18.4)', () => {
  const b = v.backup;
  const hv = v.history;

  it('opens and reseals both chunks byte for byte, and reproduces both heads', () => {
    expect(toHex(userId)).toBe(b.user_id);
    const raw: Uint8Array[] = [];
    const opened = [];
    for (const [seq, name] of [
      [1n, 'chunk_1'],
      [2n, 'chunk_2'],
    ] as const) {
      const chunk = hex(b[name]);
      const entries = openBackupChunk(backupKey, userId, seq, chunk);
      const q = new QueueRng(b[`${name}_rng_draws`]);
      expect(toHex(sealBackupChunk(backupKey, userId, seq, entries, q.source))).toBe(b[name]);
      expect(q.remaining).toBe(0);
      raw.push(chunk);
      opened.push(entries);
    }
    const first = opened[0]!;
    expect(first).toHaveLength(2);
    const [k, m] = first;
    if (k?.kind !== 'history' || m?.kind !== 'message') throw new Error('chunk 1 entries');
    expect(toHex(k.key.toBytes())).toBe(hv.history_key);
    const archived = b.chunk_1_archived;
    expect(toHex(m.message.channelId)).toBe(archived.channel_id);
    expect(toHex(m.message.messageId)).toBe(archived.message_id);
    expect(m.message.seq).toBe(BigInt(archived.seq));
    expect(toHex(m.message.body)).toBe(archived.body);
    const second = opened[1]!;
    expect(second).toHaveLength(1);
    if (second[0]?.kind !== 'history') throw new Error('chunk 2 entries');
    expect(toHex(second[0].key.toBytes())).toBe(hv.later_history_key);

    const head1 = BackupHead.empty(userId).after(raw.slice(0, 1));
    expect(toHex(head1.seal(backupKey))).toBe(b.head_after_1);
    const head2 = head1.after(raw.slice(1));
    expect(toHex(head2.seal(backupKey))).toBe(b.head_after_2);
    expect(head2.seal(backupKey)).toHaveLength(BACKUP_HEAD_LEN);
    expect(toHex(head2.digest)).toBe(b.head_after_2_digest);
    expect(toHex(BackupHead.empty(userId).after(raw).digest)).toBe(b.head_after_2_digest);
    const head = BackupHead.open(backupKey, hex(b.head_after_2), userId, 2n);
    expect([head.headSeq, head.count]).toEqual([2n, 2n]);
    head.checkChunks(raw);
  });

  it('refuses every invalid head, chain and chunk with the recorded error', () => {
    expect(b.invalid_heads).toHaveLength(3);
    for (const c of b.invalid_heads) {
      const uid = c.user_id === undefined ? userId : hex(c.user_id);
      const got = errorCode(() => BackupHead.open(backupKey, hex(c.head), uid, BigInt(c.min_head_seq)));
      expect(got, c.description).toBe(c.error);
    }
    const head = BackupHead.open(backupKey, hex(b.head_after_2), userId, 2n);
    expect(b.invalid_chains).toHaveLength(2);
    for (const c of b.invalid_chains) {
      const got = errorCode(() => head.checkChunks(c.chunks.map(hex)));
      expect(got, c.description).toBe(c.error);
    }
    expect(b.invalid_chunks).toHaveLength(2);
    for (const c of b.invalid_chunks) {
      const key = c.backup_key === undefined ? backupKey : hex(c.backup_key);
      const got = errorCode(() => openBackupChunk(key, userId, BigInt(c.seq), hex(c.chunk)));
      expect(got, c.description).toBe(c.error);
    }
  });

  it('matches the formulas of section 18.4', () => {
    const c1 = hex(b.chunk_1);
    const c2 = hex(b.chunk_2);
    let d: Uint8Array = new Uint8Array(32);
    d = sha256(concat(d, sha256(c1)));
    d = sha256(concat(d, sha256(c2)));
    expect(toHex(d)).toBe(b.head_after_2_digest);
    const head = hex(b.head_after_2);
    const bmk = hkdfSha256(undefined, backupKey, ascii('Chatalot-BackupHead-v1'), 32);
    expect(toHex(hmacSha256(bmk, head.subarray(0, 65)))).toBe(toHex(head.subarray(65)));
    const plain = aeadDecrypt(backupKey, c2.subarray(25, 37), c2.subarray(41), c2.subarray(0, 25));
    expect(toHex(plain)).toBe(`00000001${hv.later_history_key}`);
  });
});
