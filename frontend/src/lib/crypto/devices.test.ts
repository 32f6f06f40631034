// @vitest-environment node
/**
 * Unit and negative tests of device linking, secret storage, history keys and the key
 * backup (docs/e2e.md 18), mirroring the Rust unit tests of link.rs, secret_storage.rs,
 * history.rs and backup.rs: what the vectors do not show (a changed byte anywhere, a
 * rolled-back storage version, reordered chunks, the bounds).
 */

import { describe, expect, it } from 'vitest';

import {
  ArchivedMessage,
  BACKUP_HEAD_LEN,
  type BackupEntry,
  BackupHead,
  MAX_BACKUP_CHUNK_ENCODING_LEN,
  MIN_BACKUP_CHUNK_ENCODING_LEN,
  openBackupChunk,
  sealBackupChunk,
} from './backup.js';
import { CROCKFORD, crockfordText, readCrockford } from './encoding.js';
import { CryptoError } from './errors.js';
import { HISTORY_CHECKPOINT_EVERY, HISTORY_KEY_LEN, HistoryKey, HistoryReader } from './history.js';
import { DeviceIdentity, UserKeyPair } from './identity.js';
import { MAX_BACKUP_CHUNK_LEN, MAX_BODY_LEN, SENDER_KEY_ROTATE_AFTER } from './limits.js';
import { LINK_CODE_CHARS, LINK_REQUEST_LEN, LinkCode, LinkRequest, PendingLink, respond } from './link.js';
import { RECOVERY_KEY_CHARS, RecoveryKey, openSecretStorage, sealSecretStorage } from './secretStorage.js';
import { SenderKeyMessage, SenderKeyReceiver, SenderKeySender } from './senderKey.js';
import { TestRng, toHex, utf8, xorByte } from './testSupport.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).code;
  }
  return 'ok';
}

function detail(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).detail;
  }
  return 'ok';
}

const fill = (n: number, b: number) => new Uint8Array(n).fill(b);

describe('device linking', () => {
  const USER = fill(16, 0x11);

  function setup(seed: number): { rng: TestRng; userKey: UserKeyPair; newDevice: DeviceIdentity } {
    const rng = new TestRng(seed);
    const userKey = UserKeyPair.generate(USER, rng.source);
    const newDevice = DeviceIdentity.generate(USER, fill(16, 0x22), rng.source);
    return { rng, userKey, newDevice };
  }

  it('links a device through a relay that learns nothing', () => {
    const { rng, userKey, newDevice } = setup(1);
    const pending = PendingLink.start(newDevice, rng.source);
    const onServer = LinkRequest.fromBytes(pending.request.toBytes());
    expect(onServer.toBytes()).toHaveLength(LINK_REQUEST_LEN);
    const typed = LinkCode.parse(pending.code.toText().toLowerCase());
    expect(onServer.matches(typed)).toBe(true);
    const response = respond(typed, onServer, userKey, fill(32, 7), 3, 9, rng.source);
    const linked = pending.finish(response, userKey.publicKey);
    expect(linked.identity.publicKeys()).toEqual(newDevice.publicKeys());
    expect(linked.secrets.certificate.deviceKeys()).toEqual(newDevice.publicKeys());
    linked.secrets.certificate.verify(userKey.publicKey);
    expect(toHex(linked.secrets.userKey.publicKey)).toBe(toHex(userKey.publicKey));
    expect(linked.secrets.backupKey).toEqual(fill(32, 7));
    expect([linked.secrets.storageVersion, linked.secrets.headSeq]).toEqual([3n, 9n]);
    expect(`${linked.secrets} ${JSON.stringify(linked.secrets)} ${pending} ${typed}`).not.toMatch(/07|7,/);
  });

  it('a request the server changed or made does not match the code', () => {
    const { rng, userKey, newDevice } = setup(2);
    const pending = PendingLink.start(newDevice, rng.source);
    const bytes = pending.request.toBytes();
    for (const i of [1, 20, 40, 80, 120, LINK_REQUEST_LEN - 1]) {
      const swapped = LinkRequest.fromBytes(xorByte(bytes.slice(), i));
      expect(swapped.matches(pending.code), `byte ${i}`).toBe(false);
      expect(code(() => respond(pending.code, swapped, userKey, fill(32, 0), 0, 0, rng.source))).toBe(
        'IdentityMismatch',
      );
    }
    expect(pending.request.matches(LinkCode.fromBytes(fill(16, 9)))).toBe(false);
    // A request of another account is not answered.
    const rng2 = new TestRng(20);
    const stranger = DeviceIdentity.generate(fill(16, 0x33), fill(16, 0x44), rng2.source);
    const theirs = PendingLink.start(stranger, rng2.source);
    expect(code(() => respond(theirs.code, theirs.request, userKey, fill(32, 0), 0, 0, rng.source))).toBe(
      'IdentityMismatch',
    );
    // Strict decoding.
    expect(code(() => LinkRequest.fromBytes(bytes.subarray(0, LINK_REQUEST_LEN - 1)))).toBe('Truncated');
    expect(code(() => LinkRequest.fromBytes(Uint8Array.of(...bytes, 0)))).toBe('TrailingBytes');
    expect(code(() => LinkRequest.fromBytes(Uint8Array.of(0x63, ...bytes.subarray(1))))).toBe('WrongTag');
  });

  it('a response is bound to its request, its code and the published user key', () => {
    const { rng, userKey, newDevice } = setup(3);
    const pending = PendingLink.start(newDevice, rng.source);
    const response = respond(pending.code, pending.request, userKey, fill(32, 1), 0, 0, rng.source);
    for (const i of [0, 1, 40, 50, response.length - 1]) {
      expect(code(() => pending.finish(xorByte(response.slice(), i), userKey.publicKey)), `byte ${i}`).not.toBe('ok');
    }
    expect(code(() => pending.finish(response.subarray(0, response.length - 1), userKey.publicKey))).toBe('Truncated');
    expect(code(() => pending.finish(Uint8Array.of(...response, 0), userKey.publicKey))).toBe('TrailingBytes');
    // A responder with another user key (the server answering itself, knowing the code).
    const s4 = setup(4);
    const impostor = UserKeyPair.generate(USER, s4.rng.source);
    const pending4 = PendingLink.start(s4.newDevice, s4.rng.source);
    const forged = respond(pending4.code, pending4.request, impostor, fill(32, 0), 0, 0, s4.rng.source);
    expect(code(() => pending4.finish(forged, userKey.publicKey))).toBe('IdentityMismatch');
    // A response made for one request opens no other.
    const s5 = setup(5);
    const pending5 = PendingLink.start(s5.newDevice, s5.rng.source);
    expect(code(() => pending5.finish(response, userKey.publicKey))).toBe('DecryptFailed');
    expect(code(() => pending.finish(response, userKey.publicKey))).toBe('ok');
  });

  it('draws nothing for a refused request and refuses a weak device key', () => {
    const { rng, userKey, newDevice } = setup(6);
    const pending = PendingLink.start(newDevice, rng.source);
    const noDraw = () => {
      throw new Error('drew');
    };
    expect(code(() => respond(LinkCode.fromBytes(fill(16, 1)), pending.request, userKey, fill(32, 0), 0, 0, noDraw))).toBe(
      'IdentityMismatch',
    );
    // A request MACed by someone who knows the code, with a small-order signing key.
    const weak = { ...newDevice.publicKeys(), signingKey: fill(32, 0).fill(1, 0, 1) };
    const bad = LinkRequest.withMac(USER, weak, pending.request.ephemeral, pending.code);
    expect(code(() => respond(pending.code, bad, userKey, fill(32, 0), 0, 0, noDraw))).toBe('InvalidPublicKey');
  });

  it('codes read back as typed and refuse anything else', () => {
    const c = LinkCode.fromBytes(
      Uint8Array.of(0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6, 0x35, 0xcf, 0x84, 0x65, 0x3a, 0x56, 0xd7, 0xc6),
    );
    const text = c.toText();
    expect(text.replace(/-/g, '')).toHaveLength(LINK_CODE_CHARS);
    expect(text.split('-')).toHaveLength(7);
    expect(LinkCode.parse(text).equals(c)).toBe(true);
    expect(LinkCode.parse(text.replace(/-/g, ' ').toLowerCase()).equals(c)).toBe(true);
    expect(LinkCode.parse(text.replace(/0/g, 'O').replace(/1/g, 'I')).equals(c)).toBe(true);
    expect(LinkCode.parse(`\u00a0${text.replace(/-/g, '\u3000')}\n`).equals(c)).toBe(true);
    expect(code(() => LinkCode.parse(text.slice(0, -1)))).toBe('InvalidField');
    expect(code(() => LinkCode.parse(`${text}0`))).toBe('InvalidField');
    expect(code(() => LinkCode.parse(`U${text.slice(1)}`))).toBe('InvalidField');
    // Only ASCII letters fold: a dotless i or a Kelvin sign is not a code character.
    expect(code(() => LinkCode.parse(text.replace(/1/g, '\u0131')))).toBe('InvalidField');
    expect(code(() => LinkCode.parse(`${text.slice(0, -1)}\u212a`))).toBe('InvalidField');
    // The last character carries 3 bits of the code and 2 of padding, which must be zero.
    const compact = text.replace(/-/g, '');
    const last = CROCKFORD.indexOf(compact[25] as string);
    const padded = compact.slice(0, 25) + CROCKFORD[last | 1];
    expect(detail(() => LinkCode.parse(padded))).toBe('link code');
    expect(`${c} ${JSON.stringify({ c })}`).not.toContain('44');
  });

  it('Crockford text round-trips every length', () => {
    const rng = new TestRng(30);
    for (let n = 0; n <= 40; n++) {
      const b = new Uint8Array(n);
      rng.fill(b);
      expect(toHex(readCrockford(crockfordText(b), n, 'x'))).toBe(toHex(b));
    }
  });
});

describe('secret storage', () => {
  const USER = fill(16, 0x51);

  it('a fresh device opens the storage with the typed recovery key only', () => {
    const rng = new TestRng(7);
    const userKey = UserKeyPair.generate(USER, rng.source);
    const rk = RecoveryKey.generate(rng.source);
    const sealed = sealSecretStorage(rk, userKey, fill(32, 3), 1, rng.source);
    const text = rk.toText();
    expect(text.replace(/-/g, '')).toHaveLength(RECOVERY_KEY_CHARS);
    expect(text.split('-')).toHaveLength(13);
    const typed = RecoveryKey.parse(text.toLowerCase().replace(/-/g, ' '));
    const opened = openSecretStorage(typed, sealed, USER, 0);
    expect(toHex(opened.userKey.publicKey)).toBe(toHex(userKey.publicKey));
    expect(opened.backupKey).toEqual(fill(32, 3));
    expect(opened.version).toBe(1n);
    expect(`${opened} ${JSON.stringify({ opened, typed })}`).not.toMatch(/03|3,/);
  });

  it('a wrong key, a changed byte, a rollback or another account is refused', () => {
    const rng = new TestRng(8);
    const userKey = UserKeyPair.generate(USER, rng.source);
    const rk = RecoveryKey.generate(rng.source);
    const sealed = sealSecretStorage(rk, userKey, fill(32, 3), 5, rng.source);
    expect(code(() => openSecretStorage(RecoveryKey.generate(rng.source), sealed, USER, 0))).toBe('DecryptFailed');
    for (let i = 0; i < sealed.length; i++) {
      expect(code(() => openSecretStorage(rk, xorByte(sealed.slice(), i), USER, 0)), `byte ${i}`).not.toBe('ok');
    }
    // The version is authenticated: raising it to pass a rollback check fails the AEAD.
    const raised = sealed.slice();
    raised[24] = 9;
    expect(code(() => openSecretStorage(rk, raised, USER, 9))).toBe('DecryptFailed');
    expect(code(() => openSecretStorage(rk, sealed, USER, 6))).toBe('InvalidState');
    expect(detail(() => openSecretStorage(rk, sealed, USER, 6))).toBe('secret storage rolled back');
    expect(code(() => openSecretStorage(rk, sealed, USER, 5))).toBe('ok');
    expect(code(() => openSecretStorage(rk, sealed, fill(16, 0x52), 0))).toBe('IdentityMismatch');
    expect(code(() => openSecretStorage(rk, sealed.subarray(0, sealed.length - 1), USER, 0))).toBe('Truncated');
    expect(code(() => openSecretStorage(rk, Uint8Array.of(...sealed, 0), USER, 0))).toBe('TrailingBytes');
    expect(code(() => openSecretStorage(rk, sealed, USER, -1))).toBe('InvalidField');
  });

  it('recovery key text refuses what is not a recovery key', () => {
    const compact = RecoveryKey.generate(new TestRng(9).source).toText().replace(/-/g, '');
    expect(code(() => RecoveryKey.parse(compact.slice(0, 51)))).toBe('InvalidField');
    expect(code(() => RecoveryKey.parse(`${compact}0`))).toBe('InvalidField');
    expect(code(() => RecoveryKey.parse(`U${compact.slice(1)}`))).toBe('InvalidField');
    expect(detail(() => RecoveryKey.parse(''))).toBe('recovery key');
  });
});

describe('history keys', () => {
  const USER = fill(16, 0x61);
  const CHANNEL = fill(16, 0x62);

  /** A copy of `k` with some fields replaced (what a forwarder might try). */
  function changed(k: HistoryKey, o: Partial<HistoryKey>): HistoryKey {
    const f = { ...k, ...o };
    return new HistoryKey(f.channelId, f.senderDeviceId, f.keyId, f.firstIteration, f.chainKey, f.signingKey, f.attestation);
  }

  it('reads messages a live receiver has moved past, and stays read-only', () => {
    const rng = new TestRng(11);
    const userKey = UserKeyPair.generate(USER, rng.source);
    const device = DeviceIdentity.generate(USER, fill(16, 0x63), rng.source);
    const cert = userKey.certifyDevice(device.publicKeys());
    const me = device.deviceId;
    const sender = SenderKeySender.generate(CHANNEL, me, rng.source);
    const atStart = sender.distribution().toBytes();
    const history = HistoryKey.attest(device, sender.distribution());
    const live = SenderKeyReceiver.fromDistribution(sender.distribution(), me);
    const sent = Array.from({ length: 40 }, (_, i) => sender.encrypt(utf8(`message ${i}`), rng.source));
    for (const w of sent) live.decrypt(CHANNEL, me, w);
    expect(code(() => live.decrypt(CHANNEL, me, sent[3] as Uint8Array))).toBe('Duplicate');
    const forwarded = HistoryKey.fromBytes(history.toBytes());
    expect(forwarded.toBytes()).toHaveLength(HISTORY_KEY_LEN);
    forwarded.verify(cert);
    const before = toHex(forwarded.toBytes());
    for (const i of [39, 0, 17, 3, 3]) {
      expect(new TextDecoder().decode(forwarded.decrypt(CHANNEL, me, sent[i] as Uint8Array))).toBe(`message ${i}`);
    }
    expect(toHex(forwarded.toBytes())).toBe(before);
    expect(toHex(forwarded.distribution().toBytes())).toBe(toHex(atStart));
    expect(`${forwarded} ${JSON.stringify({ forwarded })}`).not.toContain(toHex(forwarded.chainKey).slice(0, 8));
  });

  it('a history reader reads in any order what the key reads, at most 64 steps a message after the first walk', () => {
    const rng = new TestRng(13);
    const device = DeviceIdentity.generate(USER, fill(16, 0x64), rng.source);
    const me = device.deviceId;
    const sender = SenderKeySender.generate(CHANNEL, me, rng.source);
    // A key handed over from iteration 5 on.
    const early = Array.from({ length: 5 }, (_, i) => sender.encrypt(utf8(`early ${i}`), rng.source));
    const key = HistoryKey.attest(device, sender.distribution());
    const sent = Array.from({ length: 700 }, (_, i) => sender.encrypt(utf8(`message ${i}`), rng.source));
    const reader = new HistoryReader(key);
    // Newest first, then older pages, then at random and twice: the same texts as the key itself.
    const order = [...Array.from({ length: 700 }, (_, i) => 699 - i), 350, 0, 699, 64, 63, 65, 128];
    for (const i of order) {
      const text = new TextDecoder().decode(reader.decrypt(CHANNEL, me, sent[i] as Uint8Array));
      expect(text).toBe(`message ${i}`);
    }
    expect(new TextDecoder().decode(key.decrypt(CHANNEL, me, sent[350] as Uint8Array))).toBe('message 350');
    expect(reader.checkpointCount).toBe(Math.floor(699 / HISTORY_CHECKPOINT_EVERY) + 1);
    // What the key refuses, the reader refuses.
    const bad = (sent[10] as Uint8Array).slice();
    bad[bad.length - 3]! ^= 1;
    expect(code(() => reader.decrypt(CHANNEL, me, bad))).toBe(code(() => key.decrypt(CHANNEL, me, bad)));
    expect(code(() => reader.decrypt(fill(16, 0x01), me, sent[10] as Uint8Array))).not.toBe('ok');
    const other = SenderKeySender.generate(CHANNEL, me, rng.source);
    const foreign = other.encrypt(utf8('another key'), rng.source);
    expect(code(() => reader.decrypt(CHANNEL, me, foreign))).toBe('InvalidField');
    // Before the key's first iteration: as the key, Duplicate.
    expect(code(() => reader.decrypt(CHANNEL, me, early[4] as Uint8Array))).toBe('Duplicate');
    reader.wipe();
    expect(reader.checkpointCount).toBe(0);
  });

  it('a history key in another sender\u2019s name or channel is refused', () => {
    const rng = new TestRng(12);
    const userKey = UserKeyPair.generate(USER, rng.source);
    const alice = DeviceIdentity.generate(USER, fill(16, 0x71), rng.source);
    const mallory = DeviceIdentity.generate(USER, fill(16, 0x72), rng.source);
    const aliceCert = userKey.certifyDevice(alice.publicKeys());
    const aliceSender = SenderKeySender.generate(CHANNEL, alice.deviceId, rng.source);
    const genuine = HistoryKey.attest(alice, aliceSender.distribution());
    const message = aliceSender.encrypt(utf8('hello'), rng.source);
    expect(code(() => HistoryKey.attest(mallory, aliceSender.distribution()))).toBe('IdentityMismatch');
    const forged = changed(genuine, { signingKey: mallory.publicKeys().signingKey });
    expect(code(() => forged.verify(aliceCert))).toBe('BadSignature');
    expect(code(() => changed(genuine, { channelId: fill(16, 0x99) }).verify(aliceCert))).toBe('BadSignature');
    const earlier = changed(genuine, { keyId: (genuine.keyId ^ 1) >>> 0, firstIteration: 5 });
    expect(code(() => earlier.verify(aliceCert))).toBe('BadSignature');
    for (let i = HISTORY_KEY_LEN - 64; i < HISTORY_KEY_LEN; i += 7) {
      const bad = HistoryKey.fromBytes(xorByte(genuine.toBytes(), i));
      expect(code(() => bad.verify(aliceCert)), `byte ${i}`).toBe('BadSignature');
    }
    expect(code(() => genuine.verify(userKey.certifyDevice(mallory.publicKeys())))).toBe('IdentityMismatch');
    expect(code(() => genuine.decrypt(fill(16, 0x99), alice.deviceId, message))).toBe('IdentityMismatch');
    expect(code(() => genuine.decrypt(CHANNEL, mallory.deviceId, message))).toBe('IdentityMismatch');
    expect(code(() => genuine.decrypt(CHANNEL, alice.deviceId, xorByte(message.slice(), message.length - 1)))).toBe(
      'BadSignature',
    );
    expect(code(() => genuine.decrypt(CHANNEL, alice.deviceId, message))).toBe('ok');
  });

  it('is bounded to one sender key from its first iteration', () => {
    const rng = new TestRng(13);
    const device = DeviceIdentity.generate(USER, fill(16, 0x81), rng.source);
    const me = device.deviceId;
    const sender = SenderKeySender.generate(CHANNEL, me, rng.source);
    const before = sender.encrypt(utf8('before'), rng.source);
    const late = HistoryKey.attest(device, sender.distribution());
    expect(late.firstIteration).toBe(1);
    expect(code(() => late.decrypt(CHANNEL, me, before))).toBe('Duplicate');
    const rotated = SenderKeySender.generate(CHANNEL, me, rng.source);
    expect(detail(() => late.decrypt(CHANNEL, me, rotated.encrypt(utf8('x'), rng.source)))).toBe('sender key id');
    const far = changed(late, { firstIteration: 0 });
    const m = SenderKeyMessage.fromBytes(before);
    const ahead = new SenderKeyMessage(m.keyId, SENDER_KEY_ROTATE_AFTER + 1, m.messageId, m.ciphertext, m.signature);
    expect(code(() => far.decrypt(CHANNEL, me, ahead.toBytes()))).toBe('TooFarAhead');
    expect(code(() => HistoryKey.fromBytes(late.toBytes().subarray(0, HISTORY_KEY_LEN - 1)))).toBe('Truncated');
    expect(code(() => HistoryKey.fromBytes(Uint8Array.of(...late.toBytes(), 0)))).toBe('TrailingBytes');
  });
});

describe('key backup', () => {
  const USER = fill(16, 0x91);
  const BK = fill(32, 0x92);

  function entries(rng: TestRng): BackupEntry[] {
    const device = DeviceIdentity.generate(USER, fill(16, 0x93), rng.source);
    const sender = SenderKeySender.generate(fill(16, 0x94), device.deviceId, rng.source);
    return [
      { kind: 'history', key: HistoryKey.attest(device, sender.distribution()) },
      { kind: 'message', message: new ArchivedMessage(fill(16, 0x95), fill(16, 0x96), 42n, utf8('\u0050in a DM')) },
    ];
  }

  it('restores exactly what was appended', () => {
    const rng = new TestRng(21);
    const first = entries(rng);
    const c1 = sealBackupChunk(BK, USER, 1, first, rng.source);
    const c2 = sealBackupChunk(BK, USER, 2, entries(rng), rng.source);
    const empty = sealBackupChunk(BK, USER, 3, [], rng.source);
    expect(empty).toHaveLength(MIN_BACKUP_CHUNK_ENCODING_LEN);
    expect(openBackupChunk(BK, USER, 3, empty)).toEqual([]);
    const head = BackupHead.empty(USER).after([c1]).after([c2]);
    expect([head.headSeq, head.count]).toEqual([2n, 2n]);
    const sealed = head.seal(BK);
    expect(sealed).toHaveLength(BACKUP_HEAD_LEN);
    BackupHead.open(BK, sealed, USER, 2).checkChunks([c1, c2]);
    const opened = openBackupChunk(BK, USER, 1, c1);
    expect(opened).toHaveLength(2);
    const [k, m] = opened;
    if (k?.kind !== 'history' || m?.kind !== 'message' || first[0]?.kind !== 'history') throw new Error('entries');
    expect(toHex(k.key.toBytes())).toBe(toHex(first[0].key.toBytes()));
    expect(m.message.seq).toBe(42n);
    expect(new TextDecoder().decode(m.message.body)).toBe('Pin a DM');
    expect(`${m.message} ${JSON.stringify(opened)}`).not.toContain('in a DM');
  });

  it('refuses a swapped, dropped, reordered or foreign chunk and a stale or forged head', () => {
    const rng = new TestRng(22);
    const c1 = sealBackupChunk(BK, USER, 1, entries(rng), rng.source);
    const c2 = sealBackupChunk(BK, USER, 2, entries(rng), rng.source);
    const c3 = sealBackupChunk(BK, USER, 3, entries(rng), rng.source);
    const old = BackupHead.empty(USER).after([c1, c2]);
    const head = old.after([c3]);
    expect(code(() => head.checkChunks([c1, c2, c3]))).toBe('ok');
    for (const wrong of [[c1, c2], [c1, c3, c2], [c2, c1, c3], [c1, c2, c3, c3], [c1, c1, c3], []]) {
      expect(code(() => head.checkChunks(wrong))).toBe('DigestMismatch');
    }
    expect(code(() => head.checkChunks([c1, c2, xorByte(c3.slice(), 30)]))).toBe('DigestMismatch');
    expect(code(() => openBackupChunk(BK, USER, 2, c1))).toBe('IdentityMismatch');
    expect(code(() => openBackupChunk(BK, fill(16, 0x99), 1, c1))).toBe('IdentityMismatch');
    const moved = c1.slice();
    moved[24] = 2;
    expect(code(() => openBackupChunk(BK, USER, 2, moved))).toBe('DecryptFailed');
    for (const i of [25, 30, 41, 60, c1.length - 1]) {
      expect(code(() => openBackupChunk(BK, USER, 1, xorByte(c1.slice(), i))), `byte ${i}`).toBe('DecryptFailed');
    }
    expect(code(() => openBackupChunk(fill(32, 0), USER, 1, c1))).toBe('DecryptFailed');
    expect(code(() => openBackupChunk(BK, USER, 1, c1.subarray(0, c1.length - 1)))).toBe('Truncated');
    expect(code(() => openBackupChunk(BK, USER, 1, Uint8Array.of(...c1, 0)))).toBe('TrailingBytes');
    // The server serves an older head (a rollback), forges one, or another account's.
    expect(code(() => BackupHead.open(BK, old.seal(BK), USER, head.headSeq))).toBe('InvalidState');
    expect(detail(() => BackupHead.open(BK, old.seal(BK), USER, head.headSeq))).toBe('backup rolled back');
    const bytes = head.seal(BK);
    for (let i = 0; i < BACKUP_HEAD_LEN; i++) {
      expect(code(() => BackupHead.open(BK, xorByte(bytes.slice(), i), USER, 0)), `byte ${i}`).toBe(
        i === 0 ? 'WrongTag' : 'BadSignature',
      );
    }
    const forged = new BackupHead(USER, head.headSeq, 2n, head.digest);
    expect(BackupHead.open(fill(32, 1), forged.seal(fill(32, 1)), USER, 0).count).toBe(2n);
    expect(code(() => BackupHead.open(BK, forged.seal(fill(32, 1)), USER, 0))).toBe('BadSignature');
    const theirs = BackupHead.empty(fill(16, 0x99)).after([c1]);
    expect(code(() => BackupHead.open(BK, theirs.seal(BK), USER, 0))).toBe('IdentityMismatch');
    expect(code(() => BackupHead.open(BK, bytes.subarray(0, BACKUP_HEAD_LEN - 1), USER, 0))).toBe('Truncated');
  });

  it('bounds chunks and archived bodies as the Rust crate', () => {
    const rng = new TestRng(23);
    const big: BackupEntry = {
      kind: 'message',
      message: new ArchivedMessage(fill(16, 0), fill(16, 0), 1n, fill(MAX_BODY_LEN, 0x50)),
    };
    const noDraw = () => {
      throw new Error('drew');
    };
    expect(detail(() => sealBackupChunk(BK, USER, 1, [big, big, big, big, big], noDraw))).toBe('backup chunk');
    const c = sealBackupChunk(BK, USER, 1, [big, big, big], rng.source);
    expect(openBackupChunk(BK, USER, 1, c)).toHaveLength(3);
    const over: BackupEntry = {
      kind: 'message',
      message: new ArchivedMessage(fill(16, 0), fill(16, 0), 1n, new Uint8Array(MAX_BODY_LEN + 1)),
    };
    expect(code(() => sealBackupChunk(BK, USER, 1, [over], noDraw))).toBe('LimitExceeded');
    expect(detail(() => sealBackupChunk(BK, USER, 1, [over], noDraw))).toBe('archived body');
    // Exactly 1 MiB of plaintext is allowed, one byte more is not.
    const pad = (n: number): BackupEntry => ({
      kind: 'message',
      message: new ArchivedMessage(fill(16, 0), fill(16, 0), 1n, new Uint8Array(n)),
    });
    const each = 1 + 32 + 8 + 4;
    const rest = MAX_BACKUP_CHUNK_LEN - 4 - 3 * (each + MAX_BODY_LEN) - each;
    const full = sealBackupChunk(BK, USER, 1, [big, big, big, pad(rest)], rng.source);
    expect(full).toHaveLength(MAX_BACKUP_CHUNK_ENCODING_LEN);
    expect(openBackupChunk(BK, USER, 1, full)).toHaveLength(4);
    expect(detail(() => sealBackupChunk(BK, USER, 1, [big, big, big, pad(rest + 1)], noDraw))).toBe('backup chunk');
    // A declared ciphertext above the bound is refused before decryption.
    const header = full.slice(0, 1 + 16 + 8 + 12);
    const tooLong = Uint8Array.of(...header, 0x00, 0x10, 0x00, 0x11);
    expect(detail(() => openBackupChunk(BK, USER, 1, tooLong))).toBe('backup chunk');
  });
});

describe('decoders of section 18 under mutation', () => {
  function mutate(rng: TestRng, input: Uint8Array): Uint8Array {
    const v = Array.from(input);
    for (let n = 1 + rng.below(3); n > 0; n--) {
      const op = rng.below(5);
      if (op === 0 && v.length > 0) {
        const i = rng.below(v.length);
        v[i] = (v[i] as number) ^ (1 << rng.below(8));
      } else if (op === 1) {
        v.length = rng.below(v.length + 1);
      } else if (op === 2) {
        for (let k = 1 + rng.below(8); k > 0; k--) v.push(rng.below(256));
      } else if (op === 3 && v.length > 8) {
        v.splice(rng.below(v.length - 4), 4, 0xff, 0xff, 0xff, rng.below(256));
      } else {
        v.splice(rng.below(v.length + 1), 0, rng.below(256));
      }
    }
    return Uint8Array.from(v);
  }

  function onlyCryptoErrors(f: () => unknown): boolean {
    try {
      f();
      return true;
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      return false;
    }
  }

  it('throw nothing but a CryptoError, and accept no changed input', () => {
    const rng = new TestRng(40);
    const USER = fill(16, 0xa1);
    const userKey = UserKeyPair.generate(USER, rng.source);
    const device = DeviceIdentity.generate(USER, fill(16, 0xa2), rng.source);
    const pending = PendingLink.start(device, rng.source);
    const request = pending.request.toBytes();
    const response = respond(pending.code, pending.request, userKey, fill(32, 4), 1, 2, rng.source);
    const rk = RecoveryKey.generate(rng.source);
    const storage = sealSecretStorage(rk, userKey, fill(32, 4), 1, rng.source);
    const sender = SenderKeySender.generate(fill(16, 0xa3), device.deviceId, rng.source);
    const history = HistoryKey.attest(device, sender.distribution());
    const wire = sender.encrypt(utf8('x'), rng.source);
    const entries: BackupEntry[] = [
      { kind: 'history', key: history },
      { kind: 'message', message: new ArchivedMessage(fill(16, 1), fill(16, 2), 3n, utf8('y')) },
    ];
    const chunk = sealBackupChunk(fill(32, 4), USER, 1, entries, rng.source);
    const head = BackupHead.empty(USER).after([chunk]).seal(fill(32, 4));
    const cases: [Uint8Array, (b: Uint8Array) => unknown][] = [
      [
        request,
        (b) => {
          if (!LinkRequest.fromBytes(b).matches(pending.code)) throw new CryptoError('IdentityMismatch');
        },
      ],
      [response, (b) => pending.finish(b, userKey.publicKey)],
      [storage, (b) => openSecretStorage(rk, b, USER, 0)],
      [
        history.toBytes(),
        (b) => {
          const k = HistoryKey.fromBytes(b);
          k.verify(userKey.certifyDevice(device.publicKeys()));
          return k.decrypt(fill(16, 0xa3), device.deviceId, wire);
        },
      ],
      [wire, (b) => history.decrypt(fill(16, 0xa3), device.deviceId, b)],
      [chunk, (b) => openBackupChunk(fill(32, 4), USER, 1, b)],
      [head, (b) => BackupHead.open(fill(32, 4), b, USER, 0)],
    ];
    for (const [input, open] of cases) {
      expect(onlyCryptoErrors(() => open(input))).toBe(true);
      for (let i = 0; i < 300; i++) {
        const m = mutate(rng, input);
        if (toHex(m) === toHex(input)) continue;
        expect(onlyCryptoErrors(() => open(m)), toHex(m)).toBe(false);
      }
    }
    // The genuine response still opens after all the refused ones.
    expect(onlyCryptoErrors(() => pending.finish(response, userKey.publicKey))).toBe(true);
    // Typed text: anything but a code is InvalidField, never another error.
    const alphabet = `${CROCKFORD}iloU-  \u00e9\u0131\u{1f600}`;
    for (let i = 0; i < 300; i++) {
      let t = '';
      for (let n = rng.below(40); n > 0; n--) t += [...alphabet][rng.below([...alphabet].length)];
      try {
        LinkCode.parse(t);
      } catch (e) {
        expect(e).toBeInstanceOf(CryptoError);
        expect((e as CryptoError).code).toBe('InvalidField');
      }
    }
  });
});
