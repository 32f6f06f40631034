// The history keys this device holds, and what a linked or restored device read from the key
// backup (docs/e2e.md 18.4, 18.5).
// - Backup: the history keys of channel sender keys and the archived bodies of direct messages,
//   so that messages from before this device read. The chunks are kept as the server held them
//   (sealed under the backup key) in keystore slots `history/<n>`, sealed once more under the
//   keystore's data key like every other key, and opened into memory when a message first needs
//   them.
// - Held: per channel, the history keys this device made, received attested (kind 0x03) or was
//   handed as a new member (kind 0x02), in keystore slot `channel_keys/<channel>` (at most
//   `CHANNEL_KEYS_MAX`, the oldest go first): what it hands to a channel's new members, and what
//   it reads a channel's earlier messages with.
// Receiving history never changes a live sender-key state.

import { HISTORY_KEY_LEN, HistoryKey, openBackupChunk, wipeBackupEntries } from '../crypto/index';
import { uuidBytes, uuidString } from './appcodec';
import type { Keystore } from './keystore';

export const HISTORY_SLOT_PREFIX = 'history/';
export const CHANNEL_KEYS_SLOT_PREFIX = 'channel_keys/';
/** History keys held per channel at most (five bundles of 80); the oldest go first beyond. */
export const CHANNEL_KEYS_MAX = 400;
/** A held channel's keys are read again from the keystore (another tab may have added some) at most this often. */
const HELD_RELOAD_MS = 5000;

/** Of two encodings of the same sender key, the one that reads from the earlier iteration. */
function earlier(a: Uint8Array, b: Uint8Array): Uint8Array {
  const ka = HistoryKey.fromBytes(a);
  const kb = HistoryKey.fromBytes(b);
  const first = ka.firstIteration <= kb.firstIteration ? a : b;
  ka.wipe();
  kb.wipe();
  return first;
}

function historyKeyName(channel: string, device: string, keyId: number): string {
  return `${channel}/${device}/${keyId}`;
}

/** The history this device read from the backup, opened. */
export class HistoryStore {
  private keys = new Map<string, Uint8Array>();
  private archive = new Map<string, { channel: string; body: Uint8Array }>();
  private loaded = -1;
  /** channel → `device/key id` → the held key's encoding, with when it was read. */
  private held = new Map<string, { at: number; keys: Map<string, Uint8Array> }>();

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

  /**
   * The history key of `(channel, sender device, key id)` from the backup or held, the one from
   * the earlier iteration when both have it; or null (the caller wipes it).
   */
  async historyKey(channel: string, device: string, keyId: number): Promise<HistoryKey | null> {
    const fromBackup = this.keys.get(historyKeyName(channel, device, keyId));
    const name = `${device}/${keyId}`;
    let held = (await this.heldKeys(channel, 'cached')).get(name);
    if (!held) held = (await this.heldKeys(channel, 'recent')).get(name);
    const b = fromBackup && held ? earlier(fromBackup, held) : (fromBackup ?? held);
    return b ? HistoryKey.fromBytes(b) : null;
  }

  /**
   * Holds a history key of its channel (kept from the earlier iteration when the same sender key
   * is held already); true when that changed what is held. Called inside the device's
   * operations, which hold its lock across tabs: the slot is read before it is written.
   */
  async add(key: HistoryKey): Promise<boolean> {
    return (await this.addAll([key])) > 0;
  }

  /** Holds several keys (each of its own channel); how many changed what is held. */
  async addAll(keys: HistoryKey[]): Promise<number> {
    const byChannel = new Map<string, HistoryKey[]>();
    for (const k of keys) {
      const c = uuidString(k.channelId);
      byChannel.set(c, [...(byChannel.get(c) ?? []), k]);
    }
    let changed = 0;
    for (const [channel, list] of byChannel) {
      const held = await this.heldKeys(channel, 'stored');
      let dirty = false;
      for (const k of list) {
        const name = `${uuidString(k.senderDeviceId)}/${k.keyId}`;
        const bytes = k.toBytes();
        const old = held.get(name);
        if (old && earlier(old, bytes) === old) {
          bytes.fill(0);
          continue;
        }
        old?.fill(0);
        held.delete(name);
        held.set(name, bytes);
        dirty = true;
        changed++;
      }
      while (held.size > CHANNEL_KEYS_MAX) {
        const [oldest, b] = held.entries().next().value as [string, Uint8Array];
        b.fill(0);
        held.delete(oldest);
      }
      if (dirty) await this.writeHeld(channel, held);
    }
    return changed;
  }

  /**
   * Every history key this device has of `channel` (held, and from the backup when it was
   * opened), one per sender key, from the earliest iteration; the caller wipes them.
   */
  async channelKeys(channel: string): Promise<HistoryKey[]> {
    const all = new Map<string, Uint8Array>();
    for (const [name, b] of this.keys) {
      if (!name.startsWith(`${channel}/`)) continue;
      all.set(name.slice(channel.length + 1), b);
    }
    for (const [name, b] of await this.heldKeys(channel, 'recent')) {
      const other = all.get(name);
      all.set(name, other ? earlier(other, b) : b);
    }
    return [...all.values()].map((b) => HistoryKey.fromBytes(b));
  }

  /**
   * The keys held of `channel`: as read before (`cached`), read again when that was a while ago
   * (`recent`), or as stored now (`stored`, before a write).
   */
  private async heldKeys(channel: string, how: 'cached' | 'recent' | 'stored'): Promise<Map<string, Uint8Array>> {
    const cached = this.held.get(channel);
    const now = Date.now();
    if (cached && (how === 'cached' || (how === 'recent' && now - cached.at < HELD_RELOAD_MS))) return cached.keys;
    const keys = new Map<string, Uint8Array>();
    const raw = await this.keystore.getSecret(`${CHANNEL_KEYS_SLOT_PREFIX}${channel}`);
    if (raw && raw.length % HISTORY_KEY_LEN === 0) {
      for (let off = 0; off < raw.length; off += HISTORY_KEY_LEN) {
        const bytes = raw.slice(off, off + HISTORY_KEY_LEN);
        try {
          const k = HistoryKey.fromBytes(bytes);
          if (uuidString(k.channelId) === channel) keys.set(`${uuidString(k.senderDeviceId)}/${k.keyId}`, bytes);
          k.wipe();
        } catch {
          bytes.fill(0);
        }
      }
    }
    raw?.fill(0);
    if (cached) for (const b of cached.keys.values()) b.fill(0);
    this.held.set(channel, { at: now, keys });
    return keys;
  }

  private async writeHeld(channel: string, held: Map<string, Uint8Array>): Promise<void> {
    const out = new Uint8Array(held.size * HISTORY_KEY_LEN);
    let off = 0;
    for (const b of held.values()) {
      out.set(b, off);
      off += HISTORY_KEY_LEN;
    }
    await this.keystore.putSecret(`${CHANNEL_KEYS_SLOT_PREFIX}${channel}`, out);
    out.fill(0);
    this.held.set(channel, { at: Date.now(), keys: held });
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
    for (const h of this.held.values()) for (const b of h.keys.values()) b.fill(0);
    this.keys.clear();
    this.archive.clear();
    this.held.clear();
    this.loaded = -1;
  }
}
