// The restore bench's page: the web app's own modules (API client, keystore, end-to-end engine
// and device, chat store), driven by bench/restore.mjs through `window.bench`. One page is one
// browser of one person: it registers or signs in, writes encrypted messages through the chat
// store, backs up, restores from the recovery key, and reads channels as the timeline does (pages
// of 50 from the newest, each message through `E2e.decrypt` as a message row does) or from the
// first message forward, timing the network and the decryption apart.

import { ApiClient } from '../../src/lib/api/client';
import type { Message } from '../../src/lib/api/types';
import { ChatStore, PAGE_SIZE } from '../../src/lib/chat/store.svelte';
import { E2eDevice } from '../../src/lib/e2e/device';
import { E2e, type Decrypted } from '../../src/lib/e2e/engine.svelte';
import { Keystore } from '../../src/lib/e2e/keystore';
import { restoreWithRecoveryKey } from '../../src/lib/e2e/recovery';
import { decryptStream, encryptFile } from '../../src/lib/e2e/files';
import { IdbWrapStore } from '../../src/lib/e2e/unlockWrap';
import type { ServerFrame } from '../../src/lib/realtime/frames';
import { openStore } from '../../src/lib/storage/kv';

interface Me {
  id: string;
  username: string;
  display_name: string;
}

/** What reading a channel gave. */
export interface ReadResult {
  ok: number;
  failed: number;
  /** Refusals by reason. */
  reasons: Record<string, number>;
  /** The texts read, in the order read. */
  texts: string[];
  pages: number;
  /** Waiting for pages (the chat store's loads, or the API), ms. */
  fetchMs: number;
  /** Waiting for `E2e.decrypt` of the pages' messages, ms. */
  decryptMs: number;
  /** Backups run while reading (`backUpEvery`), ms, and the chunks they wrote. */
  backupMs: number;
  backupChunks: number;
  ms: number;
}

function until(cond: () => boolean, what: string, ms = 120_000): Promise<void> {
  const deadline = performance.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (performance.now() > deadline) return reject(new Error(`timed out: ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

class Bench {
  private api!: ApiClient;
  private e2e!: E2e;
  private me: Me | null = null;
  private chat: ChatStore | null = null;
  private acked = 0;
  private refused: string[] = [];

  async init(): Promise<void> {
    const { store, persistent } = await openStore();
    if (!persistent) throw new Error('no IndexedDB');
    this.api = new ApiClient({ store, deviceName: 'restore bench' });
    this.e2e = new E2e(new Keystore(store, { wraps: new IdbWrapStore() }), {
      api: this.api,
      deviceId: () => this.api.deviceId(),
      userId: () => this.me?.id ?? null,
    });
  }

  /** Any route of the API client (setup: communities, channels, DMs, invites). */
  call(name: string, ...args: unknown[]): Promise<unknown> {
    const fn = (this.api as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name];
    if (typeof fn !== 'function') throw new Error(`no API call ${name}`);
    return fn.apply(this.api, args);
  }

  /**
   * A new account whose keys this browser makes (the user key, recovery key and backup key);
   * `backupDelay` < 0: only `backUp` uploads the backup (no timer).
   */
  async register(username: string, password: string, backupDelay?: number): Promise<{ id: string; recoveryKey: string; unlockMs: number }> {
    if (backupDelay !== undefined) E2eDevice.backupDelay = backupDelay;
    await this.api.register({ username, password });
    this.me = await this.api.me();
    const t = performance.now();
    await this.e2e.unlock(this.me.id, password);
    const unlockMs = performance.now() - t;
    const dev = this.e2e.activeDevice;
    if (this.e2e.device !== 'ready' || !dev) throw new Error(`device ${this.e2e.device}: ${this.e2e.deviceError}`);
    const recoveryKey = dev.recoveryKeyToShow;
    if (!recoveryKey) throw new Error('no recovery key made');
    await dev.recoveryKeySaved();
    return { id: this.me.id, recoveryKey, unlockMs };
  }

  /** Signs in and opens this browser's keystore (made now, empty: the device has no keys yet). */
  async login(username: string, password: string): Promise<{ id: string; loginMs: number; unlockMs: number; device: string; code: string | null }> {
    let t = performance.now();
    await this.api.login({ username, password });
    this.me = await this.api.me();
    const loginMs = performance.now() - t;
    t = performance.now();
    await this.e2e.unlock(this.me.id, password);
    return { id: this.me.id, loginMs, unlockMs: performance.now() - t, device: this.e2e.device, code: this.e2e.deviceErrorCode };
  }

  /** The recovery key typed: as the keys setup screen does it (restore, then the device opened again). */
  async restore(recoveryKey: string): Promise<{ restoreMs: number; reopenMs: number; entries: number; backupError: string | null; device: string }> {
    const me = this.me;
    const deviceId = await this.api.deviceId();
    if (!me || !deviceId) throw new Error('signed out');
    let t = performance.now();
    const r = await restoreWithRecoveryKey(this.api, this.e2e.keystore, me.id, deviceId, recoveryKey);
    const restoreMs = performance.now() - t;
    r.device.close();
    t = performance.now();
    await this.e2e.reopenDevice();
    return {
      restoreMs,
      reopenMs: performance.now() - t,
      entries: r.restored,
      backupError: r.backupError ? String((r.backupError as Error).message ?? r.backupError) : null,
      device: this.e2e.device,
    };
  }

  /** The chat store, started as the app starts it (channel lists, the WebSocket, subscriptions). */
  async startChat(): Promise<number> {
    const t = performance.now();
    const me = this.me;
    if (!me) throw new Error('signed out');
    const chat = new ChatStore({ api: this.api, e2e: this.e2e, me: () => me });
    chat.listen((f: ServerFrame) => {
      if (f.type === 'message_acked') this.acked++;
      if (f.type === 'error' && f.nonce) this.refused.push(`${f.code}: ${f.message}`);
    });
    this.chat = chat;
    await chat.start();
    await until(() => chat.status === 'ready' && chat.loaded, 'the chat store is ready');
    return performance.now() - t;
  }

  /**
   * Sends the texts through the chat store (encrypted by this device), in order, with at most
   * `window` unacknowledged; waits for every acknowledgement.
   */
  async send(sends: { channel: string; text: string }[], window = 64): Promise<{ ms: number; acked: number }> {
    const chat = this.chat;
    if (!chat) throw new Error('no chat store');
    const t = performance.now();
    const start = this.acked;
    const check = () => {
      if (this.refused.length) throw new Error(`refused: ${this.refused.join('; ')}`);
      if (chat.notice) throw new Error(chat.notice);
    };
    let n = 0;
    for (const s of sends) {
      await until(() => (check(), n - (this.acked - start) < window), 'acknowledgements');
      chat.sendText(s.channel, s.text);
      n++;
    }
    await until(() => (check(), this.acked - start >= n), 'the last acknowledgements');
    return { ms: performance.now() - t, acked: this.acked - start };
  }

  private async decryptAll(list: Message[], r: ReadResult): Promise<void> {
    const t = performance.now();
    // A message row decrypts when it is shown: a page's rows all at once.
    const out: Decrypted[] = await Promise.all(list.map((m) => this.e2e.decrypt(m)));
    r.decryptMs += performance.now() - t;
    for (const d of out) {
      if (d.ok) {
        r.ok++;
        r.texts.push(d.text);
      } else {
        r.failed++;
        r.reasons[d.reason] = (r.reasons[d.reason] ?? 0) + 1;
      }
    }
  }

  private async backUpIfDue(r: ReadResult, every: number, since: { n: number }): Promise<void> {
    if (!every || r.ok + r.failed - since.n < every) return;
    since.n = r.ok + r.failed;
    const b = await this.backUp();
    r.backupMs += b.ms;
    r.backupChunks += b.chunks;
  }

  /**
   * Reads a whole channel. `timeline`: as the channel pane does, the chat store's newest page,
   * then older pages as the list is scrolled back, each page's messages decrypted as their rows
   * appear. `forward`: pages of the same size from the first message on, through the API client.
   */
  async read(channelId: string, order: 'timeline' | 'forward', backUpEvery = 0): Promise<ReadResult> {
    const r: ReadResult = { ok: 0, failed: 0, reasons: {}, texts: [], pages: 0, fetchMs: 0, decryptMs: 0, backupMs: 0, backupChunks: 0, ms: 0 };
    const since = { n: 0 };
    const t0 = performance.now();
    if (order === 'timeline') {
      const chat = this.chat;
      if (!chat) throw new Error('no chat store');
      let t = performance.now();
      await chat.openChannel(channelId);
      r.fetchMs += performance.now() - t;
      const v = chat.view(channelId);
      if (v.loadError) throw v.loadError;
      let shown = v.timeline.messages.slice();
      r.pages++;
      await this.decryptAll(shown, r);
      for (;;) {
        const oldest = shown[0]?.seq ?? 0;
        t = performance.now();
        const more = await chat.loadOlder(channelId);
        r.fetchMs += performance.now() - t;
        if (v.loadError) throw v.loadError;
        if (!more) break;
        r.pages++;
        shown = v.timeline.messages.filter((m) => m.seq < oldest);
        await this.decryptAll(shown, r);
        shown = v.timeline.messages;
        await this.backUpIfDue(r, backUpEvery, since);
      }
      chat.closeChannel(channelId);
    } else {
      let after = 0;
      for (;;) {
        const t = performance.now();
        const page = await this.api.messages(channelId, { after_seq: after, limit: PAGE_SIZE });
        r.fetchMs += performance.now() - t;
        if (!page.messages.length) break;
        r.pages++;
        await this.decryptAll(page.messages, r);
        after = page.messages[page.messages.length - 1]!.seq;
        await this.backUpIfDue(r, backUpEvery, since);
        if (!page.has_more) break;
      }
    }
    r.ms = performance.now() - t0;
    return r;
  }

  /** Uploads what is waiting for the backup now. */
  async backUp(): Promise<{ ms: number; chunks: number; pending: number }> {
    const dev = this.e2e.activeDevice;
    if (!dev) throw new Error('no device');
    const t = performance.now();
    const chunks = await dev.backUp();
    return { ms: performance.now() - t, chunks, pending: dev.backupPending };
  }

  /**
   * Encrypts `mib` MiB of random bytes as an attachment (the composer's `encryptFile`) and
   * decrypts the result back through `decryptStream` (as a download is read); milliseconds of
   * each, and whether the bytes came back.
   */
  async files(mib: number): Promise<{ encryptMs: number; decryptMs: number; same: boolean; blobBytes: number }> {
    const size = mib * 1024 * 1024;
    const plain = new Uint8Array(size);
    for (let o = 0; o < size; o += 65_536) crypto.getRandomValues(plain.subarray(o, Math.min(size, o + 65_536)));
    const file = new Blob([plain]);
    let t = performance.now();
    const { blob, pointer } = await encryptFile(file);
    const encryptMs = performance.now() - t;
    t = performance.now();
    const back = await decryptStream(pointer, blob.stream(), 'application/octet-stream');
    const decryptMs = performance.now() - t;
    const got = new Uint8Array(await back.arrayBuffer());
    let same = got.length === plain.length;
    for (let i = 0; same && i < got.length; i += 4099) same = got[i] === plain[i];
    return { encryptMs, decryptMs, same, blobBytes: blob.size };
  }

  /** The device's account part: what waits for the backup, what was dropped, what was restored. */
  accountInfo(): unknown {
    return this.e2e.activeDevice?.accountInfo ?? null;
  }
}

declare global {
  interface Window {
    bench: Bench;
  }
}

window.bench = new Bench();
document.getElementById('status')!.textContent += ' Ready.';
