// The encrypted key backup through the server (docs/e2e.md 18.4), as the Rust test client does it
// (tests/src/e2e_client/devices.rs): what is new goes up as chunks of at most 2,000 entries and
// well under 1 MiB, each at the next free number, then the head moves over them (and over chunks
// other devices appended meanwhile) by compare and swap; reading back checks the head's MAC and
// floor, then that chunks 1..count are exactly the head's chain, before anything is kept.

import { BackupHead, CryptoError, MAX_BACKUP_CHUNK_LEN, openBackupChunk, sealBackupChunk, wipeBackupEntries } from '../crypto/index';
import type { BackupEntry } from '../crypto/index';
import { entrySize, toBackupEntry, type AccountApi, type PendingEntry } from './account';
import { fromBase64, toBase64 } from './keystore';
import type { KeyBackupJson } from '../api/types';

/** Entries per chunk at most. */
export const ENTRIES_PER_CHUNK = 2000;
/** Plaintext bytes per chunk at most: below the crate's bound with room for one more entry. */
export const CHUNK_TARGET_BYTES = MAX_BACKUP_CHUNK_LEN - 300 * 1024;
/** Tries of a head write that another device's write overtook. */
const HEAD_TRIES = 5;
/** Tries of a chunk append that another device's append overtook. */
const CHUNK_TRIES = 5;
const PAGE = 100;

/** Why a backup was refused, in words for the user. */
export type BackupFailure = 'rolled_back' | 'forged' | 'foreign' | 'broken_chain' | 'tampered_chunk' | 'busy';

export const BACKUP_FAILURE_TEXT: Record<BackupFailure, string> = {
  rolled_back: 'The key backup on the server is older than one this account already had: it was rolled back. Nothing was restored from it.',
  forged: 'The key backup’s head does not verify under your backup key: it was changed or forged. Nothing was restored from it.',
  foreign: 'The key backup holds data of another account, or chunks moved to other places. Nothing was restored from it.',
  broken_chain: 'Chunks of the key backup are missing, swapped, reordered or cut off. Nothing was restored from it.',
  tampered_chunk: 'A chunk of the key backup was changed: it does not open under your backup key. Nothing was restored from it.',
  busy: 'The key backup kept being changed by another device meanwhile. Try again.',
};

export class BackupError extends Error {
  constructor(
    readonly failure: BackupFailure,
    readonly refusal?: unknown,
  ) {
    super(BACKUP_FAILURE_TEXT[failure]);
    this.name = 'BackupError';
  }
}

function status(e: unknown): number | undefined {
  return (e as { status?: number } | null)?.status;
}

/** The backup failure a crypto refusal means. */
export function backupFailureOf(e: unknown): BackupFailure | null {
  if (e instanceof BackupError) return e.failure;
  if (!(e instanceof CryptoError)) return null;
  switch (e.code) {
    case 'InvalidState':
      return 'rolled_back';
    case 'BadSignature':
      return 'forged';
    case 'IdentityMismatch':
      return 'foreign';
    case 'DigestMismatch':
      return 'broken_chain';
    case 'DecryptFailed':
      return 'tampered_chunk';
    default:
      return 'tampered_chunk';
  }
}

/** `entries` cut into chunks: at most `ENTRIES_PER_CHUNK` entries and `CHUNK_TARGET_BYTES` each. */
export function chunkEntries(entries: readonly PendingEntry[]): PendingEntry[][] {
  const out: PendingEntry[][] = [];
  let cur: PendingEntry[] = [];
  let bytes = 4;
  for (const e of entries) {
    const size = entrySize(e);
    if (cur.length && (cur.length >= ENTRIES_PER_CHUNK || bytes + size > CHUNK_TARGET_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 4;
    }
    cur.push(e);
    bytes += size;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** The stored head opened (MAC, account, not below `floor`), or null when there is none yet. */
export function openHead(state: KeyBackupJson, backupKey: Uint8Array, userId: Uint8Array, floor: number): BackupHead | null {
  if (!state.head) {
    if (floor > 0) throw new BackupError('rolled_back');
    return null;
  }
  try {
    return BackupHead.open(backupKey, fromBase64(state.head), userId, floor);
  } catch (e) {
    throw new BackupError(backupFailureOf(e) ?? 'forged', e);
  }
}

/** Chunks `after + 1 ..= upto` as stored, in order (a gap or a repeat breaks the chain). */
export async function chunksAfter(api: AccountApi, after: number, upto: number): Promise<{ seq: number; bytes: Uint8Array }[]> {
  const out: { seq: number; bytes: Uint8Array }[] = [];
  let next = after;
  while (next < upto) {
    const page = await api.backupChunks(next, PAGE);
    for (const c of page.chunks) {
      if (c.seq !== next + 1) throw new BackupError('broken_chain');
      next = c.seq;
      if (next > upto) break;
      out.push({ seq: c.seq, bytes: fromBase64(c.chunk) });
    }
    if (!page.has_more || !page.chunks.length) break;
  }
  if (next < upto) throw new BackupError('broken_chain');
  return out;
}

export interface BackedUp {
  /** The head now stored. */
  headSeq: number;
  /** Chunks this device appended. */
  chunks: number;
}

/**
 * Appends `entries` as chunks at the next free numbers and moves the head over them, and over
 * chunks other devices appended since the head, by compare and swap (tried again when another
 * device moved it). `floor` is the highest head this device has seen: an older one is a
 * rollback. Nothing is lost on failure: the caller keeps the entries until this returns.
 */
export async function backUp(
  api: AccountApi,
  userId: Uint8Array,
  backupKey: Uint8Array,
  floor: number,
  entries: readonly PendingEntry[],
): Promise<BackedUp> {
  let written = 0;
  for (const batch of chunkEntries(entries)) {
    const crypto: BackupEntry[] = batch.map(toBackupEntry);
    try {
      for (let attempt = 0; ; attempt++) {
        const state = await api.keyBackup();
        const seq = state.chunk_count + 1;
        const chunk = sealBackupChunk(backupKey, userId, seq, crypto);
        try {
          await api.appendBackupChunk(toBase64(chunk));
          written++;
          break;
        } catch (e) {
          // Another device took that number meanwhile: the next one.
          if (status(e) !== 409 || attempt + 1 >= CHUNK_TRIES) throw e;
        }
      }
    } finally {
      wipeBackupEntries(crypto);
    }
  }
  for (let attempt = 0; attempt < HEAD_TRIES; attempt++) {
    const state = await api.keyBackup();
    const current = openHead(state, backupKey, userId, floor) ?? BackupHead.empty(userId);
    const newer = await chunksAfter(api, Number(current.count), state.chunk_count);
    const next = current.after(newer.map((c) => c.bytes));
    try {
      await api.putBackupHead(toBase64(next.seal(backupKey)));
      return { headSeq: Number(next.headSeq), chunks: written };
    } catch (e) {
      if (status(e) !== 409) throw e;
    }
  }
  throw new BackupError('busy');
}

/** What a restore read: the head and every chunk after the ones held, checked. */
export interface ReadBackup {
  head: BackupHead | null;
  /** The new chunks, in order (their encodings), after `held`. */
  chunks: { seq: number; bytes: Uint8Array }[];
  /** The entries they hold. */
  entries: number;
}

/**
 * Reads the backup from chunk `held + 1` on (0: the whole backup): the head (its MAC, and not
 * below `floor`, the highest head this device or the device that linked it saw), then the chunks
 * up to its count, whose chain from `heldDigest` (the digest of chunks 1..held) must be the
 * head's digest, and each of which must open under the backup key for its place. Any refusal is
 * a `BackupError` and nothing is returned to keep.
 */
export async function readBackup(
  api: AccountApi,
  userId: Uint8Array,
  backupKey: Uint8Array,
  floor: number,
  held = 0,
  heldDigest: Uint8Array = new Uint8Array(32),
): Promise<ReadBackup> {
  const state = await api.keyBackup();
  const head = openHead(state, backupKey, userId, floor);
  if (!head) return { head: null, chunks: [], entries: 0 };
  const count = Number(head.count);
  if (count < held) throw new BackupError('broken_chain');
  const chunks = await chunksAfter(api, held, count);
  // The chain recomputed over what was read must be the one the head names.
  if (held === 0) {
    try {
      head.checkChunks(chunks.map((c) => c.bytes));
    } catch (e) {
      throw new BackupError('broken_chain', e);
    }
  } else {
    const chained = new BackupHead(userId.slice(), 0n, BigInt(held), heldDigest.slice()).after(chunks.map((c) => c.bytes));
    if (chained.count !== head.count || !sameBytes(chained.digest, head.digest)) throw new BackupError('broken_chain');
  }
  let entries = 0;
  for (const c of chunks) {
    try {
      const list = openBackupChunk(backupKey, userId, c.seq, c.bytes);
      entries += list.length;
      wipeBackupEntries(list);
    } catch (e) {
      throw new BackupError(backupFailureOf(e) ?? 'tampered_chunk', e);
    }
  }
  return { head, chunks, entries };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
