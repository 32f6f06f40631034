// The persistence of the end-to-end device: its whole state is one JSON record sealed in the
// keystore (IndexedDB store `keys`, slot `device`), written back after every change and before
// anything that depends on it is acknowledged. Operations run one at a time, in this tab (a
// queue) and across the tabs of the browser (a Web Lock per device), each starting from the
// state as stored (another tab may have moved a ratchet since); a failed one returns to the
// stored state, so a refused message changes nothing.
//
// The record's format is fixed: browsers hold records written by earlier versions
// (tests/unit/device-record.test.ts reads one).

import type { AccountState } from './account';
import type { CachedText, Keystore } from './keystore';

/** The keystore slot of the device record. */
export const STATE_SLOT = 'device';

/** The device record (version 1). Keys and ratchet states are base64 of their `toBytes()`. */
export interface DeviceState {
  v: 1;
  userId: string;
  deviceId: string;
  identity: string;
  certificate: string;
  spk: string;
  /** When the current signed prekey was made (ms since the epoch; absent in older states). */
  spkAt?: number;
  oldSpks: string[];
  opks: Record<string, string>;
  nextPrekeyId: number;
  published: boolean;
  /** user → the user key trusted for them (base64). */
  pinned: Record<string, string>;
  /** user → a different user key the directory now reports, until the user accepts it. */
  changed: Record<string, string>;
  /** user → the user key whose safety number was compared and marked verified. */
  verified: Record<string, string>;
  /** peer device → its user and its sessions (the one to send with first). */
  sessions: Record<string, { user: string; list: string[] }>;
  /** channel → this device's sender key there and who has it. */
  outgoing: Record<string, { sender: string; recipients: string[]; sent: number }>;
  /**
   * `channel/device/key id` → a received sender key, the user it came from and the first
   * iteration it reads (absent in older states): earlier messages of that key read with its
   * history key (docs/e2e.md 18.5).
   */
  incoming: Record<string, { user: string; receiver: string; first?: number }>;
  seenEnvelopes: string[];
  /** channel → the users seen reading it (from this device's first send on). */
  rosters: Record<string, string[]>;
  /** channel → the new members this device handed the channel's history keys to (docs/e2e.md 18.5). */
  historyShared?: Record<string, string[]>;
  /**
   * What this device shares with the account's other devices (docs/e2e.md 18): the backup key,
   * the recovery key until saved, the entries for the key backup. Absent in records of earlier
   * versions until a recovery key is made.
   */
  account?: AccountState;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function parse(json: string, userId: string, deviceId: string): DeviceState | null {
  const st = JSON.parse(json) as DeviceState;
  return st.v === 1 && st.userId === userId && st.deviceId === deviceId ? st : null;
}

/** The device state of one browser, as held in memory and as stored. */
export class DeviceRecord {
  /** The state operations work on (replaced when another tab stored a newer one). */
  st: DeviceState;
  /** The state as last stored: what a failed operation returns to. */
  private saved: string;
  /** The stamp of the stored record this state is (another tab's write changes it). */
  private stamp: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly keystore: Keystore,
    state: DeviceState,
  ) {
    this.st = state;
    this.saved = JSON.stringify(state);
  }

  /** The stored record of this user's device `deviceId`, or null when there is none (or another's). */
  static async read(keystore: Keystore, userId: string, deviceId: string): Promise<DeviceRecord | null> {
    const got = await keystore.getSecretUnless(STATE_SLOT, null);
    if (!got.value) return null;
    const st = parse(fromUtf8.decode(got.value), userId, deviceId);
    if (!st) return null;
    const r = new DeviceRecord(keystore, st);
    r.stamp = got.stamp;
    return r;
  }

  /** A new record, stored at once. */
  static async create(keystore: Keystore, state: DeviceState): Promise<DeviceRecord> {
    const r = new DeviceRecord(keystore, state);
    await r.save();
    return r;
  }

  /**
   * Stores the state, and with it (one transaction, all or nothing) the texts of the messages
   * whose keys it used up: a page closed at any point finds either both or the earlier state
   * and no text, whose keys still read the messages.
   */
  async save(texts: CachedText[] = []): Promise<void> {
    const json = JSON.stringify(this.st);
    this.stamp = await this.keystore.commit(texts, { name: STATE_SLOT, value: utf8.encode(json) });
    this.saved = json;
  }

  /** Whether the state differs from the one stored. */
  get changed(): boolean {
    return JSON.stringify(this.st) !== this.saved;
  }

  /**
   * Takes the stored state when another tab changed it. The stored record is opened only when
   * its stamp is not the one this state was read or stored with.
   */
  private async reload(): Promise<void> {
    const got = await this.keystore.getSecretUnless(STATE_SLOT, this.stamp);
    if (got.same || !got.value) return;
    const json = fromUtf8.decode(got.value);
    this.stamp = got.stamp;
    if (json === this.saved) return;
    const st = parse(json, this.st.userId, this.st.deviceId);
    if (!st) return;
    this.st = st;
    this.saved = json;
  }

  /**
   * Runs `fn` after every earlier operation, holding this device's lock across the tabs of the
   * browser (Web Locks), on the state as stored; on failure the state returns to the stored one.
   */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const exec = async (): Promise<T> => {
      await this.reload();
      try {
        return await fn();
      } catch (e) {
        this.st = JSON.parse(this.saved) as DeviceState;
        throw e;
      }
    };
    const locks = typeof navigator !== 'undefined' ? (navigator as Navigator & { locks?: LockManager }).locks : undefined;
    const next = this.queue.then(() =>
      locks ? (locks.request(`chatalot-e2e/${this.st.deviceId}`, exec) as Promise<T>) : exec(),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }
}
