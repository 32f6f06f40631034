// The device's own keys: its creation (the account's user key on its first browser, a device
// identity certified by it, a signed prekey), their publication, the top-up of one-time prekeys
// and the weekly replacement of the signed prekey. Runs inside the device's operations
// (`DeviceRecord.run`) or while the device is being opened.

import { DeviceCertificate, DeviceIdentity, OneTimePreKeySecret, SignedPreKeySecret, UserKeyPair } from '../crypto/index';
import { uuidBytes } from './appcodec';
import { USER_KEY_SLOT, freshAccount, hasAccountApi } from './account';
import { E2eSetupError, type KeyApi } from './deviceCommon';
import type { DeviceRecord, DeviceState } from './deviceRecord';
import type { Keystore } from './keystore';
import { fromBase64, toBase64 } from './keystore';

/** The signed prekey is replaced after a week; the two before it still answer first messages. */
export const SIGNED_PREKEY_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
const OLD_SIGNED_PREKEYS_KEPT = 2;
const PREKEYS_FIRST_UPLOAD = 50;
const PREKEYS_LOW_WATER = 20;
const PREKEYS_BATCH = 50;

export function identityOf(st: DeviceState): DeviceIdentity {
  return DeviceIdentity.fromBytes(fromBase64(st.identity));
}

export function certificateOf(st: DeviceState): DeviceCertificate {
  return DeviceCertificate.fromBytes(fromBase64(st.certificate));
}

/** The held signed prekey secret (current or one of the kept older ones) with this key id. */
export function signedPreKeyWithId(st: DeviceState, keyId: number): SignedPreKeySecret | undefined {
  return [st.spk, ...st.oldSpks].map((x) => SignedPreKeySecret.fromBytes(fromBase64(x))).find((s) => s.keyId === keyId);
}

/** The message of a browser whose account's user key is held elsewhere. */
export const OTHER_BROWSER_TEXT =
  'This browser has no encryption keys of your account yet, so it cannot read or send end-to-end encrypted messages. Link it with another device of yours, or use your recovery key.';

/**
 * A new device state for `userId`/`deviceId`. The first device of an account creates the user
 * key (kept in the keystore) and, where the server keeps secret storage, the recovery key and the
 * backup key (docs/e2e.md 18.1); a later browser of the same account cannot certify itself: it
 * is linked or restored (`other_browser` until then). `reset`: the account's keys were just
 * started over (18.6), so a user key left in the keystore is not taken.
 */
export async function newDeviceState(
  api: KeyApi,
  keystore: Keystore,
  userId: string,
  deviceId: string,
  opts: { reset?: boolean; now?: number } = {},
): Promise<DeviceState> {
  const dir = await api.userDevices(userId);
  let userKey: UserKeyPair | null = null;
  const stored = opts.reset ? null : await keystore.getSecret(USER_KEY_SLOT);
  if (stored) {
    try {
      userKey = UserKeyPair.fromBytes(stored);
    } catch {
      userKey = null;
    }
  }
  let created = false;
  if (dir.user_key) {
    if (!userKey || toBase64(userKey.publicKey) !== dir.user_key) {
      throw new E2eSetupError('other_browser', OTHER_BROWSER_TEXT);
    }
  } else if (!userKey || !stored) {
    userKey = UserKeyPair.generate(uuidBytes(userId));
    await keystore.putSecret(USER_KEY_SLOT, userKey.toBytes());
    created = true;
  }
  if (dir.devices.some((d) => d.device_id === deviceId)) {
    throw new E2eSetupError(
      'device_conflict',
      'The keys of this browser were published before and are no longer held here, so encrypted messages cannot be read here.',
    );
  }
  const identity = DeviceIdentity.generate(uuidBytes(userId), uuidBytes(deviceId));
  const certificate = userKey.certifyDevice(identity.publicKeys());
  const st = deviceState(userId, deviceId, identity, certificate, userKey.publicKey);
  identity.wipe();
  // The device that makes the user key also makes the recovery key and the backup key.
  if (created && hasAccountApi(api)) st.account = freshAccount(opts.reset ? 'reset' : 'created', opts.now ?? Date.now());
  userKey.wipe();
  return st;
}

/** The state of a device with this identity and certificate, trusting `userKey` for its own user. */
export function deviceState(
  userId: string,
  deviceId: string,
  identity: DeviceIdentity,
  certificate: DeviceCertificate,
  userKey: Uint8Array,
): DeviceState {
  const spk = SignedPreKeySecret.generate(identity, 1);
  const st: DeviceState = {
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
    pinned: { [userId]: toBase64(userKey) },
    changed: {},
    verified: {},
    sessions: {},
    outgoing: {},
    incoming: {},
    seenEnvelopes: [],
    rosters: {},
  };
  spk.wipe();
  return st;
}

/** Publication and upkeep of the device's prekeys. */
export class PreKeys {
  constructor(
    private readonly rec: DeviceRecord,
    private readonly api: KeyApi,
  ) {}

  /** Publishes the keys when they are not yet, and tops up one-time prekeys. */
  async finishSetup(): Promise<void> {
    const st = this.rec.st;
    if (!st.published) {
      const keys = this.newPrekeys(PREKEYS_FIRST_UPLOAD);
      await this.rec.save();
      const spk = SignedPreKeySecret.fromBytes(fromBase64(st.spk));
      await this.api.publishKeys(st.deviceId, {
        certificate: st.certificate,
        signed_prekey: toBase64(spk.public().toBytes()),
        one_time_prekeys: keys,
      });
      spk.wipe();
      st.published = true;
      await this.rec.save();
      return;
    }
    try {
      await this.rotateIfOld();
    } catch {
      // Rotated at the next start.
    }
    try {
      const status = await this.api.keyStatus(st.deviceId);
      if (status.one_time_prekeys < PREKEYS_LOW_WATER) {
        const keys = this.newPrekeys(PREKEYS_BATCH);
        await this.rec.save();
        await this.api.uploadPrekeys(st.deviceId, keys);
      }
    } catch {
      // Replenished at the next start.
    }
  }

  /**
   * Replaces a signed prekey older than a week (a new key id), keeping the previous secrets for
   * first messages still in flight. The new secret is stored before it is published.
   */
  async rotateIfOld(now = Date.now()): Promise<void> {
    const st = this.rec.st;
    if (st.spkAt === undefined) {
      st.spkAt = now;
      await this.rec.save();
    }
    if (now - st.spkAt < SIGNED_PREKEY_MAX_AGE_MS) return;
    const held = [st.spk, ...st.oldSpks].map((x) => SignedPreKeySecret.fromBytes(fromBase64(x)));
    const keyId = Math.max(...held.map((k) => k.keyId)) + 1;
    for (const k of held) k.wipe();
    const identity = identityOf(st);
    const next = SignedPreKeySecret.generate(identity, keyId);
    identity.wipe();
    const nextBytes = toBase64(next.toBytes());
    const before = { spk: st.spk, oldSpks: st.oldSpks, spkAt: st.spkAt };
    st.oldSpks = [st.spk, ...st.oldSpks].slice(0, OLD_SIGNED_PREKEYS_KEPT);
    st.spk = nextBytes;
    st.spkAt = now;
    await this.rec.save();
    try {
      await this.api.rotateSignedPreKey(st.deviceId, toBase64(next.public().toBytes()));
    } catch (e) {
      // Maybe not published: the old key stays current, and the new secret is kept too in case
      // the server did store it.
      st.spk = before.spk;
      st.spkAt = before.spkAt;
      st.oldSpks = [nextBytes, ...before.oldSpks].slice(0, OLD_SIGNED_PREKEYS_KEPT + 1);
      await this.rec.save();
      throw e;
    } finally {
      next.wipe();
    }
  }

  private newPrekeys(n: number): string[] {
    const st = this.rec.st;
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = st.nextPrekeyId++;
      const k = OneTimePreKeySecret.generate(id);
      st.opks[String(id)] = toBase64(k.toBytes());
      out.push(toBase64(k.public().toBytes()));
      k.wipe();
    }
    return out;
  }
}
