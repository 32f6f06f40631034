// The sealed device record in IndexedDB keeps its format: records written by the device code
// before it was split into modules (tests/unit/fixtures/device-records-v1.json, made by
// fixtures/capture-device-records.ts) open with the current code, which reads with them what
// was sent meanwhile, goes on from the ratchets and sender keys they hold, and writes them back
// with the same fields.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Keystore, fromBase64 } from '../../src/lib/e2e/keystore';
import { E2eDevice, type KeyApi } from '../../src/lib/e2e/device';
import { textBody } from '../../src/lib/e2e/appcodec';
import { Directory, PlainStore } from './keydir';
import {
  FIXTURE_PASSWORD,
  captureDeviceRecords,
  type DeviceRecordsFixture,
  type StoredMessage,
} from './fixtures/capture-device-records';

const FIXTURE = resolve(process.cwd(), 'tests/unit/fixtures/device-records-v1.json');

function load(): DeviceRecordsFixture {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as DeviceRecordsFixture;
}

/** The fixture's directory, where anything that would mean the record was not read fails. */
function directory(f: DeviceRecordsFixture) {
  const dir = new Directory();
  for (const [u, k] of Object.entries(f.directory.userKeys)) dir.userKeys.set(u, k);
  for (const [d, row] of Object.entries(f.directory.devices)) dir.devices.set(d, structuredClone(row));
  for (const [c, users] of Object.entries(f.directory.channels)) dir.channels.set(c, new Set(users));
  for (const c of f.directory.community) dir.community.add(c);
  const calls: string[] = [];
  const api = (who: 'a' | 'b'): KeyApi => {
    const inner = dir.api(f.users[who].user, f.users[who].device);
    return {
      ...inner,
      publishKeys: async () => {
        calls.push('publishKeys');
        throw new Error('published again: the record was not read');
      },
      claimBundles: async (u, ids) => {
        calls.push('claimBundles');
        return inner.claimBundles(u, ids);
      },
      sendEnvelopes: async (list) => {
        calls.push('sendEnvelopes');
        return inner.sendEnvelopes(list);
      },
    };
  };
  return { dir, api, calls };
}

async function device(f: DeviceRecordsFixture, who: 'a' | 'b', api: KeyApi) {
  const store = new PlainStore(structuredClone(f.stores[who]));
  const ks = new Keystore(store);
  await ks.unlock(f.users[who].user, FIXTURE_PASSWORD);
  const dev = await E2eDevice.openOrCreate(api, ks, f.users[who].user, f.users[who].device);
  return { store, ks, dev };
}

async function read(dev: E2eDevice, m: StoredMessage): Promise<string> {
  const body = await dev.decrypt({ ...m, ciphertext: fromBase64(m.ciphertext) });
  if (body.kind !== 'text') throw new Error('not text');
  return body.text;
}

/** The decrypted device record: its fields and the shape of each. */
async function recordShape(ks: Keystore): Promise<Record<string, string>> {
  const raw = await ks.getSecret('device');
  if (!raw) throw new Error('no device record');
  const st = JSON.parse(new TextDecoder().decode(raw)) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(st)
      .map(([k, v]) => [k, Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v] as const)
      .sort(([x], [y]) => (x < y ? -1 : 1)),
  );
}

describe('the sealed device record', () => {
  it.runIf(process.env.CAPTURE_DEVICE_RECORDS)('capture (writes the fixture)', async () => {
    const f = await captureDeviceRecords(process.env.CAPTURE_DEVICE_RECORDS_BY ?? 'the device code of the checkout it was made in');
    writeFileSync(FIXTURE, JSON.stringify(f, null, 1) + '\n');
  });

  it('written by the earlier code, opens with the current one and goes on from the state it holds', async () => {
    const f = load();
    const { dir, api, calls } = directory(f);
    const a = await device(f, 'a', api('a'));
    const b = await device(f, 'b', api('b'));
    const before = await recordShape(a.ks);
    expect(before).toMatchObject({ v: 'number', userId: 'string', deviceId: 'string', pinned: 'object', sessions: 'object' });
    // Nothing published again: the identity, prekeys and publication state came from the record.
    expect(a.dev.deviceId).toBe(f.users.a.device);
    expect(calls).not.toContain('publishKeys');
    // The ratchets and sender keys of the records read what was sent after they were written.
    expect(await read(a.dev, f.unread.dmToA)).toBe(f.unread.dmToA.text);
    expect(await read(a.dev, f.unread.channelToA)).toBe(f.unread.channelToA.text);
    expect(await read(b.dev, f.unread.dmToB)).toBe(f.unread.dmToB.text);
    expect(await read(b.dev, f.unread.channelToB)).toBe(f.unread.channelToB.text);
    // Trust: the pinned keys, the verification and the unaccepted key change.
    expect(Buffer.from(a.dev.myUserKey).toString('base64')).toBe(f.expected.userKeyOfA);
    expect(await a.dev.safetyNumber(f.users.b.user)).toBe(f.expected.safetyNumberAB);
    expect(a.dev.isVerified(f.users.b.user)).toBe(f.expected.verifiedByA.includes(f.users.b.user));
    expect(a.dev.keyChanges).toEqual(f.expected.keyChangesOfA);
    // New messages go on the held sessions and sender key: no bundle claimed, no envelope sent.
    const dm = await a.dev.encryptDirect(f.dm, textBody('new dm'));
    const ch = await a.dev.encryptChannel(f.channel, textBody('new channel message'));
    expect(calls).toEqual([]);
    expect(await read(b.dev, { id: '0193aaaa-0000-7000-8000-0000000fff01', channel_id: f.dm, sender_id: f.users.a.user, ciphertext: Buffer.from(dm).toString('base64') })).toBe('new dm');
    expect(
      await read(b.dev, { id: '0193aaaa-0000-7000-8000-0000000fff02', channel_id: f.channel, sender_id: f.users.a.user, ciphertext: Buffer.from(ch).toString('base64') }),
    ).toBe('new channel message');
    expect(dir.envelopeCalls).toBe(0);
    // Written back with the same fields, and read again from there.
    expect(await recordShape(a.ks)).toEqual(before);
    const again = await E2eDevice.openOrCreate(api('a'), a.ks, f.users.a.user, f.users.a.device);
    expect(again.keyChanges).toEqual(f.expected.keyChangesOfA);
    expect(again.isVerified(f.users.b.user)).toBe(true);
    expect(a.store.data[`keys/${f.users.a.user}/device`]).toMatchObject({ nonce: expect.any(String), ct: expect.any(String) });
  });
});

describe('the device record across tabs', () => {
  it('an operation opens the stored record only when another tab stored a newer one', async () => {
    const { DeviceRecord } = await import('../../src/lib/e2e/deviceRecord');
    const { MemoryStore } = await import('../../src/lib/storage/kv');
    const ks = new Keystore(new MemoryStore(), { kdf: { alg: 'argon2id', m: 64, t: 1, p: 1 } });
    await ks.unlock('u1', 'pass phrase');
    const st = {
      v: 1,
      userId: 'u1',
      deviceId: 'd1',
      rosters: {} as Record<string, string[]>,
    } as unknown as Parameters<typeof DeviceRecord.create>[1];
    const tab1 = await DeviceRecord.create(ks, st);
    const tab2 = (await DeviceRecord.read(ks, 'u1', 'd1'))!;
    let opened = 0;
    const real = ks.getSecretUnless.bind(ks);
    ks.getSecretUnless = async (name, stamp) => {
      const r = await real(name, stamp);
      if (r.value) opened++;
      return r;
    };
    // Nothing changed elsewhere: the record is not opened again.
    await tab1.run(async () => undefined);
    await tab1.run(async () => undefined);
    expect(opened).toBe(0);
    // The other tab stores a change: the next operation here opens and takes it.
    await tab2.run(async () => {
      tab2.st.rosters['c1'] = ['u2'];
      await tab2.save();
    });
    await tab1.run(async () => {
      expect(tab1.st.rosters['c1']).toEqual(['u2']);
    });
    expect(opened).toBe(1);
    // And its own store does not make it open the record again.
    await tab1.run(async () => {
      tab1.st.rosters['c2'] = ['u3'];
      await tab1.save();
    });
    await tab1.run(async () => undefined);
    expect(opened).toBe(1);
    await tab2.run(async () => expect(tab2.st.rosters['c2']).toEqual(['u3']));
    expect(opened).toBe(2);
  });
});
