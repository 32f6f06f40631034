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
//
// Every public operation here runs as one operation of the record (`DeviceRecord.run`).

import { AppTag, type Body, decodeBody, decodeDirectPlaintext, decodePayload, uuidString } from './appcodec';
import { E2eFailure, Warnings, failureOf, type CipherMessage, type EnvelopeJson, type KeyApi, type Warning } from './deviceCommon';
import { DeviceRecord } from './deviceRecord';
import type { Keystore } from './keystore';
import { PreKeys, newDeviceState } from './prekeys';
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
export { ENVELOPE_RETRIES, SENDER_KEY_ROTATE_AFTER } from './senderKeys';

export class E2eDevice {
  /** The clock of refusals (blocks): how long a refusing user is left alone. */
  now: () => number = () => Date.now();
  private readonly warningList = new Warnings();
  private readonly prekeys: PreKeys;
  private readonly trust: Trust;
  private readonly sessions: PairwiseSessions;
  private readonly senderKeys: SenderKeys;

  private constructor(
    api: KeyApi,
    private readonly rec: DeviceRecord,
  ) {
    const now = () => this.now();
    this.prekeys = new PreKeys(rec, api);
    this.trust = new Trust(rec, api, this.warningList);
    this.sessions = new PairwiseSessions(rec, api, this.trust, this.warningList, now);
    this.senderKeys = new SenderKeys(rec, api, this.trust, this.sessions, this.warningList, now);
  }

  /**
   * Opens this browser's device for `userId`/`deviceId` from its record in the (unlocked)
   * keystore, or creates, stores and publishes it. The first device of an account creates the
   * user key; a later browser of the same account cannot certify itself (the user key stays
   * where it was made): `other_browser`.
   */
  static async openOrCreate(api: KeyApi, keystore: Keystore, userId: string, deviceId: string): Promise<E2eDevice> {
    const stored = await DeviceRecord.read(keystore, userId, deviceId);
    const rec = stored ?? (await DeviceRecord.create(keystore, await newDeviceState(api, keystore, userId, deviceId)));
    const d = new E2eDevice(api, rec);
    await d.prekeys.finishSetup();
    return d;
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

  /** The channel payload of `body`, after the sender key reached every current member device. */
  encryptChannel(channelId: string, body: Uint8Array): Promise<Uint8Array> {
    return this.rec.run(() => this.senderKeys.encrypt(channelId, body));
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
   * has not arrived yet drains the envelope queue once and tries again.
   */
  async decrypt(m: CipherMessage): Promise<Body> {
    try {
      return await this.rec.run(() => this.decryptNow(m));
    } catch (e) {
      const f = failureOf(e);
      if (f.reason === 'unknown_sender_key' || f.reason === 'no_session') {
        await this.processEnvelopes().catch(() => 0);
        try {
          return await this.rec.run(() => this.decryptNow(m));
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
    const p = decodePayload(m.ciphertext, this.rec.st.deviceId);
    let body: Uint8Array;
    if (p.kind === 'direct') {
      if (!p.mine) throw new E2eFailure('not_for_this_device', 'the message holds no ciphertext for this device');
      const plain = await this.sessions.openMessage(sender, p.senderDevice, p.mine);
      const inner = decodeDirectPlaintext(plain);
      plain.fill(0);
      if (inner.channelId !== m.channel_id) throw new E2eFailure('channel_mismatch', 'made for another channel');
      body = inner.body;
    } else {
      body = this.senderKeys.decrypt(m.channel_id, sender, p.senderDevice, p.message);
    }
    const decoded = decodeBody(body);
    await this.rec.save();
    return decoded;
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
