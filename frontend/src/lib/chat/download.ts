// Downloads of stored files that survive a connection breaking off (docs/web.md "Files"): the
// bytes received are kept, and the download goes on from there with `Range: bytes=N-`. The
// server answers 206 with `Content-Range` starting at N, and the download goes on; a 200 (it
// sent the whole file again) starts it over. A body that ends short of the file's length counts
// as broken off too. A bounded number of attempts, with backoff between them; the caller's
// signal cancels at any point, waits included.

import { ApiError } from '../api/client';

/** Opens the file's bytes from `from` (0: the whole file, without a range). */
export type OpenFrom = (from: number, signal: AbortSignal) => Promise<Response>;

export interface ResumeOptions {
  /** The file's length when it is known beforehand (else the server's answer says it). */
  size?: number | null;
  /** The type of the blob made. */
  type?: string;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Attempts in a row that bring no new byte before giving up (the first one included). */
  attempts?: number;
  /** Attempts in all, however many bytes each brought. */
  maxAttempts?: number;
  /** How long to wait before the retry that follows `failed` attempts in a row (ms). */
  backoff?: (failed: number) => number;
  /** Waits `ms` (cancelled by `signal`); a timer unless a test gives its own. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Attempts in a row without a new byte, and in all. */
export const RESUME_ATTEMPTS = 5;
export const RESUME_MAX_ATTEMPTS = 20;
/** Bytes received are put in a blob (out of the script's memory) this many at a time. */
const SPILL_BYTES = 4 * 1024 * 1024;

/** 0.5 s, 1 s, 2 s, 4 s, then 8 s. */
export function defaultBackoff(failed: number): number {
  return Math.min(8000, 500 * 2 ** Math.max(0, failed - 1));
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}

/** `bytes START-END/TOTAL` (TOTAL may be `*`); null for anything else. */
export function parseContentRange(v: string | null): { start: number; end: number; total: number | null } | null {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v ?? '');
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? null : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return null;
  if (total !== null && (!Number.isSafeInteger(total) || end >= total)) return null;
  return { start, end, total };
}

/** A failure that trying again would not mend. */
class Final extends Error {}

/** Whether a refusal of the server may pass (a rate limit, the server busy or restarting). */
function passing(e: ApiError): boolean {
  return e.code === 'network' || e.status === 429 || e.status === 502 || e.status === 503 || e.status === 504;
}

function isAbort(e: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (e instanceof DOMException && e.name === 'AbortError');
}

/**
 * The whole file `open` reads, as a blob of `type`, resumed from the bytes received when the
 * connection breaks off. Throws the server's refusal (an `ApiError`: not found, say) at once,
 * an `AbortError` when `signal` cancels, and an error saying so when the attempts run out or the
 * server sends more than the file.
 */
export async function downloadResumable(open: OpenFrom, opts: ResumeOptions = {}): Promise<Blob> {
  const outer = opts.signal;
  const ctl = new AbortController();
  const cancel = () => ctl.abort(outer?.reason ?? new DOMException('The download was cancelled.', 'AbortError'));
  if (outer?.aborted) cancel();
  outer?.addEventListener('abort', cancel, { once: true });
  const signal = ctl.signal;
  const attempts = Math.max(1, opts.attempts ?? RESUME_ATTEMPTS);
  const maxAttempts = Math.max(attempts, opts.maxAttempts ?? RESUME_MAX_ATTEMPTS);
  const backoff = opts.backoff ?? defaultBackoff;
  const sleep = opts.sleep ?? wait;
  const stated = opts.size ?? null;
  let total: number | null = stated;

  /** The bytes received, in blobs of about SPILL_BYTES, then the latest chunks. */
  let spilled: Blob[] = [];
  let chunks: Uint8Array[] = [];
  let chunkBytes = 0;
  let received = 0;
  const restart = () => {
    spilled = [];
    chunks = [];
    chunkBytes = 0;
    received = 0;
  };
  const progress = () => opts.onProgress?.(received, total ?? 0);

  let failed = 0;
  let tried = 0;
  let lastError: unknown = null;
  try {
    for (;;) {
      signal.throwIfAborted();
      tried++;
      const before = received;
      let res: Response | null = null;
      try {
        res = await open(received, signal);
      } catch (e) {
        if (isAbort(e, signal)) throw e;
        if (e instanceof ApiError && !passing(e)) throw e;
        lastError = e;
      }
      if (res) {
        try {
          if (await readInto(res)) break;
        } catch (e) {
          if (isAbort(e, signal) || e instanceof Final) throw e;
          lastError = e;
        }
      }
      failed = received > before ? 1 : failed + 1;
      if (failed >= attempts || tried >= maxAttempts) {
        const why = lastError instanceof Error ? ` (${lastError.message})` : '';
        throw new Error(`The download was cut short and could not be resumed${why}: try again.`);
      }
      const retryAfter = lastError instanceof ApiError && lastError.retryAfter !== null ? lastError.retryAfter * 1000 : 0;
      await sleep(Math.max(backoff(failed), Math.min(retryAfter, 60_000)), signal);
    }
  } finally {
    outer?.removeEventListener('abort', cancel);
  }
  if (chunks.length) spilled.push(new Blob(chunks as BlobPart[]));
  return new Blob(spilled, { type: opts.type ?? 'application/octet-stream' });

  /**
   * Reads one answer into what was received: true when the file is whole, false when the body
   * broke off or ended short (to be resumed).
   */
  async function readInto(res: Response): Promise<boolean> {
    try {
      if (received > 0 && res.status === 206) {
        const range = parseContentRange(res.headers.get('content-range'));
        if (!range || range.start !== received) {
          // Not the part asked for: the next attempt starts over with the whole file.
          restart();
          progress();
          throw new Error('the server answered another part of the file');
        }
        learnTotal(range.total);
      } else if (res.status === 200) {
        // The whole file (first attempt, or a server that does not resume): from the start.
        if (received > 0) {
          restart();
          progress();
        }
        const said = res.headers.get('content-length');
        const length = Number(said);
        if (said !== null && Number.isSafeInteger(length) && length >= 0) learnTotal(length);
      } else {
        throw new Final(`The server answered the download with HTTP ${res.status}.`);
      }
    } catch (e) {
      await res.body?.cancel().catch(() => {});
      throw e;
    }
    if (!res.body) throw new Error('the answer had no body');
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (!value?.length) continue;
        if (total !== null && received + value.length > total) throw new Final('The download is longer than the file: it is not shown.');
        chunks.push(value);
        chunkBytes += value.length;
        received += value.length;
        if (chunkBytes >= SPILL_BYTES) {
          spilled.push(new Blob(chunks as BlobPart[]));
          chunks = [];
          chunkBytes = 0;
        }
        progress();
      }
    } catch (e) {
      await reader.cancel().catch(() => {});
      // Broken off after the last byte: the file is whole.
      if (!(e instanceof Final) && !signal.aborted && total !== null && received === total) return true;
      throw e;
    }
    // Without a length said anywhere, the end of the body is the end of the file.
    if (total === null) return true;
    if (received === total) return true;
    throw new Error(`the download ended after ${received} of ${total} bytes`);
  }

  /** The file's length as an answer says it; another than the one known is not this file. */
  function learnTotal(n: number | null) {
    if (n === null) return;
    if (total !== null && n !== total) throw new Final('The server holds another file than the message names: it is not shown.');
    total = n;
  }
}
