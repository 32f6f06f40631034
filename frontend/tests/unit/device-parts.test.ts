// The parts of the end-to-end device, each on its own (the facade, E2eDevice, is exercised by
// e2e.test.ts): the record and its serialisation, trust, pairwise sessions, sender keys and the
// device's own prekeys, against the in-memory key directory of keydir.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lib/storage/kv';
import { Keystore, fromBase64, toBase64 } from '../../src/lib/e2e/keystore';
import { decodePayload, textBody, uuidBytes } from '../../src/lib/e2e/appcodec';
import { E2eFailure, E2eSetupError, REFUSED_FOR_MS, Warnings, type KeyApi } from '../../src/lib/e2e/deviceCommon';
import { DeviceRecord, STATE_SLOT } from '../../src/lib/e2e/deviceRecord';
import { PreKeys, SIGNED_PREKEY_MAX_AGE_MS, newDeviceState } from '../../src/lib/e2e/prekeys';
import { Trust } from '../../src/lib/e2e/trust';
import { PairwiseSessions } from '../../src/lib/e2e/sessions';
import { SENDER_KEY_ROTATE_AFTER, SenderKeys } from '../../src/lib/e2e/senderKeys';
import { SignedPreKeySecret, UserKeyPair } from '../../src/lib/crypto/index';
import { Directory, uuid } from './keydir';

const KDF = { alg: 'argon2id' as const, m: 64, t: 1, p: 1 };

/** One browser's device taken apart; `wrap` changes what its key directory answers. */
async function parts(dir: Directory, n: number, wrap: (api: KeyApi) => KeyApi = (a) => a) {
  const user = uuid(n);
  const device = uuid(100 + n);
  const ks = new Keystore(new MemoryStore(), { kdf: KDF });
  await ks.unlock(user, 'password');
  const api = wrap(dir.api(user, device));
  const rec = await DeviceRecord.create(ks, await newDeviceState(api, ks, user, device));
  const prekeys = new PreKeys(rec, api);
  await prekeys.finishSetup();
  const clock = { t: 1_000_000 };
  const warnings = new Warnings();
  const trust = new Trust(rec, api, warnings);
  const sessions = new PairwiseSessions(rec, api, trust, warnings, () => clock.t);
  const senderKeys = new SenderKeys(rec, api, trust, sessions, warnings, () => clock.t);
  return { user, device, ks, api, rec, prekeys, warnings, trust, sessions, senderKeys, clock };
}

/** A promise the test settles. */
function later() {
  let resolve!: () => void;
  const p = new Promise<void>((res) => (resolve = res));
  return { p, resolve };
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

afterEach(() => {
  delete (navigator as { locks?: unknown }).locks;
});

describe('DeviceRecord', () => {
  it('reads only the stored record of this user and device', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    expect((await DeviceRecord.read(a.ks, a.user, a.device))?.st).toEqual(a.rec.st);
    expect(await DeviceRecord.read(a.ks, a.user, uuid(999))).toBeNull();
    expect(await DeviceRecord.read(a.ks, uuid(998), a.device)).toBeNull();
    const empty = new Keystore(new MemoryStore(), { kdf: KDF });
    await empty.unlock(a.user, 'password');
    expect(await DeviceRecord.read(empty, a.user, a.device)).toBeNull();
    // What is stored is the JSON of the state, sealed under the slot `device`.
    const raw = await a.ks.getSecret(STATE_SLOT);
    expect(JSON.parse(fromUtf8.decode(raw!))).toEqual(a.rec.st);
  });

  it('runs operations one at a time; a failed one returns to the stored state', async () => {
    const dir = new Directory();
    const { rec } = await parts(dir, 1);
    const order: string[] = [];
    const gate = later();
    const first = rec.run(async () => {
      order.push('first starts');
      await gate.p;
      rec.st.rosters.x = ['one'];
      await rec.save();
      order.push('first ends');
    });
    const second = rec.run(async () => {
      order.push(`second starts with ${JSON.stringify(rec.st.rosters.x)}`);
    });
    // However long the first takes, the second waits.
    await new Promise((r) => setTimeout(r, 30));
    expect(order).toEqual(['first starts']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(order).toEqual(['first starts', 'first ends', 'second starts with ["one"]']);
    await expect(
      rec.run(async () => {
        rec.st.rosters.x = ['changed'];
        rec.st.nextPrekeyId = 12345;
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(rec.st.rosters.x).toEqual(['one']);
    expect(rec.st.nextPrekeyId).not.toBe(12345);
    // The queue goes on after a failure.
    expect(await rec.run(async () => 'next')).toBe('next');
  });

  it('starts every operation from the state another tab stored', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    const tab2 = (await DeviceRecord.read(a.ks, a.user, a.device))!;
    await tab2.run(async () => {
      tab2.st.rosters.c = ['from tab 2'];
      await tab2.save();
    });
    expect(a.rec.st.rosters.c).toBeUndefined();
    expect(await a.rec.run(async () => a.rec.st.rosters.c)).toEqual(['from tab 2']);
    // A record of another device in the slot is not taken.
    const other = { ...a.rec.st, deviceId: uuid(999), rosters: { c: ['other device'] } };
    await a.ks.putSecret(STATE_SLOT, utf8.encode(JSON.stringify(other)));
    expect(await a.rec.run(async () => a.rec.st.rosters.c)).toEqual(['from tab 2']);
  });

  it('holds the device’s Web Lock across tabs while an operation runs', async () => {
    const dir = new Directory();
    const { rec, device } = await parts(dir, 1);
    const names: string[] = [];
    Object.defineProperty(navigator, 'locks', {
      configurable: true,
      value: { request: (name: string, fn: () => Promise<unknown>) => (names.push(name), fn()) },
    });
    expect(await rec.run(async () => 'done')).toBe('done');
    expect(names).toEqual([`chatalot-e2e/${device}`]);
  });
});

describe('PreKeys', () => {
  it('publishes once with 50 one-time prekeys, signed by a key certified by the user key', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    expect(a.rec.st.published).toBe(true);
    expect(dir.devices.get(a.device)!.opks).toHaveLength(50);
    expect(Object.keys(a.rec.st.opks)).toHaveLength(50);
    expect(a.rec.st.pinned[a.user]).toBe(dir.userKeys.get(a.user));
  });

  it('keeps the current signed prekey when publishing its replacement fails, and holds the new secret too', async () => {
    const dir = new Directory();
    let fail = true;
    const a = await parts(dir, 1, (api) => ({
      ...api,
      rotateSignedPreKey: async (d, k) => {
        if (fail) throw new Error('network');
        return api.rotateSignedPreKey(d, k);
      },
    }));
    const before = { spk: a.rec.st.spk, spkAt: a.rec.st.spkAt, old: a.rec.st.oldSpks.length };
    const later = (a.rec.st.spkAt ?? 0) + SIGNED_PREKEY_MAX_AGE_MS + 1;
    await expect(a.prekeys.rotateIfOld(later)).rejects.toThrow('network');
    expect(a.rec.st.spk).toBe(before.spk);
    expect(a.rec.st.spkAt).toBe(before.spkAt);
    expect(a.rec.st.oldSpks).toHaveLength(before.old + 1);
    expect(SignedPreKeySecret.fromBytes(fromBase64(a.rec.st.oldSpks[0]!)).keyId).toBe(2);
    // Stored as well: a reload keeps the secret that may have been published.
    expect((await DeviceRecord.read(a.ks, a.user, a.device))!.st.oldSpks).toEqual(a.rec.st.oldSpks);
    fail = false;
    await a.prekeys.rotateIfOld(later + 1);
    expect(SignedPreKeySecret.fromBytes(fromBase64(a.rec.st.spk)).keyId).toBe(3);
  });

  it('refuses a device whose keys were published before but are not held here, and a second browser', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    await expect(newDeviceState(a.api, a.ks, a.user, a.device)).rejects.toMatchObject({ code: 'device_conflict' });
    const ks2 = new Keystore(new MemoryStore(), { kdf: KDF });
    await ks2.unlock(a.user, 'password');
    const e = await newDeviceState(dir.api(a.user, uuid(555)), ks2, a.user, uuid(555)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(E2eSetupError);
    expect((e as E2eSetupError).code).toBe('other_browser');
  });
});

describe('Trust', () => {
  it('pins a user key on first use, holds a changed key as a change, and re-pins it when accepted', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    const b = await parts(dir, 2);
    let changes = 0;
    a.trust.onChange = () => changes++;
    const first = await a.trust.trustedKey(b.user);
    expect(toBase64(first)).toBe(dir.userKeys.get(b.user));
    expect(changes).toBe(1);
    expect(a.trust.markVerified(b.user)).toBe(true);
    expect(a.trust.isVerified(b.user)).toBe(true);
    expect(a.trust.markVerified(uuid(77))).toBe(false);
    // The directory reports another key: the pinned one stays until the change is accepted.
    const next = toBase64(UserKeyPair.generate(uuidBytes(b.user)).publicKey);
    dir.userKeys.set(b.user, next);
    await a.trust.checkUser(b.user);
    expect(a.trust.keyChanges).toEqual([b.user]);
    expect(toBase64(await a.trust.trustedKey(b.user))).toBe(toBase64(first));
    expect(a.trust.isVerified(b.user)).toBe(true);
    expect(a.trust.acceptKeyChange(b.user)).toBe(true);
    expect(a.trust.acceptKeyChange(b.user)).toBe(false);
    expect(a.trust.keyChanges).toEqual([]);
    expect(toBase64(await a.trust.trustedKey(b.user))).toBe(next);
    expect(a.trust.isVerified(b.user)).toBe(false);
    expect(a.rec.st.verified[b.user]).toBeUndefined();
    // A change that goes back before it is accepted is no longer a change.
    dir.userKeys.set(b.user, toBase64(first));
    await a.trust.checkUser(b.user);
    expect(a.trust.keyChanges).toEqual([b.user]);
    dir.userKeys.set(b.user, next);
    await a.trust.checkUser(b.user);
    expect(a.trust.keyChanges).toEqual([]);
  });

  it('lists the channel devices that verify, but this one, and flags the others', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    const b = await parts(dir, 2);
    const ch = uuid(700);
    dir.channels.set(ch, new Set([a.user, b.user]));
    const fake = UserKeyPair.generate(uuidBytes(b.user));
    const injected = uuid(999);
    const cert = fake.certifyDevice({ deviceId: uuidBytes(injected), signingKey: new Uint8Array(32).fill(9), dhKey: new Uint8Array(32).fill(7) });
    dir.devices.set(injected, { user: b.user, cert: toBase64(cert.toBytes()), spk: '', opks: [] });
    expect(await a.trust.channelDevices(ch)).toEqual([{ user: b.user, device: b.device }]);
    expect(a.warnings.list).toEqual([expect.objectContaining({ kind: 'untrusted_device', user: b.user, device: injected })]);
    // Flagged once however often it is listed.
    await a.trust.channelDevices(ch);
    expect(a.warnings.list).toHaveLength(1);
  });

  it('gives both sides the same safety number', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    const b = await parts(dir, 2);
    const ab = a.trust.safetyNumber(b.user, await a.trust.trustedKey(b.user));
    expect(ab).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(b.trust.safetyNumber(a.user, await b.trust.trustedKey(a.user))).toBe(ab);
  });
});

describe('PairwiseSessions', () => {
  it('starts a session from a claimed bundle; the first message and the answers open on both sides', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    const b = await parts(dir, 2);
    expect(await a.sessions.ensure(b.user, [b.device])).toBe(true);
    expect(a.sessions.has(b.device)).toBe(true);
    const opksBefore = Object.keys(b.rec.st.opks).length;
    const first = a.sessions.seal(b.device, utf8.encode('hello'));
    // A first message whose certificate names another user than its sender: refused.
    await expect(b.sessions.openMessage(uuid(3), a.device, first)).rejects.toMatchObject({ reason: 'wrong_sender' });
    expect(fromUtf8.decode(await b.sessions.openMessage(a.user, a.device, first))).toBe('hello');
    // The one-time prekey it used is spent.
    expect(Object.keys(b.rec.st.opks)).toHaveLength(opksBefore - 1);
    const back = b.sessions.seal(a.device, utf8.encode('hi'));
    expect(fromUtf8.decode(await a.sessions.openMessage(b.user, b.device, back))).toBe('hi');
    const again = a.sessions.seal(b.device, utf8.encode('again'));
    // Attributed to another sender: refused.
    await expect(b.sessions.openMessage(uuid(3), a.device, again)).rejects.toMatchObject({ reason: 'wrong_sender' });
    expect(fromUtf8.decode(await b.sessions.openMessage(a.user, a.device, again))).toBe('again');
    // No session with a device: nothing sealed for it.
    expect(() => a.sessions.seal(uuid(404), utf8.encode('x'))).toThrow(E2eFailure);
    a.sessions.forgetUser(b.user);
    expect(a.sessions.has(b.device)).toBe(false);
  });

  it('does not ask again for five minutes for the keys of a user who refused them', async () => {
    const dir = new Directory();
    let claims = 0;
    const a = await parts(dir, 1, (api) => ({
      ...api,
      claimBundles: (u, ids) => {
        claims++;
        return api.claimBundles(u, ids);
      },
    }));
    const b = await parts(dir, 2);
    dir.blocks.add(`${b.user}>${a.user}`);
    expect(await a.sessions.ensure(b.user, [b.device])).toBe(false);
    expect(await a.sessions.ensure(b.user, [b.device])).toBe(false);
    expect(claims).toBe(1);
    dir.blocks.delete(`${b.user}>${a.user}`);
    a.clock.t += REFUSED_FOR_MS;
    expect(await a.sessions.ensure(b.user, [b.device])).toBe(true);
    expect(claims).toBe(2);
  });

  it('says why a DM cannot be sent: everyone refused, or nobody has trusted keys', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    const b = await parts(dir, 2);
    const dm = uuid(900);
    dir.channels.set(dm, new Set([a.user, b.user]));
    dir.blocks.add(`${b.user}>${a.user}`);
    await expect(a.sessions.encryptDirect(dm, textBody('x'))).rejects.toMatchObject({ reason: 'refused' });
    const alone = uuid(901);
    dir.channels.set(alone, new Set([a.user, uuid(50)]));
    await expect(a.sessions.encryptDirect(alone, textBody('x'))).rejects.toMatchObject({ reason: 'untrusted' });
  });
});

describe('SenderKeys', () => {
  it('distributes its key once per device; another sender’s key opens only that sender’s messages', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    const b = await parts(dir, 2);
    const c = await parts(dir, 3);
    const ch = uuid(700);
    dir.channels.set(ch, new Set([a.user, b.user, c.user]));
    const p1 = await a.senderKeys.encrypt(ch, textBody('one'));
    await a.senderKeys.encrypt(ch, textBody('two'));
    expect(dir.queues.get(b.device)).toHaveLength(1);
    expect(await b.senderKeys.processEnvelopes([])).toBe(1);
    expect(dir.queues.get(b.device)).toEqual([]);
    const msg = decodePayload(p1, b.device);
    if (msg.kind !== 'channel') throw new Error('not a channel payload');
    // Said to come from c: the key came from a, refused.
    expect(() => b.senderKeys.decrypt(ch, c.user, msg.senderDevice, msg.message)).toThrow(
      expect.objectContaining({ reason: 'wrong_sender' }),
    );
    expect(b.senderKeys.decrypt(ch, a.user, msg.senderDevice, msg.message)).toEqual(textBody('one'));
    // Another channel has no key of a's.
    expect(() => b.senderKeys.decrypt(uuid(701), a.user, msg.senderDevice, msg.message)).toThrow(
      expect.objectContaining({ reason: 'unknown_sender_key' }),
    );
  });

  it('replaces its key after 10 000 messages, and when a device that had it is no longer listed', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    const b = await parts(dir, 2);
    const c = await parts(dir, 3);
    const ch = uuid(700);
    dir.channels.set(ch, new Set([a.user, b.user, c.user]));
    await a.senderKeys.encrypt(ch, textBody('one'));
    const key1 = a.rec.st.outgoing[ch]!.sender;
    a.rec.st.outgoing[ch]!.sent = SENDER_KEY_ROTATE_AFTER;
    await a.senderKeys.encrypt(ch, textBody('two'));
    expect(a.rec.st.outgoing[ch]!.sender).not.toBe(key1);
    expect(dir.queues.get(b.device)).toHaveLength(2);
    dir.channels.get(ch)!.delete(c.user);
    await a.senderKeys.encrypt(ch, textBody('three'));
    expect(dir.queues.get(b.device)).toHaveLength(3);
    expect(dir.queues.get(c.device)).toHaveLength(2);
    expect(a.rec.st.outgoing[ch]!.recipients).toEqual([b.device]);
  });

  it('refuses a damaged envelope without changing its sessions, acknowledges it, and does not take it twice', async () => {
    const dir = new Directory();
    const a = await parts(dir, 1);
    const b = await parts(dir, 2);
    const ch = uuid(700);
    dir.channels.set(ch, new Set([a.user, b.user]));
    await a.senderKeys.encrypt(ch, textBody('one'));
    const env = dir.queues.get(b.device)![0]!;
    const bytes = fromBase64(env.ciphertext);
    bytes[bytes.length - 2]! ^= 1;
    const damaged = { ...env, ciphertext: toBase64(bytes) };
    dir.queues.set(b.device, [damaged]);
    const sessionsBefore = JSON.stringify(b.rec.st.sessions);
    const opksBefore = JSON.stringify(b.rec.st.opks);
    expect(await b.senderKeys.processEnvelopes([])).toBe(0);
    expect(JSON.stringify(b.rec.st.sessions)).toBe(sessionsBefore);
    expect(JSON.stringify(b.rec.st.opks)).toBe(opksBefore);
    expect(b.rec.st.incoming).toEqual({});
    expect(b.warnings.list).toEqual([expect.objectContaining({ kind: 'rejected', what: `envelope ${env.id}` })]);
    expect(dir.acks.at(-1)).toEqual([env.id]);
    expect(b.rec.st.seenEnvelopes).toEqual([env.id]);
    // The intact envelope under the same id is a repeat now: not taken.
    expect(await b.senderKeys.processEnvelopes([env])).toBe(0);
    expect(b.rec.st.incoming).toEqual({});
  });
});
