// The engine's side of every device of an account (docs/e2e.md 18.8 and 18.4): the reason the
// device gives for an unreadable message reaches the screen as is, with the message's time and
// when the reader joined passed to the device, and a direct message this browser sent goes to
// the device for the key backup when the tab reads it back from its own cache.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lib/storage/kv';
import { Keystore } from '../../src/lib/e2e/keystore';
import { DECRYPT_FAILURE_TEXT, E2e, ciphertextDigest } from '../../src/lib/e2e/engine.svelte';
import { UNREADABLE_TEXT } from '../../src/lib/e2e/reasons';

const KDF = { alg: 'argon2id' as const, m: 64, t: 1, p: 1 };
const U = '0193aaaa-0000-7000-8000-000000000001';
const C = '0193cccc-0000-7000-8000-000000000003';

function b64(bytes: number[]): string {
  return btoa(String.fromCharCode(...bytes));
}

describe('E2E engine: every device of an account', () => {
  it('shows the reason the device gives, passing it the time and the join', async () => {
    const ks = new Keystore(new MemoryStore(), { kdf: KDF });
    const e2e = new E2e(ks);
    await e2e.unlock(U, 'pass phrase one');
    const seen: Record<string, unknown>[] = [];
    const kept: { id: string; body: Uint8Array }[] = [];
    const dev = {
      isOwn: (ct: Uint8Array) => ct[1] === 0xee,
      decrypt: async (m: Record<string, unknown>) => {
        seen.push(m);
        throw Object.assign(new Error('no sender key'), { name: 'E2eFailure', reason: 'unknown_sender_key', why: 'before_joined' });
      },
      // As the device: one after the other, each answered with its body or its failure.
      async decryptMany(ms: { id: string }[]) {
        const out = [];
        for (const m of ms) out.push(await this.decrypt(m as never).then((body: unknown) => ({ ok: true, body }), (error: unknown) => ({ ok: false, error })));
        return out;
      },
      keepSent: async (m: { id: string }, body: Uint8Array) => {
        kept.push({ id: m.id, body });
      },
      keyChanges: [],
      warnings: [],
    };
    Object.assign(e2e as unknown as Record<string, unknown>, { dev });
    e2e.joinedAtOf = (id) => (id === C ? '2026-12-01T12:00:00Z' : null);
    const m = { id: 'm1', channel_id: C, sender_id: U, seq: 7, created_at: '2026-12-01T11:00:00Z', content: { kind: 'encrypted' as const, ciphertext: b64([0x41, 1, 2, 3]) } };
    const r = await e2e.decrypt(m);
    expect(r).toMatchObject({ ok: false, reason: 'before_joined' });
    expect(DECRYPT_FAILURE_TEXT[r.ok ? 'failed' : r.reason]).toBe(UNREADABLE_TEXT.before_joined);
    expect(seen[0]).toMatchObject({ id: 'm1', seq: 7, created_at: '2026-12-01T11:00:00Z', joined_at: '2026-12-01T12:00:00Z' });
    // Every reason has its own words, none of them a generic "no key".
    for (const [k, t] of Object.entries(DECRYPT_FAILURE_TEXT)) if (k !== 'no_key') expect(t).not.toMatch(/no key/i);
    // A DM this browser sent: read from its own cache, and handed to the device for the backup.
    const sent = [0x40, 0xee, 9, 9];
    await ks.cacheOwn(ciphertextDigest(new Uint8Array(sent)), 'my words');
    const own = { id: 'm2', channel_id: C, sender_id: U, seq: 8, content: { kind: 'encrypted' as const, ciphertext: b64(sent) } };
    expect(await e2e.decrypt(own)).toEqual({ ok: true, text: 'my words' });
    await new Promise((r) => setTimeout(r, 0));
    expect(kept.map((k) => k.id)).toEqual(['m2']);
    expect(new TextDecoder().decode(kept[0]!.body.subarray(1))).toBe('my words');
  });
});
