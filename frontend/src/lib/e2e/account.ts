// What a device shares with the other devices of its account (docs/e2e.md section 18): the
// account's backup key, the versions of the secret storage and of the backup head it has seen,
// the recovery key until the user has saved it, and the entries it keeps for the key backup
// (the history key of every sender key it makes or receives attested, the body of every direct
// message it sends or decrypts) until a backup head names them. It lives in the device record
// (`DeviceState.account`, sealed like the other keys); records of earlier versions have none and
// get one only when the user makes a recovery key.

import { HistoryKey, RecoveryKey, UserKeyPair, openSecretStorage, sealSecretStorage, type BackupEntry } from '../crypto/index';
import { ArchivedMessage } from '../crypto/index';
import { uuidBytes, uuidString } from './appcodec';
import type { DeviceRecord } from './deviceRecord';
import { fromBase64, toBase64 } from './keystore';
import type { Keystore } from './keystore';
import type {
  AccountDevices,
  AppendedChunkJson,
  AuditEvent,
  BackupChunkPageJson,
  KeyBackupJson,
  LinkAnswerJson,
  PendingLinkJson,
  PendingLinksJson,
  SecretStorageJson,
} from '../api/types';

/** The routes of "Every device of an account" the device uses (docs/api.md); the ApiClient has them. */
export interface AccountApi {
  secretStorage(): Promise<SecretStorageJson>;
  putSecretStorage(storage: string): Promise<SecretStorageJson>;
  keyBackup(): Promise<KeyBackupJson>;
  appendBackupChunk(chunk: string): Promise<AppendedChunkJson>;
  backupChunks(after: number, limit?: number): Promise<BackupChunkPageJson>;
  putBackupHead(head: string): Promise<KeyBackupJson>;
  putLinkRequest(deviceId: string, request: string): Promise<PendingLinkJson>;
  deleteLinkRequest(deviceId: string): Promise<void>;
  linkResponse(deviceId: string): Promise<LinkAnswerJson>;
  linkRequests(): Promise<PendingLinksJson>;
  answerLinkRequest(deviceId: string, response: string): Promise<void>;
  resetUserKey(password: string, code?: string): Promise<void>;
  accountDevices?(): Promise<AccountDevices>;
  auditEvents?(limit?: number): Promise<AuditEvent[]>;
}

/** True when `api` serves the account routes (the app's client; some unit tests' directories do not). */
export function hasAccountApi(api: unknown): api is AccountApi {
  return !!api && typeof (api as AccountApi).putSecretStorage === 'function' && typeof (api as AccountApi).keyBackup === 'function';
}

/** How this device's keys came about. */
export type AccountOrigin = 'created' | 'reset' | 'linked' | 'restored';

/** An entry kept for the next backup: a history key, or a direct message's body. */
export type PendingEntry = { h: string } | { c: string; id: string; seq: number; b: string };

/** The account part of the device record. */
export interface AccountState {
  /** The account's backup key (base64, 32 bytes). */
  backupKey: string;
  /** The highest secret-storage version this device has seen (stored or opened). */
  storageVersion: number;
  /** The recovery key's text, kept sealed here until the user confirms it is saved. */
  recoveryKey?: string;
  /** The secret storage under `recoveryKey` (version `storageVersion + 1`) is still to be stored. */
  storagePending?: boolean;
  /** The user said the recovery key is saved (it goes once its storage is stored). */
  recoveryKeySaved?: boolean;
  /** The highest backup head this device has seen. */
  headSeq: number;
  /** Entries not yet named by a backup head (oldest first). */
  pending: PendingEntry[];
  /** Entries dropped because `pending` was full (a long time without reaching the server). */
  dropped?: number;
  /** Direct messages archived lately (their ids), not to be archived twice. */
  archived?: string[];
  origin: AccountOrigin;
  /** When this device's keys were made (ms): what came before reached it only through the backup. */
  since: number;
  /** Chunks of the backup read into this device's history (1..restored). */
  restored?: number;
  /** The chain digest of those chunks (base64), from which later chunks are checked. */
  restoredDigest?: string;
}

/** Entries kept for the backup at most; older ones go first beyond. */
export const PENDING_MAX_ENTRIES = 5000;
/** Bytes of archived bodies kept for the backup at most. */
export const PENDING_MAX_BYTES = 2 * 1024 * 1024;
const ARCHIVED_IDS_KEPT = 2000;

/** The keystore slot of the account's user key (every device of the account holds it). */
export const USER_KEY_SLOT = 'user_key';

/** A fresh account part: a new backup key (and, on the device that made the user key, a recovery key). */
export function freshAccount(origin: AccountOrigin, now: number, rng: (n: number) => Uint8Array = randomBytes): AccountState {
  const bk = rng(32);
  const rk = RecoveryKey.generate((out) => out.set(rng(out.length)));
  const acc: AccountState = {
    backupKey: toBase64(bk),
    storageVersion: 0,
    recoveryKey: rk.toText(),
    storagePending: true,
    headSeq: 0,
    pending: [],
    origin,
    since: now,
  };
  bk.fill(0);
  rk.wipe();
  return acc;
}

/** The account part of a device that received the backup key (linked or restored). */
export function receivedAccount(origin: 'linked' | 'restored', backupKey: Uint8Array, storageVersion: number, now: number): AccountState {
  return { backupKey: toBase64(backupKey), storageVersion, headSeq: 0, pending: [], origin, since: now };
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  crypto.getRandomValues(out);
  return out;
}

/** The entry's size in a chunk's plaintext. */
export function entrySize(e: PendingEntry): number {
  return 'h' in e ? 169 : 45 + Math.ceil((e.b.length * 3) / 4);
}

/** The crypto entry of a kept one (the caller wipes it). */
export function toBackupEntry(e: PendingEntry): BackupEntry {
  if ('h' in e) return { kind: 'history', key: HistoryKey.fromBytes(fromBase64(e.h)) };
  return { kind: 'message', message: new ArchivedMessage(uuidBytes(e.c), uuidBytes(e.id), BigInt(Math.max(0, e.seq)), fromBase64(e.b)) };
}

/** A stable name of an entry (to drop exactly those a head came to name). */
export function entryKey(e: PendingEntry): string {
  return 'h' in e ? `h/${e.h}` : `m/${e.id}`;
}

/** The part of the device that keeps the account's secrets and the entries for the backup. */
export class Account {
  /** Called when entries were added (the device schedules a backup). */
  onPending: () => void = () => {};

  constructor(
    private readonly rec: DeviceRecord,
    private readonly keystore: Keystore,
  ) {}

  get state(): AccountState | undefined {
    return this.rec.st.account;
  }

  /** Keeps a history key for the backup (a sender key this device made or received attested). */
  keepHistory(key: HistoryKey): void {
    const acc = this.rec.st.account;
    if (!acc) return;
    this.push(acc, { h: toBase64(key.toBytes()) });
  }

  /** Keeps a direct message's body for the backup (sent or decrypted here). */
  keepDirect(channelId: string, messageId: string, seq: number, body: Uint8Array): void {
    const acc = this.rec.st.account;
    if (!acc) return;
    const archived = (acc.archived ??= []);
    if (archived.includes(messageId) || acc.pending.some((e) => 'id' in e && e.id === messageId)) return;
    archived.push(messageId);
    if (archived.length > ARCHIVED_IDS_KEPT) archived.splice(0, archived.length - ARCHIVED_IDS_KEPT);
    this.push(acc, { c: channelId, id: messageId, seq: Number.isFinite(seq) ? seq : 0, b: toBase64(body) });
  }

  private push(acc: AccountState, e: PendingEntry): void {
    acc.pending.push(e);
    let bytes = acc.pending.reduce((n, x) => n + ('b' in x ? x.b.length : 0), 0);
    while (acc.pending.length > PENDING_MAX_ENTRIES || (bytes > PENDING_MAX_BYTES && acc.pending.length > 1)) {
      const gone = acc.pending.shift()!;
      if ('b' in gone) bytes -= gone.b.length;
      acc.dropped = (acc.dropped ?? 0) + 1;
    }
    this.onPending();
  }

  /** The account's user key (held by every device of the account with an account part). */
  async userKey(): Promise<UserKeyPair | null> {
    const raw = await this.keystore.getSecret(USER_KEY_SLOT);
    if (!raw) return null;
    try {
      return UserKeyPair.fromBytes(raw);
    } finally {
      raw.fill(0);
    }
  }

  /**
   * Stores the secret storage under the held recovery key when it is still to be stored (version
   * `storageVersion + 1`). A 409 means that version is stored already: by this device when the
   * answer was lost (it then opens with the recovery key), else by another device.
   */
  async storeSecretStorage(api: AccountApi): Promise<void> {
    const acc = this.rec.st.account;
    if (!acc?.storagePending || !acc.recoveryKey) return;
    const rk = RecoveryKey.parse(acc.recoveryKey);
    const uk = await this.userKey();
    if (!uk) throw new Error('This device does not hold the account’s user key.');
    const bk = fromBase64(acc.backupKey);
    const version = acc.storageVersion + 1;
    const sealed = sealSecretStorage(rk, uk, bk, version);
    uk.wipe();
    bk.fill(0);
    rk.wipe();
    try {
      await api.putSecretStorage(toBase64(sealed));
    } catch (e) {
      if ((e as { status?: number }).status !== 409) throw e;
      // That version is stored: by this device when the answer was lost (it opens with this
      // recovery key), else by another device, after which this one becomes the next version.
      const stored = await api.secretStorage();
      if (!this.opensWith(acc.recoveryKey, stored)) {
        acc.storageVersion = Math.max(acc.storageVersion + 1, stored.version);
        await this.rec.save();
        return this.storeSecretStorage(api);
      }
    }
    acc.storageVersion = version;
    acc.storagePending = false;
    if (acc.recoveryKeySaved) {
      delete acc.recoveryKey;
      delete acc.recoveryKeySaved;
    }
    await this.rec.save();
  }

  private opensWith(recoveryKey: string, stored: SecretStorageJson): boolean {
    const rk = RecoveryKey.parse(recoveryKey);
    try {
      openSecretStorage(rk, fromBase64(stored.storage), uuidBytes(this.rec.st.userId), 0).wipe();
      return true;
    } catch {
      return false;
    } finally {
      rk.wipe();
    }
  }

  /**
   * A new recovery key for the same user key and backup key, stored as the next version. A device
   * of an account made before recovery keys existed (it holds the user key but no backup key)
   * makes the account's backup key now, when the account has no secret storage yet.
   */
  async newRecoveryKey(api: AccountApi): Promise<string> {
    let stored: SecretStorageJson | null = null;
    try {
      stored = await api.secretStorage();
    } catch (e) {
      if ((e as { status?: number }).status !== 404) throw e;
    }
    let acc = this.rec.st.account;
    if (!acc) {
      const uk = await this.userKey();
      if (!uk) throw new Error('This device does not hold the account’s user key.');
      uk.wipe();
      if (stored) throw new Error('Another device of this account keeps its recovery key: make the new one there.');
      acc = freshAccount('created', 0);
      this.rec.st.account = acc;
    }
    if (stored && stored.version > acc.storageVersion) acc.storageVersion = stored.version;
    const rk = RecoveryKey.generate();
    acc.recoveryKey = rk.toText();
    acc.storagePending = true;
    delete acc.recoveryKeySaved;
    rk.wipe();
    await this.rec.save();
    await this.storeSecretStorage(api);
    return acc.recoveryKey!;
  }

  /** The recovery key to show the user until they say it is saved, or null. */
  get recoveryKeyToShow(): string | null {
    const acc = this.rec.st.account;
    return acc?.recoveryKey && !acc.recoveryKeySaved ? acc.recoveryKey : null;
  }

  /** The user has saved the recovery key: it is no longer kept here (once its storage is stored). */
  async recoveryKeySaved(): Promise<void> {
    const acc = this.rec.st.account;
    if (!acc?.recoveryKey) return;
    if (acc.storagePending) acc.recoveryKeySaved = true;
    else delete acc.recoveryKey;
    await this.rec.save();
  }
}

/** The text of a UUID's bytes (re-exported for the backup's readers). */
export { uuidString };
