// The browser's end-to-end device against an in-memory key directory that keeps the server's
// rules (tests/unit/keydir.ts). The real server is exercised by the browser tests.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lib/storage/kv';
import { Keystore, fromBase64, toBase64 } from '../../src/lib/e2e/keystore';
import { E2eDevice, E2eFailure, E2eSetupError, ENVELOPE_RETRIES, SIGNED_PREKEY_MAX_AGE_MS, refusedRecipient } from '../../src/lib/e2e/device';
import { SignedPreKeyPublic, UserKeyPair } from '../../src/lib/crypto/index';
import { decodeBody, textBody, uuidBytes } from '../../src/lib/e2e/appcodec';
import { Directory, refusal, uuid } from './keydir';

const KDF = { alg: 'argon2id' as const, m: 64, t: 1, p: 1 };

interface Peer {
  user: string;
  device: string;
  ks: Keystore;
  dev: E2eDevice;
}

async function peer(dir: Directory, n: number): Promise<Peer> {
  const user = uuid(n);
  const device = uuid(100 + n);
  const ks = new Keystore(new MemoryStore(), { kdf: KDF });
  await ks.unlock(user, 'password');
  const dev = await E2eDevice.openOrCreate(dir.api(user, device), ks, user, device);
  return { user, device, ks, dev };
}

/** A stored message as the server would hand it out. */
let seq = 0;
function stored(channel: string, from: Peer, ciphertext: Uint8Array) {
  seq++;
  return { id: uuid(5_000_000 + seq), channel_id: channel, sender_id: from.user, ciphertext };
}

async function read(p: Peer, m: ReturnType<typeof stored>): Promise<string> {
  const b = await p.dev.decrypt(m);
  if (b.kind !== 'text') throw new Error('not text');
  return b.text;
}

describe('E2E device (browser)', () => {
  it('publishes verified keys once and keeps its one-time prekeys topped up', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const row = dir.devices.get(a.device)!;
    expect(row.opks.length).toBe(50);
    expect(dir.userKeys.get(a.user)).toBe(toBase64(a.dev.myUserKey));
    // Reopening from the keystore publishes nothing new; a low stock is replenished.
    row.opks.splice(0, 45);
    const again = await E2eDevice.openOrCreate(dir.api(a.user, a.device), a.ks, a.user, a.device);
    expect(again.deviceId).toBe(a.device);
    expect(dir.devices.get(a.device)!.cert).toBe(row.cert);
    expect(dir.devices.get(a.device)!.opks.length).toBe(55);
  });

  it('exchanges direct messages both ways and refuses tampering without losing the session', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const dm = uuid(900);
    dir.channels.set(dm, new Set([a.user, b.user]));
    const m1 = stored(dm, a, await a.dev.encryptDirect(dm, textBody('hello bob')));
    expect(await read(b, m1)).toBe('hello bob');
    const m2 = stored(dm, b, await b.dev.encryptDirect(dm, textBody('hello alice')));
    expect(await read(a, m2)).toBe('hello alice');
    // A flipped byte is refused and changes nothing: the next message still reads.
    const m3 = stored(dm, a, await a.dev.encryptDirect(dm, textBody('third')));
    const bad = { ...m3, ciphertext: m3.ciphertext.slice() };
    bad.ciphertext[bad.ciphertext.length - 3]! ^= 1;
    await expect(b.dev.decrypt(bad)).rejects.toBeInstanceOf(E2eFailure);
    expect(await read(b, m3)).toBe('third');
    // Replayed: refused.
    await expect(b.dev.decrypt(m3)).rejects.toBeInstanceOf(E2eFailure);
    // Moved to another channel: refused.
    const other = uuid(901);
    dir.channels.set(other, new Set([a.user, b.user]));
    const m4 = stored(dm, a, await a.dev.encryptDirect(dm, textBody('only here')));
    await expect(b.dev.decrypt({ ...m4, channel_id: other })).rejects.toMatchObject({ reason: 'channel_mismatch' });
    // Attributed to another sender: refused.
    const c = await peer(dir, 3);
    await expect(b.dev.decrypt({ ...m4, sender_id: c.user })).rejects.toMatchObject({ reason: 'wrong_sender' });
    expect(await read(b, m4)).toBe('only here');
  });

  it('keeps its ratchets across a lock and reopen (the state is sealed in the keystore)', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const dm = uuid(900);
    dir.channels.set(dm, new Set([a.user, b.user]));
    expect(await read(b, stored(dm, a, await a.dev.encryptDirect(dm, textBody('one'))))).toBe('one');
    b.ks.lock();
    await b.ks.unlock(b.user, 'password');
    const b2 = await E2eDevice.openOrCreate(dir.api(b.user, b.device), b.ks, b.user, b.device);
    const m = stored(dm, a, await a.dev.encryptDirect(dm, textBody('two')));
    const body = await b2.decrypt(m);
    expect(body).toEqual({ kind: 'text', text: 'two' });
    expect(await read(a, stored(dm, b, await b2.encryptDirect(dm, textBody('three'))))).toBe('three');
  });

  it('two tabs of one browser share the device: each works on the state the other stored', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const dm = uuid(900);
    dir.channels.set(dm, new Set([a.user, b.user]));
    // A second tab opens the same device from the same keystore.
    const b2 = await E2eDevice.openOrCreate(dir.api(b.user, b.device), b.ks, b.user, b.device);
    const texts = ['one', 'two', 'three', 'four'];
    for (let i = 0; i < texts.length; i++) {
      const m = stored(dm, a, await a.dev.encryptDirect(dm, textBody(texts[i]!)));
      const tab = i % 2 === 0 ? b.dev : b2;
      expect(await tab.decrypt(m)).toEqual({ kind: 'text', text: texts[i] });
      // and each tab answers on the ratchet the other moved
      const back = stored(dm, b, await tab.encryptDirect(dm, textBody(`re ${texts[i]}`)));
      expect(await read(a, back)).toBe(`re ${texts[i]}`);
    }
  });

  it('sends channel messages with a sender key distributed in envelopes, and re-keys when a member leaves', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const c = await peer(dir, 3);
    const ch = uuid(700);
    dir.channels.set(ch, new Set([a.user, b.user, c.user]));
    const m1 = stored(ch, a, await a.dev.encryptChannel(ch, textBody('to all')));
    // One envelope per other device, then no more for the next message.
    expect(dir.queues.get(b.device)?.length).toBe(1);
    expect(dir.queues.get(c.device)?.length).toBe(1);
    const m2 = stored(ch, a, await a.dev.encryptChannel(ch, textBody('again')));
    expect(dir.queues.get(b.device)?.length).toBe(1);
    // Decrypting fetches the envelopes (and acknowledges them).
    expect(await read(b, m1)).toBe('to all');
    expect(await read(c, m2)).toBe('again');
    expect(await read(c, m1)).toBe('to all');
    expect(dir.queues.get(b.device)?.length).toBe(0);
    // c leaves: the next message uses a new key that c never gets.
    dir.channels.get(ch)!.delete(c.user);
    const m3 = stored(ch, a, await a.dev.encryptChannel(ch, textBody('after c left')));
    expect(dir.queues.get(c.device)?.length ?? 0).toBe(0);
    expect(await read(b, m3)).toBe('after c left');
    await expect(c.dev.decrypt(m3)).rejects.toMatchObject({ reason: 'unknown_sender_key' });
    // Content decodes the same as the Rust client's bodies.
    expect(decodeBody(textBody('x'))).toEqual({ kind: 'text', text: 'x' });
  });

  it('flags a member the directory adds, and a device whose certificate does not verify gets nothing', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const ch = uuid(700);
    dir.channels.set(ch, new Set([a.user, b.user]));
    await a.dev.encryptChannel(ch, textBody('first'));
    const m = await peer(dir, 4);
    dir.channels.get(ch)!.add(m.user);
    // A device injected for b, certified by a key that is not b's.
    const fake = UserKeyPair.generate(uuidBytes(b.user));
    const injected = uuid(999);
    const cert = fake.certifyDevice({ deviceId: uuidBytes(injected), signingKey: new Uint8Array(32).fill(9), dhKey: new Uint8Array(32).fill(7) });
    dir.devices.set(injected, { user: b.user, cert: toBase64(cert.toBytes()), spk: dir.devices.get(b.device)!.spk, opks: [] });
    await a.dev.encryptChannel(ch, textBody('second'));
    expect(a.dev.warnings.some((w) => w.kind === 'member_added' && w.user === m.user)).toBe(true);
    expect(a.dev.warnings.some((w) => w.kind === 'untrusted_device' && w.device === injected)).toBe(true);
    expect(dir.queues.get(injected)?.length ?? 0).toBe(0);
  });

  it('shows a changed user key until it is accepted, and computes the same safety number on both sides', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const dm = uuid(900);
    dir.channels.set(dm, new Set([a.user, b.user]));
    await a.dev.encryptDirect(dm, textBody('hi'));
    const sa = await a.dev.safetyNumber(b.user);
    expect(sa).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(await b.dev.safetyNumber(a.user)).toBe(sa);
    await a.dev.markVerified(b.user);
    expect(a.dev.isVerified(b.user)).toBe(true);
    // The directory now reports another user key for b (a reset, or an attack).
    dir.userKeys.set(b.user, toBase64(UserKeyPair.generate(uuidBytes(b.user)).publicKey));
    await a.dev.checkUser(b.user);
    expect(a.dev.keyChanges).toEqual([b.user]);
    expect(await a.dev.safetyNumber(b.user)).toBe(sa);
    await a.dev.acceptKeyChange(b.user);
    expect(a.dev.keyChanges).toEqual([]);
    expect(a.dev.isVerified(b.user)).toBe(false);
    expect(await a.dev.safetyNumber(b.user)).not.toBe(sa);
  });

  it('rotates a week-old signed prekey and still answers first messages made with the old one', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const dm = uuid(900);
    dir.channels.set(dm, new Set([a.user, b.user]));
    // a starts a session against b's first signed prekey; b rotates before reading it.
    const first = stored(dm, a, await a.dev.encryptDirect(dm, textBody('in flight')));
    const before = dir.devices.get(b.device)!.spk;
    await b.dev.rotateIfOld(Date.now() + 1000);
    expect(dir.devices.get(b.device)!.spk).toBe(before);
    await b.dev.rotateIfOld(Date.now() + SIGNED_PREKEY_MAX_AGE_MS + 1000);
    const after = SignedPreKeyPublic.fromBytes(fromBase64(dir.devices.get(b.device)!.spk));
    expect(after.keyId).toBe(2);
    expect(await read(b, first)).toBe('in flight');
    // A new initiator uses the new key.
    const c = await peer(dir, 3);
    dir.channels.set(uuid(901), new Set([c.user, b.user]));
    expect(await read(b, stored(uuid(901), c, await c.dev.encryptDirect(uuid(901), textBody('fresh'))))).toBe('fresh');
  });

  it('leaves the devices of users who refuse envelopes out of a sender-key distribution and sends to the rest', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const c = await peer(dir, 3);
    const d = await peer(dir, 4);
    // A conversation on sender keys (not a community channel): blocks hold there.
    const ch = uuid(710);
    dir.channels.set(ch, new Set([a.user, b.user, c.user, d.user]));
    // b and c blocked a after a had their sessions (so only the envelopes are refused).
    const warm = uuid(711);
    dir.channels.set(warm, new Set([a.user, b.user, c.user]));
    await a.dev.encryptDirect(warm, textBody('before the blocks'));
    dir.blocks.add(`${b.user}>${a.user}`);
    dir.blocks.add(`${c.user}>${a.user}`);
    dir.envelopeCalls = 0;
    const m1 = stored(ch, a, await a.dev.encryptChannel(ch, textBody('to those who accept')));
    // Refused naming b's device, then c's: each dropped, the rest sent again; d has the key.
    expect(dir.envelopeCalls).toBe(3);
    expect(dir.queues.get(b.device)?.length ?? 0).toBe(0);
    expect(dir.queues.get(c.device)?.length ?? 0).toBe(0);
    expect(dir.queues.get(d.device)?.length).toBe(1);
    expect(await read(d, m1)).toBe('to those who accept');
    await expect(b.dev.decrypt(m1)).rejects.toMatchObject({ reason: 'unknown_sender_key' });
    // The next message does not ask again for a while.
    const m2 = stored(ch, a, await a.dev.encryptChannel(ch, textBody('again')));
    expect(dir.envelopeCalls).toBe(3);
    expect(await read(d, m2)).toBe('again');
    // Later, with the block lifted, b gets the current key.
    dir.blocks.delete(`${b.user}>${a.user}`);
    a.dev.now = () => Date.now() + 6 * 60 * 1000;
    const m3 = stored(ch, a, await a.dev.encryptChannel(ch, textBody('b is back')));
    expect(await read(b, m3)).toBe('b is back');
    expect(dir.queues.get(c.device)?.length ?? 0).toBe(0);
  });

  it('gives up after a bounded number of refusals, and a refusal that names no listed device is not retried', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const readers = [a];
    for (let i = 0; i < ENVELOPE_RETRIES + 2; i++) readers.push(await peer(dir, 10 + i));
    const ch = uuid(720);
    dir.channels.set(ch, new Set(readers.map((p) => p.user)));
    for (const p of readers.slice(1)) dir.blocks.add(`${p.user}>${a.user}`);
    // Every reader refuses the claim too: give a sessions first, through a direct conversation.
    const warm = uuid(721);
    dir.channels.set(warm, new Set(readers.map((p) => p.user)));
    for (const p of readers.slice(1)) dir.blocks.delete(`${p.user}>${a.user}`);
    await a.dev.encryptDirect(warm, textBody('sessions'));
    for (const p of readers.slice(1)) dir.blocks.add(`${p.user}>${a.user}`);
    dir.envelopeCalls = 0;
    await expect(a.dev.encryptChannel(ch, textBody('nobody takes it'))).rejects.toMatchObject({ code: 'forbidden' });
    expect(dir.envelopeCalls).toBe(ENVELOPE_RETRIES + 1);
    // Another refusal (not naming a device of the batch) is not retried.
    const other = new Directory();
    const x = await peer(other, 1);
    const y = await peer(other, 2);
    const ch2 = uuid(722);
    other.channels.set(ch2, new Set([x.user, y.user]));
    const api = other.api(x.user, x.device);
    let calls = 0;
    const failing = { ...api, sendEnvelopes: async () => {
      calls++;
      throw refusal('recipient_device_id 0193aaaa-0000-7000-8000-00000000ffff: its user does not accept messages from you');
    } };
    const x2 = await E2eDevice.openOrCreate(failing, x.ks, x.user, x.device);
    await expect(x2.encryptChannel(ch2, textBody('x'))).rejects.toMatchObject({ code: 'forbidden' });
    expect(calls).toBe(1);
    expect(refusedRecipient(refusal('recipient_device_id 0193AAAA-0000-7000-8000-000000000001: its user does not accept messages from you'))).toBe(
      '0193aaaa-0000-7000-8000-000000000001',
    );
    expect(refusedRecipient(Object.assign(new Error('recipient_device_id 0193aaaa-0000-7000-8000-000000000001: queue full'), { code: 'queue_full' }))).toBeNull();
  });

  it('in a group conversation a member whose keys are refused (a block) gets nothing, the others still read', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const c = await peer(dir, 3);
    const group = uuid(730);
    dir.channels.set(group, new Set([a.user, b.user, c.user]));
    dir.blocks.add(`${b.user}>${a.user}`);
    const m = stored(group, a, await a.dev.encryptDirect(group, textBody('to c only')));
    expect(await read(c, m)).toBe('to c only');
    await expect(b.dev.decrypt(m)).rejects.toMatchObject({ reason: 'not_for_this_device' });
    // In a DM of the two, nobody else is there: refused, in so many words.
    const dm = uuid(731);
    dir.channels.set(dm, new Set([a.user, b.user]));
    await expect(a.dev.encryptDirect(dm, textBody('hello?'))).rejects.toMatchObject({ name: 'E2eFailure', reason: 'refused' });
  });

  it('applies a live envelope once and acknowledges it like a drained one; a repeat (by id) changes nothing', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const b = await peer(dir, 2);
    const ch = uuid(740);
    dir.channels.set(ch, new Set([a.user, b.user]));
    dir.community.add(ch);
    const m = stored(ch, a, await a.dev.encryptChannel(ch, textBody('pushed live')));
    const live = dir.queues.get(b.device)![0]!;
    dir.acks = [];
    // Pushed twice (and still in the queue): one applied, acknowledged before the queue is read.
    expect(await b.dev.processEnvelopes([live, { ...live }])).toBe(1);
    expect(dir.acks[0]).toEqual([live.id]);
    expect(dir.queues.get(b.device)).toEqual([]);
    expect(dir.acks).toEqual([[live.id]]);
    // The repeat was dropped by its id, not refused by the ratchet.
    expect(b.dev.warnings.filter((w) => w.kind === 'rejected')).toEqual([]);
    // Pushed again after it was applied (no longer queued): nothing changes, it is acknowledged again.
    dir.acks = [];
    expect(await b.dev.processEnvelopes([live])).toBe(0);
    expect(dir.acks).toEqual([[live.id]]);
    // An envelope for another device is neither applied nor acknowledged here.
    dir.acks = [];
    expect(await b.dev.processEnvelopes([{ ...live, id: uuid(741), recipient_device_id: a.device }])).toBe(0);
    expect(dir.acks).toEqual([]);
    expect(await read(b, m)).toBe('pushed live');
  });

  it('refuses to set up a second browser of an account whose user key lives elsewhere', async () => {
    const dir = new Directory();
    const a = await peer(dir, 1);
    const ks = new Keystore(new MemoryStore(), { kdf: KDF });
    await ks.unlock(a.user, 'password');
    const other = uuid(555);
    await expect(E2eDevice.openOrCreate(dir.api(a.user, other), ks, a.user, other)).rejects.toBeInstanceOf(E2eSetupError);
    expect(dir.devices.has(other)).toBe(false);
  });
});
