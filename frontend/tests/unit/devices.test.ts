// Every device of an account in the browser's engine (docs/e2e.md 18), against an in-memory
// server that keeps the real one's rules (accountdir.ts over keydir.ts): the recovery key and
// secret storage of the first device, the key backup (entries kept, chunked, the head chained
// over other devices' chunks), a restore from the recovery key and a link by code reading the
// history, the refusal of a tampered or rolled-back backup, the reasons a message cannot be read,
// and the reset.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lib/storage/kv';
import { Keystore, fromBase64, toBase64 } from '../../src/lib/e2e/keystore';
import { BackupError, E2eDevice, E2eFailure, LinkError } from '../../src/lib/e2e/device';
import { BackupHead, RecoveryKey, openBackupChunk, openSecretStorage, sealBackupChunk, HistoryKey, SenderKeySender, DeviceIdentity } from '../../src/lib/crypto/index';
import { decodeBody, textBody, uuidBytes, type Body } from '../../src/lib/e2e/appcodec';
import { LinkSession } from '../../src/lib/e2e/linking';
import { RecoveryError, restoreWithRecoveryKey, startOver } from '../../src/lib/e2e/recovery';
import { CHUNK_TARGET_BYTES, ENTRIES_PER_CHUNK, backUp, chunkEntries, readBackup } from '../../src/lib/e2e/keyBackup';
import { PENDING_MAX_ENTRIES, toBackupEntry, type PendingEntry } from '../../src/lib/e2e/account';
import { UNREADABLE_TEXT, unreadableReason } from '../../src/lib/e2e/reasons';
import { Directory, uuid } from './keydir';
import { AccountServer, httpError } from './accountdir';

const KDF = { alg: 'argon2id' as const, m: 64, t: 1, p: 1 };

interface Peer {
  user: string;
  device: string;
  ks: Keystore;
  dev: E2eDevice;
}

let nextDevice = 200;

async function keystoreFor(user: string): Promise<Keystore> {
  const ks = new Keystore(new MemoryStore(), { kdf: KDF });
  await ks.unlock(user, 'password');
  return ks;
}

async function peer(server: AccountServer, n: number): Promise<Peer> {
  const user = uuid(n);
  const device = uuid(nextDevice++);
  server.passwords.set(user, 'password');
  const ks = await keystoreFor(user);
  const dev = await E2eDevice.openOrCreate(server.api(user, device), ks, user, device);
  return { user, device, ks, dev };
}

/** A signed-in browser of `user` without keys. */
async function fresh(user: string) {
  return { user, device: uuid(nextDevice++), ks: await keystoreFor(user) };
}

let seq = 0;
function stored(channel: string, from: { user: string }, ciphertext: Uint8Array, createdAt = new Date().toISOString()) {
  seq++;
  return { id: uuid(7_000_000 + seq), channel_id: channel, sender_id: from.user, ciphertext, seq, created_at: createdAt };
}

async function read(dev: E2eDevice, m: ReturnType<typeof stored>): Promise<string> {
  const b = await dev.decrypt(m);
  if (b.kind !== 'text') throw new Error('not text');
  return b.text;
}

async function whyNot(dev: E2eDevice, m: ReturnType<typeof stored> & { joined_at?: string }): Promise<string | undefined> {
  try {
    await dev.decrypt(m);
  } catch (e) {
    expect(e).toBeInstanceOf(E2eFailure);
    return (e as E2eFailure).why;
  }
  throw new Error('it was read');
}

/** Two people with a community channel and a DM, some messages both ways. */
async function world() {
  const dir = new Directory();
  const server = new AccountServer(dir);
  const a = await peer(server, 1);
  const b = await peer(server, 2);
  const channel = uuid(900);
  const dm = uuid(901);
  dir.channels.set(channel, new Set([a.user, b.user]));
  dir.community.add(channel);
  dir.channels.set(dm, new Set([a.user, b.user]));
  const history: { m: ReturnType<typeof stored>; text: string; by: Peer }[] = [];
  for (let i = 0; i < 3; i++) {
    for (const [who, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const ct = stored(channel, who, await who.dev.encryptChannel(channel, textBody(`channel ${i} from ${who.user.slice(-1)}`)));
      expect(await read(other.dev, ct)).toBe(`channel ${i} from ${who.user.slice(-1)}`);
      history.push({ m: ct, text: `channel ${i} from ${who.user.slice(-1)}`, by: who });
      const d = stored(dm, who, await who.dev.encryptDirect(dm, textBody(`dm ${i} from ${who.user.slice(-1)}`)));
      expect(await read(other.dev, d)).toBe(`dm ${i} from ${who.user.slice(-1)}`);
      // The sender's own DM reaches the backup when its tab reads it back (the engine's `keepSent`).
      await who.dev.keepSent(d, textBody(`dm ${i} from ${who.user.slice(-1)}`));
      history.push({ m: d, text: `dm ${i} from ${who.user.slice(-1)}`, by: who });
    }
  }
  return { dir, server, a, b, channel, dm, history };
}

beforeAll(() => {
  E2eDevice.backupDelay = -1;
});
afterAll(() => {
  E2eDevice.backupDelay = 3000;
});

describe('recovery key and secret storage', () => {
  it('the first device makes the recovery key and backup key, stores version 1 and shows the key until saved', async () => {
    const dir = new Directory();
    const server = new AccountServer(dir);
    const a = await peer(server, 1);
    const storage = server.of(a.user).storage!;
    expect(storage.version).toBe(1);
    const text = a.dev.recoveryKeyToShow!;
    expect(text).toMatch(/^([0-9A-Z]{4}-){12}[0-9A-Z]{4}$/);
    const opened = openSecretStorage(RecoveryKey.parse(text), fromBase64(storage.storage), uuidBytes(a.user), 0);
    expect(toBase64(opened.userKey.publicKey)).toBe(toBase64(a.dev.myUserKey));
    // Still shown after a reload, until the user says it is saved; then gone for good.
    const again = await E2eDevice.openOrCreate(server.api(a.user, a.device), a.ks, a.user, a.device);
    expect(again.recoveryKeyToShow).toBe(text);
    await again.recoveryKeySaved();
    expect(again.recoveryKeyToShow).toBeNull();
    expect((await E2eDevice.openOrCreate(server.api(a.user, a.device), a.ks, a.user, a.device)).recoveryKeyToShow).toBeNull();
    // A new recovery key: the next version, the same user key and backup key; the old key no
    // longer opens the account's storage.
    const next = await again.newRecoveryKey();
    expect(next).not.toBe(text);
    expect(server.of(a.user).storage!.version).toBe(2);
    const v2 = openSecretStorage(RecoveryKey.parse(next), fromBase64(server.of(a.user).storage!.storage), uuidBytes(a.user), 2);
    expect(toBase64(v2.userKey.publicKey)).toBe(toBase64(a.dev.myUserKey));
    expect(toBase64(v2.backupKey)).toBe(toBase64(opened.backupKey));
    const late = await fresh(a.user);
    await expect(restoreWithRecoveryKey(server.api(late.user, late.device), late.ks, late.user, late.device, text)).rejects.toMatchObject({
      code: 'wrong_key',
    });
    // Refused before anything was kept or published.
    expect(await late.ks.getSecret('device')).toBeNull();
    expect(await late.ks.getSecret('user_key')).toBeNull();
    expect(dir.devices.has(late.device)).toBe(false);
    await expect(restoreWithRecoveryKey(server.api(late.user, late.device), late.ks, late.user, late.device, 'not a key')).rejects.toBeInstanceOf(
      RecoveryError,
    );
  });
});

describe('key backup', () => {
  it('keeps the history keys and direct messages a device makes and receives, and backs them up once', async () => {
    const { server, a, b } = await world();
    // a: its own sender key, b's (received attested), 3 DMs read and 3 sent.
    expect(a.dev.backupPending).toBe(2 + 6);
    expect(await a.dev.backUp()).toBe(1);
    expect(a.dev.backupPending).toBe(0);
    expect(server.of(a.user).headSeq).toBe(1);
    expect(await a.dev.backUp()).toBe(0);
    expect(server.of(a.user).chunks.length).toBe(1);
    expect(b.dev.backupPending).toBe(8);
  });

  it('cuts entries into chunks of at most 2,000 entries and well under 1 MiB', () => {
    const small: PendingEntry[] = Array.from({ length: 4500 }, (_, i) => ({ c: uuid(1), id: uuid(i + 1), seq: i, b: toBase64(textBody(`m${i}`)) }));
    expect(chunkEntries(small).map((c) => c.length)).toEqual([ENTRIES_PER_CHUNK, ENTRIES_PER_CHUNK, 500]);
    const big: PendingEntry[] = Array.from({ length: 10 }, (_, i) => ({ c: uuid(1), id: uuid(i + 1), seq: i, b: toBase64(new Uint8Array(100_000)) }));
    const cut = chunkEntries(big);
    expect(cut.map((c) => c.length)).toEqual([7, 3]);
    for (const c of cut) {
      const sealed = sealBackupChunk(new Uint8Array(32), uuidBytes(uuid(1)), 1, c.map(toBackupEntry));
      expect(sealed.length).toBeLessThan(CHUNK_TARGET_BYTES + 1024);
    }
  });

  it('moves the head over chunks other devices appended, tries again when overtaken, and keeps entries on failure', async () => {
    const { server, a } = await world();
    const api = server.api(a.user, a.device);
    const acct = server.of(a.user);
    const bk = openSecretStorage(RecoveryKey.parse(a.dev.recoveryKeyToShow!), fromBase64(acct.storage!.storage), uuidBytes(a.user), 0).backupKey;
    // Another device appended a chunk and stopped before writing the head.
    const theirs: PendingEntry[] = [{ c: uuid(901), id: uuid(6_000_001), seq: 99, b: toBase64(textBody('from the other device')) }];
    await api.appendBackupChunk(toBase64(sealBackupChunk(bk, uuidBytes(a.user), 1, theirs.map(toBackupEntry))));
    // The first head write is overtaken by another device's.
    let overtaken = false;
    const racing = {
      ...api,
      putBackupHead: async (head: string) => {
        if (!overtaken) {
          overtaken = true;
          await backUp(api, uuidBytes(a.user), bk, 0, theirs);
          throw httpError(409, 'conflict');
        }
        return api.putBackupHead(head);
      },
    };
    const mine: PendingEntry[] = [{ c: uuid(901), id: uuid(6_000_002), seq: 100, b: toBase64(textBody('mine')) }];
    const done = await backUp(racing, uuidBytes(a.user), bk, 0, mine);
    expect(done).toEqual({ headSeq: 2, chunks: 1 });
    expect(acct.headCount).toBe(3);
    const all = await readBackup(api, uuidBytes(a.user), bk, 2);
    expect(all.chunks.map((c) => c.seq)).toEqual([1, 2, 3]);
    expect(all.entries).toBe(3);
    // A failing server keeps the device's entries for the next try.
    const before = a.dev.backupPending;
    const cut = { ...api, appendBackupChunk: async () => Promise.reject(httpError(503, 'unavailable')) };
    await expect(backUp(cut, uuidBytes(a.user), bk, 2, mine)).rejects.toMatchObject({ status: 503 });
    expect(a.dev.backupPending).toBe(before);
  });

  it('keeps at most PENDING_MAX_ENTRIES entries while the server is out of reach', () => {
    expect(PENDING_MAX_ENTRIES).toBeGreaterThanOrEqual(ENTRIES_PER_CHUNK);
  });
});

describe('restore and linking', () => {
  it('a fresh browser with the recovery key alone reads the whole history of a channel and a DM, and sends', async () => {
    const { dir, server, a, b, channel, dm, history } = await world();
    const rk = a.dev.recoveryKeyToShow!;
    await a.dev.backUp();
    await b.dev.backUp();
    const n = await fresh(a.user);
    const t0 = performance.now();
    const r = await restoreWithRecoveryKey(server.api(n.user, n.device), n.ks, n.user, n.device, ` ${rk.toLowerCase().replace(/-/g, ' ')} `);
    expect(r.backupError).toBeNull();
    expect(r.restored).toBe(8);
    for (const h of history) expect(await read(r.device, h.m)).toBe(h.text);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(20_000);
    // It was certified with the account's user key and published.
    expect(dir.devices.get(n.device)!.user).toBe(a.user);
    expect(toBase64(r.device.myUserKey)).toBe(toBase64(a.dev.myUserKey));
    // It sends: the peer and the first device read it.
    const c = stored(channel, n, await r.device.encryptChannel(channel, textBody('from the restored browser')));
    expect(await read(b.dev, c)).toBe('from the restored browser');
    expect(await read(a.dev, c)).toBe('from the restored browser');
    const d = stored(dm, n, await r.device.encryptDirect(dm, textBody('dm from the restored browser')));
    expect(await read(b.dev, d)).toBe('dm from the restored browser');
    expect(await read(a.dev, d)).toBe('dm from the restored browser');
    // Reopened from the keystore, it still reads the history (kept sealed there), newest first
    // too (a history key's reader only steps forward; earlier messages are read from the key).
    const again = await E2eDevice.openOrCreate(server.api(n.user, n.device), n.ks, n.user, n.device);
    for (const h of [...history].reverse()) expect(await read(again, h.m)).toBe(h.text);
  });

  it('restores and reads 600 messages of a channel and a DM with none unreadable (timed)', async () => {
    const { server, a, b, channel, dm } = await world();
    const list: { m: ReturnType<typeof stored>; text: string }[] = [];
    for (let i = 0; i < 200; i++) {
      for (const [who, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const text = `bulk ${i} from ${who.user.slice(-1)}`;
        const m = stored(channel, who, await who.dev.encryptChannel(channel, textBody(text)));
        if (i === 0) await read(other.dev, m);
        list.push({ m, text });
      }
      const text = `bulk dm ${i}`;
      const d = stored(dm, b, await b.dev.encryptDirect(dm, textBody(text)));
      expect(await read(a.dev, d)).toBe(text);
      list.push({ m: d, text });
    }
    const t0 = performance.now();
    expect(await a.dev.backUp()).toBeGreaterThan(0);
    const backedUp = performance.now() - t0;
    const n = await fresh(a.user);
    const t1 = performance.now();
    const r = await restoreWithRecoveryKey(server.api(n.user, n.device), n.ks, n.user, n.device, a.dev.recoveryKeyToShow!);
    const restored = performance.now() - t1;
    let unreadable = 0;
    for (const h of list) {
      try {
        expect(await read(r.device, h.m)).toBe(h.text);
      } catch {
        unreadable++;
      }
    }
    const readAll = performance.now() - t1 - restored;
    console.log(`# backup ${backedUp.toFixed(0)} ms; restore ${restored.toFixed(0)} ms; read ${list.length} messages ${readAll.toFixed(0)} ms; ${unreadable} unreadable`);
    expect(unreadable).toBe(0);
  }, 120_000);

  it('links a second browser by the code it shows; a code that matches nothing is refused', async () => {
    const { dir, server, a, b, channel, dm, history } = await world();
    const n = await fresh(a.user);
    const napi = server.api(n.user, n.device);
    const session = await LinkSession.start(napi, n.ks, n.user, n.device);
    expect(session.code).toMatch(/^([0-9A-Z]{4}-){6}[0-9A-Z]{2}$/);
    expect(await session.check()).toBeNull();
    await expect(a.dev.answerLink('not a code')).rejects.toMatchObject({ code: 'bad_code' });
    const other = session.code.startsWith('0') ? `1${session.code.slice(1)}` : `0${session.code.slice(1)}`;
    await expect(a.dev.answerLink(other)).rejects.toMatchObject({ code: 'no_match' });
    await expect(a.dev.answerLink(other)).rejects.toBeInstanceOf(LinkError);
    expect(await session.check()).toBeNull();
    const answered = await a.dev.answerLink(session.code.toLowerCase());
    expect(answered.deviceId).toBe(n.device);
    // Linking backed up what the first device had.
    expect(a.dev.backupPending).toBe(0);
    const r = (await session.check())!;
    expect(r.backupError).toBeNull();
    expect(r.restored).toBe(8);
    for (const h of history.filter((x) => x.by === b || x.m.channel_id === channel)) expect(await read(r.device, h.m)).toBe(h.text);
    for (const h of history.filter((x) => x.m.channel_id === dm)) expect(await read(r.device, h.m)).toBe(h.text);
    expect(dir.devices.has(n.device)).toBe(true);
    // Answered once.
    await expect(a.dev.answerLink(session.code)).rejects.toMatchObject({ code: 'no_match' });
    // It sends, and both others read it.
    const c = stored(dm, n, await r.device.encryptDirect(dm, textBody('hello from the linked one')));
    expect(await read(b.dev, c)).toBe('hello from the linked one');
    expect(await read(a.dev, c)).toBe('hello from the linked one');
    // The linked device gets a's sender key from a later iteration on and backs it up too; a
    // browser restored afterwards still reads a's first channel message (the earliest key counts).
    const later = stored(channel, a, await a.dev.encryptChannel(channel, textBody('after the link')));
    expect(await read(r.device, later)).toBe('after the link');
    await r.device.backUp();
    await a.dev.backUp();
    const m = await fresh(a.user);
    const restored = await restoreWithRecoveryKey(server.api(m.user, m.device), m.ks, m.user, m.device, a.dev.recoveryKeyToShow!);
    const firstOfA = history.find((h) => h.m.channel_id === channel && h.by === a)!;
    expect(await read(restored.device, firstOfA.m)).toBe(firstOfA.text);
    expect(await read(restored.device, later)).toBe('after the link');
  });

  it('refuses a forged, swapped, cut or rolled-back backup, saying so, and reads none of it', async () => {
    const { server, a, b, history } = await world();
    await a.dev.backUp();
    const acct = server.of(a.user);
    const firstHead = acct.head!;
    // A second chunk, then a third: a head at seq 3 with count 3.
    const dm = history.find((h) => h.m.channel_id !== history[0]!.m.channel_id)!;
    const more = stored(dm.m.channel_id, b, await b.dev.encryptDirect(dm.m.channel_id, textBody('later')));
    await read(a.dev, more);
    await a.dev.backUp();
    const more2 = stored(dm.m.channel_id, b, await b.dev.encryptDirect(dm.m.channel_id, textBody('later still')));
    await read(a.dev, more2);
    await a.dev.backUp();
    expect(acct.chunks.length).toBe(3);
    const rk = a.dev.recoveryKeyToShow!;
    const genuine = { chunks: [...acct.chunks], head: acct.head, headSeq: acct.headSeq, headCount: acct.headCount };
    const reset = () => Object.assign(acct, { chunks: [...genuine.chunks], head: genuine.head, headSeq: genuine.headSeq, headCount: genuine.headCount });
    const attempt = async () => {
      const n = await fresh(a.user);
      const r = await restoreWithRecoveryKey(server.api(n.user, n.device), n.ks, n.user, n.device, rk);
      return r;
    };
    const cases: [string, () => void, string][] = [
      ['a flipped byte of the head', () => {
        const h = fromBase64(acct.head!);
        h[40]! ^= 1;
        acct.head = toBase64(h);
      }, 'forged'],
      ['two chunks swapped', () => {
        [acct.chunks[0], acct.chunks[1]] = [acct.chunks[1]!, acct.chunks[0]!];
      }, 'broken_chain'],
      ['a flipped byte of a chunk', () => {
        const c = fromBase64(acct.chunks[1]!);
        c[c.length - 5]! ^= 1;
        acct.chunks[1] = toBase64(c);
      }, 'broken_chain'],
      ['the last chunk dropped', () => {
        acct.chunks.pop();
      }, 'broken_chain'],
    ];
    for (const [what, tamper, failure] of cases) {
      reset();
      tamper();
      const r = await attempt();
      expect(r.backupError, what).toBeInstanceOf(BackupError);
      expect((r.backupError as BackupError).failure, what).toBe(failure);
      expect(r.restored).toBe(0);
      // Nothing of it is read: the history says why.
      expect(await whyNot(r.device, { ...history[1]!.m, created_at: '2020-01-01T00:00:00Z' }), what).toBe('not_in_backup');
    }
    // Rolled back: a device linked by one that saw head 3 refuses the server's older head.
    reset();
    acct.head = firstHead;
    acct.headSeq = 1;
    acct.headCount = 1;
    const n = await fresh(a.user);
    const session = await LinkSession.start(server.api(n.user, n.device), n.ks, n.user, n.device);
    // The linking device backs up nothing new, so the server's old head stands.
    acct.head = firstHead;
    await a.dev.answerLink(session.code);
    const r = (await session.check())!;
    expect((r.backupError as BackupError).failure).toBe('rolled_back');
    expect(r.backupError!.toString()).toMatch(/rolled back/);
  });
});

describe('history keys from the backup', () => {
  it('are checked against the sender device’s certificate: a forged attestation is refused as tampering', async () => {
    const { server, a, b, channel, history } = await world();
    await a.dev.backUp();
    const acct = server.of(a.user);
    const rk = a.dev.recoveryKeyToShow!;
    const bk = openSecretStorage(RecoveryKey.parse(rk), fromBase64(acct.storage!.storage), uuidBytes(a.user), 0).backupKey;
    // Someone holding the backup key (not the sender) rewrites b's history key with another
    // attestation, and seals a consistent backup around it.
    const entries = openBackupChunk(bk, uuidBytes(a.user), 1, fromBase64(acct.chunks[0]!));
    const forged = entries.map((e) => {
      if (e.kind !== 'history' || toBase64(e.key.senderDeviceId) !== toBase64(uuidBytes(b.device))) return e;
      const att = e.key.attestation.slice();
      att[0]! ^= 1;
      return { kind: 'history' as const, key: new HistoryKey(e.key.channelId, e.key.senderDeviceId, e.key.keyId, e.key.firstIteration, e.key.chainKey, e.key.signingKey, att) };
    });
    const chunk = sealBackupChunk(bk, uuidBytes(a.user), 1, forged);
    acct.chunks = [toBase64(chunk)];
    const head = BackupHead.empty(uuidBytes(a.user)).after([chunk]);
    acct.head = toBase64(new BackupHead(head.userId, BigInt(acct.headSeq + 1), head.count, head.digest).seal(bk));
    acct.headSeq += 1;
    const n = await fresh(a.user);
    const r = await restoreWithRecoveryKey(server.api(n.user, n.device), n.ks, n.user, n.device, rk);
    expect(r.backupError).toBeNull();
    const ofB = history.find((h) => h.m.channel_id === channel && h.by === b)!;
    expect(await whyNot(r.device, ofB.m)).toBe('tampered');
    // a's own key is untouched and reads.
    const ofA = history.find((h) => h.m.channel_id === channel && h.by === a)!;
    expect(await read(r.device, ofA.m)).toBe(ofA.text);
  });
});

describe('reading', () => {
  it('stores the text with the moved ratchet state: a failed store leaves the message readable, a stored one has both', async () => {
    const { a, b, dm, channel } = await world();
    for (const m of [
      stored(dm, a, await a.dev.encryptDirect(dm, textBody('kept first'))),
      stored(channel, a, await a.dev.encryptChannel(channel, textBody('kept first'))),
    ]) {
      const commit = b.ks.commit.bind(b.ks);
      let tries = 0;
      b.ks.commit = async () => {
        tries++;
        throw new Error('the page closed');
      };
      const cacheAs = () => ({ id: m.id, digest: 'd', text: 'kept first' });
      const pending = b.dev.accountInfo!.pending;
      await expect(b.dev.decrypt({ ...m, cacheAs })).rejects.toThrow();
      expect(tries).toBe(1);
      expect(b.dev.accountInfo!.pending).toBe(pending);
      b.ks.commit = commit;
      // Nothing was stored: the key that read it is still there, and the text is not cached.
      expect(await b.ks.cachedMessage(m.id, 'd')).toBeNull();
      expect((await b.dev.decrypt({ ...m, cacheAs })).kind).toBe('text');
      expect(await b.ks.cachedMessage(m.id, 'd')).toBe('kept first');
      // A direct message's backup entry is stored with its text.
      expect(b.dev.accountInfo!.pending).toBe(m.channel_id === dm ? pending + 1 : pending);
    }
  });

  it('reads a batch in one operation; a message that fails in it fails alone, the others read', async () => {
    const { a, b, dm, channel } = await world();
    const ms = [];
    for (let i = 0; i < 6; i++) {
      ms.push(stored(i % 2 ? dm : channel, a, i % 2 ? await a.dev.encryptDirect(dm, textBody(`m${i}`)) : await a.dev.encryptChannel(channel, textBody(`m${i}`))));
    }
    // The fourth is for another channel: refused, and changes nothing for the others.
    const wrong = { ...ms[3]!, channel_id: channel };
    const batch = [ms[0]!, ms[1]!, ms[2]!, wrong, ms[4]!, ms[5]!].map((m) => ({ ...m, cacheAs: (body: Body) => ({ id: m.id, digest: 'd', text: body.kind === 'text' ? body.text : '' }) }));
    let commits = 0;
    const commit = b.ks.commit.bind(b.ks);
    b.ks.commit = (...args) => {
      commits++;
      return commit(...args);
    };
    const got = await b.dev.decryptMany(batch);
    expect(got.map((r) => (r.ok ? (r.body.kind === 'text' ? r.body.text : '?') : r.error.reason))).toEqual(['m0', 'm1', 'm2', 'channel_mismatch', 'm4', 'm5']);
    // The three before the failure stored together, the one after on its own batch.
    expect(commits).toBe(2);
    for (const i of [0, 1, 2, 4, 5]) expect(await b.ks.cachedMessage(ms[i]!.id, 'd')).toBe(`m${i}`);
    expect(await b.ks.cachedMessage(ms[3]!.id, 'd')).toBeNull();
    b.ks.commit = commit;
  });
});

describe('history for new members (docs/e2e.md 18.5)', () => {
  it('a member’s device hands a newcomer the channel’s history keys; the newcomer reads every earlier message, and its restored device too', async () => {
    const { dir, server, a, b, channel, history } = await world();
    const c = await peer(server, 3);
    dir.channels.get(channel)!.add(c.user);
    const earlier = history.filter((h) => h.m.channel_id === channel);
    for (const h of earlier) expect(await whyNot(c.dev, h.m)).toBe('key_pending');
    // a's device is online when c joins: it hands c the keys it holds, its own and b's.
    expect(await a.dev.shareHistory(channel, [c.user])).toBe(1);
    // Once per newcomer in ten minutes.
    expect(await a.dev.shareHistory(channel, [c.user])).toBe(0);
    expect(await c.dev.processEnvelopes()).toBe(1);
    for (const h of earlier) expect(await read(c.dev, h.m)).toBe(h.text);
    // b sends next with the setting on: c gets b's live key (and b's share, taken again without
    // harm); earlier and later messages of b's key both read.
    const later = stored(channel, b, await b.dev.encryptChannel(channel, textBody('after c joined'), true));
    await c.dev.processEnvelopes();
    expect(await read(c.dev, later)).toBe('after c joined');
    // The live key still refuses a replay.
    expect(await whyNot(c.dev, later)).toBe('tampered');
    // c's own devices read that history too: it went into c's key backup.
    await c.dev.backUp();
    const rk = c.dev.recoveryKeyToShow!;
    const n = await fresh(c.user);
    const r = await restoreWithRecoveryKey(server.api(n.user, n.device), n.ks, n.user, n.device, rk);
    for (const h of earlier) expect(await read(r.device, h.m)).toBe(h.text);
  });

  it('with the setting off nothing is handed over: earlier messages stay unread for the newcomer', async () => {
    const { dir, server, b, channel, history } = await world();
    const c = await peer(server, 3);
    dir.channels.get(channel)!.add(c.user);
    const calls = dir.envelopeCalls;
    const later = stored(channel, b, await b.dev.encryptChannel(channel, textBody('setting off'), false));
    expect(dir.envelopeCalls).toBe(calls + 1);
    expect(await c.dev.processEnvelopes()).toBe(1);
    expect(await read(c.dev, later)).toBe('setting off');
    const old = history.find((h) => h.m.channel_id === channel && h.by === b)!;
    expect(await whyNot(c.dev, { ...old.m, joined_at: new Date(Date.now() + 5000).toISOString() })).toBe('before_joined');
  });

  it('a key whose attestation does not verify, or of a device not listed in the channel, is refused and flagged', async () => {
    const { dir, server, a, b, channel, history } = await world();
    const c = await peer(server, 3);
    dir.channels.get(channel)!.add(c.user);
    // A forged attestation of b's key among those a holds.
    const slot = `channel_keys/${channel}`;
    const held = (await a.ks.getSecret(slot))!;
    expect(held.length % 169).toBe(0);
    const keys = [];
    for (let off = 0; off < held.length; off += 169) keys.push(HistoryKey.fromBytes(held.slice(off, off + 169)));
    const i = keys.findIndex((k) => k.senderDeviceId.every((x, j) => x === uuidBytes(b.device)[j]));
    expect(i).toBeGreaterThanOrEqual(0);
    held[i * 169 + 168]! ^= 1;
    // And the key of a device that is not listed in the channel, attested by that device.
    const gone = await peer(server, 4);
    const stranger = SenderKeySender.generate(uuidBytes(channel), uuidBytes(gone.device));
    const strangerKey = HistoryKey.withAttestation(stranger.distribution(), new Uint8Array(64).fill(7));
    const forged = new Uint8Array(held.length + 169);
    forged.set(held);
    forged.set(strangerKey.toBytes(), held.length);
    await a.ks.putSecret(slot, forged);
    // a's device opened again (its held keys read from the keystore).
    const a2 = await E2eDevice.openOrCreate(server.api(a.user, a.device), a.ks, a.user, a.device);
    expect(await a2.shareHistory(channel, [c.user])).toBe(1);
    await c.dev.processEnvelopes();
    expect(c.dev.warnings.some((w) => w.kind === 'rejected' && w.what === `history key of device ${b.device}`)).toBe(true);
    expect(c.dev.warnings.some((w) => w.kind === 'rejected' && w.what === `history key of device ${gone.device}`)).toBe(true);
    const fromB = history.filter((h) => h.m.channel_id === channel && h.by === b);
    const fromA = history.filter((h) => h.m.channel_id === channel && h.by === a);
    for (const h of fromB) expect(await whyNot(c.dev, h.m)).toBe('key_pending');
    for (const h of fromA) expect(await read(c.dev, h.m)).toBe(h.text);
  });
});

describe('why a message cannot be read', () => {
  it('names one reason per message', () => {
    const since = Date.parse('2026-12-01T12:00:00Z');
    const before = Date.parse('2026-12-01T11:00:00Z');
    const after = Date.parse('2026-12-01T13:00:00Z');
    expect(unreadableReason({ missing: 'sender_key', createdAt: before, joinedAt: since })).toBe('before_joined');
    expect(unreadableReason({ missing: 'sender_key', createdAt: before, origin: 'linked', since })).toBe('not_in_backup');
    expect(unreadableReason({ missing: 'direct', createdAt: before, origin: 'restored', since })).toBe('not_in_backup');
    expect(unreadableReason({ missing: 'direct', createdAt: before, origin: 'restored', since, resets: [since - 1000] })).toBe('reset');
    expect(unreadableReason({ missing: 'direct', createdAt: before, origin: 'reset', since })).toBe('reset');
    expect(unreadableReason({ missing: 'tampered', createdAt: before, joinedAt: since })).toBe('tampered');
    expect(unreadableReason({ missing: 'sender_key', createdAt: after, origin: 'linked', since })).toBe('key_pending');
    expect(unreadableReason({ missing: 'direct', createdAt: after, origin: 'created', since })).toBe('not_for_device');
    expect(unreadableReason({ missing: 'sender_device', createdAt: before })).toBe('sender_gone');
    expect(unreadableReason({ missing: 'before_history', createdAt: after, origin: 'linked', since })).toBe('not_in_backup');
    for (const t of Object.values(UNREADABLE_TEXT)) expect(t).not.toMatch(/no key/i);
  });

  it('through the device: before joining, tampered, a key not yet arrived, not for this device, a sender device gone', async () => {
    const { dir, server, a, b, channel, dm, history } = await world();
    // c joins the community later: b's earlier message was sent before c joined.
    const c = await peer(server, 3);
    dir.channels.get(channel)!.add(c.user);
    const joinedAt = new Date(Date.now() + 5000).toISOString();
    const old = history.find((h) => h.m.channel_id === channel && h.by === b)!;
    expect(await whyNot(c.dev, { ...old.m, joined_at: joinedAt })).toBe('before_joined');
    // A later message of a sender key that never reached c (b's key is not sent to c yet).
    expect(await whyNot(c.dev, { ...old.m, created_at: new Date(Date.now() + 60_000).toISOString() })).toBe('key_pending');
    // Tampered: a flipped byte of a message c has the key for.
    const fine = stored(channel, b, await b.dev.encryptChannel(channel, textBody('for c too')));
    const bad = { ...fine, ciphertext: fine.ciphertext.slice() };
    bad.ciphertext[bad.ciphertext.length - 2]! ^= 1;
    expect(await whyNot(c.dev, bad)).toBe('tampered');
    expect(await read(c.dev, fine)).toBe('for c too');
    // A DM between a and b never had a ciphertext for c.
    const d = history.find((h) => h.m.channel_id === dm)!;
    dir.channels.get(dm)!.add(c.user);
    expect(await whyNot(c.dev, d.m)).toBe('not_for_device');
    // Restored a's device: a history key of a sender device that is no longer listed.
    await a.dev.backUp();
    const rk = a.dev.recoveryKeyToShow!;
    const n = await fresh(a.user);
    const r = await restoreWithRecoveryKey(server.api(n.user, n.device), n.ks, n.user, n.device, rk);
    dir.devices.delete(b.device);
    expect(await whyNot(r.device, old.m)).toBe('sender_gone');
    void decodeBody;
  });
});

describe('reset', () => {
  it('needs the password, starts the account over as a first device, and the contact sees the key change', async () => {
    const { dir, server, a, b, dm, history } = await world();
    const oldKey = toBase64(a.dev.myUserKey);
    const n = await fresh(a.user);
    const napi = server.api(n.user, n.device);
    await expect(startOver(napi, n.ks, n.user, n.device, 'wrong')).rejects.toMatchObject({ status: 403 });
    expect(dir.userKeys.get(a.user)).toBe(oldKey);
    await startOver(napi, n.ks, n.user, n.device, 'password');
    const dev = await E2eDevice.openOrCreate(napi, n.ks, n.user, n.device);
    expect(toBase64(dev.myUserKey)).not.toBe(oldKey);
    expect(dir.userKeys.get(a.user)).toBe(toBase64(dev.myUserKey));
    expect(dev.recoveryKeyToShow).toMatch(/^[0-9A-Z-]{64}$/);
    expect(server.of(a.user).storage!.version).toBe(1);
    expect(dev.accountInfo!.origin).toBe('reset');
    // Old messages stay unreadable, and say why.
    const d = history.find((h) => h.m.channel_id === dm && h.by === b)!;
    expect(await whyNot(dev, { ...d.m, created_at: '2020-01-01T00:00:00Z' })).toBe('reset');
    // The contact sees a key change before anything more is encrypted for the new device.
    await b.dev.checkUser(a.user);
    expect(b.dev.keyChanges).toEqual([a.user]);
    await b.dev.acceptKeyChange(a.user);
    const m = stored(dm, b, await b.dev.encryptDirect(dm, textBody('welcome back')));
    expect(await read(dev, m)).toBe('welcome back');
    void HistoryKey;
    void SenderKeySender;
    void DeviceIdentity;
  });
});
