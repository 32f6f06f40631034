// The one place where end-to-end channels are handled: what may be sent in them, how bodies are
// encrypted before they leave and decrypted when they arrive. Bodies of E2E channels are never
// sent in plaintext: while this browser's keys are locked or not set up, sending is refused in
// plain words. Decrypted texts are kept in the keystore's message cache (sealed), so history
// reads again after a reload without the ratchets (which move only forwards).
//
// The tabs of a browser share one unlocked state (BroadcastChannel `chatalot-keys`): a tab
// unlocked with the password hands the data key to the others (wrapped under an in-memory key),
// and locking, "Lock on every reload" and erasing are followed everywhere. A page load opens
// the keys from the wrapped copy the keystore keeps (`resume`), unless that setting is on.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Channel, Message } from '../api/types';
import { fileBody, linkTextBody, textBody, type Body, type FileRef, type LinkCard } from './appcodec';
// The device module (and the curve arithmetic it brings) loads when the keys are first opened,
// not with the first page.
import type { E2eDevice, EnvelopeJson, KeyApi, Warning } from './device';
import type { E2eFailure } from './deviceCommon';
import { Keystore, KeystoreError, fromBase64, toBase64, type Handover } from './keystore';
import { UNREADABLE_TEXT, type UnreadableReason } from './reasons';
import { SvelteMap } from 'svelte/reactivity';

export type SendBlock = 'locked' | 'setting_up' | 'unavailable';

/** `no_key`: this browser has no device keys; the others say why a message cannot be read (docs/e2e.md 18.8). */
export type DecryptFailureReason = 'no_key' | 'malformed' | 'locked' | 'failed' | 'own_unkept' | UnreadableReason;

/**
 * A message read: its text (for a file, "📎 name", what quotes and previews show), for a file
 * the fields its body names (docs/e2e.md 19.2), for a text sent with a link preview that
 * preview (docs/e2e.md 19.5).
 */
export type Decrypted =
  | { ok: true; text: string; file?: FileRef; link?: LinkCard }
  | { ok: false; reason: DecryptFailureReason; detail?: string };

/** `opening`: from the wrapped copy of the data key, at a page load (no password). */
export type KeysStatus = 'locked' | 'opening' | 'unlocking' | 'unlocked' | 'wrong_password';

/** What the tabs of a browser tell each other about its keys. */
export type KeysMessage =
  | { t: 'unlocked'; handover: Handover }
  | { t: 'locked'; user: string }
  | { t: 'settings'; user: string }
  | { t: 'erased' };

/** The channel between the tabs (a BroadcastChannel in the browser). */
export interface KeysChannel {
  postMessage(m: KeysMessage): void;
  onmessage: ((e: MessageEvent) => void) | null;
}

export const KEYS_CHANNEL = 'chatalot-keys';

/** How far this browser's device keys are. */
export type DeviceStatus = 'none' | 'opening' | 'ready' | 'error';

export const SEND_BLOCK_TEXT: Record<SendBlock, string> = {
  locked:
    'This channel is end-to-end encrypted and your encryption keys are locked: enter your password above to unlock them. Nothing is sent unencrypted.',
  setting_up: 'Setting up your encryption keys… Nothing is sent unencrypted.',
  unavailable:
    'This channel is end-to-end encrypted and this browser has no usable encryption keys (see the notice above). Nothing is sent unencrypted.',
};

export const DECRYPT_FAILURE_TEXT: Record<DecryptFailureReason, string> = {
  ...UNREADABLE_TEXT,
  no_key: 'This message is end-to-end encrypted, and this browser has no encryption keys of your account yet: link it or use your recovery key to read it.',
  own_unkept: 'You sent this from this browser, and its text is no longer kept here.',
  malformed: 'This message could not be decrypted: its ciphertext is damaged.',
  locked: 'This message is end-to-end encrypted: unlock your encryption keys to read it.',
  failed: 'This message could not be decrypted: it was refused as not genuine or not meant for this channel.',
};

/** A short, stable name of a ciphertext, to key the decrypted-message cache. */
export function ciphertextDigest(ciphertext: Uint8Array): string {
  return bytesToHex(sha256(ciphertext)).slice(0, 32);
}

/** Where the engine finds the network and the current device. */
export interface E2eDeps {
  api: KeyApi;
  /** The device id of this browser's session for the signed-in user. */
  deviceId: () => Promise<string | null>;
  /** The signed-in user, whose keys another tab's handover may open. */
  userId?: () => string | null;
}

export interface E2eOptions {
  /** The channel to the other tabs of this browser; none in tests that do not ask for one. */
  channel?: KeysChannel | null;
  /** A lock across tabs (Web Locks by default), held while the keys are erased. */
  lock?: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
}

/**
 * The device's Web Lock for erasing, waited for at most 5 s (an operation of another tab may be
 * stuck on the network): the keys go then in any case.
 */
async function erasureLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? (navigator as Navigator & { locks?: LockManager }).locks : undefined;
  if (!locks || typeof AbortSignal?.timeout !== 'function') return fn();
  let ran = false;
  try {
    return (await locks.request(name, { signal: AbortSignal.timeout(5000) }, () => {
      ran = true;
      return fn();
    })) as T;
  } catch (e) {
    if (ran) throw e;
    return fn();
  }
}

/** Decryptions read together at most (a timeline page is 50). */
const READ_BATCH = 64;

/** A decryption asked for and not answered yet. */
interface PendingRead {
  message: Pick<Message, 'id' | 'channel_id' | 'sender_id'>;
  bytes: Uint8Array;
  digest: string;
  resolve: (d: Decrypted) => void;
}

/** The answer for a message the device could not read. */
function unreadable(e: E2eFailure): Decrypted {
  if (e.why) return { ok: false, reason: e.why, detail: e.message };
  if (e.reason === 'malformed') return { ok: false, reason: 'malformed', detail: e.message };
  if (e.reason === 'unknown_sender_key' || e.reason === 'not_for_this_device' || e.reason === 'no_session') {
    return { ok: false, reason: 'no_key', detail: e.message };
  }
  return { ok: false, reason: 'failed', detail: e.message };
}

/**
 * Starts a cached text that holds a file body's fields (JSON), not text a person wrote; a text
 * that itself starts with U+0000 is kept behind `TEXT_MARK`, so no text reads back as a file.
 */
const FILE_MARK = '\u0000f';
/** Starts a cached text that holds a link body (its text and preview, JSON), likewise. */
const LINK_MARK = '\u0000l';
const TEXT_MARK = '\u0000t';

interface CachedLink {
  /** The message's text. */
  x: string;
  u: string;
  f: string;
  t: string;
  d: string;
  s: string;
}

interface CachedFile {
  id: string;
  p: string;
  n: string;
  m: string;
  w?: number;
  h?: number;
  d?: number;
  t?: { id: string; p: string };
}

/** What the message cache keeps of a body (sealed, as every cached text). */
export function bodyText(b: Body): string {
  if (b.kind === 'text') return b.text.startsWith('\u0000') ? TEXT_MARK + b.text : b.text;
  if (b.kind === 'file') {
    const c: CachedFile = { id: b.fileId, p: toBase64(b.pointer), n: b.name, m: b.mime };
    if (b.width !== undefined) {
      c.w = b.width;
      c.h = b.height;
    }
    if (b.durationMs !== undefined) c.d = b.durationMs;
    if (b.thumb) c.t = { id: b.thumb.fileId, p: toBase64(b.thumb.pointer) };
    return FILE_MARK + JSON.stringify(c);
  }
  if (b.kind === 'linkText') {
    const l = b.link;
    const c: CachedLink = { x: b.text, u: l.url, f: l.finalUrl, t: l.title, d: l.description, s: l.siteName };
    return LINK_MARK + JSON.stringify(c);
  }
  return `📎 ${b.name} (${b.mime || 'file'}): an attachment of an earlier version of the app, which this one does not open.`;
}

function cachedFile(text: string): FileRef | null {
  if (!text.startsWith(FILE_MARK)) return null;
  try {
    const c = JSON.parse(text.slice(FILE_MARK.length)) as CachedFile;
    const f: FileRef = { fileId: c.id, pointer: fromBase64(c.p), name: c.n, mime: c.m };
    if (c.w !== undefined && c.h !== undefined) {
      f.width = c.w;
      f.height = c.h;
    }
    if (c.d !== undefined) f.durationMs = c.d;
    if (c.t) f.thumb = { fileId: c.t.id, pointer: fromBase64(c.t.p) };
    return f;
  } catch {
    return null;
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';

function cachedLink(text: string): { text: string; link: LinkCard } | null {
  if (!text.startsWith(LINK_MARK)) return null;
  try {
    const c = JSON.parse(text.slice(LINK_MARK.length)) as Partial<CachedLink>;
    if (![c.x, c.u, c.f, c.t, c.d, c.s].every(isString)) return null;
    return { text: c.x!, link: { url: c.u!, finalUrl: c.f!, title: c.t!, description: c.d!, siteName: c.s! } };
  } catch {
    return null;
  }
}

/** The text a person wrote, of a cached text that is not a file's or a link body's. */
function cachedText(text: string): string {
  return text.startsWith(TEXT_MARK) ? text.slice(TEXT_MARK.length) : text;
}

/** The answer for a cached (or just decrypted) text. */
export function shown(text: string): Decrypted {
  const file = cachedFile(text);
  if (file) return { ok: true, text: `📎 ${file.name}`, file };
  const linked = cachedLink(text);
  if (linked) return { ok: true, text: linked.text, link: linked.link };
  return { ok: true, text: cachedText(text) };
}

/** The body a cached text was made from (what the key backup archives). */
export function cachedBody(text: string): Uint8Array {
  const file = cachedFile(text);
  if (file) return fileBody(file);
  const linked = cachedLink(text);
  return linked ? linkTextBody(linked.text, linked.link) : textBody(cachedText(text));
}

export class E2e {
  status = $state<KeysStatus>('locked');
  device = $state<DeviceStatus>('none');
  deviceError = $state<string | null>(null);
  /** The setup refusal's code (`other_browser`: link this browser or use the recovery key). */
  deviceErrorCode = $state<string | null>(null);
  /** When the caller joined a channel's community (`Channel.joined_at`), for why a message cannot be read. */
  joinedAtOf: ((channelId: string) => string | null | undefined) | null = null;
  /** Whether a channel lets new members read its history (`Channel.history_for_new_members`). */
  historyOf: ((channelId: string) => boolean | undefined) | null = null;
  /** Bumped when something that was unreadable may now be readable (keys, envelopes). */
  generation = $state(0);
  /** Bumped when pinned keys, key changes or verifications change. */
  trustVersion = $state(0);
  keyChanges = $state<string[]>([]);
  warnings = $state<Warning[]>([]);
  /** "Lock on every reload" for the open (or last opened) keystore; null before it is known. */
  lockOnReload = $state<boolean | null>(null);
  readonly keystore: Keystore;
  private readonly deps: E2eDeps | null;
  private readonly channel: KeysChannel | null;
  private readonly lockFn: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  private dev: E2eDevice | null = null;
  /** Bumped by every unlock, lock and handover: an opening that was overtaken gives way. */
  private epoch = 0;
  /** The opening from the wrapped copy under way, which decryptions wait for. */
  private opening: Promise<boolean> | null = null;
  private deviceOpening: Promise<void> | null = null;
  /**
   * Plaintexts this tab read (or sent), by message id with the ciphertext they belong to: what
   * reply quotes and the edit of the last message start from (cleared when the keys lock).
   */
  private readonly texts = new SvelteMap<string, { ciphertext: string; text: string }>();
  /** Plaintexts of this device's own sends, by ciphertext digest, until they are cached by id. */
  private own = new Map<string, string>();
  private envelopeTimer: ReturnType<typeof setTimeout> | null = null;
  private liveEnvelopes: EnvelopeJson[] = [];
  /** Decryptions under way, by message id and ciphertext digest: asked twice, done once. */
  private inflight = new Map<string, Promise<Decrypted>>();
  /** Decryptions asked for in this turn, read together (at most `READ_BATCH` at once). */
  private reads: PendingRead[] = [];
  private readsTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(keystore: Keystore, deps?: E2eDeps, opts: E2eOptions = {}) {
    this.keystore = keystore;
    this.deps = deps ?? null;
    this.channel = opts.channel ?? null;
    this.lockFn = opts.lock ?? erasureLock;
    if (this.channel) this.channel.onmessage = (e: MessageEvent) => void this.onMessage(e.data as KeysMessage);
  }

  private post(m: KeysMessage): void {
    try {
      this.channel?.postMessage(m);
    } catch {
      // A closed channel: the other tabs follow at their next page load.
    }
  }

  private async loadSettings(userId: string): Promise<void> {
    this.lockOnReload = await this.keystore.lockOnReload(userId).catch(() => null);
  }

  /** Tells the other tabs the data key, so that they open too (or switch to new keys). */
  private async handOver(): Promise<void> {
    if (!this.channel) return;
    const h = await this.keystore.handover().catch(() => null);
    if (h) this.post({ t: 'unlocked', handover: h });
  }

  /** Opens this user's keystore with the password (created on first use), then the device. */
  async unlock(userId: string, password: string): Promise<void> {
    const epoch = ++this.epoch;
    this.status = 'unlocking';
    try {
      await this.keystore.unlock(userId, password);
    } catch (e) {
      if (epoch === this.epoch) {
        this.status = e instanceof KeystoreError && e.code === 'wrong_password' ? 'wrong_password' : 'locked';
      }
      throw e;
    }
    if (epoch !== this.epoch) return;
    this.status = 'unlocked';
    await this.loadSettings(userId);
    // The other tabs open once the device record is stored (a first opening creates it, and
    // two tabs must not both create one).
    await this.openDevice();
    await this.handOver();
  }

  /**
   * At a page load (or when a new tab signs in): opens the keystore from the wrapped copy of
   * its data key, without the password. False when there is none or another unlock came first.
   */
  async resume(userId: string): Promise<boolean> {
    if (this.status !== 'locked') return false;
    const epoch = ++this.epoch;
    this.status = 'opening';
    // Messages asked for meanwhile wait for the keys and the device both (rather than flash
    // "locked" or "no keys" for a moment).
    const run = (async () => {
      const ok = await this.keystore.resume(userId).catch(() => false);
      if (epoch !== this.epoch) {
        // Locked meanwhile: the keystore opened here must not stay open.
        const now = this.status as KeysStatus;
        if (ok && now !== 'unlocked' && now !== 'unlocking') this.keystore.lock();
        return false;
      }
      await this.loadSettings(userId);
      if (epoch !== this.epoch) return false;
      if (!ok) {
        this.status = 'locked';
        return false;
      }
      this.status = 'unlocked';
      await this.openDevice();
      return true;
    })();
    this.opening = run;
    try {
      return await run;
    } finally {
      if (this.opening === run) this.opening = null;
    }
  }

  /** Starts a new keystore under `password` (the old one's contents are lost). */
  async reset(userId: string, password: string): Promise<void> {
    ++this.epoch;
    this.dropDevice();
    await this.keystore.reset(userId, password);
    this.status = 'unlocked';
    await this.loadSettings(userId);
    // The other tabs open once the device record is stored (a first opening creates it, and
    // two tabs must not both create one).
    await this.openDevice();
    await this.handOver();
  }

  async changePassword(oldPassword: string, newPassword: string): Promise<void> {
    if (this.status !== 'unlocked') return;
    await this.keystore.changePassword(oldPassword, newPassword);
  }

  private dropDevice(): void {
    this.dev?.close();
    this.dev = null;
    this.deviceErrorCode = null;
    this.device = 'none';
    this.deviceError = null;
    this.own.clear();
    this.texts.clear();
    this.keyChanges = [];
  }

  /** Locks the keys in this tab (sign-out; another tab locked or erased them). */
  lock(): void {
    ++this.epoch;
    this.opening = null;
    this.keystore.lock();
    this.status = 'locked';
    this.dropDevice();
  }

  /**
   * "Lock now": locks the keys in every tab and drops the wrapped copy, so the password is
   * needed again (which keeps a new copy, unless "Lock on every reload" is set).
   */
  async lockEverywhere(): Promise<void> {
    const user = this.keystore.unlockedFor;
    this.lock();
    if (!user) return;
    await this.keystore.dropWrap(user).catch(() => {});
    this.post({ t: 'locked', user });
  }

  /** Sets "Lock on every reload" for the open keystore, in every tab. */
  async setLockOnReload(on: boolean): Promise<void> {
    const user = this.keystore.unlockedFor ?? this.deps?.userId?.() ?? null;
    if (!user) return;
    await this.keystore.setLockOnReload(user, on);
    await this.loadSettings(user);
    this.post({ t: 'settings', user });
  }

  /**
   * Deletes every key of this browser (sign-out, a revoked session, "remove this device"): the
   * other tabs lock first, then, holding the device's lock (so no operation of another tab is
   * half way), the keystore, the message cache and the wrapped key go.
   */
  async erase(): Promise<void> {
    const deviceId = this.dev?.deviceId ?? (await this.deps?.deviceId().catch(() => null)) ?? null;
    this.lock();
    this.lockOnReload = null;
    this.post({ t: 'erased' });
    const run = () => this.keystore.erase();
    if (deviceId) await this.lockFn(`chatalot-e2e/${deviceId}`, run);
    else await run();
  }

  private async onMessage(m: KeysMessage): Promise<void> {
    if (!m || typeof m !== 'object') return;
    if (m.t === 'erased') {
      this.lock();
      this.lockOnReload = null;
    } else if (m.t === 'locked') {
      if (this.keystore.unlockedFor === m.user || this.status === 'opening') this.lock();
    } else if (m.t === 'settings') {
      if (this.deps?.userId?.() === m.user || this.keystore.unlockedFor === m.user) await this.loadSettings(m.user);
    } else if (m.t === 'unlocked') {
      const h = m.handover;
      const me = this.deps?.userId?.() ?? this.keystore.unlockedFor;
      if (!h || h.user !== me) return;
      if (this.status === 'unlocking') return;
      const epoch = ++this.epoch;
      const r = await this.keystore.openHandover(h).catch(() => 'refused' as const);
      if (r !== 'opened' || epoch !== this.epoch) return;
      this.opening = null;
      this.dropDevice();
      this.status = 'unlocked';
      await this.loadSettings(h.user);
      await this.openDevice();
    }
  }

  /** Opens (or creates and publishes) this browser's device keys; messages asked for meanwhile wait. */
  private openDevice(): Promise<void> {
    const p = this.openDeviceNow();
    this.deviceOpening = p;
    void p.finally(() => {
      if (this.deviceOpening === p) this.deviceOpening = null;
    });
    return p;
  }

  private async openDeviceNow(): Promise<void> {
    const user = this.keystore.unlockedFor;
    if (!this.deps || !user) return;
    this.device = 'opening';
    this.deviceError = null;
    this.deviceErrorCode = null;
    try {
      const deviceId = await this.deps.deviceId();
      if (!deviceId) throw new Error('This browser has no device of this account.');
      const { E2eDevice } = await import('./device');
      const d = await E2eDevice.openOrCreate(this.deps.api, this.keystore, user, deviceId);
      d.onTrustChange = () => this.syncTrust();
      if (this.dev && this.dev !== d) this.dev.close();
      this.dev = d;
      this.device = 'ready';
      this.syncTrust();
      this.generation++;
      await this.processEnvelopes([]);
    } catch (e) {
      this.dev?.close();
      this.dev = null;
      this.device = 'error';
      this.deviceErrorCode = e instanceof Error && e.name === 'E2eSetupError' ? (e as Error & { code: string }).code : null;
      this.deviceError =
        e instanceof Error && e.name === 'E2eSetupError'
          ? e.message
          : `Your encryption keys could not be set up: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  /** This browser's device, when its keys are open (linking, backups, recovery keys). */
  get activeDevice(): E2eDevice | null {
    return this.dev;
  }

  /** Opens the device again: after this browser was linked, restored or started over. */
  async reopenDevice(): Promise<void> {
    await this.openDevice();
  }

  private syncTrust(): void {
    if (!this.dev) return;
    this.keyChanges = this.dev.keyChanges;
    this.warnings = this.dev.warnings;
    this.trustVersion++;
  }

  /** Why a message cannot be sent to this channel now, or null when it can. */
  sendBlock(channel: Pick<Channel, 'e2e'>): SendBlock | null {
    if (!channel.e2e) return null;
    if (this.status === 'opening') return 'setting_up';
    if (this.status !== 'unlocked') return 'locked';
    if (this.device === 'opening' || (this.device === 'none' && this.deps)) return 'setting_up';
    if (!this.dev) return 'unavailable';
    return null;
  }

  /**
   * Encrypts a text for an E2E channel: base64 ciphertext for `Content::Encrypted`. With `link`,
   * the preview its sender's browser made goes inside the body (docs/e2e.md 19.5).
   */
  encrypt(channel: Pick<Channel, 'id' | 'e2e' | 'kind'>, text: string, link?: LinkCard | null): Promise<string> {
    if (link) return this.encryptBody(channel, linkTextBody(text, link), bodyText({ kind: 'linkText', text, link }));
    return this.encryptBody(channel, textBody(text), bodyText({ kind: 'text', text }));
  }

  /** Encrypts a file's message body (docs/e2e.md 19.2): base64 ciphertext. */
  encryptFile(channel: Pick<Channel, 'id' | 'e2e' | 'kind'>, file: FileRef): Promise<string> {
    return this.encryptBody(channel, fileBody(file), bodyText({ kind: 'file', ...file }));
  }

  private async encryptBody(channel: Pick<Channel, 'id' | 'e2e' | 'kind'>, body: Uint8Array, cached: string): Promise<string> {
    const block = this.sendBlock(channel);
    if (block) throw new Error(SEND_BLOCK_TEXT[block]);
    const dev = this.dev;
    if (!dev) throw new Error(SEND_BLOCK_TEXT.unavailable);
    const direct = channel.kind === 'dm' || channel.kind === 'group_dm';
    const payload = direct
      ? await dev.encryptDirect(channel.id, body)
      : await dev.encryptChannel(channel.id, body, this.historyOf?.(channel.id) === true);
    const digest = ciphertextDigest(payload);
    this.own.set(digest, cached);
    // Before it is sent: the other tabs of this browser read their device's message from here.
    await this.keystore.cacheOwn(digest, cached).catch(() => {});
    this.syncTrust();
    return toBase64(payload);
  }

  /** Reads an encrypted message body (from the cache, or by decrypting it once). */
  async decrypt(message: Pick<Message, 'id' | 'content' | 'channel_id' | 'sender_id'>): Promise<Decrypted> {
    const c = message.content;
    if (!c || c.kind !== 'encrypted') return { ok: false, reason: 'malformed' };
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(c.ciphertext);
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (bytes.length === 0) return { ok: false, reason: 'malformed' };
    // At a page load the keys open from their wrapped copy: wait for that rather than say locked.
    if (this.opening) await this.opening;
    if (this.deviceOpening) await this.deviceOpening;
    if (!this.keystore.unlockedFor) return { ok: false, reason: 'locked' };
    const digest = ciphertextDigest(bytes);
    // A message is asked for again when new keys may have arrived (an envelope), possibly while
    // its first decryption is still running. Running both at once would have the second refused
    // as a replay once the first moved the ratchet, so the second waits for the first: its
    // success answers both, and only after a failure is the message tried again.
    const key = `${message.id}/${digest}`;
    const before = this.inflight.get(key);
    const p: Promise<Decrypted> = before
      ? before.then((r) => (r.ok ? r : this.decryptOnce(message, bytes, digest)))
      : this.decryptOnce(message, bytes, digest);
    this.inflight.set(key, p);
    p.finally(() => {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    }).catch(() => {});
    const ciphertext = c.ciphertext;
    void p.then((r) => {
      if (r.ok && this.keystore.unlockedFor) this.texts.set(message.id, { ciphertext, text: r.text });
    });
    return p;
  }

  /**
   * The text of a message as this tab knows it: a plaintext body, or an encrypted one this tab
   * has decrypted (for this very ciphertext, so an edit is not answered with the old text).
   * Null for what it has not read. Reactive: a reply quote or the composer follows it.
   */
  textOf(message: Pick<Message, 'id' | 'content' | 'deleted'>): string | null {
    if (message.deleted) return null;
    const c = message.content;
    if (c?.kind === 'text') return c.text;
    if (c?.kind !== 'encrypted') return null;
    const known = this.texts.get(message.id);
    return known && known.ciphertext === c.ciphertext ? known.text : null;
  }

  private decryptOnce(message: Pick<Message, 'id' | 'channel_id' | 'sender_id'>, bytes: Uint8Array, digest: string): Promise<Decrypted> {
    return new Promise((resolve) => {
      this.reads.push({ message, bytes, digest, resolve });
      this.readsTimer ??= setTimeout(() => {
        this.readsTimer = null;
        void this.flushReads();
      }, 0);
    });
  }

  /**
   * The decryptions asked for in one turn (a page's rows), read together: one cache read, and
   * what is not cached in one device operation, stored in one transaction (`decryptMany`).
   */
  private async flushReads(): Promise<void> {
    while (this.reads.length) {
      const batch = this.reads.splice(0, READ_BATCH);
      try {
        await this.readBatch(batch);
      } catch (e) {
        // Each is answered once: those already answered keep their answer.
        for (const r of batch) r.resolve({ ok: false, reason: 'failed', detail: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  private async readBatch(batch: PendingRead[]): Promise<void> {
    const cached = await this.keystore
      .cachedMessages(batch.map((r) => ({ id: r.message.id, digest: r.digest })))
      .catch(() => batch.map(() => null));
    const dev = this.dev;
    const todo: PendingRead[] = [];
    for (const [i, r] of batch.entries()) {
      const text = cached[i];
      if (text !== null && text !== undefined) {
        r.resolve(shown(text));
        continue;
      }
      // A text this browser sent (another tab's) is kept by digest: only this device's own
      // messages are looked for there.
      const maybeOwn = !dev || dev.isOwn(r.bytes);
      const mine =
        this.own.get(r.digest) ?? (maybeOwn ? await this.keystore.cachedOwn(r.digest).catch(() => null) : null) ?? undefined;
      if (mine !== undefined) {
        r.resolve(shown(mine));
        // Cached by id; a direct message this device sent goes to the key backup with it, for
        // the account's other devices (until both are stored, the next read finds it as here).
        const entry = { id: r.message.id, digest: r.digest, text: mine };
        const m = r.message as Partial<Message>;
        const stored = dev
          ? dev.keepSent(
              { id: r.message.id, channel_id: r.message.channel_id, sender_id: r.message.sender_id ?? null, ciphertext: r.bytes, seq: m.seq, cacheAs: () => entry },
              cachedBody(mine),
            )
          : this.keystore.commit([entry]);
        void stored.catch(() => {});
        continue;
      }
      if (!dev) r.resolve({ ok: false, reason: this.device === 'opening' ? 'locked' : 'no_key' });
      else if (dev.isOwn(r.bytes)) r.resolve({ ok: false, reason: 'own_unkept' });
      else todo.push(r);
    }
    if (!dev || !todo.length) return;
    const results = await dev.decryptMany(
      todo.map((r) => {
        const m = r.message as Partial<Message>;
        return {
          id: r.message.id,
          channel_id: r.message.channel_id,
          sender_id: r.message.sender_id ?? null,
          ciphertext: r.bytes,
          seq: m.seq,
          created_at: m.created_at,
          joined_at: this.joinedAtOf?.(r.message.channel_id) ?? null,
          // Stored with the ratchet state that used up its key (a page closed meanwhile reads it there).
          cacheAs: (b: Body) => ({ id: r.message.id, digest: r.digest, text: bodyText(b) }),
        };
      }),
    );
    this.syncTrust();
    const failed: Array<{ r: PendingRead; error: E2eFailure }> = [];
    for (const [i, r] of todo.entries()) {
      const res = results[i]!;
      if (res.ok) r.resolve(shown(bodyText(res.body)));
      else failed.push({ r, error: res.error });
    }
    if (!failed.length) return;
    // Read meanwhile elsewhere (another tab of this browser), and cached there.
    const late = await this.keystore
      .cachedMessages(failed.map(({ r }) => ({ id: r.message.id, digest: r.digest })))
      .catch(() => failed.map(() => null));
    for (const [i, { r, error }] of failed.entries()) {
      const text = late[i];
      r.resolve(text !== null && text !== undefined ? shown(text) : unreadable(error));
    }
  }

  /** An envelope pushed over the WebSocket: applied soon, with the queue drained after it. */
  envelopeReceived(e: EnvelopeJson): void {
    this.liveEnvelopes.push(e);
    if (this.envelopeTimer) return;
    this.envelopeTimer = setTimeout(() => {
      this.envelopeTimer = null;
      const batch = this.liveEnvelopes.splice(0);
      void this.processEnvelopes(batch);
    }, 50);
  }

  /**
   * `userId` joined the community of these encrypted channels, whose setting lets new members
   * read their history: this device hands them the history keys it holds (docs/e2e.md 18.5).
   * After a short random wait, so that the online members' devices do not all send at once.
   */
  memberJoined(channelIds: string[], userId: string): void {
    const dev = this.dev;
    if (!dev || !channelIds.length) return;
    setTimeout(
      () => {
        void (async () => {
          for (const id of channelIds) {
            if (this.dev !== dev) return;
            await dev.shareHistory(id, [userId]).catch(() => 0);
          }
        })();
      },
      250 + Math.floor(Math.random() * 1500),
    );
  }

  /** Drains the envelope queue (after a reconnect, or when envelopes were pushed). */
  async processEnvelopes(live: EnvelopeJson[] = []): Promise<void> {
    const dev = this.dev;
    if (!dev) return;
    try {
      const n = await dev.processEnvelopes(live);
      if (n > 0) this.generation++;
    } catch {
      // The queue stays on the server until it is acknowledged: drained again next time.
    }
    this.syncTrust();
  }

  // ---- trust

  /** The safety number with `userId`, or null while the keys are not open. */
  async safetyNumber(userId: string): Promise<string | null> {
    return this.dev ? this.dev.safetyNumber(userId) : null;
  }

  isVerified(userId: string): boolean {
    void this.trustVersion;
    return this.dev?.isVerified(userId) ?? false;
  }

  async markVerified(userId: string): Promise<void> {
    await this.dev?.markVerified(userId);
  }

  async acceptKeyChange(userId: string): Promise<void> {
    await this.dev?.acceptKeyChange(userId);
    this.generation++;
  }

  /** Compares the directory's keys of these users with the pinned ones (key-change warnings). */
  async checkUsers(userIds: string[]): Promise<void> {
    const dev = this.dev;
    if (!dev) return;
    for (const u of userIds) await dev.checkUser(u).catch(() => {});
  }
}
