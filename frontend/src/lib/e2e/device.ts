// One browser's end-to-end device, as the engine uses it: a thin facade over its parts, which
// follow docs/e2e.md sections 15 to 17 and produce the same bytes as the Rust client
// (tests/src/e2e_client.rs):
//
//   deviceRecord.ts  the sealed record in the keystore, save and restore, one operation at a time
//                    (a queue and a Web Lock across tabs), a failed one returning to the stored state
//   prekeys.ts       the device's own keys: creation, publication, prekey top-up and rotation
//   trust.ts         pinned user keys, key changes, verification, safety numbers, verified listings
//   sessions.ts      pairwise X3DH / Double Ratchet sessions per device, and DM payloads
//   senderKeys.ts    channel sender keys: distribution in envelopes, applying received ones
//   account.ts       what the account's devices share (backup key, recovery key, backup entries)
//   keyBackup.ts     the key backup through the server; historyStore.ts what was read from it
//   reasons.ts       why a message cannot be read
//
// Every public operation here runs as one operation of the record (`DeviceRecord.run`).

import { CryptoError, DeviceCertificate, LinkCode, LinkRequest, HistoryReader, SenderKeyMessage, UserKeyPair, linkRespond, senderMessageSigned, verifyAhead } from '../crypto/index';
import { Account, USER_KEY_SLOT, entryKey, hasAccountApi, type AccountApi, type AccountState } from './account';
import { AppTag, MalformedError, type Body, decodeBody, decodeDirectPlaintext, decodePayload, uuidBytes, uuidString } from './appcodec';
import { E2eFailure, Warnings, failureOf, type CipherMessage, type EnvelopeJson, type KeyApi, type Warning } from './deviceCommon';
import { DeviceRecord, type DeviceState } from './deviceRecord';
import { HistoryStore } from './historyStore';
import { backUp, readBackup } from './keyBackup';
import type { CachedText, Keystore } from './keystore';
import { fromBase64, toBase64 } from './keystore';
import { PreKeys, newDeviceState } from './prekeys';
import { unreadableReason, type Missing } from './reasons';
import { SenderKeys } from './senderKeys';
import { PairwiseSessions } from './sessions';
import { Trust } from './trust';

export {
  E2eFailure,
  E2eSetupError,
  isRefusal,
  refusedRecipient,
  type CipherMessage,
  type DecryptFailure,
  type DeviceKeysJson,
  type EnvelopeJson,
  type KeyApi,
  type NewEnvelopeJson,
  type SetupError,
  type Warning,
} from './deviceCommon';
export { SIGNED_PREKEY_MAX_AGE_MS } from './prekeys';
export { BACKUP_FAILURE_TEXT, BackupError } from './keyBackup';

/** A link code typed on a device with keys was refused. */
export class LinkError extends Error {
  constructor(
    readonly code: 'bad_code' | 'no_match' | 'no_user_key' | 'bad_answer',
    message: string,
  ) {
    super(message);
    this.name = 'LinkError';
  }
}

/** Wait before a backup after new entries (ms); a failed one is tried again later, longer each time. */
export const BACKUP_DELAY_MS = 3000;
const BACKUP_RETRY_MAX_MS = 10 * 60 * 1000;
/** A linked or restored device reads chunks appended since its restore at most this often (ms). */
const HISTORY_SYNC_MS = 30_000;
/** Readers of history keys kept at once (each holds at most 157 chain keys). */
const HISTORY_READERS_KEPT = 500;

function webLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? (navigator as Navigator & { locks?: LockManager }).locks : undefined;
  return locks ? (locks.request(name, fn) as Promise<T>) : fn();
}
export { ENVELOPE_RETRIES, SENDER_KEY_ROTATE_AFTER } from './senderKeys';

/** A message read: its body, and whether the device's state moved (to be stored with its text). */
interface Read {
  body: Body;
  moved: boolean;
}

export class E2eDevice {
  /** The clock of refusals (blocks): how long a refusing user is left alone. */
  now: () => number = () => Date.now();
  /** The wait before a backup of devices made from now on (tests set it negative). */
  static backupDelay = BACKUP_DELAY_MS;
  /** Wait before a backup after new entries (ms); negative: only `backUp()` runs one. */
  backupDelayMs = E2eDevice.backupDelay;
  private readonly warningList = new Warnings();
  private readonly prekeys: PreKeys;
  private readonly trust: Trust;
  private readonly sessions: PairwiseSessions;
  private readonly senderKeys: SenderKeys;
  private readonly account: Account;
  private readonly history: HistoryStore;
  private readonly accountApi: AccountApi | null;
  private backupTimer: ReturnType<typeof setTimeout> | null = null;
  private backupFailures = 0;
  private backingUp: Promise<number> | null = null;
  private closed = false;
  /** Sender devices whose certificates verified for history keys, this session. */
  private historyCerts = new Map<string, DeviceCertificate>();
  /** Readers of history keys in use, their attestations checked, this session (`channel/device/key id`). */
  private historyReaders = new Map<string, { reader: HistoryReader; user: string }>();
  private lastHistorySync = -Infinity;
  private resets: Promise<number[]> | null = null;

  private constructor(
    private readonly api: KeyApi,
    private readonly rec: DeviceRecord,
    private readonly keystore: Keystore,
  ) {
    const now = () => this.now();
    this.accountApi = hasAccountApi(api) ? api : null;
    this.account = new Account(rec, keystore);
    this.account.onPending = () => this.scheduleBackup();
    this.history = new HistoryStore(keystore, rec.st.userId);
    this.prekeys = new PreKeys(rec, api);
    this.trust = new Trust(rec, api, this.warningList);
    this.sessions = new PairwiseSessions(rec, api, this.trust, this.warningList, now);
    this.senderKeys = new SenderKeys(rec, api, this.trust, this.sessions, this.warningList, now, this.account, this.history);
  }

  /**
   * Opens this browser's device for `userId`/`deviceId` from its record in the (unlocked)
   * keystore, or creates, stores and publishes it. The first device of an account creates the
   * user key, and with it the recovery key and the backup key (stored as secret storage version
   * 1); a later browser of the same account cannot certify itself: `other_browser` until it is
   * linked or restored (`linkDevice.ts`, `recovery.ts`).
   */
  static async openOrCreate(api: KeyApi, keystore: Keystore, userId: string, deviceId: string): Promise<E2eDevice> {
    const stored = await DeviceRecord.read(keystore, userId, deviceId);
    const rec = stored ?? (await DeviceRecord.create(keystore, await newDeviceState(api, keystore, userId, deviceId)));
    const d = new E2eDevice(api, rec, keystore);
    await d.prekeys.finishSetup();
    await d.afterOpen();
    return d;
  }

  /**
   * A device of this account from a state made elsewhere (linked or restored: its identity is
   * certified by the user key it received): stores the user key and the record, publishes.
   */
  static async adopt(api: KeyApi, keystore: Keystore, st: DeviceState, userKey: UserKeyPair): Promise<E2eDevice> {
    await keystore.putSecret(USER_KEY_SLOT, userKey.toBytes());
    const rec = await DeviceRecord.create(keystore, st);
    const d = new E2eDevice(api, rec, keystore);
    await d.prekeys.finishSetup();
    return d;
  }

  /** After opening: the secret storage still to be stored, the entries still to be backed up. */
  private async afterOpen(): Promise<void> {
    const api = this.accountApi;
    if (!api || !this.rec.st.account) return;
    try {
      await this.rec.run(() => this.account.storeSecretStorage(api));
    } catch {
      // Stored at the next opening.
    }
    if (this.rec.st.account?.pending.length) this.scheduleBackup();
  }

  /** Stops the backup timer (the keys were locked or this device replaced). */
  close(): void {
    this.closed = true;
    if (this.backupTimer) clearTimeout(this.backupTimer);
    this.backupTimer = null;
    this.history.clear();
    for (const r of this.historyReaders.values()) {
      r.reader.wipe();
      r.reader.key.wipe();
    }
    this.historyReaders.clear();
  }

  get deviceId(): string {
    return this.rec.st.deviceId;
  }

  /** What this device refused or flagged (newest last). */
  get warnings(): Warning[] {
    return this.warningList.list;
  }

  /** Called after every change of pinned keys, key changes or verifications. */
  get onTrustChange(): () => void {
    return this.trust.onChange;
  }

  set onTrustChange(fn: () => void) {
    this.trust.onChange = fn;
  }

  /** Rotates the signed prekey now if it is older than a week at `now` (for tests and timers). */
  rotateIfOld(now: number): Promise<void> {
    return this.rec.run(() => this.prekeys.rotateIfOld(now));
  }

  // ---- sending

  /** The DM payload of `body`: one pairwise ciphertext per device of the channel but this one. */
  encryptDirect(channelId: string, body: Uint8Array): Promise<Uint8Array> {
    return this.rec.run(() => this.sessions.encryptDirect(channelId, body));
  }

  /**
   * The channel payload of `body`, after the sender key reached every current member device
   * (and, when the channel lets new members read its history, its history keys every member new
   * to this device).
   */
  encryptChannel(channelId: string, body: Uint8Array, historyOn = false): Promise<Uint8Array> {
    return this.rec.run(async () => {
      if (historyOn) await this.openHistory();
      return this.senderKeys.encrypt(channelId, body, historyOn);
    });
  }

  /**
   * Hands the history keys this device holds for `channelId` (made, received, or read from the
   * backup) to the devices of `users`, new members of a channel whose setting lets them read its
   * history (docs/e2e.md 18.5); once per member in ten minutes. Returns the envelopes sent.
   */
  shareHistory(channelId: string, users: string[]): Promise<number> {
    return this.rec.run(async () => {
      await this.openHistory();
      return this.senderKeys.shareHistory(channelId, users);
    });
  }

  // ---- receiving

  /**
   * Applies envelopes (pushed live or from the queue), then drains the server queue and
   * acknowledges what was applied or refused. Returns how many were accepted.
   */
  processEnvelopes(live: EnvelopeJson[] = []): Promise<number> {
    return this.rec.run(() => this.senderKeys.processEnvelopes(live));
  }

  /**
   * Decrypts one stored message addressed to this device. A channel message whose sender key
   * has not arrived yet drains the envelope queue once and tries again. One that cannot be read
   * fails with the reason in the user's terms (`E2eFailure.why`, docs/e2e.md 18.8).
   */
  async decrypt(m: CipherMessage): Promise<Body> {
    try {
      return await this.rec.run(() => this.decryptNow(m));
    } catch (e) {
      let f = failureOf(e);
      if (f.reason === 'unknown_sender_key' || f.reason === 'no_session') {
        await this.processEnvelopes().catch(() => 0);
        try {
          return await this.rec.run(() => this.decryptNow(m));
        } catch (e2) {
          e = e2;
          f = failureOf(e2);
        }
      }
      throw await this.explain(m, e, f);
    }
  }

  /** The failure with the reason the user is shown. */
  private async explain(m: CipherMessage, e: unknown, f: E2eFailure): Promise<E2eFailure> {
    const cryptoish = e instanceof E2eFailure || e instanceof CryptoError || e instanceof MalformedError;
    if (!cryptoish || f.reason === 'malformed') return f;
    const missing: Missing =
      f.reason === 'unknown_sender_key'
        ? 'sender_key'
        : f.reason === 'not_for_this_device' || f.reason === 'no_session'
          ? 'direct'
          : f.reason === 'sender_gone'
            ? 'sender_device'
            : f.reason === 'before_history'
              ? 'before_history'
              : 'tampered';
    const acc = this.rec.st.account;
    const createdAt = m.created_at ? Date.parse(m.created_at) : undefined;
    const joinedAt = m.joined_at ? Date.parse(m.joined_at) : undefined;
    let resets: number[] | undefined;
    if (acc && createdAt !== undefined && createdAt < acc.since && (acc.origin === 'linked' || acc.origin === 'restored')) {
      resets = await this.resetTimes();
    }
    f.why = unreadableReason({
      missing,
      createdAt: Number.isFinite(createdAt) ? createdAt : undefined,
      joinedAt: Number.isFinite(joinedAt) ? joinedAt : undefined,
      origin: acc?.origin,
      since: acc?.since,
      resets,
    });
    return f;
  }

  /** When the account's keys were reset, from its audit log (once per session). */
  private resetTimes(): Promise<number[]> {
    const api = this.accountApi;
    if (!api?.auditEvents) return Promise.resolve([]);
    const fetch = api.auditEvents.bind(api);
    this.resets ??= fetch(200)
      .then((list) => list.filter((a) => a.action === 'user_key_reset').map((a) => Date.parse(a.created_at)))
      .catch(() => {
        this.resets = null;
        return [];
      });
    return this.resets;
  }

  private async decryptNow(m: CipherMessage): Promise<Body> {
    const read = await this.decryptCore(m);
    await this.commitReads([{ m, read }]);
    return read.body;
  }

  /**
   * Stores what reading messages changed: their texts (`cacheAs`) with the moved state, in one
   * transaction; the texts alone when no state moved.
   */
  private async commitReads(reads: Array<{ m: CipherMessage; read: Read }>): Promise<void> {
    const texts: CachedText[] = [];
    for (const { m, read } of reads) {
      const t = m.cacheAs?.(read.body);
      if (t) texts.push(t);
    }
    if (reads.some((r) => r.read.moved)) await this.rec.save(texts);
    else if (texts.length) await this.keystore.commit(texts);
  }

  /**
   * Several stored messages read in one operation (one lock, one stored write for all of them):
   * each answer is the body or the failure `decrypt` gives. A message that fails is read on its
   * own (after the ones before it are stored), as `decrypt` reads it.
   */
  async decryptMany(ms: CipherMessage[]): Promise<Array<{ ok: true; body: Body } | { ok: false; error: E2eFailure }>> {
    await this.verifyAhead(ms);
    const out: Array<{ ok: true; body: Body } | { ok: false; error: E2eFailure }> = [];
    let from = 0;
    let batching = true;
    const run = (upTo: number, failed: { at: number }) =>
      this.rec.run(async () => {
        const reads: Array<{ m: CipherMessage; read: Read }> = [];
        for (let i = from; i < upTo; i++) {
          try {
            reads.push({ m: ms[i]!, read: await this.decryptCore(ms[i]!) });
          } catch (e) {
            // A failed read may have changed the state part way: nothing of this run is kept.
            failed.at = i;
            throw e;
          }
        }
        await this.commitReads(reads);
        return reads.map((r) => r.read.body);
      });
    while (from < ms.length) {
      let bodies: Body[] = [];
      if (batching) {
        const failed = { at: -1 };
        try {
          bodies = await run(ms.length, failed);
        } catch {
          // The ones before the failed message again (from the same state), then it alone. When
          // storing failed, every message is read alone.
          if (failed.at < 0) batching = false;
          else if (failed.at > from) bodies = await run(failed.at, { at: -1 }).catch(() => []);
        }
      }
      for (const body of bodies) out.push({ ok: true, body });
      from += bodies.length;
      if (from >= ms.length) break;
      try {
        out.push({ ok: true, body: await this.decrypt(ms[from]!) });
      } catch (e) {
        out.push({ ok: false, error: failureOf(e) });
      }
      from += 1;
    }
    return out;
  }

  /**
   * The signatures of the channel messages of `ms` read with a history key this device holds,
   * verified at once by the platform's WebCrypto where it can (`verifyAhead`): reading each then
   * finds its signature checked, for exactly its bytes and that key. Changes no state; a message
   * it cannot parse or whose key is not held is left to its reading.
   */
  private async verifyAhead(ms: CipherMessage[]): Promise<void> {
    const items: Parameters<typeof verifyAhead>[0][number][] = [];
    for (const m of ms) {
      if (m.ciphertext[0] !== AppTag.CHANNEL_PAYLOAD) continue;
      try {
        const p = decodePayload(m.ciphertext, this.rec.st.deviceId);
        if (p.kind === 'direct') continue;
        const msg = SenderKeyMessage.fromBytes(p.message);
        const held = this.historyReaders.get(`${m.channel_id}/${p.senderDevice}/${msg.keyId}`);
        if (!held || held.user !== m.sender_id) continue;
        const signed = senderMessageSigned(uuidBytes(m.channel_id), uuidBytes(p.senderDevice), msg);
        items.push({ publicKey: held.reader.key.signingKey, ...signed });
      } catch {
        // read (and refused) as it is read
      }
    }
    if (items.length > 1) await verifyAhead(items);
  }

  /**
   * A message's body, and whether reading it moved the state to be stored. Stores nothing: the
   * caller stores the state with the text (`commitReads`).
   */
  private async decryptCore(m: CipherMessage): Promise<Read> {
    const sender = m.sender_id;
    if (!sender) throw new E2eFailure('wrong_sender', 'the message has no sender');
    const p = decodePayload(m.ciphertext, this.rec.st.deviceId);
    let body: Uint8Array;
    if (p.kind === 'direct') {
      if (!p.mine) {
        // Sent before this device was linked or restored: from the backup.
        const archived = await this.archived(m);
        if (!archived) throw new E2eFailure('not_for_this_device', 'the message holds no ciphertext for this device');
        return { body: decodeBody(archived), moved: false };
      }
      const plain = await this.sessions.openMessage(sender, p.senderDevice, p.mine);
      const inner = decodeDirectPlaintext(plain);
      plain.fill(0);
      if (inner.channelId !== m.channel_id) throw new E2eFailure('channel_mismatch', 'made for another channel');
      body = inner.body;
      // The pairwise keys are gone once used: the account's other devices read it from the
      // backup (its entry is stored with the moved state and the text).
      this.account.keepDirect(m.channel_id, m.id, m.seq ?? 0, body);
    } else {
      try {
        body = this.senderKeys.decrypt(m.channel_id, sender, p.senderDevice, p.message);
      } catch (e) {
        if (!(e instanceof E2eFailure) || e.reason !== 'unknown_sender_key') throw e;
        const read = await this.decryptHistory(m.channel_id, sender, p.senderDevice, p.message);
        // Read with a history key: no ratchet moved; the record is stored only when checking the
        // key's attestation may have pinned a user key (at a key's first message).
        return { body: decodeBody(read.body), moved: read.checked };
      }
    }
    return { body: decodeBody(body), moved: true };
  }

  /** The history read from the backup, opened (false when this device read none). */
  private async openHistory(): Promise<boolean> {
    const acc = this.rec.st.account;
    if (!acc?.restored) return false;
    const bk = fromBase64(acc.backupKey);
    try {
      await this.history.load(acc.restored, bk);
    } finally {
      bk.fill(0);
    }
    return true;
  }

  /**
   * A linked or restored device reads the chunks other devices appended since (at most every
   * 30 s): the linking device's last entries may have gone up just after the link.
   */
  private async syncHistory(): Promise<boolean> {
    const acc = this.rec.st.account;
    if (!this.accountApi || !acc || (acc.origin !== 'linked' && acc.origin !== 'restored')) return false;
    if (this.now() - this.lastHistorySync < HISTORY_SYNC_MS) return false;
    this.lastHistorySync = this.now();
    try {
      return (await this.readMore(acc)) > 0;
    } catch {
      return false;
    }
  }

  private async readMore(acc: AccountState): Promise<number> {
    const api = this.accountApi!;
    const bk = fromBase64(acc.backupKey);
    try {
      const held = acc.restored ?? 0;
      const digest = acc.restoredDigest ? fromBase64(acc.restoredDigest) : new Uint8Array(32);
      const read = await readBackup(api, uuidBytes(this.rec.st.userId), bk, acc.headSeq, held, digest);
      if (!read.head) return 0;
      await this.history.keep(read.chunks);
      acc.restored = Number(read.head.count);
      acc.restoredDigest = toBase64(read.head.digest);
      acc.headSeq = Math.max(acc.headSeq, Number(read.head.headSeq));
      await this.rec.save();
      await this.history.load(acc.restored, bk);
      return read.entries;
    } finally {
      bk.fill(0);
    }
  }

  private async archived(m: CipherMessage): Promise<Uint8Array | null> {
    if (!(await this.openHistory()) && !(await this.syncHistory())) return null;
    let body = this.history.archived(m.channel_id, m.id);
    if (!body && (await this.syncHistory())) body = this.history.archived(m.channel_id, m.id);
    return body;
  }

  /**
   * A channel message of a sender key this device holds only as history (from the backup, or
   * handed to it as a new member), or sent before this device got the live key: the
   * key must be attested by the sender device, whose certificate must be listed for the message's
   * sender now and verify under the trusted user key.
   */
  private async decryptHistory(
    channelId: string,
    sender: string,
    senderDevice: string,
    message: Uint8Array,
  ): Promise<{ body: Uint8Array; checked: boolean }> {
    const keyId = SenderKeyMessage.fromBytes(message).keyId;
    const name = `${channelId}/${senderDevice}/${keyId}`;
    const c = uuidBytes(channelId);
    const d = uuidBytes(senderDevice);
    // The reader of this key, made (and its attestation checked) at its first message this
    // session: any message of the key costs at most 64 chain steps then, in any order.
    const held = this.historyReaders.get(name);
    if (held && held.user === sender) {
      try {
        return { body: held.reader.decrypt(c, d, message), checked: false };
      } catch (e) {
        if (!(e instanceof CryptoError) || e.code !== 'Duplicate') throw e;
        // Before the key's first iteration: an earlier copy of it may have arrived since.
      }
    }
    await this.openHistory();
    let key = await this.history.historyKey(channelId, senderDevice, keyId);
    if (!key && (await this.syncHistory())) key = await this.history.historyKey(channelId, senderDevice, keyId);
    if (!key) throw new E2eFailure('unknown_sender_key', 'no sender key for this message');
    if (held && held.user === sender && key.firstIteration >= held.reader.key.firstIteration) {
      key.wipe();
      throw new E2eFailure('before_history', 'the backup’s key starts after this message');
    }
    try {
      let cert = this.historyCerts.get(senderDevice);
      if (!cert || uuidString(cert.userId) !== sender) {
        try {
          cert = await this.trust.certificate(sender, senderDevice);
        } catch (e) {
          if (e instanceof E2eFailure && e.reason === 'untrusted') throw new E2eFailure('sender_gone', e.message);
          throw e;
        }
        this.historyCerts.set(senderDevice, cert);
      }
      key.verify(cert);
    } catch (e) {
      key.wipe();
      throw e;
    }
    const reader = new HistoryReader(key);
    if (held) {
      held.reader.wipe();
      held.reader.key.wipe();
      this.historyReaders.delete(name);
    }
    this.historyReaders.set(name, { reader, user: sender });
    // Bounded: the readers of the keys read least lately go first.
    while (this.historyReaders.size > HISTORY_READERS_KEPT) {
      const [oldest, r] = this.historyReaders.entries().next().value as [string, { reader: HistoryReader }];
      r.reader.wipe();
      r.reader.key.wipe();
      this.historyReaders.delete(oldest);
    }
    try {
      return { body: reader.decrypt(c, d, message), checked: true };
    } catch (e) {
      if (e instanceof CryptoError && e.code === 'Duplicate') throw new E2eFailure('before_history', 'the backup’s key starts after this message');
      throw e;
    }
  }

  /**
   * A message this device sent, read back (its text was kept when it was sent): a direct
   * message's body goes to the backup, for the account's other devices.
   */
  keepSent(m: CipherMessage, body: Uint8Array): Promise<void> {
    const text = m.cacheAs?.(decodeBody(body));
    if (m.ciphertext[0] !== AppTag.DIRECT_PAYLOAD || !this.isOwn(m.ciphertext) || !this.rec.st.account) {
      return text ? this.keystore.commit([text]).then(() => {}) : Promise.resolve();
    }
    return this.rec.run(async () => {
      const before = this.rec.st.account?.pending.length ?? 0;
      this.account.keepDirect(m.channel_id, m.id, m.seq ?? 0, body);
      // The backup entry and the cached text are stored together: a page closed in between would
      // leave the text cached (never read again) without its entry.
      if ((this.rec.st.account?.pending.length ?? 0) !== before) await this.rec.save(text ? [text] : []);
      else if (text) await this.keystore.commit([text]);
    });
  }

  // ---- the account's devices (docs/e2e.md 18)

  /** How this device's keys came about and what it holds for the account; null without. */
  get accountInfo(): { origin: AccountState['origin']; since: number; pending: number; dropped: number; restored: number; storageVersion: number } | null {
    const a = this.rec.st.account;
    if (!a) return null;
    return { origin: a.origin, since: a.since, pending: a.pending.length, dropped: a.dropped ?? 0, restored: a.restored ?? 0, storageVersion: a.storageVersion };
  }

  /** This device's certificate. */
  get certificate(): DeviceCertificate {
    return DeviceCertificate.fromBytes(fromBase64(this.rec.st.certificate));
  }

  /** The recovery key still to be shown to the user (made with the user key), or null. */
  get recoveryKeyToShow(): string | null {
    return this.account.recoveryKeyToShow;
  }

  /** The user saved the recovery key: it is not kept here any longer. */
  recoveryKeySaved(): Promise<void> {
    return this.rec.run(() => this.account.recoveryKeySaved());
  }

  /** A new recovery key (the next secret-storage version, same user key and backup key). */
  newRecoveryKey(): Promise<string> {
    const api = this.accountApi;
    if (!api) return Promise.reject(new Error('The server keeps no recovery keys.'));
    return this.rec.run(() => this.account.newRecoveryKey(api));
  }

  /** Entries waiting for the next backup. */
  get backupPending(): number {
    return this.rec.st.account?.pending.length ?? 0;
  }

  private scheduleBackup(delay = this.backupDelayMs): void {
    if (this.closed || delay < 0 || !this.accountApi || this.backupTimer) return;
    this.backupTimer = setTimeout(() => {
      this.backupTimer = null;
      this.backUp().then(
        () => {
          this.backupFailures = 0;
        },
        () => {
          this.backupFailures++;
          this.scheduleBackup(Math.min(BACKUP_RETRY_MAX_MS, 5000 * 2 ** this.backupFailures));
        },
      );
    }, delay);
  }

  /**
   * Backs up what is new (chunks, then the head by compare and swap) and drops exactly those
   * entries once a head names them; entries kept meanwhile wait for the next one. One backup at a
   * time, across the tabs of the browser. Returns the chunks written.
   */
  backUp(): Promise<number> {
    const api = this.accountApi;
    if (!api || !this.rec.st.account) return Promise.resolve(0);
    if (this.backingUp) return this.backingUp.then(() => this.backUp());
    const run = webLock(`chatalot-backup/${this.rec.st.deviceId}`, async () => {
      const snap = await this.rec.run(async () => structuredClone(this.rec.st.account));
      if (!snap?.pending.length) return 0;
      const bk = fromBase64(snap.backupKey);
      let done;
      try {
        done = await backUp(api, uuidBytes(this.rec.st.userId), bk, snap.headSeq, snap.pending);
      } finally {
        bk.fill(0);
      }
      await this.rec.run(async () => {
        const acc = this.rec.st.account;
        if (!acc) return;
        const sent = new Set(snap.pending.map(entryKey));
        acc.pending = acc.pending.filter((e) => !sent.has(entryKey(e)));
        acc.headSeq = Math.max(acc.headSeq, done.headSeq);
        await this.rec.save();
      });
      if (this.rec.st.account?.pending.length) this.scheduleBackup();
      return done.chunks;
    });
    this.backingUp = run;
    run.finally(() => {
      if (this.backingUp === run) this.backingUp = null;
    }).catch(() => {});
    return run;
  }

  /**
   * Reads the key backup into this device's history (linked or restored): the head's MAC and
   * floor (the highest head this device or its linking device saw), the chain of chunks, each
   * chunk opened; refused as a whole (`BackupError`) otherwise. Returns the entries read.
   */
  restoreBackup(): Promise<number> {
    const acc = this.rec.st.account;
    if (!this.accountApi || !acc) return Promise.resolve(0);
    return this.rec.run(async () => {
      const a = this.rec.st.account!;
      return this.readMore(a);
    });
  }

  /**
   * Answers the account's pending link request whose code the user typed here: certifies the
   * new device and hands it the user key, the backup key and the versions this device has seen,
   * after backing up what is new. A code that matches no request is refused.
   */
  async answerLink(text: string): Promise<{ deviceId: string; deviceName: string }> {
    const api = this.accountApi;
    if (!api) throw new LinkError('no_user_key', 'This server does not link devices.');
    let code: LinkCode;
    try {
      code = LinkCode.parse(text);
    } catch {
      throw new LinkError('bad_code', 'That is not a link code: it is 26 letters and digits, as the new device shows it.');
    }
    try {
      const list = await api.linkRequests();
      const found = list.requests
        .filter((p) => p.device_id !== this.rec.st.deviceId)
        .map((p) => {
          try {
            const r = LinkRequest.fromBytes(fromBase64(p.request));
            return r.matches(code) ? { p, r } : null;
          } catch {
            return null;
          }
        })
        .find((x) => x !== null);
      if (!found) {
        throw new LinkError(
          'no_match',
          'This code does not match a request of this account: check it (or start linking again on the new device: a request lasts 10 minutes).',
        );
      }
      // Everything the new device may need is in the backup before it looks.
      await this.backUp();
      await this.rec.run(async () => {
        const st = this.rec.st;
        const uk = await this.account.userKey();
        if (!uk) throw new LinkError('no_user_key', 'This device does not hold your account’s user key, so it cannot link another one.');
        try {
          if (!st.account) {
            // A device of an account made before backups: the account's backup key starts here.
            const bk = new Uint8Array(32);
            crypto.getRandomValues(bk);
            st.account = { backupKey: toBase64(bk), storageVersion: 0, headSeq: 0, pending: [], origin: 'created', since: 0 };
            bk.fill(0);
            await this.rec.save();
          }
          const acc = st.account;
          const bk = fromBase64(acc.backupKey);
          const response = linkRespond(code, found.r, uk, bk, acc.storageVersion, acc.headSeq);
          bk.fill(0);
          await api.answerLinkRequest(found.p.device_id, toBase64(response));
        } finally {
          uk.wipe();
        }
      });
      return { deviceId: found.p.device_id, deviceName: found.p.device_name };
    } finally {
      code.wipe();
    }
  }

  /** True when this message was sent by this device (it cannot decrypt its own sends). */
  isOwn(ciphertext: Uint8Array): boolean {
    if (ciphertext.length < 17) return false;
    const t = ciphertext[0];
    if (t !== AppTag.DIRECT_PAYLOAD && t !== AppTag.CHANNEL_PAYLOAD) return false;
    return uuidString(ciphertext.subarray(1, 17)) === this.rec.st.deviceId;
  }

  // ---- trust, as the user sees it

  /** This user's public user key. */
  get myUserKey(): Uint8Array {
    return this.trust.myUserKey;
  }

  /** The user key trusted for `user` (fetched and pinned on first use). */
  keyOf(user: string): Promise<Uint8Array> {
    return this.rec.run(async () => {
      const k = await this.trust.trustedKey(user);
      await this.rec.save();
      return k;
    });
  }

  /** The 60-digit safety number with `user`, over the keys trusted now. */
  async safetyNumber(user: string): Promise<string> {
    return this.trust.safetyNumber(user, await this.keyOf(user));
  }

  /** Users whose user key changed since it was pinned (not yet accepted). */
  get keyChanges(): string[] {
    return this.trust.keyChanges;
  }

  isVerified(user: string): boolean {
    return this.trust.isVerified(user);
  }

  /** Marks `user` as verified (their safety number was compared out of band). */
  markVerified(user: string): Promise<void> {
    return this.rec.run(async () => {
      if (!this.trust.markVerified(user)) return;
      await this.rec.save();
      this.trust.onChange();
    });
  }

  /** Trusts the new user key of `user` (after a key-change warning): sessions start again. */
  acceptKeyChange(user: string): Promise<void> {
    return this.rec.run(async () => {
      if (!this.trust.acceptKeyChange(user)) return;
      this.sessions.forgetUser(user);
      await this.rec.save();
      this.trust.onChange();
    });
  }

  /** Checks the directory's key of `user` against the pinned one (a change becomes a warning). */
  checkUser(user: string): Promise<void> {
    return this.rec.run(async () => {
      await this.trust.checkUser(user);
      await this.rec.save();
      this.trust.onChange();
    });
  }
}
