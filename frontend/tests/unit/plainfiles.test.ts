// @vitest-environment node
// Files in plaintext channels (docs/web.md "Files"): the name and type an upload declares, made
// acceptable to the server and refused with a reason when they are not; the server's
// attachments and the bodies of end-to-end files mapped to the one shape the file view shows;
// a download read whole, with its length checked; the API client's plaintext upload and
// thumbnail routes; and the chat store sending a file in a plaintext channel as a message of its
// own, shown with its attachment once acked, its thumbnail and bytes fetched from the server.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, type StoredSession } from '../../src/lib/api/client';
import type { Message } from '../../src/lib/api/types';
import {
  VIDEO_BOX,
  filesSummary,
  fromAttachment,
  fromFileRef,
  heldType,
  messageAttachments,
  messageFiles,
  readWhole,
  thumbBox,
  type Attachment,
} from '../../src/lib/chat/attachments';
import type { FileRef } from '../../src/lib/e2e/appcodec';
import { encryptFile } from '../../src/lib/e2e/files';
import { FILE_NAME_MAX_BYTES, byteLength, fileNameProblem, plainUploadQuery, uploadName, uploadType } from '../../src/lib/validate';
import { MemoryStore } from '../../src/lib/storage/kv';
import { FakeServer, ME, pair } from './fake';
import { channel, chatStore, message } from './chatharness';
import { flush } from './fakews';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('the name and type of a plaintext upload', () => {
  it('says why the server would refuse a name', () => {
    expect(fileNameProblem('beach.png')).toBeNull();
    expect(fileNameProblem('Ünïcødé 😀 notes.txt')).toBeNull();
    expect(fileNameProblem('')).toBe('A file needs a name.');
    expect(fileNameProblem('a/b.txt')).toBe('The file name holds a slash or a backslash.');
    expect(fileNameProblem('a\\b.txt')).toBe('The file name holds a slash or a backslash.');
    expect(fileNameProblem('line\nbreak.txt')).toBe('The file name holds a control character.');
    expect(fileNameProblem('bell\u0007.txt')).toBe('The file name holds a control character.');
    expect(fileNameProblem('c1\u0085.txt')).toBe('The file name holds a control character.');
    expect(fileNameProblem('x'.repeat(255))).toBeNull();
    expect(fileNameProblem('x'.repeat(256))).toBe('The file name is longer than 255 bytes.');
    expect(fileNameProblem('é'.repeat(128))).toBe('The file name is longer than 255 bytes.');
    expect(fileNameProblem('half \ud83d.txt')).toBe('The file name is not valid text.');
  });

  it('makes any name one the server takes, keeping what it can', () => {
    expect(uploadName('beach.png')).toBe('beach.png');
    expect(uploadName('  spaced.txt  ')).toBe('spaced.txt');
    expect(uploadName('a/b\\c.txt')).toBe('a_b_c.txt');
    expect(uploadName('tab\there\n.txt')).toBe('tab_here_.txt');
    expect(uploadName('')).toBe('file');
    expect(uploadName('   ')).toBe('file');
    expect(uploadName('half \ud83d.txt')).toBe('half \ufffd.txt');
    // Too long: the stem is cut on a whole character, the extension stays.
    const long = uploadName(`${'日本'.repeat(100)}.tar.gz`);
    expect(byteLength(long)).toBeLessThanOrEqual(FILE_NAME_MAX_BYTES);
    expect(long.endsWith('.gz')).toBe(true);
    expect(long.startsWith('日本日本')).toBe(true);
    expect(long).not.toContain('\ufffd');
    const emoji = uploadName('😀'.repeat(70));
    expect(byteLength(emoji)).toBe(252);
    expect([...emoji].every((c) => c === '😀')).toBe(true);
    // A very long "extension" is part of the name, cut like the rest.
    expect(byteLength(uploadName(`a.${'b'.repeat(300)}`))).toBe(255);
    for (const n of ['a/b', 'x\u0000y', '😀'.repeat(100), `${'é'.repeat(200)}.png`, '\\\\', '\u007f']) {
      expect(fileNameProblem(uploadName(n))).toBeNull();
    }
  });

  it('declares a type only as type/subtype the server takes', () => {
    expect(uploadType('video/mp4')).toBe('video/mp4');
    expect(uploadType('Image/PNG')).toBe('image/png');
    expect(uploadType('text/plain; charset=utf-8')).toBe('text/plain');
    expect(uploadType('application/vnd.openxmlformats-officedocument.wordprocessingml.document')).toBe(
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    );
    expect(uploadType('')).toBeNull();
    expect(uploadType('png')).toBeNull();
    expect(uploadType('image/')).toBeNull();
    expect(uploadType('a b/c')).toBeNull();
    expect(uploadType(`application/${'x'.repeat(100)}`)).toBeNull();
  });

  it('builds the query, and refuses a bad name before anything is sent', () => {
    expect(plainUploadQuery('beach.png', 'image/png')).toBe('?name=beach.png&type=image%2Fpng');
    expect(plainUploadQuery('notes & plans #2?.txt')).toBe('?name=notes%20%26%20plans%20%232%3F.txt');
    expect(plainUploadQuery('日本.txt', '')).toBe('?name=%E6%97%A5%E6%9C%AC.txt');
    expect(plainUploadQuery('x.bin', 'not a type')).toBe('?name=x.bin');
    expect(() => plainUploadQuery('a/b')).toThrow('The file name holds a slash or a backslash.');
    expect(() => plainUploadQuery('')).toThrow('A file needs a name.');
  });
});

const ID = '0193aaaa-0000-7000-8000-0000000f1001';

function attachment(over: Partial<Attachment> = {}): Attachment {
  return { id: ID, name: 'beach.png', content_type: 'image/png', size: 12_345, width: 1200, height: 800, thumbnail: true, ...over };
}

describe('files shown in messages', () => {
  it('shows a plaintext image from its thumbnail at its proportions, other files as cards, videos in a box', () => {
    const img = fromAttachment(attachment(), 'm1/0');
    expect(img).toMatchObject({ key: 'm1/0', name: 'beach.png', mime: 'image/png', size: 12_345, width: 1200, height: 800, image: true, video: false, hasThumb: true });
    expect(img.source).toEqual({ kind: 'plain', fileId: ID, thumbnail: true });
    expect(thumbBox(img.width, img.height)).toEqual({ w: 320, h: 213 });
    // No thumbnail (too large to decode, say), or no dimensions: a card only.
    expect(fromAttachment(attachment({ thumbnail: false }), 'k').image).toBe(false);
    expect(fromAttachment(attachment({ width: null, height: null }), 'k').image).toBe(false);
    // Not a type shown inline, whatever the server made.
    expect(fromAttachment(attachment({ content_type: 'image/svg+xml' }), 'k').image).toBe(false);
    const bin = fromAttachment(attachment({ name: 'data.bin', content_type: 'application/octet-stream', width: undefined, height: undefined, thumbnail: false, size: 3 << 20 }), 'k');
    expect(bin).toMatchObject({ image: false, video: false, hasThumb: false, size: 3 << 20 });
    expect(bin.width).toBeUndefined();
    // A video plays in place; without dimensions, in a box of its own.
    const clip = fromAttachment(attachment({ name: 'clip.mp4', content_type: 'video/mp4', width: null, height: null, thumbnail: false }), 'k');
    expect(clip).toMatchObject({ video: true, image: false, hasThumb: false });
    expect(thumbBox(clip.width, clip.height)).toEqual(VIDEO_BOX);
    // What the server left out is said plainly.
    const odd = fromAttachment({ id: ID, name: '', content_type: '', size: -1, thumbnail: 'yes' } as unknown as Attachment, 'k');
    expect(odd).toMatchObject({ name: 'file', mime: 'application/octet-stream', size: null, hasThumb: false, image: false });
  });

  it('reads the attachments of a plaintext message, and the file of a decrypted body, in one shape', async () => {
    const base = message('ch', 4, 'other', '');
    const withFiles = { ...base, files: [ID, 'f2'], attachments: [attachment(), attachment({ id: 'f2', name: 'b.txt', content_type: 'text/plain', thumbnail: false })] };
    expect(messageFiles(withFiles).map((f) => [f.key, f.name, f.image])).toEqual([
      ['ch-4/0', 'beach.png', true],
      ['ch-4/1', 'b.txt', false],
    ]);
    expect(filesSummary(withFiles)).toBe('📎 beach.png and 1 more file');
    expect(filesSummary({ ...withFiles, attachments: [attachment()] })).toBe('📎 beach.png');
    expect(filesSummary(base)).toBeNull();
    expect(messageFiles(base)).toEqual([]);
    expect(messageFiles({ ...withFiles, deleted: true })).toEqual([]);
    expect(messageAttachments({ deleted: false, attachments: 'no' })).toEqual([]);
    expect(messageAttachments({ deleted: false, attachments: [null, { name: 'no id' }, attachment()] })).toEqual([attachment()]);

    const { pointer } = await encryptFile(new Blob([new Uint8Array(5000)]));
    const thumb = await encryptFile(new Blob([new Uint8Array(100)]));
    const ref: FileRef = { fileId: ID, pointer: pointer.toBytes(), name: 'enc.png', mime: 'image/png', width: 300, height: 600, thumb: { fileId: 'f9', pointer: thumb.pointer.toBytes() } };
    const enc: Message = { ...base, content: { kind: 'encrypted', ciphertext: 'AAAA' } };
    const [e] = messageFiles(enc, ref);
    expect(e).toMatchObject({ key: 'ch-4/0', name: 'enc.png', size: 5000, image: true, video: false, hasThumb: true, width: 300, height: 600 });
    expect(e!.source).toEqual({ kind: 'encrypted', ref });
    expect(thumbBox(e!.width, e!.height)).toEqual({ w: 160, h: 320 });
    expect(messageFiles(enc, null)).toEqual([]);
    // An encrypted video plays in place only with the poster the sender's browser made.
    expect(fromFileRef({ ...ref, mime: 'video/webm', durationMs: 2000 }, 'k')).toMatchObject({ video: true, durationMs: 2000 });
    expect(fromFileRef({ ...ref, mime: 'video/webm', thumb: undefined }, 'k').video).toBe(false);
    expect(fromFileRef({ ...ref, pointer: new Uint8Array(3) }, 'k').size).toBeNull();
  });

  it('holds only images and videos with their own type', () => {
    expect(heldType('image/png')).toBe('image/png');
    expect(heldType('video/MP4')).toBe('video/mp4');
    expect(heldType('text/html')).toBe('application/octet-stream');
    expect(heldType('image/svg+xml')).toBe('application/octet-stream');
    expect(heldType('')).toBe('application/octet-stream');
  });

  it('reads a download whole with its progress, and refuses one of another length', async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => i * 7);
    const seen: number[] = [];
    const blob = await readWhole(new Response(bytes), 'image/png', bytes.length, (d, t) => {
      expect(t).toBe(bytes.length);
      seen.push(d);
    });
    expect(blob.type).toBe('image/png');
    expect(Buffer.from(await blob.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
    expect(seen.at(-1)).toBe(bytes.length);
    expect(seen.every((d, i) => i === 0 || d > seen[i - 1]!)).toBe(true);
    await expect(readWhole(new Response(bytes.slice(1)), 'x/y', bytes.length)).rejects.toThrow('The download was cut short: try again.');
    await expect(readWhole(new Response(new Uint8Array([...bytes, 1])), 'x/y', bytes.length)).rejects.toThrow('longer than the file');
    // Of unknown size (a thumbnail): whatever the answer holds.
    expect((await readWhole(new Response(new Uint8Array(10)), 'image/webp', null)).size).toBe(10);
  });
});

interface SentXhr {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** The browser's XMLHttpRequest as the server answers it: the upload's progress, then `reply`. */
function xhrTransport(reply: (req: SentXhr) => { status: number; body?: unknown }) {
  const sent: SentXhr[] = [];
  class Xhr {
    status = 0;
    responseText = '';
    upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = { onprogress: null };
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    onabort: ((e: unknown) => void) | null = null;
    private req: SentXhr = { method: '', url: '', headers: {}, body: undefined };
    open(method: string, url: string) {
      this.req.method = method;
      this.req.url = url;
    }
    setRequestHeader(k: string, v: string) {
      this.req.headers[k.toLowerCase()] = v;
    }
    getResponseHeader() {
      return null;
    }
    abort() {
      this.onabort?.({});
    }
    send(body: unknown) {
      this.req.body = body;
      sent.push(this.req);
      const r = reply(this.req);
      const size = body instanceof Blob ? body.size : 0;
      queueMicrotask(() => {
        this.upload.onprogress?.({ loaded: size, total: size, lengthComputable: true });
        this.status = r.status;
        this.responseText = r.body === undefined ? '' : JSON.stringify(r.body);
        this.onload?.();
      });
    }
  }
  vi.stubGlobal('XMLHttpRequest', Xhr);
  return sent;
}

function stored(over: Record<string, unknown> = {}) {
  return {
    id: ID,
    channel_id: 'ch',
    uploader_id: 'me',
    sha256: '0'.repeat(64),
    size: 4,
    created_at: '2026-11-28T10:00:00Z',
    name: 'beach.png',
    content_type: 'image/png',
    width: 1200,
    height: 800,
    thumbnail: true,
    ...over,
  };
}

describe('ApiClient: plaintext files', () => {
  let server: FakeServer;
  let store: MemoryStore;

  beforeEach(async () => {
    server = new FakeServer();
    store = new MemoryStore();
    await store.put<StoredSession>('auth', 'session', { user_id: ME.id, username: 'alice', session_id: 'session-1', refresh_token: 'refresh-0' });
    server.on('POST', '/sessions/refresh', () => ({ status: 200, body: pair(1, Date.now()) }));
  });

  it('uploads named and typed in a plaintext channel, unnamed in an end-to-end one', async () => {
    const sent = xhrTransport(() => ({ status: 201, body: stored() }));
    const api = new ApiClient({ store, fetch: server.fetch });
    const blob = new Blob([new Uint8Array(4)]);
    expect(await api.uploadFile('c 1', blob, undefined, undefined, { name: 'beach photo.png', type: 'image/png' })).toEqual(stored());
    await api.uploadFile('c1', blob);
    expect(sent.map((r) => [r.method, r.url, r.headers['content-type'], r.headers.authorization])).toEqual([
      ['POST', '/api/v1/channels/c%201/files?name=beach%20photo.png&type=image%2Fpng', 'application/octet-stream', 'Bearer access-1'],
      ['POST', '/api/v1/channels/c1/files', 'application/octet-stream', 'Bearer access-1'],
    ]);
    await expect(api.uploadFile('c1', blob, undefined, undefined, { name: 'a/b' })).rejects.toThrow('slash');
    expect(sent).toHaveLength(2);
  });

  it("fetches a file's thumbnail with the token", async () => {
    const seen: [string, string | undefined][] = [];
    const api = new ApiClient({
      store,
      fetch: async (input, init) => {
        const url = String(input);
        if (!url.includes('/files/')) return server.fetch(input, init);
        seen.push([url, (init?.headers as Record<string, string>).authorization]);
        return url === `/api/v1/files/${ID}/thumbnail`
          ? new Response(new Uint8Array([1, 2, 3]), { headers: { 'content-type': 'image/webp' } })
          : new Response(JSON.stringify({ code: 'not_found', message: 'no such file' }), { status: 404, headers: { 'content-type': 'application/json' } });
      },
    });
    const res = await api.thumbnailResponse(ID);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    await expect(api.thumbnailResponse('a/b')).rejects.toMatchObject({ status: 404 });
    expect(seen).toEqual([
      [`/api/v1/files/${ID}/thumbnail`, 'Bearer access-1'],
      ['/api/v1/files/a%2Fb/thumbnail', 'Bearer access-1'],
    ]);
  });
});

describe('chat store: a file in a plaintext channel', () => {
  it('uploads it as it is, sends it as a message of its own, and shows it with its thumbnail and bytes', async () => {
    const store = new MemoryStore();
    await store.put<StoredSession>('auth', 'session', { user_id: ME.id, username: 'alice', session_id: 'session-1', refresh_token: 'refresh-0' });
    const server = new FakeServer().on('POST', '/sessions/refresh', () => ({ status: 200, body: pair(1, Date.now()) }));
    const png = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, 9, 9]);
    const thumb = new Uint8Array([82, 73, 70, 70, 1, 2]);
    const asked: string[] = [];
    const api = new ApiClient({
      store,
      fetch: async (input, init) => {
        const url = String(input);
        if (!url.includes('/files/')) return server.fetch(input, init);
        asked.push(url);
        return url.endsWith('/thumbnail')
          ? new Response(thumb, { headers: { 'content-type': 'image/webp' } })
          : new Response(png, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(png.length) } });
      },
    });
    const sent = xhrTransport(() => ({ status: 201, body: stored({ size: png.length, name: 'beach.png' }) }));
    const { chat, ws } = await chatStore([channel('ch')], {}, {
      uploadFile: api.uploadFile.bind(api),
      fileResponse: api.fileResponse.bind(api),
      thumbnailResponse: api.thumbnailResponse.bind(api),
      fileUsage: async () => ({ files: 0, bytes: 0, quota_bytes: 1 << 30, max_upload_bytes: 1 << 20 }),
    });
    await chat.openChannel('ch');
    const file = new File([png], 'beach.png', { type: 'image/png' });
    expect(chat.sendFiles('ch', [file])).toBeNull();
    const view = chat.views.get('ch')!;
    expect(view.uploads).toHaveLength(1);
    await vi.waitFor(() => expect(view.uploads).toHaveLength(0));
    expect(sent.map((r) => r.url)).toEqual(['/api/v1/channels/ch/files?name=beach.png&type=image%2Fpng']);
    expect(sent[0]!.body).toBe(file);

    const frame = ws.sent.find((f) => f.type === 'send_message')!;
    expect(frame).toMatchObject({ channel_id: 'ch', content: { kind: 'text', text: '' }, files: [ID] });
    expect(view.timeline.pending[0]!.display).toBe('📎 beach.png');
    ws.receive({ type: 'message_acked', channel_id: 'ch', nonce: frame.nonce, message_id: 'ch-1', seq: 1 });
    const [shown] = messageFiles(view.timeline.get('ch-1')!);
    expect(shown).toMatchObject({ key: 'ch-1/0', name: 'beach.png', mime: 'image/png', size: png.length, image: true, width: 1200, height: 800 });

    // The server's copy replaces the one made from the ack, with the same files.
    const copy = { ...message('ch', 1, 'me', ''), files: [ID], attachments: [attachment({ size: png.length })] };
    ws.receive({ type: 'message_created', event_seq: 1, message: copy });
    expect(messageFiles(view.timeline.get('ch-1')!)[0]).toMatchObject({ key: 'ch-1/0', size: png.length, image: true });

    const thumbUrl = await chat.openThumb(shown!);
    expect(new Uint8Array(await (await fetch(thumbUrl)).arrayBuffer())).toEqual(thumb);
    const progress: number[] = [];
    const url = await chat.openFile(shown!, (d) => progress.push(d));
    const got = await (await fetch(url)).blob();
    expect(got.type).toBe('image/png');
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(png);
    expect(progress.at(-1)).toBe(png.length);
    // Held: asked once each.
    expect(await chat.openFile(shown!)).toBe(url);
    expect(await chat.openThumb(shown!)).toBe(thumbUrl);
    expect(asked).toEqual([`/api/v1/files/${ID}/thumbnail`, `/api/v1/files/${ID}`]);
    // A file of another length than the message says is not shown (nor asked again).
    await expect(chat.openFile({ ...shown!, key: 'x', size: 99, source: { kind: 'plain', fileId: 'other', thumbnail: false } })).rejects.toThrow('another file');
    expect(asked.filter((u) => u.endsWith('/other'))).toHaveLength(1);
    // No thumbnail, nothing asked.
    await expect(chat.openThumb({ ...shown!, source: { kind: 'plain', fileId: 'other', thumbnail: false } })).rejects.toThrow('no thumbnail');
    chat.stop();
    await flush();
  });

  it('refuses a file larger than the server takes, and a failed upload says why and can be tried again', async () => {
    let answer: { status: number; body?: unknown } = { status: 507, body: { code: 'insufficient_storage', message: 'Your storage is full.' } };
    const store = new MemoryStore();
    await store.put<StoredSession>('auth', 'session', { user_id: ME.id, username: 'alice', session_id: 'session-1', refresh_token: 'refresh-0' });
    const server = new FakeServer().on('POST', '/sessions/refresh', () => ({ status: 200, body: pair(1, Date.now()) }));
    const api = new ApiClient({ store, fetch: server.fetch });
    xhrTransport(() => answer);
    const { chat, ws } = await chatStore([channel('ch')], {}, {
      uploadFile: api.uploadFile.bind(api),
      fileUsage: async () => ({ files: 0, bytes: 0, quota_bytes: 1 << 30, max_upload_bytes: 10 }),
    });
    await chat.openChannel('ch');
    const view = chat.views.get('ch')!;
    expect(chat.sendFiles('ch', [new File([new Uint8Array(10)], 'ten.bin')])).toBeNull();
    await vi.waitFor(() => expect(view.uploads[0]?.status).toBe('failed'));
    expect(view.uploads[0]!.error).toBe('Your storage is full.');
    expect(ws.sent.some((f) => f.type === 'send_message')).toBe(false);
    // The bound is known now: a file over it is refused at once (a plaintext file is sent as it is).
    expect(chat.sendFiles('ch', [new File([new Uint8Array(11)], 'eleven.bin')])).toBe('eleven.bin is too large: a file may have at most 10 B here.');
    answer = { status: 201, body: stored({ size: 10, name: 'ten.bin', content_type: 'application/octet-stream', width: null, height: null, thumbnail: false }) };
    chat.retryUpload('ch', view.uploads[0]!.id);
    await vi.waitFor(() => expect(view.uploads).toHaveLength(0));
    const frame = ws.sent.find((f) => f.type === 'send_message')!;
    expect(frame).toMatchObject({ content: { kind: 'text', text: '' }, files: [ID] });
    chat.stop();
  });
});
