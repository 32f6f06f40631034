// What a linked or restored device read from the key backup (docs/e2e.md 18.4): the history keys
// of channel sender keys and the archived bodies of direct messages, so that messages from before
// this device read. The chunks are kept as the server held them (sealed under the backup key) in
// keystore slots `history/<n>`, sealed once more under the keystore's data key like every other
// key, and opened into memory when a message first needs them. Receiving history never changes a
// live sender-key state.

import { HistoryKey, openBackupChunk, wipeBackupEntries } from '../crypto/index';
import { uuidBytes, uuidString } from './appcodec';
import type { Keystore } from './keystore';

export const HISTORY_SLOT_PREFIX = 'history/';

function historyKeyName(channel: string, device: string, keyId: number): string {
  return `${channel}/${device}/${keyId}`;
}

/** The history this device read from the backup, opened. */
export class HistoryStore {
  private keys = new Map<string, Uint8Array>();
  private archive = new Map<string, { channel: string; body: Uint8Array }>();
  private loaded = -1;

  constructor(
    private readonly keystore: Keystore,
    private readonly userId: string,
  ) {}

  /** Keeps chunks read from the backup (their encodings, at their numbers). */
  async keep(chunks: { seq: number; bytes: Uint8Array }[]): Promise<void> {
    for (const c of chunks) await this.keystore.putSecret(`${HISTORY_SLOT_PREFIX}${c.seq}`, c.bytes);
  }

  /** Opens chunks 1..count into memory (once; again when more were kept). */
  async load(count: number, backupKey: Uint8Array): Promise<void> {
    if (this.loaded >= count) return;
    const user = uuidBytes(this.userId);
    for (let seq = Math.max(1, this.loaded + 1); seq <= count; seq++) {
      const raw = await this.keystore.getSecret(`${HISTORY_SLOT_PREFIX}${seq}`);
      if (!raw) continue;
      let entries;
      try {
        entries = openBackupChunk(backupKey, user, seq, raw);
      } catch {
        continue;
      }
      for (const e of entries) {
        if (e.kind === 'history') {
          // Several devices of the account may have kept the same sender key, from different
          // iterations (its sender from the first, a device that got it later from then): the
          // earliest reads the most.
          const k = e.key;
          const name = historyKeyName(uuidString(k.channelId), uuidString(k.senderDeviceId), k.keyId);
          const held = this.keys.get(name);
          if (held) {
            const h = HistoryKey.fromBytes(held);
            const earlier = h.firstIteration <= k.firstIteration;
            h.wipe();
            if (earlier) continue;
            held.fill(0);
          }
          this.keys.set(name, k.toBytes());
        } else {
          const m = e.message;
          this.archive.set(uuidString(m.messageId), { channel: uuidString(m.channelId), body: m.body.slice() });
        }
      }
      wipeBackupEntries(entries);
    }
    this.loaded = count;
  }

  /** The history key of `(channel, sender device, key id)`, or null (the caller wipes it). */
  historyKey(channel: string, device: string, keyId: number): HistoryKey | null {
    const b = this.keys.get(historyKeyName(channel, device, keyId));
    return b ? HistoryKey.fromBytes(b) : null;
  }

  /** The archived body of a direct message, if it is of this channel. */
  archived(channel: string, messageId: string): Uint8Array | null {
    const m = this.archive.get(messageId);
    return m && m.channel === channel ? m.body.slice() : null;
  }

  get size(): { keys: number; messages: number } {
    return { keys: this.keys.size, messages: this.archive.size };
  }

  /** Forgets what was opened (the keys locked). */
  clear(): void {
    for (const b of this.keys.values()) b.fill(0);
    for (const m of this.archive.values()) m.body.fill(0);
    this.keys.clear();
    this.archive.clear();
    this.loaded = -1;
  }
}
