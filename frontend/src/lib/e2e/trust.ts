// Whom the device trusts: the user key pinned for each user (trust on first use), a different
// key the directory reports later (a key change, held until the user accepts it), the users
// whose safety number was verified, and which listed devices verify under those keys. Works on
// the device record inside its operations (`DeviceRecord.run`); the caller stores the record.

import { DeviceCertificate, SafetyNumber } from '../crypto/index';
import { uuidBytes, uuidString } from './appcodec';
import { E2eFailure, describe, type DeviceKeysJson, type KeyApi, type Warnings } from './deviceCommon';
import type { DeviceRecord } from './deviceRecord';
import { fromBase64, toBase64 } from './keystore';

/** A device that verified under the key trusted for its user. */
export interface TrustedDevice {
  user: string;
  device: string;
}

export class Trust {
  /** Called after every change of pinned keys, key changes or verifications. */
  onChange: () => void = () => {};

  constructor(
    private readonly rec: DeviceRecord,
    private readonly api: KeyApi,
    private readonly warnings: Warnings,
  ) {}

  /** This user's public user key. */
  get myUserKey(): Uint8Array {
    const st = this.rec.st;
    return fromBase64(st.pinned[st.userId]!);
  }

  /** The user key trusted for `user` (pinned on first use). */
  async trustedKey(user: string): Promise<Uint8Array> {
    const st = this.rec.st;
    const pinned = st.pinned[user];
    if (pinned) return fromBase64(pinned);
    const d = await this.api.userDevices(user);
    if (!d.user_key) throw new E2eFailure('untrusted', 'this user has no encryption keys');
    st.pinned[user] = d.user_key;
    this.onChange();
    return fromBase64(d.user_key);
  }

  /** The 60-digit safety number with `user`, whose trusted key is `theirs`. */
  safetyNumber(user: string, theirs: Uint8Array): string {
    return SafetyNumber.of(this.myUserKey, uuidBytes(this.rec.st.userId), theirs, uuidBytes(user)).toString();
  }

  /** Users whose user key changed since it was pinned (not yet accepted). */
  get keyChanges(): string[] {
    return Object.keys(this.rec.st.changed);
  }

  isVerified(user: string): boolean {
    const st = this.rec.st;
    const v = st.verified[user];
    return !!v && v === st.pinned[user];
  }

  /** Marks `user` as verified (their safety number was compared out of band); false when not pinned. */
  markVerified(user: string): boolean {
    const st = this.rec.st;
    const k = st.pinned[user];
    if (!k) return false;
    st.verified[user] = k;
    return true;
  }

  /** Pins the new user key of `user` and drops the verified mark; false when there is no change. */
  acceptKeyChange(user: string): boolean {
    const st = this.rec.st;
    const k = st.changed[user];
    if (!k) return false;
    st.pinned[user] = k;
    delete st.changed[user];
    delete st.verified[user];
    return true;
  }

  /** Checks the directory's key of `user` against the pinned one (a change becomes a warning). */
  async checkUser(user: string): Promise<void> {
    const st = this.rec.st;
    const d = await this.api.userDevices(user);
    if (!st.pinned[user]) {
      if (d.user_key) st.pinned[user] = d.user_key;
    } else {
      this.noteDirectoryKey(user, d.user_key);
    }
  }

  /** Notes the directory's user key for `user`: a key other than the pinned one is a change. */
  private noteDirectoryKey(user: string, key: string | null): void {
    const st = this.rec.st;
    const pinned = st.pinned[user];
    if (!key || !pinned) return;
    if (key !== pinned) {
      if (st.changed[user] !== key) {
        st.changed[user] = key;
        this.onChange();
      }
    } else if (st.changed[user]) {
      delete st.changed[user];
      this.onChange();
    }
  }

  /** Listed devices whose certificates verify under the trusted keys; the others are flagged. */
  private async verifyListing(list: DeviceKeysJson[]): Promise<TrustedDevice[]> {
    const out: TrustedDevice[] = [];
    for (const d of list) {
      let key: Uint8Array;
      try {
        key = await this.trustedKey(d.user_id);
      } catch (e) {
        this.warnings.add({ kind: 'untrusted_device', user: d.user_id, device: d.device_id, reason: describe(e) });
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
        this.warnings.add({ kind: 'untrusted_device', user: d.user_id, device: d.device_id, reason: describe(e) });
      }
    }
    return out;
  }

  /** The certificate of `device` of `user`, as listed now and verified under the trusted key. */
  async certificate(user: string, device: string): Promise<DeviceCertificate> {
    const key = await this.trustedKey(user);
    const d = await this.api.userDevices(user);
    const listed = d.devices.find((x) => x.device_id === device && x.user_id === user);
    if (!listed) throw new E2eFailure('untrusted', 'that device is not listed for its user');
    const c = DeviceCertificate.fromBytes(fromBase64(listed.certificate));
    c.verify(key);
    if (uuidString(c.deviceId) !== device || uuidString(c.userId) !== user) {
      throw new E2eFailure('untrusted', 'certificate names another device');
    }
    return c;
  }

  /** The trusted devices of everyone in a channel but this one. */
  async channelDevices(channelId: string): Promise<TrustedDevice[]> {
    const st = this.rec.st;
    const d = await this.api.channelDevices(channelId);
    const users = new Set(d.devices.map((x) => x.user_id));
    // A user whose devices stopped verifying may have a new user key: ask the directory.
    for (const u of users) {
      const pinned = st.pinned[u];
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
    return (await this.verifyListing(d.devices)).filter((x) => x.device !== st.deviceId);
  }
}
