// A signed-in browser without keys, linked by another device of the account (docs/e2e.md 18.2),
// as the Rust test client's `NewDevice` does it: it makes its device identity, an ephemeral key
// and a 128-bit code, hands the server a request MAC'd under the code, and shows the code (text
// and QR). The user types the code on a device with keys, which answers through the server; the
// answer opens only with this device's ephemeral secret and the code, and must hand over the user
// key the server publishes and a certificate naming this device's keys. Then the device publishes
// itself and reads the key backup, refusing a head older than the linking device saw.

import { CryptoError, DeviceIdentity, PendingLink } from '../crypto/index';
import { receivedAccount, type AccountApi } from './account';
import { uuidBytes } from './appcodec';
import type { KeyApi } from './deviceCommon';
import { E2eDevice, LinkError } from './device';
import { fromBase64, toBase64 } from './keystore';
import type { Keystore } from './keystore';
import { deviceState } from './prekeys';

/** A linked device, and what reading the backup gave (or why it was refused). */
export interface NewDeviceResult {
  device: E2eDevice;
  /** Entries read from the backup. */
  restored: number;
  /** The backup was refused (rolled back, forged...): the device works, without that history. */
  backupError: unknown;
}

/** Reads the whole backup on a device that just got the backup key; its refusal is reported, not thrown. */
export async function readHistory(device: E2eDevice): Promise<{ restored: number; backupError: unknown }> {
  try {
    return { restored: await device.restoreBackup(), backupError: null };
  } catch (e) {
    return { restored: 0, backupError: e };
  }
}

/** The new device's side of a link in progress. */
export class LinkSession {
  private done = false;

  private constructor(
    private readonly api: KeyApi & AccountApi,
    private readonly keystore: Keystore,
    private readonly userId: string,
    private readonly deviceId: string,
    private readonly pending: PendingLink,
  ) {}

  /** Asks to be linked: a new identity and code, the request handed to the server. */
  static async start(api: KeyApi & AccountApi, keystore: Keystore, userId: string, deviceId: string): Promise<LinkSession> {
    const identity = DeviceIdentity.generate(uuidBytes(userId), uuidBytes(deviceId));
    // The pending link keeps the identity (it is the new device's, once answered).
    const pending = PendingLink.start(identity);
    await api.putLinkRequest(deviceId, toBase64(pending.request.toBytes()));
    return new LinkSession(api, keystore, userId, deviceId, pending);
  }

  /** The code to show (26 characters, in groups of four). */
  get code(): string {
    return this.pending.code.toText();
  }

  /**
   * Looks for the answer: null while there is none. An answer that does not open for this
   * request and code, or hands over another user key than the server publishes, is refused
   * (`LinkError` `bad_answer`) and changes nothing.
   */
  async check(): Promise<NewDeviceResult | null> {
    if (this.done) throw new Error('This link is finished.');
    let answer;
    try {
      answer = await this.api.linkResponse(this.deviceId);
    } catch (e) {
      if ((e as { status?: number }).status === 404) return null;
      throw e;
    }
    const dir = await this.api.userDevices(this.userId);
    if (!dir.user_key) throw new LinkError('bad_answer', 'Your account has no user key on the server: start over on the other device.');
    let linked;
    try {
      linked = this.pending.finish(fromBase64(answer.response), fromBase64(dir.user_key));
    } catch (e) {
      const reason =
        e instanceof CryptoError && e.code === 'IdentityMismatch'
          ? 'The linking device holds another user key than your account’s, or certified other keys: refused.'
          : 'The answer does not open with this device’s code: it was not made for this request. Start linking again.';
      throw new LinkError('bad_answer', reason);
    }
    const { identity, secrets } = linked;
    try {
      const st = deviceState(this.userId, this.deviceId, identity, secrets.certificate, secrets.userKey.publicKey);
      const acc = receivedAccount('linked', secrets.backupKey, Number(secrets.storageVersion), Date.now());
      // The backup must be at least as new as the linking device saw it.
      acc.headSeq = Number(secrets.headSeq);
      st.account = acc;
      const device = await E2eDevice.adopt(this.api, this.keystore, st, secrets.userKey);
      this.done = true;
      this.pending.wipe();
      return { device, ...(await readHistory(device)) };
    } finally {
      identity.wipe();
      secrets.wipe();
    }
  }

  /** Gives up: the request goes from the server. */
  async cancel(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.pending.wipe();
    await this.api.deleteLinkRequest(this.deviceId).catch(() => {});
  }
}
