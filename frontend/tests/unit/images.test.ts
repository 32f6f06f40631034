// Pictures: the helpers of avatars and uploads (initials, colours, references, checks before
// sending, the sentences of refusals), the API client's image routes (the upload's path, type,
// token, progress and retry after a 401; the public address of an image; the profile's
// references), and the components: an avatar falling back to initials, and the picker, which
// refuses a file too large without sending it, uploads and saves, and removes.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { ApiClient, ApiError, IMAGE_MAX_BYTES, imageContentType, type StoredSession } from '../../src/lib/api/client';
import { AVATAR_COLOURS, avatarColour, checkImageFile, imageFailure, initials, isImageRef } from '../../src/lib/images';
import { MemoryStore } from '../../src/lib/storage/kv';
import type { AppContext } from '../../src/lib/context';
import type { Image } from '../../src/lib/api/types';
import Avatar from '../../src/lib/components/Avatar.svelte';
import ImagePicker from '../../src/lib/components/ImagePicker.svelte';
import ImageHost from './ImageHost.svelte';
import { FakeServer, ME, pair } from './fake';

const REF = 'ab'.repeat(32);
const REF2 = 'cd'.repeat(32);

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('picture helpers', () => {
  it('takes up to two initials, whole characters', () => {
    expect(initials('Nadia Petrova')).toBe('NP');
    expect(initials('  oleg  ')).toBe('OL');
    expect(initials('field notes and more')).toBe('FN');
    expect(initials('')).toBe('?');
    expect(initials('   ')).toBe('?');
    expect(initials('é')).toBe('É');
    expect(initials('🦀 Rustaceans')).toBe('🦀R');
    expect(initials('🦀🦀🦀')).toBe('🦀🦀');
  });

  it('gives each seed one colour of the palette, each readable with white text', () => {
    expect(avatarColour('0193aaaa-0000-7000-8000-000000000001')).toBe(avatarColour('0193aaaa-0000-7000-8000-000000000001'));
    const seen = new Set(Array.from({ length: 200 }, (_, i) => avatarColour(`user-${i}`)));
    for (const c of seen) expect(AVATAR_COLOURS).toContain(c);
    expect(seen.size).toBe(AVATAR_COLOURS.length);
    const luminance = (hex: string) => {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    for (const c of AVATAR_COLOURS) expect(1.05 / (luminance(c) + 0.05)).toBeGreaterThanOrEqual(4.5);
  });

  it('knows an image reference from anything else', () => {
    expect(isImageRef(REF)).toBe(true);
    expect(isImageRef(REF.toUpperCase())).toBe(false);
    expect(isImageRef(REF.slice(1))).toBe(false);
    expect(isImageRef('files/abc')).toBe(false);
    expect(isImageRef('../../users/me')).toBe(false);
    expect(isImageRef(null)).toBe(false);
    expect(isImageRef(undefined)).toBe(false);
  });

  it('sends the type of an image the server reads, and octet-stream for anything else', () => {
    expect(imageContentType(new Blob([], { type: 'image/png' }))).toBe('image/png');
    expect(imageContentType(new Blob([], { type: 'image/jpeg' }))).toBe('image/jpeg');
    expect(imageContentType(new Blob([], { type: 'image/gif' }))).toBe('image/gif');
    expect(imageContentType(new Blob([], { type: 'image/webp' }))).toBe('image/webp');
    expect(imageContentType(new Blob([], { type: 'image/heic' }))).toBe('application/octet-stream');
    expect(imageContentType(new Blob([]))).toBe('application/octet-stream');
  });

  it('refuses before sending a file too large, empty or not an image', () => {
    expect(checkImageFile(new Blob([new Uint8Array(10)], { type: 'image/png' }))).toBeNull();
    // The server tells the type by the bytes: no type, or an image type it may not read, is sent.
    expect(checkImageFile(new Blob([new Uint8Array(10)]))).toBeNull();
    expect(checkImageFile(new Blob([new Uint8Array(10)], { type: 'image/heic' }))).toBeNull();
    const big = new Blob([new Uint8Array(IMAGE_MAX_BYTES + 1)], { type: 'image/jpeg' });
    expect(checkImageFile(big)).toMatchObject({ code: 'payload_too_large', message: 'This image is 10.1 MiB; the most is 10 MiB. Choose a smaller one.' });
    const bigger = new Blob([new Uint8Array(12.5 * 1024 * 1024)], { type: 'image/jpeg' });
    expect(checkImageFile(bigger)?.message).toMatch(/^This image is 12\.5 MiB; the most is 10 MiB/);
    expect(checkImageFile(new Blob([new Uint8Array(IMAGE_MAX_BYTES)], { type: 'image/png' }))).toBeNull();
    expect(checkImageFile(new Blob(['%PDF'], { type: 'application/pdf' }))).toMatchObject({ code: 'unsupported_media_type' });
    expect(checkImageFile(new Blob([], { type: 'image/png' }))).toMatchObject({ code: 'invalid_request', message: 'This file is empty.' });
  });

  it('says what an image refusal means, keeping its code', () => {
    const said = (code: string, status: number) => imageFailure(new ApiError(code as never, 'server words', status)) as ApiError;
    expect(said('payload_too_large', 413)).toMatchObject({ code: 'payload_too_large', status: 413, message: 'This image is larger than 10 MiB. Choose a smaller one.' });
    expect(said('unsupported_media_type', 415).message).toBe('This file is not a PNG, JPEG, GIF or WebP image.');
    expect(said('invalid_request', 400).message).toMatch(/8192 pixels a side or 40 megapixels/);
    expect(said('rate_limited', 429).message).toBe('server words');
    const other = new Error('x');
    expect(imageFailure(other)).toBe(other);
  });
});

// ---- the API client

interface SentXhr {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** An XMLHttpRequest that answers from `reply` and reports the upload's progress in two steps. */
function fakeXhr(reply: (req: SentXhr, n: number) => { status: number; body?: unknown }) {
  const sent: SentXhr[] = [];
  class FakeXhr {
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
      const r = reply(this.req, sent.length);
      const size = body instanceof Blob ? body.size : 0;
      queueMicrotask(() => {
        this.upload.onprogress?.({ loaded: size / 2, total: size, lengthComputable: true });
        this.upload.onprogress?.({ loaded: size, total: size, lengthComputable: true });
        this.status = r.status;
        this.responseText = r.body === undefined ? '' : JSON.stringify(r.body);
        this.onload?.();
      });
    }
  }
  vi.stubGlobal('XMLHttpRequest', FakeXhr);
  return sent;
}

function image(ref = REF): Image {
  return { ref, kind: 'avatar', content_type: 'image/webp', width: 512, height: 512, size: 1234 };
}

describe('ApiClient: images', () => {
  let server: FakeServer;
  let store: MemoryStore;
  let n: number;

  beforeEach(async () => {
    server = new FakeServer();
    store = new MemoryStore();
    n = 0;
    await store.put<StoredSession>('auth', 'session', { user_id: ME.id, username: 'alice', session_id: 'session-1', refresh_token: 'refresh-0' });
    server.on('POST', '/sessions/refresh', () => ({ status: 200, body: pair(++n, Date.now()) }));
  });

  it('uploads the raw bytes with their type and the token, reporting progress, to the kind asked', async () => {
    const sent = fakeXhr(() => ({ status: 201, body: image() }));
    const api = new ApiClient({ store, fetch: server.fetch });
    const png = new Blob([new Uint8Array(100)], { type: 'image/png' });
    const progress: [number, number][] = [];
    expect(await api.uploadImage('avatar', png, (s, t) => progress.push([s, t]))).toEqual(image());
    await api.uploadImage('banner', new Blob([new Uint8Array(4)], { type: 'image/heic' }));
    expect(sent.map((r) => [r.method, r.url, r.headers['content-type'], r.headers.authorization])).toEqual([
      ['POST', '/api/v1/images?kind=avatar', 'image/png', 'Bearer access-1'],
      ['POST', '/api/v1/images?kind=banner', 'application/octet-stream', 'Bearer access-1'],
    ]);
    expect(sent[0]!.body).toBe(png);
    expect(progress).toEqual([
      [50, 100],
      [100, 100],
    ]);
  });

  it('refreshes once after a 401 and sends again; a refusal is an ApiError with the code', async () => {
    const sent = fakeXhr((_req, i) =>
      i === 1 ? { status: 401, body: { code: 'unauthorized', message: 'expired' } } : i === 2 ? { status: 201, body: image() } : { status: 413, body: { code: 'payload_too_large', message: 'too large' } },
    );
    const api = new ApiClient({ store, fetch: server.fetch });
    expect((await api.uploadImage('icon', new Blob([new Uint8Array(3)], { type: 'image/gif' }))).ref).toBe(REF);
    expect(sent.map((r) => r.headers.authorization)).toEqual(['Bearer access-1', 'Bearer access-2']);
    await expect(api.uploadImage('icon', new Blob([new Uint8Array(3)]))).rejects.toMatchObject({ code: 'payload_too_large', status: 413 });
  });

  it('names an image by a public path under the API base, and sets or clears the profile references', async () => {
    const api = new ApiClient({ store, fetch: server.fetch });
    expect(api.imageUrl(REF)).toBe(`/api/v1/images/${REF}`);
    expect(new ApiClient({ store, base: '/chat/api/v1' }).imageUrl(REF)).toBe(`/chat/api/v1/images/${REF}`);
    // A reference is one path segment, whatever it holds.
    expect(api.imageUrl('a/../b?c')).toBe('/api/v1/images/a%2F..%2Fb%3Fc');
    server.on('PATCH', '/users/me/profile', (call) => ({ status: 200, body: { ...ME, ...(call.body as object) } }));
    await api.updateProfile({ avatar_ref: REF });
    await api.updateProfile({ avatar_ref: null, banner_ref: REF2 });
    server.on('PATCH', '/communities/c1', { status: 200, body: { id: 'c1' } });
    await api.updateCommunity('c1', { icon_ref: REF, banner_ref: null });
    const bodies = server.calls.filter((c) => c.method === 'PATCH').map((c) => [c.path, c.body]);
    expect(bodies).toEqual([
      ['/users/me/profile', { avatar_ref: REF }],
      ['/users/me/profile', { avatar_ref: null, banner_ref: REF2 }],
      ['/communities/c1', { icon_ref: REF, banner_ref: null }],
    ]);
  });
});

// ---- the components

interface ApiStub {
  imageUrl: (ref: string) => string;
  uploadImage: ReturnType<typeof vi.fn>;
}

function host(component: unknown, props: Record<string, unknown>, api: Partial<ApiStub> = {}) {
  const stub: ApiStub = { imageUrl: (ref) => `/api/v1/images/${ref}`, uploadImage: vi.fn(), ...api };
  const app = { session: { api: stub } } as unknown as AppContext;
  render(ImageHost, { props: { app, component: component as never, props } });
  return stub;
}

function pick(input: HTMLElement, file: File) {
  Object.defineProperty(input, 'files', { value: [file], configurable: true });
  return fireEvent.change(input);
}

describe('Avatar', () => {
  it('shows the image at its size, lazily, and the initials in the colour of its seed without one or when it fails', async () => {
    host(Avatar, { imageRef: REF, name: 'Nadia Petrova', seed: 'u1', size: 36 });
    const box = screen.getByTestId('avatar');
    const img = box.querySelector('img')!;
    expect(img.getAttribute('src')).toBe(`/api/v1/images/${REF}`);
    expect([img.getAttribute('width'), img.getAttribute('height'), img.getAttribute('loading'), img.getAttribute('alt')]).toEqual(['36', '36', 'lazy', '']);
    expect(box.style.width).toBe('36px');
    expect(box.getAttribute('aria-hidden')).toBe('true');
    await fireEvent.error(img);
    expect(box.querySelector('img')).toBeNull();
    expect(box.dataset.initials).toBe('NP');
    expect(box.dataset.image).toBe('false');
    expect(box.style.backgroundColor).not.toBe('');
    // The initials are not text of the page.
    expect(box.textContent).toBe('');
    cleanup();
    host(Avatar, { imageRef: 'files/abc', name: 'Oleg', alt: 'Oleg' });
    const other = screen.getByRole('img', { name: 'Oleg' });
    expect(other.querySelector('img')).toBeNull();
    expect(other.dataset.initials).toBe('OL');
  });
});

describe('ImagePicker', () => {
  function picker(props: Record<string, unknown>, upload?: (...a: unknown[]) => Promise<Image>) {
    const saved: (string | null)[] = [];
    const onsave = vi.fn(async (ref: string | null) => {
      saved.push(ref);
    });
    const api = host(ImagePicker, { id: 'avatar-picker', label: 'Profile picture', kind: 'avatar', name: 'Nadia', onsave, ...props }, { uploadImage: vi.fn(upload ?? (async () => image())) });
    return { api, saved, onsave };
  }

  it('refuses a file over 10 MiB at once, without sending it', async () => {
    const { api, onsave } = picker({ current: null });
    await pick(screen.getByTestId('avatar-picker-input'), new File([new Uint8Array(IMAGE_MAX_BYTES + 1)], 'huge.png', { type: 'image/png' }));
    expect(screen.getByRole('alert').textContent).toMatch(/the most is 10 MiB/);
    expect(screen.getByRole('alert').dataset.code).toBe('payload_too_large');
    expect(api.uploadImage).not.toHaveBeenCalled();
    expect(onsave).not.toHaveBeenCalled();
  });

  it('uploads a picked image as its kind and saves its reference, saying so', async () => {
    const { api, saved } = picker({ current: null });
    expect(screen.getByRole('group', { name: 'Profile picture' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Upload profile picture…' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Remove profile picture' })).toBeNull();
    const file = new File([new Uint8Array(64)], 'me.png', { type: 'image/png' });
    await pick(screen.getByTestId('avatar-picker-input'), file);
    await waitFor(() => expect(saved).toEqual([REF]));
    expect(api.uploadImage.mock.calls[0]!.slice(0, 2)).toEqual(['avatar', file]);
    await waitFor(() => expect(screen.getByTestId('avatar-picker-status').textContent).toMatch(/Profile picture saved\./));
  });

  it('says a refusal of the server in plain words', async () => {
    const { saved } = picker({ current: null }, async () => {
      throw new ApiError('unsupported_media_type', 'unsupported media type', 415);
    });
    await pick(screen.getByTestId('avatar-picker-input'), new File(['GIF89a?'], 'x.gif', { type: 'image/gif' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('This file is not a PNG, JPEG, GIF or WebP image.'));
    expect(saved).toEqual([]);
  });

  it('removes the current image, and keeps the focus in the group', async () => {
    const { saved } = picker({ current: REF });
    expect(screen.getByTestId('avatar-picker-image').querySelector('img')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Remove profile picture' }));
    await waitFor(() => expect(saved).toEqual([null]));
    await waitFor(() => expect(screen.getByTestId('avatar-picker-status').textContent).toMatch(/Profile picture removed\./));
    expect(document.activeElement?.textContent).toMatch(/Change/);
  });
});
