// The server's side of "Every device of an account" (docs/api.md) in memory, over the key
// directory of keydir.ts: secret storage written only at the next version, backup chunks only at
// the next number, the head only at the next head_seq with a count between the previous one and
// the chunks stored, link requests relayed and answered once, the reset. It checks framing and
// order only, as the server: it can read nothing. Tests change its data directly to play a
// server that swaps, drops or rolls back what it holds.
import type { Directory } from './keydir';
import type { KeyApi } from '../../src/lib/e2e/device';
import type { AccountApi } from '../../src/lib/e2e/account';
import type { AuditEvent } from '../../src/lib/api/types';
import { fromBase64 } from '../../src/lib/e2e/keystore';

export function httpError(status: number, code: string): Error {
  return Object.assign(new Error(`${status} ${code}`), { status, code });
}

function u64At(b: Uint8Array, at: number): number {
  let v = 0;
  for (let i = 0; i < 8; i++) v = v * 256 + b[at + i]!;
  return v;
}

function userHex(b: Uint8Array): string {
  const h = Array.from(b.subarray(1, 17), (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface AccountData {
  storage: { version: number; storage: string } | null;
  chunks: string[];
  head: string | null;
  headSeq: number;
  headCount: number;
  /** device → its pending link request and answer */
  links: Map<string, { request: string; response: string | null; name: string }>;
  audit: AuditEvent[];
}

export class AccountServer {
  accounts = new Map<string, AccountData>();
  passwords = new Map<string, string>();
  calls: string[] = [];

  constructor(readonly dir: Directory) {}

  of(user: string): AccountData {
    let a = this.accounts.get(user);
    if (!a) {
      a = { storage: null, chunks: [], head: null, headSeq: 0, headCount: 0, links: new Map(), audit: [] };
      this.accounts.set(user, a);
    }
    return a;
  }

  api(user: string, device: string): KeyApi & AccountApi {
    const inner = this.dir.api(user, device);
    const acc = () => this.of(user);
    const framed = (b64: string, tag: number, len?: number) => {
      const b = fromBase64(b64);
      if (b[0] !== tag || (len !== undefined && b.length !== len) || userHex(b) !== user) throw httpError(400, 'invalid_request');
      return b;
    };
    const state = () => {
      const a = acc();
      return {
        head: a.head,
        head_seq: a.headSeq,
        head_count: a.headCount,
        chunk_count: a.chunks.length,
        chunk_bytes: a.chunks.reduce((n, c) => n + fromBase64(c).length, 0),
        max_chunks: 100_000,
        max_bytes: 256 << 20,
      };
    };
    const log = (what: string) => this.calls.push(what);
    return {
      ...inner,
      publishKeys: async (id, body) => {
        const r = await inner.publishKeys(id, body);
        acc().links.delete(id);
        return r;
      },
      secretStorage: async () => {
        const s = acc().storage;
        if (!s) throw httpError(404, 'not_found');
        return { ...s, updated_at: '2026-12-01T10:00:00Z' };
      },
      putSecretStorage: async (storage) => {
        log('putSecretStorage');
        const b = framed(storage, 0x60, 139);
        const v = u64At(b, 17);
        const a = acc();
        if (v !== (a.storage?.version ?? 0) + 1) throw httpError(409, 'conflict');
        a.storage = { version: v, storage };
        return { ...a.storage, updated_at: '2026-12-01T10:00:00Z' };
      },
      keyBackup: async () => state(),
      appendBackupChunk: async (chunk) => {
        log('appendBackupChunk');
        const b = framed(chunk, 0x67);
        const a = acc();
        if (u64At(b, 17) !== a.chunks.length + 1) throw httpError(409, 'conflict');
        a.chunks.push(chunk);
        return { seq: a.chunks.length, chunk_count: a.chunks.length, chunk_bytes: state().chunk_bytes };
      },
      backupChunks: async (after, limit = 100) => {
        const a = acc();
        const list = a.chunks.slice(after, after + limit).map((chunk, i) => ({ seq: after + i + 1, chunk }));
        return { chunks: list, has_more: after + limit < a.chunks.length };
      },
      putBackupHead: async (head) => {
        log('putBackupHead');
        const b = framed(head, 0x68, 97);
        const a = acc();
        if (u64At(b, 17) !== a.headSeq + 1) throw httpError(409, 'conflict');
        const count = u64At(b, 25);
        if (count < a.headCount || count > a.chunks.length) throw httpError(400, 'invalid_request');
        a.head = head;
        a.headSeq += 1;
        a.headCount = count;
        return state();
      },
      putLinkRequest: async (id, request) => {
        if (id !== device) throw httpError(403, 'forbidden');
        if (this.dir.devices.has(id)) throw httpError(409, 'conflict');
        framed(request, 0x62, 161);
        acc().links.set(id, { request, response: null, name: `device ${id.slice(-4)}` });
        return { device_id: id, device_name: 'x', request, answered: false, created_at: '', expires_at: '' };
      },
      deleteLinkRequest: async (id) => {
        if (!acc().links.delete(id)) throw httpError(404, 'not_found');
      },
      linkResponse: async (id) => {
        const l = acc().links.get(id);
        if (!l?.response) throw httpError(404, 'not_found');
        return { responder_device_id: '00000000-0000-0000-0000-000000000000', response: l.response };
      },
      linkRequests: async () => ({
        requests: [...acc().links.entries()]
          .filter(([id, l]) => id !== device && !l.response)
          .map(([id, l]) => ({ device_id: id, device_name: l.name, request: l.request, answered: false, created_at: '', expires_at: '' })),
      }),
      answerLinkRequest: async (id, response) => {
        if (!this.dir.devices.has(device)) throw httpError(403, 'forbidden');
        const l = acc().links.get(id);
        if (!l) throw httpError(404, 'not_found');
        if (l.response) throw httpError(409, 'conflict');
        if (fromBase64(response).length !== 356) throw httpError(400, 'invalid_request');
        l.response = response;
      },
      resetUserKey: async (password) => {
        if (this.passwords.get(user) !== password) throw httpError(403, 'wrong_password');
        this.dir.userKeys.delete(user);
        for (const [id, row] of [...this.dir.devices]) if (row.user === user) this.dir.devices.delete(id);
        const a = acc();
        a.storage = null;
        a.chunks = [];
        a.head = null;
        a.headSeq = 0;
        a.headCount = 0;
        a.links.clear();
        a.audit.unshift({ id: `audit-${a.audit.length}`, action: 'user_key_reset', created_at: new Date().toISOString(), user_id: user });
      },
      auditEvents: async () => acc().audit,
    };
  }
}
