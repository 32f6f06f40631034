// Sender keys of channels: this device's key in each channel, distributed in envelopes (sealed
// in the pairwise sessions) to every listed device that lacks it and replaced when a device
// that had it is no longer listed; the keys other devices sent here (applied from envelopes,
// pushed live or drained from the server's queue, then acknowledged); and channel messages
// encrypted and decrypted with them; and the history keys of a channel handed to its new members
// (kind 0x02, docs/e2e.md 18.5) when its setting lets them read its history. Works on the device
// record inside its operations (`DeviceRecord.run`).

import { HistoryBundle, HistoryKey, MAX_HISTORY_BUNDLE_KEYS, SenderKeyDistribution, SenderKeyMessage, SenderKeyReceiver, SenderKeySender } from '../crypto/index';
import { AppTag, MalformedError, channelPayload, decodeEnvelopePlaintext, envelopePlaintext, uuidBytes, uuidString } from './appcodec';
import {
  E2eFailure,
  REFUSED_FOR_MS,
  describe,
  refusedRecipient,
  type EnvelopeJson,
  type KeyApi,
  type NewEnvelopeJson,
  type Warnings,
} from './deviceCommon';
import type { Account } from './account';
import type { DeviceRecord, DeviceState } from './deviceRecord';
import type { HistoryStore } from './historyStore';
import type { DeviceCertificate } from '../crypto/index';
import { identityOf } from './prekeys';
import { fromBase64, toBase64 } from './keystore';
import type { PairwiseSessions } from './sessions';
import type { Trust } from './trust';

export const SENDER_KEY_ROTATE_AFTER = 10_000;
/** A refused envelope batch is sent again without the refusing recipients at most this often. */
export const ENVELOPE_RETRIES = 8;
const ENVELOPE_BATCH = 50;
const SEEN_ENVELOPES_KEPT = 2000;
/** A new member is handed a channel's history by this device once in this long (ms). */
export const HISTORY_SHARE_AGAIN_MS = 10 * 60 * 1000;

function incomingKey(channel: string, device: string, keyId: number): string {
  return `${channel}/${device}/${keyId}`;
}

export class SenderKeys {
  /** `channel/device` → until when (ms) that device is left out of sender-key distributions. */
  private refusedUntil = new Map<string, number>();

  constructor(
    private readonly rec: DeviceRecord,
    private readonly api: KeyApi,
    private readonly trust: Trust,
    private readonly sessions: PairwiseSessions,
    private readonly warnings: Warnings,
    private readonly now: () => number,
    private readonly account: Account | null = null,
    private readonly history: HistoryStore | null = null,
  ) {}

  // ---- sending

  /**
   * The channel payload of `body`, after the sender key reached every current member device
   * (and, when `historyOn`, the channel's history keys every member new to this device).
   */
  async encrypt(channelId: string, body: Uint8Array, historyOn = false): Promise<Uint8Array> {
    await this.prepare(channelId, historyOn);
    const st = this.rec.st;
    const o = st.outgoing[channelId];
    if (!o) throw new E2eFailure('failed', 'no sender key');
    const sender = SenderKeySender.fromBytes(fromBase64(o.sender));
    const ct = sender.encrypt(body);
    o.sender = toBase64(sender.toBytes());
    o.sent += 1;
    sender.wipe();
    await this.rec.save();
    return channelPayload(st.deviceId, ct);
  }

  private async prepare(channelId: string, historyOn: boolean): Promise<void> {
    const st = this.rec.st;
    const devices = await this.trust.channelDevices(channelId);
    const readers = new Set(devices.map((d) => d.user));
    const known = st.rosters[channelId];
    const added: string[] = [];
    if (known) {
      for (const u of readers) {
        if (known.includes(u)) continue;
        added.push(u);
        this.warnings.add({ kind: 'member_added', channel: channelId, user: u });
      }
    }
    st.rosters[channelId] = [...new Set([...(known ?? []), ...readers])];
    const current = new Set(devices.map((d) => d.device));
    const o = st.outgoing[channelId];
    const rotate = !o || o.recipients.some((d) => !current.has(d)) || o.sent >= SENDER_KEY_ROTATE_AFTER;
    if (rotate) {
      const sender = SenderKeySender.generate(uuidBytes(channelId), uuidBytes(st.deviceId));
      st.outgoing[channelId] = { sender: toBase64(sender.toBytes()), recipients: [], sent: 0 };
      // Its history key, attested by this device, goes to the backup (docs/e2e.md 18.4): the
      // account's other devices read this device's messages with it.
      if (this.account) {
        const identity = identityOf(st);
        const dist = sender.distribution();
        const own = HistoryKey.attest(identity, dist);
        this.account.keepHistory(own);
        await this.history?.add(own);
        own.wipe();
        dist.wipe();
        identity.wipe();
      }
      sender.wipe();
    }
    const out = st.outgoing[channelId]!;
    const now = this.now();
    const todo = devices.filter((d) => {
      if (out.recipients.includes(d.device)) return false;
      const until = this.refusedUntil.get(`${channelId}/${d.device}`);
      return until === undefined || until <= now;
    });
    if (!todo.length) return;
    const byUser = new Map<string, string[]>();
    for (const d of todo) byUser.set(d.user, [...(byUser.get(d.user) ?? []), d.device]);
    for (const [u, ds] of byUser) await this.sessions.ensure(u, ds);
    const sender = SenderKeySender.fromBytes(fromBase64(out.sender));
    const dist = sender.distribution();
    sender.wipe();
    // Attested by this device (docs/e2e.md 17.2), so that receivers can keep it as history.
    const identity = identityOf(st);
    const attested = HistoryKey.attest(identity, dist);
    identity.wipe();
    dist.wipe();
    const plain = envelopePlaintext(AppTag.KIND_ATTESTED_SENDER_KEY, channelId, attested.toBytes());
    attested.wipe();
    const batch: NewEnvelopeJson[] = [];
    for (const d of todo) {
      if (!this.sessions.has(d.device)) continue;
      batch.push({ recipient_device_id: d.device, channel_id: channelId, ciphertext: toBase64(this.sessions.seal(d.device, plain)) });
    }
    plain.fill(0);
    // The ratchet state that produced the envelopes is stored before they are sent.
    await this.rec.save();
    const userOf = new Map(todo.map((d) => [d.device, d.user]));
    for (let i = 0; i < batch.length; i += ENVELOPE_BATCH) {
      const sent = await this.sendEnvelopes(channelId, batch.slice(i, i + ENVELOPE_BATCH), userOf);
      out.recipients.push(...sent.map((b) => b.recipient_device_id));
    }
    // New members read the channel's history when its setting says so.
    if (historyOn && added.length) await this.shareTo(channelId, devices, added);
  }

  // ---- history for new members (docs/e2e.md 18.5)

  /**
   * Hands the history keys this device holds for `channelId` to the devices of `users` listed
   * in it (a member who just joined a channel whose setting lets new members read its history).
   * Returns the envelopes sent.
   */
  async shareHistory(channelId: string, users: string[]): Promise<number> {
    const devices = await this.trust.channelDevices(channelId);
    return this.shareTo(channelId, devices, users);
  }

  private async shareTo(channelId: string, devices: { user: string; device: string }[], users: string[]): Promise<number> {
    if (!this.history) return 0;
    const st = this.rec.st;
    const now = this.now();
    const shared = ((st.historyShared ??= {})[channelId] ??= []);
    // `user@ms` of the shares made lately; older ones are forgotten.
    const recent = shared.filter((x) => now - Number(x.slice(x.lastIndexOf('@') + 1)) < HISTORY_SHARE_AGAIN_MS);
    const due = users.filter((u) => u !== st.userId && !recent.some((x) => x.startsWith(`${u}@`)));
    const targets = devices.filter((d) => due.includes(d.user));
    if (!targets.length) {
      st.historyShared[channelId] = recent;
      return 0;
    }
    const keys = await this.history.channelKeys(channelId);
    try {
      if (!keys.length) return 0;
      const byUser = new Map<string, string[]>();
      for (const d of targets) byUser.set(d.user, [...(byUser.get(d.user) ?? []), d.device]);
      for (const [u, ds] of byUser) await this.sessions.ensure(u, ds);
      const batch: NewEnvelopeJson[] = [];
      for (let i = 0; i < keys.length; i += MAX_HISTORY_BUNDLE_KEYS) {
        const body = new HistoryBundle(uuidBytes(channelId), keys.slice(i, i + MAX_HISTORY_BUNDLE_KEYS)).toBytes();
        const plain = envelopePlaintext(AppTag.KIND_HISTORY_SHARE, channelId, body);
        body.fill(0);
        for (const d of targets) {
          if (!this.sessions.has(d.device)) continue;
          batch.push({ recipient_device_id: d.device, channel_id: channelId, ciphertext: toBase64(this.sessions.seal(d.device, plain)) });
        }
        plain.fill(0);
      }
      st.historyShared[channelId] = [...recent, ...due.map((u) => `${u}@${now}`)].slice(-1000);
      // The ratchet state that produced the envelopes is stored before they are sent.
      await this.rec.save();
      const userOf = new Map(targets.map((d) => [d.device, d.user]));
      let sent = 0;
      for (let i = 0; i < batch.length; i += ENVELOPE_BATCH) {
        sent += (await this.sendEnvelopes(channelId, batch.slice(i, i + ENVELOPE_BATCH), userOf)).length;
      }
      return sent;
    } finally {
      for (const k of keys) k.wipe();
    }
  }

  /**
   * Takes a history share sent in `channelId`: every key must be of the channel and attested by
   * its sender device, which must be listed in the channel now (its certificate verified under
   * its user's trusted key); keys that do not check are left out and flagged. Returns the keys
   * taken.
   */
  private async takeShare(channelId: string, body: Uint8Array): Promise<number> {
    const bundle = HistoryBundle.fromBytes(body);
    try {
      if (uuidString(bundle.channelId) !== channelId) throw new E2eFailure('channel_mismatch', 'history for another channel');
      const st = this.rec.st;
      const listed = new Map((await this.trust.channelDevices(channelId)).map((d) => [d.device, d.user]));
      listed.set(st.deviceId, st.userId);
      const certs = new Map<string, DeviceCertificate>();
      const ok: HistoryKey[] = [];
      for (const k of bundle.keys) {
        const device = uuidString(k.senderDeviceId);
        try {
          const user = listed.get(device);
          if (!user) throw new E2eFailure('untrusted', 'its sender device is not listed in the channel');
          let cert = certs.get(device);
          if (!cert) {
            cert = await this.trust.certificate(user, device);
            certs.set(device, cert);
          }
          k.verify(cert);
          ok.push(k);
        } catch (err) {
          this.warnings.add({ kind: 'rejected', what: `history key of device ${device}`, reason: describe(err) });
        }
      }
      const taken = ok.length ? await this.history!.addAll(ok) : 0;
      // Kept for the backup too: the account's other devices read that history with them.
      for (const k of ok) this.account?.keepHistory(k);
      return taken;
    } finally {
      bundle.wipe();
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
   * acknowledges what was applied or refused, each batch after the state holding it is stored.
   * Returns how many were accepted.
   */
  async processEnvelopes(live: EnvelopeJson[]): Promise<number> {
    const st = this.rec.st;
    let accepted = 0;
    // Pushed envelopes are applied and acknowledged like drained ones; one seen before (by
    // id: pushed twice, or pushed and drained) changes nothing and is acknowledged again.
    const liveIds: string[] = [];
    for (const e of live) {
      if (e.recipient_device_id !== st.deviceId) continue;
      accepted += (await this.acceptEnvelope(e)) ? 1 : 0;
      if (!liveIds.includes(e.id)) liveIds.push(e.id);
    }
    await this.rec.save();
    for (let i = 0; i < liveIds.length; i += 500) await this.api.ackEnvelopes(st.deviceId, liveIds.slice(i, i + 500));
    for (;;) {
      const page = await this.api.envelopes(st.deviceId);
      if (!page.envelopes.length) break;
      for (const e of page.envelopes) accepted += (await this.acceptEnvelope(e)) ? 1 : 0;
      await this.rec.save();
      await this.api.ackEnvelopes(st.deviceId, page.envelopes.map((e) => e.id));
      if (!page.has_more) break;
    }
    return accepted;
  }

  private async acceptEnvelope(e: EnvelopeJson): Promise<boolean> {
    const st = this.rec.st;
    if (e.recipient_device_id !== st.deviceId || st.seenEnvelopes.includes(e.id)) return false;
    st.seenEnvelopes.push(e.id);
    if (st.seenEnvelopes.length > SEEN_ENVELOPES_KEPT) st.seenEnvelopes.splice(0, st.seenEnvelopes.length - SEEN_ENVELOPES_KEPT);
    const before = JSON.stringify({ s: st.sessions, i: st.incoming, o: st.opks });
    try {
      await this.openEnvelope(e);
      return true;
    } catch (err) {
      const restored = JSON.parse(before) as { s: DeviceState['sessions']; i: DeviceState['incoming']; o: DeviceState['opks'] };
      st.sessions = restored.s;
      st.incoming = restored.i;
      st.opks = restored.o;
      this.warnings.add({ kind: 'rejected', what: `envelope ${e.id}`, reason: describe(err) });
      return false;
    }
  }

  /** Takes the sender key an envelope carries (sealed in the pairwise session with its sender). */
  private async openEnvelope(e: EnvelopeJson): Promise<void> {
    const plain = await this.sessions.openMessage(e.sender_user_id, e.sender_device_id, fromBase64(e.ciphertext));
    const env = decodeEnvelopePlaintext(plain);
    plain.fill(0);
    if (env.channelId !== (e.channel_id ?? null)) throw new E2eFailure('channel_mismatch', 'envelope bound to another channel');
    if (env.kind === AppTag.KIND_HISTORY_SHARE && this.history) {
      if (!env.channelId) throw new MalformedError('history without channel');
      await this.takeShare(env.channelId, env.body);
      return;
    }
    if (env.kind !== AppTag.KIND_SENDER_KEY && env.kind !== AppTag.KIND_ATTESTED_SENDER_KEY) {
      throw new MalformedError('envelope kind');
    }
    if (!env.channelId) throw new MalformedError('distribution without channel');
    let d: SenderKeyDistribution;
    let attested: HistoryKey | null = null;
    if (env.kind === AppTag.KIND_ATTESTED_SENDER_KEY) {
      const k = HistoryKey.fromBytes(env.body);
      try {
        if (uuidString(k.senderDeviceId) !== e.sender_device_id) throw new E2eFailure('wrong_sender', 'attested for another device');
        k.verify(await this.trust.certificate(e.sender_user_id, e.sender_device_id));
        d = k.distribution();
      } catch (err) {
        k.wipe();
        throw err;
      }
      attested = k;
    } else {
      d = SenderKeyDistribution.fromBytes(env.body);
    }
    try {
      if (uuidString(d.channelId) !== env.channelId) throw new E2eFailure('channel_mismatch', 'distribution for another channel');
      const receiver = SenderKeyReceiver.fromDistribution(d, uuidBytes(e.sender_device_id));
      this.rec.st.incoming[incomingKey(env.channelId, e.sender_device_id, d.keyId)] = {
        user: e.sender_user_id,
        receiver: toBase64(receiver.toBytes()),
        first: d.iteration,
      };
      receiver.wipe();
      // Kept for the backup (the account's other devices read this sender's messages with it)
      // and held for the channel's new members.
      if (attested) {
        this.account?.keepHistory(attested);
        await this.history?.add(attested);
      }
    } finally {
      d.wipe();
      attested?.wipe();
    }
  }

  /** The body of a channel message `sender` wrote on `senderDevice` under their sender key. */
  decrypt(channelId: string, sender: string, senderDevice: string, message: Uint8Array): Uint8Array {
    const { keyId, iteration } = SenderKeyMessage.fromBytes(message);
    const entry = this.rec.st.incoming[incomingKey(channelId, senderDevice, keyId)];
    if (!entry) throw new E2eFailure('unknown_sender_key', 'no sender key for this message');
    if (entry.user !== sender) throw new E2eFailure('wrong_sender', 'the sender key came from another user');
    // Sent before this device got the key: its history key reads it, if this device holds one.
    if (entry.first !== undefined && iteration < entry.first) {
      throw new E2eFailure('unknown_sender_key', 'sent before this device received the sender key');
    }
    const r = SenderKeyReceiver.fromBytes(fromBase64(entry.receiver));
    try {
      const body = r.decrypt(uuidBytes(channelId), uuidBytes(senderDevice), message);
      entry.receiver = toBase64(r.toBytes());
      return body;
    } finally {
      r.wipe();
    }
  }
}
