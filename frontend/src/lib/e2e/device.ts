// One browser's end-to-end device: its identity and prekeys, the pairwise Double Ratchet
// sessions with other devices, the sender keys of channels, and the user keys it trusts. It
// follows docs/e2e.md sections 15 to 17 and produces the same bytes as the Rust client
// (tests/src/e2e_client.rs).
//
// The whole state is one record sealed in the keystore and written back after every change,
// before anything that depends on it is acknowledged (an envelope is acknowledged to the server
// only once the state that holds its sender key is stored). Operations run one at a time (a
// queue), as the ratchets need. Decryption works on a copy of the state and commits only on
// success, so a refused message changes nothing.

import {
  CryptoError,
  DeviceCertificate,
  DeviceIdentity,
  OneTimePreKeySecret,
  PreKeyBundle,
  SafetyNumber,
  SenderKeyDistribution,
  SenderKeyMessage,
  SenderKeyReceiver,
  SenderKeySender,
  Session,
  SignedPreKeySecret,
  UserKeyPair,
  decodeIncoming,
} from '../crypto/index';
import {
  AppTag,
  MalformedError,
  type Body,
  channelPayload,
  decodeBody,
  decodeDirectPlaintext,
  decodeEnvelopePlaintext,
  decodePayload,
  directPayload,
  directPlaintext,
  envelopePlaintext,
  uuidBytes,
  uuidString,
} from './appcodec';
import type { DeviceKeysJson, EnvelopeJson, NewEnvelopeJson } from '../api/types';
import type { Keystore } from './keystore';
import { fromBase64, toBase64 } from './keystore';

// ---- the server's key directory, as the device needs it

export type { DeviceKeysJson, EnvelopeJson, NewEnvelopeJson };

export interface KeyApi {
  publishKeys(deviceId: string, body: { certificate: string; signed_prekey: string; one_time_prekeys: string[] }): Promise<unknown>;
  uploadPrekeys(deviceId: string, keys: string[]): Promise<unknown>;
  rotateSignedPreKey(deviceId: string, signedPreKey: string): Promise<unknown>;
  keyStatus(deviceId: string): Promise<{ one_time_prekeys: number }>;
  userDevices(userId: string): Promise<{ user_key: string | null; devices: DeviceKeysJson[] }>;
  channelDevices(channelId: string): Promise<{ devices: DeviceKeysJson[] }>;
  claimBundles(userId: string, deviceIds: string[]): Promise<{ bundles: { user_id: string; device_id: string; bundle: string }[] }>;
  sendEnvelopes(envelopes: NewEnvelopeJson[]): Promise<{ ids: string[] }>;
  envelopes(deviceId: string): Promise<{ envelopes: EnvelopeJson[]; has_more: boolean }>;
  ackEnvelopes(deviceId: string, ids: string[]): Promise<unknown>;
}

// ---- what the device reports

export type Warning =
  | { kind: 'untrusted_device'; user: string; device: string; reason: string }
  | { kind: 'bad_bundle'; user: string; device: string; reason: string }
  | { kind: 'rejected'; what: string; reason: string }
  | { kind: 'member_added'; channel: string; user: string };

/** Why a message could not be read (shown in plain words by the app). */
export type DecryptFailure =
  | 'not_for_this_device'
  | 'unknown_sender_key'
  | 'no_session'
  | 'wrong_sender'
  | 'channel_mismatch'
  | 'untrusted'
  | 'malformed'
  | 'refused'
  | 'failed';

export class E2eFailure extends Error {
  constructor(
    readonly reason: DecryptFailure,
    detail: string,
  ) {
    super(detail);
    this.name = 'E2eFailure';
  }
}

/** A message the device can decrypt: the fields of a stored message it needs. */
export interface CipherMessage {
  id: string;
  channel_id: string;
  sender_id: string | null;
  ciphertext: Uint8Array;
}

export const SENDER_KEY_ROTATE_AFTER = 10_000;
const OLD_SIGNED_PREKEYS_KEPT = 2;
const PREKEYS_FIRST_UPLOAD = 50;
const PREKEYS_LOW_WATER = 20;
const PREKEYS_BATCH = 50;
const SEEN_ENVELOPES_KEPT = 2000;
const WARNINGS_KEPT = 100;
const MAX_DEVICES_PER_CLAIM = 16;
/** A refused envelope batch is sent again without the refusing recipients at most this often. */
export const ENVELOPE_RETRIES = 8;
/** How long a user who refused this device (a claim or envelopes) is not asked again (ms). */
const REFUSED_FOR_MS = 5 * 60 * 1000;
const ENVELOPE_BATCH = 50;

/**
 * The server's refusal to let this user reach another one (403 `forbidden`): the other user
 * blocked this one, or (outside a channel) they are not related.
 */
export function isRefusal(e: unknown): boolean {
  return !!e && typeof e === 'object' && (e as { code?: unknown }).code === 'forbidden';
}

/**
 * The recipient device a refused `POST /envelopes` names ("recipient_device_id <uuid>: its user
 * does not accept messages from you"), or null when the error is something else.
 */
export function refusedRecipient(e: unknown): string | null {
  if (!isRefusal(e)) return null;
  const m = /recipient_device_id ([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/.exec(
    (e as { message?: unknown }).message as string,
  );
  return m ? m[1]!.toLowerCase() : null;
}
/** The signed prekey is replaced after a week; the two before it still answer first messages. */
export const SIGNED_PREKEY_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
const STATE_SLOT = 'device';
const USER_KEY_SLOT = 'user_key';

interface State {
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
  /** `channel/device/key id` → a received sender key and the user it came from. */
  incoming: Record<string, { user: string; receiver: string }>;
  seenEnvelopes: string[];
  /** channel → the users seen reading it (from this device's first send on). */
  rosters: Record<string, string[]>;
}

export type SetupError = 'other_browser' | 'device_conflict';

export class E2eSetupError extends Error {
  constructor(
    readonly code: SetupError,
    message: string,
  ) {
    super(message);
    this.name = 'E2eSetupError';
  }
}

function incomingKey(channel: string, device: string, keyId: number): string {
  return `${channel}/${device}/${keyId}`;
}

function describe(e: unknown): string {
  if (e instanceof CryptoError) return `${e.code}${e.detail ? `: ${e.detail}` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

function failureOf(e: unknown): E2eFailure {
  if (e instanceof E2eFailure) return e;
  if (e instanceof MalformedError) return new E2eFailure('malformed', e.message);
  if (e instanceof CryptoError) return new E2eFailure('failed', describe(e));
  return new E2eFailure('failed', describe(e));
}

export class E2eDevice {
  private st: State;
  /** The state as last stored: what a failed operation returns to. */
  private saved: string;
  private queue: Promise<unknown> = Promise.resolve();
  /** What this device refused or flagged (newest last). */
  warnings: Warning[] = [];
  /** Called after every change of pinned keys, key changes or verifications. */
  onTrustChange: () => void = () => {};
  /** `channel/device` → until when (ms) that device is left out of sender-key distributions. */
  private refusedUntil = new Map<string, number>();
  /** user → until when (ms) their bundles are not asked for again after a refused claim. */
  private claimRefusedUntil = new Map<string, number>();
  now: () => number = () => Date.now();

  private constructor(
    private readonly api: KeyApi,
    private readonly keystore: Keystore,
    state: State,
  ) {
    this.st = state;
    this.saved = JSON.stringify(state);
  }

  get deviceId(): string {
    return this.st.deviceId;
  }

  /**
   * Opens this browser's device for `userId`/`deviceId` from the (unlocked) keystore, or
   * creates and publishes it. The first device of an account creates the user key; a later
   * browser of the same account cannot certify itself (the user key stays where it was made):
   * `other_browser`.
   */
  static async open(api: KeyApi, keystore: Keystore, userId: string, deviceId: string): Promise<E2eDevice> {
    const raw = await keystore.getSecret(STATE_SLOT);
    if (raw) {
      const st = JSON.parse(new TextDecoder().decode(raw)) as State;
      if (st.v === 1 && st.userId === userId && st.deviceId === deviceId) {
        const d = new E2eDevice(api, keystore, st);
        await d.finishSetup();
        return d;
      }
    }
    const dir = await api.userDevices(userId);
    let userKey: UserKeyPair | null = null;
    const stored = await keystore.getSecret(USER_KEY_SLOT);
    if (stored) {
      try {
        userKey = UserKeyPair.fromBytes(stored);
      } catch {
        userKey = null;
      }
    }
    if (dir.user_key) {
      if (!userKey || toBase64(userKey.publicKey) !== dir.user_key) {
        throw new E2eSetupError(
          'other_browser',
          'This account’s encryption key was created in another browser, so this browser cannot read or send end-to-end encrypted messages. Use the browser where you created the account.',
        );
      }
    } else if (!userKey || !stored) {
      userKey = UserKeyPair.generate(uuidBytes(userId));
      await keystore.putSecret(USER_KEY_SLOT, userKey.toBytes());
    }
    if (dir.devices.some((d) => d.device_id === deviceId)) {
      throw new E2eSetupError(
        'device_conflict',
        'The keys of this browser were published before and are no longer held here, so encrypted messages cannot be read here.',
      );
    }
    const identity = DeviceIdentity.generate(uuidBytes(userId), uuidBytes(deviceId));
    const certificate = userKey.certifyDevice(identity.publicKeys());
    const spk = SignedPreKeySecret.generate(identity, 1);
    const st: State = {
      v: 1,
      userId,
      deviceId,
      identity: toBase64(identity.toBytes()),
      certificate: toBase64(certificate.toBytes()),
      spk: toBase64(spk.toBytes()),
      spkAt: Date.now(),
      oldSpks: [],
      opks: {},
      nextPrekeyId: 1,
      published: false,
      pinned: { [userId]: toBase64(userKey.publicKey) },
      changed: {},
      verified: {},
      sessions: {},
      outgoing: {},
      incoming: {},
      seenEnvelopes: [],
      rosters: {},
    };
    userKey.wipe();
    const d = new E2eDevice(api, keystore, st);
    await d.save();
    await d.finishSetup();
    return d;
  }

  /** Publishes the keys when they are not yet, and tops up one-time prekeys. */
  private async finishSetup(): Promise<void> {
    if (!this.st.published) {
      const keys = this.newPrekeys(PREKEYS_FIRST_UPLOAD);
      await this.save();
      const spk = SignedPreKeySecret.fromBytes(fromBase64(this.st.spk));
      await this.api.publishKeys(this.st.deviceId, {
        certificate: this.st.certificate,
        signed_prekey: toBase64(spk.public().toBytes()),
        one_time_prekeys: keys,
      });
      spk.wipe();
      this.st.published = true;
      await this.save();
      return;
    }
    try {
      await this.rotateSignedPreKeyIfOld();
    } catch {
      // Rotated at the next start.
    }
    try {
      const status = await this.api.keyStatus(this.st.deviceId);
      if (status.one_time_prekeys < PREKEYS_LOW_WATER) {
        const keys = this.newPrekeys(PREKEYS_BATCH);
        await this.save();
        await this.api.uploadPrekeys(this.st.deviceId, keys);
      }
    } catch {
      // Replenished at the next start.
    }
  }

  /**
   * Replaces a signed prekey older than a week (a new key id), keeping the previous secrets for
   * first messages still in flight. The new secret is stored before it is published.
   */
  private async rotateSignedPreKeyIfOld(now = Date.now()): Promise<void> {
    if (this.st.spkAt === undefined) {
      this.st.spkAt = now;
      await this.save();
    }
    if (now - this.st.spkAt < SIGNED_PREKEY_MAX_AGE_MS) return;
    const held = [this.st.spk, ...this.st.oldSpks].map((x) => SignedPreKeySecret.fromBytes(fromBase64(x)));
    const keyId = Math.max(...held.map((k) => k.keyId)) + 1;
    for (const k of held) k.wipe();
    const identity = this.identity;
    const next = SignedPreKeySecret.generate(identity, keyId);
    identity.wipe();
    const nextBytes = toBase64(next.toBytes());
    const before = { spk: this.st.spk, oldSpks: this.st.oldSpks, spkAt: this.st.spkAt };
    this.st.oldSpks = [this.st.spk, ...this.st.oldSpks].slice(0, OLD_SIGNED_PREKEYS_KEPT);
    this.st.spk = nextBytes;
    this.st.spkAt = now;
    await this.save();
    try {
      await this.api.rotateSignedPreKey(this.st.deviceId, toBase64(next.public().toBytes()));
    } catch (e) {
      // Maybe not published: the old key stays current, and the new secret is kept too in case
      // the server did store it.
      this.st.spk = before.spk;
      this.st.spkAt = before.spkAt;
      this.st.oldSpks = [nextBytes, ...before.oldSpks].slice(0, OLD_SIGNED_PREKEYS_KEPT + 1);
      await this.save();
      throw e;
    } finally {
      next.wipe();
    }
  }

  /** Rotates the signed prekey now if it is older than a week at `now` (for tests and timers). */
  rotateIfOld(now: number): Promise<void> {
    return this.run(() => this.rotateSignedPreKeyIfOld(now));
  }

  private newPrekeys(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.st.nextPrekeyId++;
      const k = OneTimePreKeySecret.generate(id);
      this.st.opks[String(id)] = toBase64(k.toBytes());
      out.push(toBase64(k.public().toBytes()));
      k.wipe();
    }
    return out;
  }

  /** Takes the stored state when another tab changed it. */
  private async reload(): Promise<void> {
    const raw = await this.keystore.getSecret(STATE_SLOT);
    if (!raw) return;
    const json = new TextDecoder().decode(raw);
    if (json === this.saved) return;
    const st = JSON.parse(json) as State;
    if (st.v !== 1 || st.deviceId !== this.st.deviceId || st.userId !== this.st.userId) return;
    this.st = st;
    this.saved = json;
  }

  private async save(): Promise<void> {
    const json = JSON.stringify(this.st);
    await this.keystore.putSecret(STATE_SLOT, new TextEncoder().encode(json));
    this.saved = json;
  }

  /**
   * Runs `fn` after every earlier operation, holding this device's lock across the tabs of the
   * browser (Web Locks), on the state as stored (another tab may have moved a ratchet since);
   * on failure the state returns to the stored one.
   */
  private run<T>(fn: () => Promise<T>): Promise<T> {
    const exec = async (): Promise<T> => {
      await this.reload();
      try {
        return await fn();
      } catch (e) {
        this.st = JSON.parse(this.saved) as State;
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

  private warn(w: Warning): void {
    const key = JSON.stringify(w);
    if (this.warnings.some((x) => JSON.stringify(x) === key)) return;
    this.warnings = [...this.warnings, w].slice(-WARNINGS_KEPT);
  }

  // ---- trust

  private get identity(): DeviceIdentity {
    return DeviceIdentity.fromBytes(fromBase64(this.st.identity));
  }

  private get certificate(): DeviceCertificate {
    return DeviceCertificate.fromBytes(fromBase64(this.st.certificate));
  }

  /** The user key trusted for `user` (pinned on first use). */
  private async trustedKey(user: string): Promise<Uint8Array> {
    const pinned = this.st.pinned[user];
    if (pinned) return fromBase64(pinned);
    const d = await this.api.userDevices(user);
    if (!d.user_key) throw new E2eFailure('untrusted', 'this user has no encryption keys');
    this.st.pinned[user] = d.user_key;
    this.onTrustChange();
    return fromBase64(d.user_key);
  }

  /** Notes the directory's user key for `user`: a key other than the pinned one is a change. */
  private noteDirectoryKey(user: string, key: string | null): void {
    const pinned = this.st.pinned[user];
    if (!key || !pinned) return;
    if (key !== pinned) {
      if (this.st.changed[user] !== key) {
        this.st.changed[user] = key;
        this.onTrustChange();
      }
    } else if (this.st.changed[user]) {
      delete this.st.changed[user];
      this.onTrustChange();
    }
  }

  /** Listed devices whose certificates verify under the trusted keys; the others are flagged. */
  private async verifyListing(list: DeviceKeysJson[]): Promise<{ user: string; device: string }[]> {
    const out: { user: string; device: string }[] = [];
    for (const d of list) {
      let key: Uint8Array;
      try {
        key = await this.trustedKey(d.user_id);
      } catch (e) {
        this.warn({ kind: 'untrusted_device', user: d.user_id, device: d.device_id, reason: describe(e) });
        continue;
      }
      try {
        const c = DeviceCertificate.fromBytes(fromBase64(d.certificate));
        c.verify(key);
        if (uuidString(c.deviceId) !== d.device_id || uuidString(c.userId) !== d.user_id) {
          throw new Error('certificate names another device');
        }
        out.push({ user: d.user_id, device: d.device_id });
      } catch (e) {
        this.warn({ kind: 'untrusted_device', user: d.user_id, device: d.device_id, reason: describe(e) });
      }
    }
    return out;
  }

  /** The trusted devices of everyone in a channel but this one. */
  private async channelDevices(channelId: string): Promise<{ user: string; device: string }[]> {
    const d = await this.api.channelDevices(channelId);
    const users = new Set(d.devices.map((x) => x.user_id));
    // A user whose devices stopped verifying may have a new user key: ask the directory.
    for (const u of users) {
      const pinned = this.st.pinned[u];
      if (!pinned) continue;
      const bad = d.devices.some((x) => {
        if (x.user_id !== u) return false;
        try {
          return toBase64(DeviceCertificate.fromBytes(fromBase64(x.certificate)).userKey) !== pinned;
        } catch {
          return true;
        }
      });
      if (bad) {
        const dir = await this.api.userDevices(u).catch(() => null);
        if (dir) this.noteDirectoryKey(u, dir.user_key);
      }
    }
    return (await this.verifyListing(d.devices)).filter((x) => x.device !== this.st.deviceId);
  }

  /**
   * Starts sessions with the devices of `user` that have none (bundles that verify only).
   * False when the server refused the claim because `user` does not accept messages from this
   * one (a block): their devices without a session get nothing.
   */
  private async ensureSessions(user: string, devices: string[]): Promise<boolean> {
    const missing = devices.filter((d) => !this.st.sessions[d]);
    if (!missing.length) return true;
    const refusedUntil = this.claimRefusedUntil.get(user);
    if (refusedUntil !== undefined && refusedUntil > this.now()) return false;
    const key = await this.trustedKey(user);
    const identity = this.identity;
    const certificate = this.certificate;
    for (let i = 0; i < missing.length; i += MAX_DEVICES_PER_CLAIM) {
      let claimed: Awaited<ReturnType<KeyApi['claimBundles']>>;
      try {
        claimed = await this.api.claimBundles(user, missing.slice(i, i + MAX_DEVICES_PER_CLAIM));
      } catch (e) {
        if (!isRefusal(e)) {
          identity.wipe();
          throw e;
        }
        identity.wipe();
        this.claimRefusedUntil.set(user, this.now() + REFUSED_FOR_MS);
        return false;
      }
      for (const b of claimed.bundles) {
        try {
          const bundle = PreKeyBundle.fromBytes(fromBase64(b.bundle));
          if (uuidString(bundle.certificate.deviceId) !== b.device_id || uuidString(bundle.certificate.userId) !== user) {
            throw new Error('the bundle names another device');
          }
          const session = Session.initiate(identity, certificate, bundle, key);
          this.st.sessions[b.device_id] = { user, list: [toBase64(session.toBytes())] };
          session.wipe();
        } catch (e) {
          this.warn({ kind: 'bad_bundle', user, device: b.device_id, reason: describe(e) });
        }
      }
    }
    identity.wipe();
    return true;
  }

  /** Encrypts for one device with its first session. */
  private seal(device: string, plaintext: Uint8Array): Uint8Array {
    const entry = this.st.sessions[device];
    if (!entry?.list[0]) throw new E2eFailure('no_session', 'no session with this device');
    const s = Session.fromBytes(fromBase64(entry.list[0]));
    const ct = s.encrypt(plaintext);
    entry.list[0] = toBase64(s.toBytes());
    s.wipe();
    return ct;
  }

  /** Decrypts a pairwise message from `sender` on `senderDevice`. */
  private async open(sender: string, senderDevice: string, bytes: Uint8Array): Promise<Uint8Array> {
    const incoming = decodeIncoming(bytes);
    if (incoming.kind === 'prekey') {
      const p = incoming.message;
      const cert = p.header.initiator;
      if (uuidString(cert.userId) !== sender || uuidString(cert.deviceId) !== senderDevice) {
        throw new E2eFailure('wrong_sender', 'the first message names another sender');
      }
      const entry = this.st.sessions[senderDevice];
      if (entry) {
        for (let i = 0; i < entry.list.length; i++) {
          const s = Session.fromBytes(fromBase64(entry.list[i]!));
          if (toBase64(s.baseKey()) === toBase64(p.header.ephemeralKey)) {
            const plain = s.decrypt(bytes);
            entry.list[i] = toBase64(s.toBytes());
            s.wipe();
            return plain;
          }
          s.wipe();
        }
      }
      const key = await this.trustedKey(sender);
      const spkRaw = [this.st.spk, ...this.st.oldSpks]
        .map((x) => SignedPreKeySecret.fromBytes(fromBase64(x)))
        .find((s) => s.keyId === p.header.signedPreKeyId);
      if (!spkRaw) throw new E2eFailure('no_session', 'the first message names a prekey this device does not hold');
      let opk: OneTimePreKeySecret | null = null;
      if (p.header.oneTimePreKeyId !== null) {
        const raw = this.st.opks[String(p.header.oneTimePreKeyId)];
        if (!raw) throw new E2eFailure('no_session', 'the first message names a prekey this device does not hold');
        opk = OneTimePreKeySecret.fromBytes(fromBase64(raw));
      }
      const identity = this.identity;
      const { session, plaintext } = Session.respond(identity, this.certificate, spkRaw, opk, key, p);
      identity.wipe();
      spkRaw.wipe();
      opk?.wipe();
      if (p.header.oneTimePreKeyId !== null) delete this.st.opks[String(p.header.oneTimePreKeyId)];
      const list = this.st.sessions[senderDevice] ?? { user: sender, list: [] };
      list.list.unshift(toBase64(session.toBytes()));
      list.list = list.list.slice(0, 4);
      this.st.sessions[senderDevice] = list;
      session.wipe();
      return plaintext;
    }
    const entry = this.st.sessions[senderDevice];
    if (!entry) throw new E2eFailure('no_session', 'no session with the sending device');
    if (entry.user !== sender) throw new E2eFailure('wrong_sender', 'the session belongs to another user');
    let last: unknown = new E2eFailure('no_session', 'no session with the sending device');
    for (let i = 0; i < entry.list.length; i++) {
      const s = Session.fromBytes(fromBase64(entry.list[i]!));
      try {
        const plain = s.decrypt(bytes);
        entry.list[i] = toBase64(s.toBytes());
        return plain;
      } catch (e) {
        last = e;
      } finally {
        s.wipe();
      }
    }
    throw last;
  }

  // ---- sending

  /** The DM payload of `body`: one pairwise ciphertext per device of the channel but this one. */
  encryptDirect(channelId: string, body: Uint8Array): Promise<Uint8Array> {
    return this.run(async () => {
      const devices = await this.channelDevices(channelId);
      const byUser = new Map<string, string[]>();
      for (const d of devices) byUser.set(d.user, [...(byUser.get(d.user) ?? []), d.device]);
      // A member who blocked this user refuses the claim: the others still get the message.
      const refused = new Set<string>();
      for (const [u, ds] of byUser) if (!(await this.ensureSessions(u, ds))) refused.add(u);
      const plain = directPlaintext(channelId, body);
      const items = devices
        .filter((d) => this.st.sessions[d.device])
        .map((d) => ({ device: d.device, ciphertext: this.seal(d.device, plain) }));
      plain.fill(0);
      const others = new Set(items.map((i) => devices.find((d) => d.device === i.device)!.user));
      others.delete(this.st.userId);
      if (!others.size) {
        const everyone = [...byUser.keys()].filter((u) => u !== this.st.userId);
        if (everyone.length && everyone.every((u) => refused.has(u))) {
          throw new E2eFailure('refused', 'The people in this conversation do not accept messages from you.');
        }
        throw new E2eFailure(
          'untrusted',
          'Nobody else in this conversation has encryption keys this browser trusts yet (they appear when the other person signs in to the web app).',
        );
      }
      await this.save();
      return directPayload(this.st.deviceId, items);
    });
  }

  /** The channel payload of `body`, after the sender key reached every current member device. */
  encryptChannel(channelId: string, body: Uint8Array): Promise<Uint8Array> {
    return this.run(async () => {
      await this.prepareSenderKey(channelId);
      const o = this.st.outgoing[channelId];
      if (!o) throw new E2eFailure('failed', 'no sender key');
      const sender = SenderKeySender.fromBytes(fromBase64(o.sender));
      const ct = sender.encrypt(body);
      o.sender = toBase64(sender.toBytes());
      o.sent += 1;
      sender.wipe();
      await this.save();
      return channelPayload(this.st.deviceId, ct);
    });
  }

  private async prepareSenderKey(channelId: string): Promise<void> {
    const devices = await this.channelDevices(channelId);
    const readers = new Set(devices.map((d) => d.user));
    const known = this.st.rosters[channelId];
    if (known) {
      for (const u of readers) if (!known.includes(u)) this.warn({ kind: 'member_added', channel: channelId, user: u });
    }
    this.st.rosters[channelId] = [...new Set([...(known ?? []), ...readers])];
    const current = new Set(devices.map((d) => d.device));
    const o = this.st.outgoing[channelId];
    const rotate = !o || o.recipients.some((d) => !current.has(d)) || o.sent >= SENDER_KEY_ROTATE_AFTER;
    if (rotate) {
      const sender = SenderKeySender.generate(uuidBytes(channelId), uuidBytes(this.st.deviceId));
      this.st.outgoing[channelId] = { sender: toBase64(sender.toBytes()), recipients: [], sent: 0 };
      sender.wipe();
    }
    const out = this.st.outgoing[channelId]!;
    const now = this.now();
    const todo = devices.filter((d) => {
      if (out.recipients.includes(d.device)) return false;
      const until = this.refusedUntil.get(`${channelId}/${d.device}`);
      return until === undefined || until <= now;
    });
    if (!todo.length) return;
    const byUser = new Map<string, string[]>();
    for (const d of todo) byUser.set(d.user, [...(byUser.get(d.user) ?? []), d.device]);
    for (const [u, ds] of byUser) await this.ensureSessions(u, ds);
    const sender = SenderKeySender.fromBytes(fromBase64(out.sender));
    const dist = sender.distribution();
    sender.wipe();
    const plain = envelopePlaintext(AppTag.KIND_SENDER_KEY, channelId, dist.toBytes());
    dist.wipe();
    const batch: NewEnvelopeJson[] = [];
    for (const d of todo) {
      if (!this.st.sessions[d.device]) continue;
      batch.push({ recipient_device_id: d.device, channel_id: channelId, ciphertext: toBase64(this.seal(d.device, plain)) });
    }
    plain.fill(0);
    // The ratchet state that produced the envelopes is stored before they are sent.
    await this.save();
    const userOf = new Map(todo.map((d) => [d.device, d.user]));
    for (let i = 0; i < batch.length; i += ENVELOPE_BATCH) {
      const sent = await this.sendEnvelopes(channelId, batch.slice(i, i + ENVELOPE_BATCH), userOf);
      out.recipients.push(...sent.map((b) => b.recipient_device_id));
    }
  }

  /**
   * Sends one batch of envelopes; the sent ones. The server takes a batch whole or not at all:
   * when it refuses one because a recipient's user does not accept messages from this one (403
   * naming the device), that user's devices are dropped from the batch (and left out of this
   * channel's distributions for a while) and the rest is sent again, at most `ENVELOPE_RETRIES`
   * times.
   */
  private async sendEnvelopes(channelId: string, batch: NewEnvelopeJson[], userOf: Map<string, string>): Promise<NewEnvelopeJson[]> {
    let left = batch;
    for (let attempt = 0; left.length; attempt++) {
      try {
        await this.api.sendEnvelopes(left);
        return left;
      } catch (e) {
        const device = refusedRecipient(e);
        if (!device || attempt >= ENVELOPE_RETRIES || !left.some((x) => x.recipient_device_id === device)) throw e;
        // The other devices of that user would refuse the same way.
        const user = userOf.get(device);
        const dropped = new Set(
          left
            .map((x) => x.recipient_device_id)
            .filter((d) => d === device || (user !== undefined && userOf.get(d) === user)),
        );
        const until = this.now() + REFUSED_FOR_MS;
        for (const d of dropped) this.refusedUntil.set(`${channelId}/${d}`, until);
        left = left.filter((x) => !dropped.has(x.recipient_device_id));
      }
    }
    return left;
  }

  // ---- receiving

  /**
   * Applies envelopes (pushed live or from the queue), then drains the server queue and
   * acknowledges what was applied or refused. Returns how many were accepted.
   */
  processEnvelopes(live: EnvelopeJson[] = []): Promise<number> {
    return this.run(async () => {
      let accepted = 0;
      // Pushed envelopes are applied and acknowledged like drained ones; one seen before (by
      // id: pushed twice, or pushed and drained) changes nothing and is acknowledged again.
      const liveIds: string[] = [];
      for (const e of live) {
        if (e.recipient_device_id !== this.st.deviceId) continue;
        accepted += (await this.acceptEnvelope(e)) ? 1 : 0;
        if (!liveIds.includes(e.id)) liveIds.push(e.id);
      }
      await this.save();
      for (let i = 0; i < liveIds.length; i += 500) await this.api.ackEnvelopes(this.st.deviceId, liveIds.slice(i, i + 500));
      for (;;) {
        const page = await this.api.envelopes(this.st.deviceId);
        if (!page.envelopes.length) break;
        for (const e of page.envelopes) accepted += (await this.acceptEnvelope(e)) ? 1 : 0;
        await this.save();
        await this.api.ackEnvelopes(this.st.deviceId, page.envelopes.map((e) => e.id));
        if (!page.has_more) break;
      }
      return accepted;
    });
  }

  private async acceptEnvelope(e: EnvelopeJson): Promise<boolean> {
    if (e.recipient_device_id !== this.st.deviceId || this.st.seenEnvelopes.includes(e.id)) return false;
    this.st.seenEnvelopes.push(e.id);
    if (this.st.seenEnvelopes.length > SEEN_ENVELOPES_KEPT) this.st.seenEnvelopes.splice(0, this.st.seenEnvelopes.length - SEEN_ENVELOPES_KEPT);
    const before = JSON.stringify({ s: this.st.sessions, i: this.st.incoming, o: this.st.opks });
    try {
      await this.openEnvelope(e);
      return true;
    } catch (err) {
      const restored = JSON.parse(before) as { s: State['sessions']; i: State['incoming']; o: State['opks'] };
      this.st.sessions = restored.s;
      this.st.incoming = restored.i;
      this.st.opks = restored.o;
      this.warn({ kind: 'rejected', what: `envelope ${e.id}`, reason: describe(err) });
      return false;
    }
  }

  private async openEnvelope(e: EnvelopeJson): Promise<void> {
    const plain = await this.open(e.sender_user_id, e.sender_device_id, fromBase64(e.ciphertext));
    const env = decodeEnvelopePlaintext(plain);
    plain.fill(0);
    if (env.channelId !== (e.channel_id ?? null)) throw new E2eFailure('channel_mismatch', 'envelope bound to another channel');
    if (env.kind !== AppTag.KIND_SENDER_KEY) throw new MalformedError('envelope kind');
    if (!env.channelId) throw new MalformedError('distribution without channel');
    const d = SenderKeyDistribution.fromBytes(env.body);
    if (uuidString(d.channelId) !== env.channelId) throw new E2eFailure('channel_mismatch', 'distribution for another channel');
    const receiver = SenderKeyReceiver.fromDistribution(d, uuidBytes(e.sender_device_id));
    this.st.incoming[incomingKey(env.channelId, e.sender_device_id, d.keyId)] = {
      user: e.sender_user_id,
      receiver: toBase64(receiver.toBytes()),
    };
    receiver.wipe();
    d.wipe();
  }

  /**
   * Decrypts one stored message addressed to this device. A channel message whose sender key
   * has not arrived yet drains the envelope queue once and tries again.
   */
  async decrypt(m: CipherMessage): Promise<Body> {
    try {
      return await this.run(() => this.decryptNow(m));
    } catch (e) {
      const f = failureOf(e);
      if (f.reason === 'unknown_sender_key' || f.reason === 'no_session') {
        await this.processEnvelopes().catch(() => 0);
        try {
          return await this.run(() => this.decryptNow(m));
        } catch (e2) {
          throw failureOf(e2);
        }
      }
      throw f;
    }
  }

  private async decryptNow(m: CipherMessage): Promise<Body> {
    const sender = m.sender_id;
    if (!sender) throw new E2eFailure('wrong_sender', 'the message has no sender');
    const p = decodePayload(m.ciphertext, this.st.deviceId);
    let body: Uint8Array;
    if (p.kind === 'direct') {
      if (!p.mine) throw new E2eFailure('not_for_this_device', 'the message holds no ciphertext for this device');
      const plain = await this.open(sender, p.senderDevice, p.mine);
      const inner = decodeDirectPlaintext(plain);
      plain.fill(0);
      if (inner.channelId !== m.channel_id) throw new E2eFailure('channel_mismatch', 'made for another channel');
      body = inner.body;
    } else {
      const keyId = SenderKeyMessage.fromBytes(p.message).keyId;
      const entry = this.st.incoming[incomingKey(m.channel_id, p.senderDevice, keyId)];
      if (!entry) throw new E2eFailure('unknown_sender_key', 'no sender key for this message');
      if (entry.user !== sender) throw new E2eFailure('wrong_sender', 'the sender key came from another user');
      const r = SenderKeyReceiver.fromBytes(fromBase64(entry.receiver));
      try {
        body = r.decrypt(uuidBytes(m.channel_id), uuidBytes(p.senderDevice), p.message);
        entry.receiver = toBase64(r.toBytes());
      } finally {
        r.wipe();
      }
    }
    const decoded = decodeBody(body);
    await this.save();
    return decoded;
  }

  /** True when this message was sent by this device (it cannot decrypt its own sends). */
  isOwn(ciphertext: Uint8Array): boolean {
    if (ciphertext.length < 17) return false;
    const t = ciphertext[0];
    if (t !== AppTag.DIRECT_PAYLOAD && t !== AppTag.CHANNEL_PAYLOAD) return false;
    return uuidString(ciphertext.subarray(1, 17)) === this.st.deviceId;
  }

  // ---- trust, as the user sees it

  /** This user's public user key. */
  get myUserKey(): Uint8Array {
    return fromBase64(this.st.pinned[this.st.userId]!);
  }

  /** The user key trusted for `user` (fetched and pinned on first use). */
  keyOf(user: string): Promise<Uint8Array> {
    return this.run(async () => {
      const k = await this.trustedKey(user);
      await this.save();
      return k;
    });
  }

  /** The 60-digit safety number with `user`, over the keys trusted now. */
  async safetyNumber(user: string): Promise<string> {
    const theirs = await this.keyOf(user);
    return SafetyNumber.of(this.myUserKey, uuidBytes(this.st.userId), theirs, uuidBytes(user)).toString();
  }

  /** Users whose user key changed since it was pinned (not yet accepted). */
  get keyChanges(): string[] {
    return Object.keys(this.st.changed);
  }

  isVerified(user: string): boolean {
    const v = this.st.verified[user];
    return !!v && v === this.st.pinned[user];
  }

  /** Marks `user` as verified (their safety number was compared out of band). */
  markVerified(user: string): Promise<void> {
    return this.run(async () => {
      const k = this.st.pinned[user];
      if (!k) return;
      this.st.verified[user] = k;
      await this.save();
      this.onTrustChange();
    });
  }

  /** Trusts the new user key of `user` (after a key-change warning): sessions start again. */
  acceptKeyChange(user: string): Promise<void> {
    return this.run(async () => {
      const k = this.st.changed[user];
      if (!k) return;
      this.st.pinned[user] = k;
      delete this.st.changed[user];
      delete this.st.verified[user];
      for (const [dev, s] of Object.entries(this.st.sessions)) if (s.user === user) delete this.st.sessions[dev];
      await this.save();
      this.onTrustChange();
    });
  }

  /** Checks the directory's key of `user` against the pinned one (a change becomes a warning). */
  checkUser(user: string): Promise<void> {
    return this.run(async () => {
      const d = await this.api.userDevices(user);
      if (!this.st.pinned[user]) {
        if (d.user_key) this.st.pinned[user] = d.user_key;
      } else {
        this.noteDirectoryKey(user, d.user_key);
      }
      await this.save();
      this.onTrustChange();
    });
  }
}
