// A fresh browser with the recovery key alone (docs/e2e.md 18.3), as the Rust test client's
// `Device::restore`: the account's secret storage opens under the typed key (anything else
// changes nothing), a new device identity is certified with the user key inside, published, and
// the whole key backup read. And for an account that lost every device and its recovery key, the
// reset (18.6): the password (and second factor) again, the server drops the account's keys, and
// this browser starts over as a first device with a new user key, recovery key and backup key.

import { CryptoError, DeviceIdentity, RecoveryKey, openSecretStorage } from '../crypto/index';
import { receivedAccount, type AccountApi } from './account';
import { uuidBytes } from './appcodec';
import type { KeyApi } from './deviceCommon';
import { E2eDevice } from './device';
import { DeviceRecord } from './deviceRecord';
import { fromBase64, toBase64 } from './keystore';
import type { Keystore } from './keystore';
import { readHistory, type NewDeviceResult } from './linking';
import { deviceState, newDeviceState } from './prekeys';

/** The recovery key was refused; nothing changed. */
export class RecoveryError extends Error {
  constructor(
    readonly code: 'bad_format' | 'no_storage' | 'wrong_key' | 'other_key',
    message: string,
  ) {
    super(message);
    this.name = 'RecoveryError';
  }
}

/**
 * Restores this browser's device from the recovery key: refused with a `RecoveryError` before
 * anything is stored when the key is mistyped, does not open the account's storage, or opens one
 * holding another user key than the server publishes.
 */
export async function restoreWithRecoveryKey(
  api: KeyApi & AccountApi,
  keystore: Keystore,
  userId: string,
  deviceId: string,
  text: string,
): Promise<NewDeviceResult> {
  let rk: RecoveryKey;
  try {
    rk = RecoveryKey.parse(text);
  } catch {
    throw new RecoveryError('bad_format', 'That is not a recovery key: it is 52 letters and digits (dashes and spaces do not matter).');
  }
  let stored;
  try {
    stored = await api.secretStorage();
  } catch (e) {
    rk.wipe();
    if ((e as { status?: number }).status === 404) {
      throw new RecoveryError('no_storage', 'Your account has no recovery key stored: link this browser with another device of yours instead.');
    }
    throw e;
  }
  let secrets;
  try {
    secrets = openSecretStorage(rk, fromBase64(stored.storage), uuidBytes(userId), 0);
  } catch (e) {
    throw new RecoveryError(
      'wrong_key',
      e instanceof CryptoError && e.code === 'DecryptFailed'
        ? 'This recovery key does not open your account’s keys. Check it: it may be an older one, replaced since.'
        : 'Your account’s stored keys could not be read with this recovery key.',
    );
  } finally {
    rk.wipe();
  }
  try {
    const dir = await api.userDevices(userId);
    if (!dir.user_key || dir.user_key !== toBase64(secrets.userKey.publicKey)) {
      throw new RecoveryError('other_key', 'The stored keys hold another user key than your account publishes: nothing was restored.');
    }
    const identity = DeviceIdentity.generate(uuidBytes(userId), uuidBytes(deviceId));
    const certificate = secrets.userKey.certifyDevice(identity.publicKeys());
    const st = deviceState(userId, deviceId, identity, certificate, secrets.userKey.publicKey);
    identity.wipe();
    st.account = receivedAccount('restored', secrets.backupKey, Number(secrets.version), Date.now());
    const device = await E2eDevice.adopt(api, keystore, st, secrets.userKey);
    return { device, ...(await readHistory(device)) };
  } finally {
    secrets.wipe();
  }
}

/**
 * Starts the account's keys over (18.6) and makes this browser its first device again: a new
 * user key, recovery key and backup key. Old encrypted messages stay unreadable; contacts see
 * the new key as a key change. Refused by the server without the right password (and code).
 */
export async function startOver(
  api: KeyApi & AccountApi,
  keystore: Keystore,
  userId: string,
  deviceId: string,
  password: string,
  code?: string,
): Promise<void> {
  await api.resetUserKey(password, code);
  await DeviceRecord.create(keystore, await newDeviceState(api, keystore, userId, deviceId, { reset: true }));
}
