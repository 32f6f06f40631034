// An in-memory key directory that keeps the server's rules (docs/e2e.md, sections 15 and 16):
// user keys fixed by the first device, certificates checked on publication, one-time prekeys
// served once, envelopes queued per device until acknowledged, blocks refusing claims and
// envelopes. Shared by the end-to-end device tests.
import { fromBase64, toBase64 } from '../../src/lib/e2e/keystore';
import type { KeyApi } from '../../src/lib/e2e/device';
import { SimpleStore, type StoreName } from '../../src/lib/storage/kv';
import type { DeviceKeysJson, EnvelopeJson, NewEnvelopeJson } from '../../src/lib/api/types';
import { DeviceCertificate, OneTimePreKeyPublic, PreKeyBundle, SignedPreKeyPublic } from '../../src/lib/crypto/index';

export function uuid(n: number): string {
  return `0193aaaa-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;
}

export interface DeviceRow {
  user: string;
  cert: string;
  spk: string;
  opks: string[];
}

export class Directory {
  userKeys = new Map<string, string>();
  devices = new Map<string, DeviceRow>();
  queues = new Map<string, EnvelopeJson[]>();
  /** channel → users who can read it */
  channels = new Map<string, Set<string>>();
  /** Community channels: envelopes there are not refused for blocks. */
  community = new Set<string>();
  /** `blocker>blocked`: the blocked user may not claim the blocker's keys nor send them envelopes. */
  blocks = new Set<string>();
  /** How often `POST /envelopes` was called, and every acknowledgement. */
  envelopeCalls = 0;
  acks: string[][] = [];
  private nextId = 1;

  api(user: string, device: string): KeyApi {
    const own = (id: string) => {
      if (id !== device) throw new Error('403 forbidden');
    };
    const listing = (users: Iterable<string>): DeviceKeysJson[] => {
      const set = new Set(users);
      return [...this.devices.entries()]
        .filter(([, r]) => set.has(r.user))
        .map(([id, r]) => ({ user_id: r.user, device_id: id, certificate: r.cert, created_at: '2026-11-28T10:00:00Z' }));
    };
    return {
      publishKeys: async (id, body) => {
        own(id);
        const cert = DeviceCertificate.fromBytes(fromBase64(body.certificate));
        cert.verify(cert.userKey);
        const key = toBase64(cert.userKey);
        const fixed = this.userKeys.get(user);
        if (fixed && fixed !== key) throw new Error('409 conflict');
        SignedPreKeyPublic.fromBytes(fromBase64(body.signed_prekey)).verify(cert.deviceSigningKey, cert.deviceId);
        this.userKeys.set(user, key);
        const row = this.devices.get(id);
        if (row && row.cert !== body.certificate) throw new Error('409 conflict');
        this.devices.set(id, { user, cert: body.certificate, spk: body.signed_prekey, opks: [...(row?.opks ?? []), ...body.one_time_prekeys] });
        return {};
      },
      uploadPrekeys: async (id, keys) => {
        own(id);
        this.devices.get(id)!.opks.push(...keys);
        return {};
      },
      rotateSignedPreKey: async (id, spk) => {
        own(id);
        const row = this.devices.get(id)!;
        const cert = DeviceCertificate.fromBytes(fromBase64(row.cert));
        SignedPreKeyPublic.fromBytes(fromBase64(spk)).verify(cert.deviceSigningKey, cert.deviceId);
        row.spk = spk;
        return {};
      },
      keyStatus: async (id) => {
        own(id);
        return { one_time_prekeys: this.devices.get(id)!.opks.length };
      },
      userDevices: async (u) => ({ user_key: this.userKeys.get(u) ?? null, devices: listing([u]) }),
      channelDevices: async (c) => {
        const readers = this.channels.get(c);
        if (!readers?.has(user)) throw new Error('404 not_found');
        return { devices: listing(readers) };
      },
      claimBundles: async (u, ids) => {
        if (this.blocks.has(`${u}>${user}`)) throw refusal('this user does not accept messages from you');
        return {
        bundles: ids.map((id) => {
          const r = this.devices.get(id)!;
          const opk = r.opks.shift();
          const bundle = new PreKeyBundle(
            DeviceCertificate.fromBytes(fromBase64(r.cert)),
            SignedPreKeyPublic.fromBytes(fromBase64(r.spk)),
            opk ? OneTimePreKeyPublic.fromBytes(fromBase64(opk)) : null,
          );
          return { user_id: u, device_id: id, bundle: toBase64(bundle.toBytes()) };
        }),
        };
      },
      sendEnvelopes: async (list: NewEnvelopeJson[]) => {
        this.envelopeCalls++;
        // All or nothing, as the server: the first recipient whose user blocked the sender
        // refuses the whole batch, named in the message (community channels excepted).
        for (const e of list) {
          const to = this.devices.get(e.recipient_device_id)!.user;
          if (!(e.channel_id && this.community.has(e.channel_id)) && this.blocks.has(`${to}>${user}`)) {
            throw refusal(`recipient_device_id ${e.recipient_device_id}: its user does not accept messages from you`);
          }
        }
        const ids = list.map((e) => {
          const id = uuid(1_000_000 + this.nextId++);
          const q = this.queues.get(e.recipient_device_id) ?? [];
          q.push({
            id,
            sender_user_id: user,
            sender_device_id: device,
            recipient_device_id: e.recipient_device_id,
            channel_id: e.channel_id ?? null,
            ciphertext: e.ciphertext,
            created_at: new Date().toISOString(),
          });
          this.queues.set(e.recipient_device_id, q);
          return id;
        });
        return { ids };
      },
      envelopes: async (id) => {
        own(id);
        const q = this.queues.get(id) ?? [];
        return { envelopes: q.slice(0, 100), has_more: q.length > 100 };
      },
      ackEnvelopes: async (id, ids) => {
        own(id);
        this.acks.push([...ids]);
        this.queues.set(id, (this.queues.get(id) ?? []).filter((e) => !ids.includes(e.id)));
        return {};
      },
    };
  }
}

/** The API client's error for a 403 `forbidden`. */
export function refusal(message: string): Error {
  return Object.assign(new Error(message), { code: 'forbidden', status: 403 });
}

/** A key-value store whose records can be written out and read back (fixtures of stored data). */
export class PlainStore extends SimpleStore {
  constructor(readonly data: Record<string, unknown> = {}) {
    super();
  }

  async get<T>(store: StoreName, key: string): Promise<T | undefined> {
    const v = this.data[`${store}/${key}`];
    return v === undefined ? undefined : (structuredClone(v) as T);
  }

  async put<T>(store: StoreName, key: string, value: T): Promise<void> {
    this.data[`${store}/${key}`] = structuredClone(value);
  }

  async delete(store: StoreName, key: string): Promise<void> {
    delete this.data[`${store}/${key}`];
  }

  async clear(store: StoreName): Promise<void> {
    for (const k of Object.keys(this.data)) if (k.startsWith(`${store}/`)) delete this.data[k];
  }
}
