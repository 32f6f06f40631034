// @vitest-environment node
// Downloads that go on where the connection broke off (docs/web.md "Files"), against a fake
// network that serves a file with ranges like the server (`GET /files/{id}`, 206 and
// `Content-Range`) and breaks a body off mid-way: the bytes received are kept and asked again
// from there, the progress goes on, a 200 to a range starts over, a part that is not the one
// asked for starts over, the attempts are bounded with backoff, a refusal is not retried,
// cancelling stops everything (waits included); through the API client (the `Range` header
// and the token) and the chat store (a plaintext file, and an end-to-end one decrypted and its
// digest checked over the whole blob; a download two callers wait for is cancelled only when
// both cancel).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, type StoredSession } from '../../src/lib/api/client';
import { defaultBackoff, downloadResumable, parseContentRange } from '../../src/lib/chat/download';
import { fromAttachment, fromFileRef } from '../../src/lib/chat/attachments';
import { encryptFile } from '../../src/lib/e2e/files';
import type { FileRef } from '../../src/lib/e2e/appcodec';
import { MemoryStore } from '../../src/lib/storage/kv';
import { FakeServer, ME, pair } from './fake';
import { channel, chatStore } from './chatharness';
import { flush } from './fakews';

afterEach(() => {
  vi.unstubAllGlobals();
});

function bytes(n: number, seed = 3): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** What one answer of the fake network does. */
interface Plan {
  /** The body breaks off (a network error) after this many bytes of it. */
  breakAfter?: number;
  /** The body ends cleanly after this many bytes (a connection closed early). */
  endAfter?: number;
  /** Answer 200 with the whole file whatever the range asked. */
  ignoreRange?: boolean;
  /** Answer a 206 starting at this byte instead of the one asked. */
  startAt?: number;
  /** The request fails before any answer (no connection). */
  refuse?: boolean;
  /** Answer this status with an error body. */
  status?: number;
  retryAfter?: string;
  /** Flip the byte at this offset of the file in this answer. */
  flip?: number;
}

/** A stream of `b` in pieces of `piece` bytes, broken off or ended as `plan` says. */
function body(b: Uint8Array, plan: Plan, signal?: AbortSignal | null, piece = 1000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (signal?.aborted) return c.error(new DOMException('aborted', 'AbortError'));
      if (at >= b.length) return c.close();
      if (plan.breakAfter !== undefined && at >= plan.breakAfter) return c.error(new TypeError('network error'));
      if (plan.endAfter !== undefined && at >= plan.endAfter) return c.close();
      const limit = Math.min(b.length, plan.breakAfter ?? Infinity, plan.endAfter ?? Infinity);
      c.enqueue(b.slice(at, Math.min(limit, at + piece)));
      at = Math.min(limit, at + piece);
    },
  });
}

/**
 * A fake `fetch` serving `file` at any path like the server's `GET /files/{id}`: a `Range:
 * bytes=N-` is answered 206 with `Content-Range`, each answer as the next plan says (then
 * plainly). Keeps the ranges asked (null: none).
 */
function network(file: Uint8Array, plans: Plan[] = []) {
  const asked: (string | null)[] = [];
  const fetch = async (_input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const range = headers.range ?? null;
    asked.push(range);
    const plan = plans.shift() ?? {};
    if (init?.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    if (plan.refuse) throw new TypeError('Failed to fetch');
    if (plan.status) {
      const h: Record<string, string> = { 'content-type': 'application/json' };
      if (plan.retryAfter) h['retry-after'] = plan.retryAfter;
      return new Response(JSON.stringify({ code: plan.status === 404 ? 'not_found' : 'unavailable', message: `status ${plan.status}` }), { status: plan.status, headers: h });
    }
    let served = file;
    if (plan.flip !== undefined) {
      served = file.slice();
      served[plan.flip]! ^= 1;
    }
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m && !plan.ignoreRange) {
      const from = plan.startAt ?? Number(m[1]);
      const part = served.subarray(from);
      return new Response(body(part, plan, init?.signal), {
        status: 206,
        headers: { 'content-range': `bytes ${from}-${file.length - 1}/${file.length}`, 'content-length': String(part.length) },
      });
    }
    return new Response(body(served, plan, init?.signal), { status: 200, headers: { 'content-length': String(file.length) } });
  };
  return { fetch, asked };
}

/** Opens through a fake `fetch` the way the API client does (a range past the first byte). */
function opener(fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>) {
  return async (from: number, signal: AbortSignal) => {
    const res = await fetch('/api/v1/files/f1', { headers: from > 0 ? { range: `bytes=${from}-` } : {}, signal });
    if (!res.ok) {
      const b = (await res.json()) as { code: string; message: string };
      const ra = res.headers.get('retry-after');
      throw new ApiError(b.code as never, b.message, res.status, ra ? Number(ra) : null);
    }
    return res;
  };
}

/** A sleep that waits for nothing, keeping what it was asked (and honouring the signal). */
function sleeps() {
  const waited: number[] = [];
  const sleep = async (ms: number, signal: AbortSignal) => {
    signal.throwIfAborted();
    waited.push(ms);
  };
  return { waited, sleep };
}

async function blobBytes(b: Blob): Promise<Uint8Array> {
  return new Uint8Array(await b.arrayBuffer());
}

describe('resumable downloads', () => {
  it('reads Content-Range', () => {
    expect(parseContentRange('bytes 100-199/200')).toEqual({ start: 100, end: 199, total: 200 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 9, total: null });
    expect(parseContentRange('bytes 10-5/20')).toBeNull();
    expect(parseContentRange('bytes 0-20/20')).toBeNull();
    expect(parseContentRange('bytes */20')).toBeNull();
    expect(parseContentRange(null)).toBeNull();
    expect(parseContentRange('items 0-1/2')).toBeNull();
    expect([1, 2, 3, 4, 5, 9].map(defaultBackoff)).toEqual([500, 1000, 2000, 4000, 8000, 8000]);
  });

  it('goes on from the bytes received when the body breaks off, its progress going on too', async () => {
    const file = bytes(10_000);
    const net = network(file, [{ breakAfter: 3000 }, { breakAfter: 4000 }]);
    const { waited, sleep } = sleeps();
    const progress: [number, number][] = [];
    const blob = await downloadResumable(opener(net.fetch), { type: 'image/png', onProgress: (d, t) => progress.push([d, t]), sleep });
    expect(same(await blobBytes(blob), file)).toBe(true);
    expect(blob.type).toBe('image/png');
    expect(net.asked).toEqual([null, 'bytes=3000-', 'bytes=7000-']);
    const done = progress.map(([d]) => d);
    expect(done.every((d, i) => i === 0 || d >= done[i - 1]!)).toBe(true);
    expect(progress.at(-1)).toEqual([10_000, 10_000]);
    // each retry brought new bytes: each waits the first backoff
    expect(waited).toEqual([500, 500]);
  });

  it('goes on after a body that ends short of the length the server said', async () => {
    const file = bytes(5000);
    const net = network(file, [{ endAfter: 1234 }]);
    const blob = await downloadResumable(opener(net.fetch), { sleep: sleeps().sleep });
    expect(same(await blobBytes(blob), file)).toBe(true);
    expect(net.asked).toEqual([null, 'bytes=1234-']);
  });

  it('starts over when the server answers a range with the whole file (200)', async () => {
    const file = bytes(6000);
    const net = network(file, [{ breakAfter: 2500 }, { ignoreRange: true }]);
    const progress: number[] = [];
    const blob = await downloadResumable(opener(net.fetch), { onProgress: (d) => progress.push(d), sleep: sleeps().sleep });
    expect(same(await blobBytes(blob), file)).toBe(true);
    expect(blob.size).toBe(6000);
    expect(net.asked).toEqual([null, 'bytes=2500-']);
    // what was received is dropped: the progress goes back to 0 once, then to the end
    const back = progress.indexOf(0);
    expect(back).toBeGreaterThan(0);
    expect(progress[back - 1]).toBe(2500);
    expect(progress.at(-1)).toBe(6000);
  });

  it('starts over when the part answered does not start where it was asked', async () => {
    const file = bytes(4000);
    const net = network(file, [{ breakAfter: 1000 }, { startAt: 500 }]);
    const blob = await downloadResumable(opener(net.fetch), { sleep: sleeps().sleep });
    expect(same(await blobBytes(blob), file)).toBe(true);
    expect(net.asked).toEqual([null, 'bytes=1000-', null]);
  });

  it('gives up after the attempts in a row that bring nothing, waiting longer each time', async () => {
    const file = bytes(3000);
    const net = network(file, [{ breakAfter: 1000 }, { refuse: true }, { breakAfter: 0 }, { refuse: true }, { refuse: true }]);
    const { waited, sleep } = sleeps();
    await expect(downloadResumable(opener(net.fetch), { sleep })).rejects.toThrow(/cut short and could not be resumed \(Failed to fetch\)/);
    // the first retry brought nothing new: from there five in a row
    expect(net.asked).toEqual([null, 'bytes=1000-', 'bytes=1000-', 'bytes=1000-', 'bytes=1000-']);
    expect(waited).toEqual([500, 1000, 2000, 4000]);
  });

  it('keeps going while each attempt brings bytes, up to the attempts in all', async () => {
    const file = bytes(2000);
    // breaks every 100 bytes: 20 attempts bring it whole
    const plans = Array.from({ length: 30 }, () => ({ breakAfter: 100 }));
    const ok = network(file, plans.slice());
    expect(same(await blobBytes(await downloadResumable(opener(ok.fetch), { sleep: sleeps().sleep })), file)).toBe(true);
    expect(ok.asked).toHaveLength(20);
    // a larger one breaking as often would need more: it stops at 20
    const big = network(bytes(3000), plans.slice());
    await expect(downloadResumable(opener(big.fetch), { sleep: sleeps().sleep })).rejects.toThrow('cut short');
    expect(big.asked).toHaveLength(20);
  });

  it('does not try again what the server refused, and waits out a rate limit', async () => {
    const file = bytes(2000);
    const gone = network(file, [{ status: 404 }]);
    await expect(downloadResumable(opener(gone.fetch), { sleep: sleeps().sleep })).rejects.toMatchObject({ status: 404 });
    expect(gone.asked).toHaveLength(1);
    const busy = network(file, [{ breakAfter: 500 }, { status: 429, retryAfter: '3' }, { status: 503 }]);
    const { waited, sleep } = sleeps();
    expect(same(await blobBytes(await downloadResumable(opener(busy.fetch), { sleep })), file)).toBe(true);
    // the rate limit's Retry-After is waited when it is longer than the backoff
    expect(waited).toEqual([500, 3000, 2000]);
    expect(busy.asked).toEqual([null, 'bytes=500-', 'bytes=500-', 'bytes=500-']);
  });

  it('refuses more bytes than the file has, or a file of another length, without trying again', async () => {
    const file = bytes(3000);
    const longer = network(file);
    await expect(downloadResumable(opener(longer.fetch), { size: 2999, sleep: sleeps().sleep })).rejects.toThrow('another file');
    expect(longer.asked).toHaveLength(1);
    // no length said: the body is read, and more than the size stated is refused
    const unsaid = async () => new Response(body(file, {}), { status: 200 });
    await expect(downloadResumable(unsaid, { size: 2000, sleep: sleeps().sleep })).rejects.toThrow('longer than the file');
    // the size stated is checked against a resumed answer's total too
    const resumed = network(file);
    const unsaidFirst = async (from: number, signal: AbortSignal) =>
      from === 0 ? new Response(body(file, { breakAfter: 1000 }), { status: 200 }) : resumed.fetch('/f', { headers: { range: `bytes=${from}-` }, signal });
    await expect(downloadResumable(unsaidFirst, { size: 2500, sleep: sleeps().sleep })).rejects.toThrow('another file');
    // and an answer of no length that ends short of the size stated is resumed
    let calls = 0;
    const short = async (from: number) => {
      calls++;
      return from === 0 ? new Response(body(file, { endAfter: 1000 }), { status: 200 }) : network(file).fetch('/f', { headers: { range: `bytes=${from}-` } });
    };
    expect(same(await blobBytes(await downloadResumable(short, { size: 3000, sleep: sleeps().sleep })), file)).toBe(true);
    expect(calls).toBe(2);
  });

  it('stops when cancelled: mid-body, during a wait, before it starts', async () => {
    const file = bytes(50_000);
    const ctl = new AbortController();
    let pulled = 0;
    const slow = async (_from: number, signal: AbortSignal) =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (signal.aborted) return c.error(signal.reason);
            pulled++;
            if (pulled === 3) ctl.abort();
            c.enqueue(file.slice(0, 100));
          },
        }),
        { status: 200, headers: { 'content-length': String(file.length) } },
      );
    await expect(downloadResumable(slow, { signal: ctl.signal, sleep: sleeps().sleep })).rejects.toMatchObject({ name: 'AbortError' });

    // cancelled while it waits to try again: the real timer is cleared, nothing more is asked
    const net = network(file, [{ breakAfter: 1000 }]);
    const during = new AbortController();
    const p = downloadResumable(opener(net.fetch), { signal: during.signal, backoff: () => 60_000 });
    await vi.waitFor(() => expect(net.asked).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 20));
    during.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    await new Promise((r) => setTimeout(r, 20));
    expect(net.asked).toHaveLength(1);

    const before = new AbortController();
    before.abort();
    const none = network(file);
    await expect(downloadResumable(opener(none.fetch), { signal: before.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(none.asked).toHaveLength(0);
  });
});

async function signedIn() {
  const store = new MemoryStore();
  await store.put<StoredSession>('auth', 'session', { user_id: ME.id, username: 'alice', session_id: 'session-1', refresh_token: 'refresh-0' });
  return store;
}

describe('resumable downloads through the API client and the chat store', () => {
  it('the client asks the rest of a file with Range and the token', async () => {
    const server = new FakeServer().on('POST', '/sessions/refresh', () => ({ status: 200, body: pair(1, Date.now()) }));
    const seen: [string, Record<string, string>][] = [];
    const file = bytes(300);
    const net = network(file);
    const api = new ApiClient({
      store: await signedIn(),
      fetch: async (input, init) => {
        const url = String(input);
        if (!url.includes('/files/')) return server.fetch(input, init);
        seen.push([url, init?.headers as Record<string, string>]);
        return net.fetch(input, init);
      },
    });
    expect((await api.fileResponse('f 1')).status).toBe(200);
    const part = await api.fileResponse('f 1', undefined, 100);
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 100-299/300');
    expect(same(new Uint8Array(await part.arrayBuffer()), file.subarray(100))).toBe(true);
    expect(seen).toEqual([
      ['/api/v1/files/f%201', { authorization: 'Bearer access-1' }],
      ['/api/v1/files/f%201', { range: 'bytes=100-', authorization: 'Bearer access-1' }],
    ]);
    expect(() => api.fileResponse('f', undefined, -1)).toThrow(RangeError);
  });

  /** The chat store over an API client whose file downloads go through `net`. */
  async function storeOver(net: ReturnType<typeof network>) {
    const server = new FakeServer().on('POST', '/sessions/refresh', () => ({ status: 200, body: pair(1, Date.now()) }));
    const api = new ApiClient({
      store: await signedIn(),
      fetch: async (input, init) => (String(input).includes('/files/') ? net.fetch(input, init) : server.fetch(input, init)),
    });
    return chatStore([channel('ch')], {}, { fileResponse: api.fileResponse.bind(api) });
  }

  it('a plaintext file: broken off, resumed, the same bytes and their count checked', async () => {
    const file = bytes(200_000);
    const net = network(file, [{ breakAfter: 70_000 }]);
    const { chat } = await storeOver(net);
    const shown = fromAttachment({ id: 'f1', name: 'data.bin', content_type: 'application/octet-stream', size: file.length, thumbnail: false }, 'm/0');
    const progress: number[] = [];
    const url = await chat.openFile(shown, (d) => progress.push(d));
    expect(same(new Uint8Array(await (await fetch(url)).arrayBuffer()), file)).toBe(true);
    expect(net.asked).toEqual([null, 'bytes=70000-']);
    expect(progress.every((d, i) => i === 0 || d >= progress[i - 1]!)).toBe(true);
    expect(progress.at(-1)).toBe(file.length);
    chat.stop();
    await flush();
  });

  it('an end-to-end file: resumed, then decrypted with its digest checked over the whole blob', async () => {
    const plain = bytes(300_000, 9);
    const { blob, pointer } = await encryptFile(new Blob([plain as BlobPart]));
    const ct = new Uint8Array(await blob.arrayBuffer());
    const ref = (fileId: string): FileRef => ({ fileId, pointer: pointer.toBytes(), name: 'scan.bin', mime: 'application/octet-stream' });

    const net = network(ct, [{ breakAfter: 100_000 }, { breakAfter: 50_000 }]);
    const { chat } = await storeOver(net);
    const url = await chat.openFile(fromFileRef(ref('e1'), 'm/0'));
    expect(same(new Uint8Array(await (await fetch(url)).arrayBuffer()), plain)).toBe(true);
    expect(net.asked).toEqual([null, 'bytes=100000-', 'bytes=150000-']);

    // a byte changed in the part that came after the break: the whole blob does not match
    const bad = network(ct, [{ breakAfter: 100_000 }, { flip: 200_000 }]);
    const other = await storeOver(bad);
    await expect(other.chat.openFile(fromFileRef(ref('e2'), 'm/1'))).rejects.toMatchObject({ name: 'CryptoError' });
    chat.stop();
    other.chat.stop();
    await flush();
  });

  it('a download two callers wait for is cancelled only when both cancel; another is not held', async () => {
    const file = bytes(100_000);
    let signal: AbortSignal | null = null;
    const net = network(file, [{ breakAfter: 10_000 }]);
    const { chat } = await storeOver({
      asked: net.asked,
      fetch: (input, init) => {
        signal = init?.signal ?? null;
        return net.fetch(input, init);
      },
    });
    const shown = fromAttachment({ id: 'f1', name: 'a.bin', content_type: 'application/octet-stream', size: file.length, thumbnail: false }, 'm/0');
    const one = new AbortController();
    const two = new AbortController();
    const a = chat.openFile(shown, undefined, one.signal);
    const b = chat.openFile(shown, undefined, two.signal);
    await vi.waitFor(() => expect(signal).not.toBeNull());
    one.abort();
    await expect(a).rejects.toMatchObject({ name: 'AbortError' });
    expect(signal!.aborted).toBe(false);
    two.abort();
    await expect(b).rejects.toMatchObject({ name: 'AbortError' });
    expect(signal!.aborted).toBe(true);
    // asked again later: a new download, to the end
    const url = await chat.openFile(shown);
    expect(same(new Uint8Array(await (await fetch(url)).arrayBuffer()), file)).toBe(true);
    chat.stop();
    await flush();
  });
});
