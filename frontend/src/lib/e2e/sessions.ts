// Pairwise sessions with other devices (X3DH to start one, then the Double Ratchet): starting
// them from claimed bundles, sealing a message for one device, opening one from a device, and
// the DM payload that holds one ciphertext per device of a conversation. Works on the device
// record inside its operations (`DeviceRecord.run`).

import { OneTimePreKeySecret, PreKeyBundle, Session, decodeIncoming } from '../crypto/index';
import { directPayload, directPlaintext, uuidString } from './appcodec';
import { E2eFailure, REFUSED_FOR_MS, describe, isRefusal, type KeyApi, type Warnings } from './deviceCommon';
import type { DeviceRecord } from './deviceRecord';
import { fromBase64, toBase64 } from './keystore';
import { certificateOf, identityOf, signedPreKeyWithId } from './prekeys';
import type { Trust } from './trust';

const MAX_DEVICES_PER_CLAIM = 16;
/** Sessions kept per peer device (a new first message from it goes in front). */
const SESSIONS_KEPT = 4;

export class PairwiseSessions {
  /** user → until when (ms) their bundles are not asked for again after a refused claim. */
  private claimRefusedUntil = new Map<string, number>();

  constructor(
    private readonly rec: DeviceRecord,
    private readonly api: KeyApi,
    private readonly trust: Trust,
    private readonly warnings: Warnings,
    private readonly now: () => number,
  ) {}

  /** True when this device has a session with `device`. */
  has(device: string): boolean {
    return !!this.rec.st.sessions[device];
  }

  /** Drops every session with the devices of `user` (their user key changed). */
  forgetUser(user: string): void {
    const st = this.rec.st;
    for (const [dev, s] of Object.entries(st.sessions)) if (s.user === user) delete st.sessions[dev];
  }

  /**
   * Starts sessions with the devices of `user` that have none (bundles that verify only).
   * False when the server refused the claim because `user` does not accept messages from this
   * one (a block): their devices without a session get nothing.
   */
  async ensure(user: string, devices: string[]): Promise<boolean> {
    const st = this.rec.st;
    const missing = devices.filter((d) => !st.sessions[d]);
    if (!missing.length) return true;
    const refusedUntil = this.claimRefusedUntil.get(user);
    if (refusedUntil !== undefined && refusedUntil > this.now()) return false;
    const key = await this.trust.trustedKey(user);
    const identity = identityOf(st);
    const certificate = certificateOf(st);
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
          st.sessions[b.device_id] = { user, list: [toBase64(session.toBytes())] };
          session.wipe();
        } catch (e) {
          this.warnings.add({ kind: 'bad_bundle', user, device: b.device_id, reason: describe(e) });
        }
      }
    }
    identity.wipe();
    return true;
  }

  /** Encrypts for one device with its first session. */
  seal(device: string, plaintext: Uint8Array): Uint8Array {
    const entry = this.rec.st.sessions[device];
    if (!entry?.list[0]) throw new E2eFailure('no_session', 'no session with this device');
    const s = Session.fromBytes(fromBase64(entry.list[0]));
    const ct = s.encrypt(plaintext);
    entry.list[0] = toBase64(s.toBytes());
    s.wipe();
    return ct;
  }

  /**
   * Decrypts a pairwise message from `sender` on `senderDevice`: a first (prekey) message
   * starts a session from this device's prekeys, any other goes through the held sessions.
   */
  async openMessage(sender: string, senderDevice: string, bytes: Uint8Array): Promise<Uint8Array> {
    const st = this.rec.st;
    const incoming = decodeIncoming(bytes);
    if (incoming.kind === 'prekey') {
      const p = incoming.message;
      const cert = p.header.initiator;
      if (uuidString(cert.userId) !== sender || uuidString(cert.deviceId) !== senderDevice) {
        throw new E2eFailure('wrong_sender', 'the first message names another sender');
      }
      const entry = st.sessions[senderDevice];
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
      const key = await this.trust.trustedKey(sender);
      const spkRaw = signedPreKeyWithId(st, p.header.signedPreKeyId);
      if (!spkRaw) throw new E2eFailure('no_session', 'the first message names a prekey this device does not hold');
      let opk: OneTimePreKeySecret | null = null;
      if (p.header.oneTimePreKeyId !== null) {
        const raw = st.opks[String(p.header.oneTimePreKeyId)];
        if (!raw) throw new E2eFailure('no_session', 'the first message names a prekey this device does not hold');
        opk = OneTimePreKeySecret.fromBytes(fromBase64(raw));
      }
      const identity = identityOf(st);
      const { session, plaintext } = Session.respond(identity, certificateOf(st), spkRaw, opk, key, p);
      identity.wipe();
      spkRaw.wipe();
      opk?.wipe();
      if (p.header.oneTimePreKeyId !== null) delete st.opks[String(p.header.oneTimePreKeyId)];
      const list = st.sessions[senderDevice] ?? { user: sender, list: [] };
      list.list.unshift(toBase64(session.toBytes()));
      list.list = list.list.slice(0, SESSIONS_KEPT);
      st.sessions[senderDevice] = list;
      session.wipe();
      return plaintext;
    }
    const entry = st.sessions[senderDevice];
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

  /** The DM payload of `body`: one pairwise ciphertext per device of the channel but this one. */
  async encryptDirect(channelId: string, body: Uint8Array): Promise<Uint8Array> {
    const st = this.rec.st;
    const devices = await this.trust.channelDevices(channelId);
    const byUser = new Map<string, string[]>();
    for (const d of devices) byUser.set(d.user, [...(byUser.get(d.user) ?? []), d.device]);
    // A member who blocked this user refuses the claim: the others still get the message.
    const refused = new Set<string>();
    for (const [u, ds] of byUser) if (!(await this.ensure(u, ds))) refused.add(u);
    const plain = directPlaintext(channelId, body);
    const items = devices
      .filter((d) => st.sessions[d.device])
      .map((d) => ({ device: d.device, ciphertext: this.seal(d.device, plain) }));
    plain.fill(0);
    const others = new Set(items.map((i) => devices.find((d) => d.device === i.device)!.user));
    others.delete(st.userId);
    if (!others.size) {
      const everyone = [...byUser.keys()].filter((u) => u !== st.userId);
      if (everyone.length && everyone.every((u) => refused.has(u))) {
        throw new E2eFailure('refused', 'The people in this conversation do not accept messages from you.');
      }
      throw new E2eFailure(
        'untrusted',
        'Nobody else in this conversation has encryption keys this browser trusts yet (they appear when the other person signs in to the web app).',
      );
    }
    await this.rec.save();
    return directPayload(st.deviceId, items);
  }
}
