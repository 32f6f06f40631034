// GIF search in the composer (docs/web.md "GIFs"): the name a picked GIF is sent under, the
// queries refused before they are asked, the sentences for the server's refusals, a GIF read
// within its bound and only as a picture; the search asked a moment after the typing stops, its
// pages followed up to the bound with repeats dropped, an older answer dropped, the previews
// fetched four at a time and their object URLs let go with their results; the API client's
// routes; and the picker in the composer: there only when the server has GIF search, its
// results from the keyboard, Escape, a click outside, a GIF picked sent as a file; and the file
// view showing a GIF of a few MB whole (animated) in place of its thumbnail, and Cancel.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { ApiClient, ApiError, type StoredSession } from '../../src/lib/api/client';
import type { Gif, GifPage } from '../../src/lib/api/types';
import {
  GIF_PREVIEWS_AT_ONCE,
  GIF_RESULTS_MAX,
  GifSearch,
  gifFileName,
  gifProblem,
  gifQueryProblem,
  readGif,
  type GifApi,
} from '../../src/lib/chat/gifs.svelte';
import { MemoryStore } from '../../src/lib/storage/kv';
import { PrefsStore } from '../../src/lib/stores/prefs.svelte';
import type { SessionStore } from '../../src/lib/stores/session.svelte';
import { FakeServer, ME, pair } from './fake';
import { channel, chatStore } from './chatharness';
import { Clock, flush } from './fakews';
import PaneHost from './PaneHost.svelte';
import FileView from '../../src/screens/chat/FileView.svelte';
import type { ChatStore } from '../../src/lib/chat/store.svelte';
import { GIF_IN_PLACE_MAX, animatesInPlace, fromAttachment, type Attachment, type ShownFile } from '../../src/lib/chat/attachments';

/** A GIF of 1 × 1 pixel. */
const GIF = new Uint8Array([
  71, 73, 70, 56, 57, 97, 1, 0, 1, 0, 128, 0, 0, 0, 0, 0, 255, 255, 255, 33, 249, 4, 1, 0, 0, 0, 0, 44, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 68, 1, 0, 59,
]);

function gif(n: number, over: Partial<Gif> = {}): Gif {
  return {
    id: `g${n}`,
    title: `cat ${n}`,
    url: `https://media.example/${n}.gif`,
    width: 480,
    height: 270,
    preview_url: `https://media.example/${n}-tiny.gif`,
    preview_width: 220 + (n % 3) * 20,
    preview_height: 124,
    size: 1000,
    ...over,
  };
}

const picture = (type = 'image/gif', body: BodyInit = GIF as BodyInit) => new Response(body, { headers: { 'content-type': type } });

/** Object URLs made and let go (jsdom has none of its own). */
let made: string[] = [];
let revoked: string[] = [];
beforeEach(() => {
  made = [];
  revoked = [];
  let n = 0;
  vi.spyOn(URL, 'createObjectURL').mockImplementation(() => {
    const u = `blob:test/${++n}`;
    made.push(u);
    return u;
  });
  vi.spyOn(URL, 'revokeObjectURL').mockImplementation((u: string) => {
    revoked.push(u);
  });
});
afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe('GIFs: names, queries, refusals, bytes', () => {
  it('names a GIF after its title, within bounds', () => {
    expect(gifFileName('a happy cat', 'image/gif')).toBe('a happy cat.gif');
    expect(gifFileName('  two\n lines/and\\slashes  ', 'image/gif')).toBe('two lines and slashes.gif');
    expect(gifFileName('', 'image/gif')).toBe('GIF.gif');
    expect(gifFileName('\u0007', 'image/webp')).toBe('GIF.webp');
    const long = gifFileName('😀'.repeat(150), 'image/gif');
    expect([...long.replace(/\.gif$/, '')]).toHaveLength(100);
  });

  it('refuses a query the server would refuse, before asking', () => {
    expect(gifQueryProblem('cat')).toBeNull();
    expect(gifQueryProblem('   ')).toBeNull();
    expect(gifQueryProblem('x'.repeat(100))).toBeNull();
    expect(gifQueryProblem('😀'.repeat(100))).toBeNull();
    expect(gifQueryProblem('x'.repeat(101))).toBe('A search has at most 100 characters.');
    expect(gifQueryProblem('a\u0000b')).toBe('A search cannot hold control characters.');
  });

  it('says what the server refused', () => {
    expect(gifProblem(new ApiError('unavailable', 'the GIF provider is unavailable: timeout', 503))).toBe(
      'The GIF provider is not answering right now: try again in a moment.',
    );
    expect(gifProblem(new ApiError('rate_limited', 'slow down', 429, 12))).toBe('Too many GIF searches for now: try again in 12 seconds.');
    expect(gifProblem(new ApiError('rate_limited', 'slow down', 429))).toBe('Too many GIF searches for now: try again in a moment.');
    expect(gifProblem(new ApiError('not_found', 'GIF search is not set up on this server', 404))).toBe('GIF search is not set up on this server.');
    expect(gifProblem(new ApiError('invalid_request', 'q: 1 to 100 characters, no control characters', 400))).toBe(
      'q: 1 to 100 characters, no control characters',
    );
    expect(gifProblem(new TypeError('Failed to fetch'))).toMatch(/cannot be reached/);
  });

  it('reads a GIF or a WebP within its bound, and nothing else', async () => {
    const b = await readGif(picture(), 100);
    expect(b.type).toBe('image/gif');
    expect(new Uint8Array(await b.arrayBuffer())).toEqual(GIF);
    expect((await readGif(picture('image/webp; x=1'), 100)).type).toBe('image/webp');
    await expect(readGif(picture('text/html'), 100)).rejects.toThrow('not a GIF');
    await expect(readGif(picture(), 10)).rejects.toThrow('too large');
    await expect(readGif(picture('image/gif', new Uint8Array(0)), 10)).rejects.toThrow('empty');
  });
});

/** A scripted GIF API: each search answers what `pages` holds for its `pos` (or throws it). */
function fakeApi(pages: Record<string, GifPage | Error | (() => Promise<GifPage>)>) {
  const searches: [string, string | null][] = [];
  const media: string[] = [];
  const pending: (() => void)[] = [];
  let hold = false;
  const api: GifApi = {
    async searchGifs(q, pos) {
      searches.push([q, pos ?? null]);
      const a = pages[`${q}|${pos ?? ''}`];
      if (!a) throw new ApiError('invalid_request', 'no such page', 400);
      if (a instanceof Error) throw a;
      if (typeof a === 'function') return a();
      return a;
    },
    async gifMedia(url, signal) {
      media.push(url);
      if (hold) await new Promise<void>((r) => pending.push(r));
      signal?.throwIfAborted();
      if (url.includes('broken')) throw new ApiError('unavailable', 'no', 503);
      return picture();
    },
  };
  return {
    api,
    searches,
    media,
    hold(on: boolean) {
      hold = on;
    },
    release() {
      pending.splice(0).forEach((r) => r());
    },
  };
}

const page = (from: number, n: number, next?: string): GifPage => ({ results: Array.from({ length: n }, (_, i) => gif(from + i)), next });

describe('GIFs: the search', () => {
  it('is asked a moment after the typing stops, at once with Enter, never for nothing', async () => {
    const f = fakeApi({ 'cat|': page(0, 3), 'dog|': page(10, 2) });
    const clock = new Clock();
    const s = new GifSearch(f.api, { setTimer: clock.set, clearTimer: clock.clear });
    s.type('c');
    s.type('ca');
    s.type('cat');
    expect([...clock.timers.values()].map((t) => t.ms)).toEqual([300]);
    expect(f.searches).toEqual([]);
    clock.runAll();
    await vi.waitFor(() => expect(s.status).toBe('ready'));
    expect(f.searches).toEqual([['cat', null]]);
    expect(s.results.map((g) => g.id)).toEqual(['g0', 'g1', 'g2']);
    expect(s.searched).toBe('cat');
    // the same query again asks nothing; Enter on another asks at once
    await s.search();
    s.type('dog');
    await s.search();
    expect(clock.timers.size).toBe(0);
    expect(f.searches).toEqual([['cat', null], ['dog', null]]);
    // emptied: the results go, nothing is asked
    s.type('  ');
    expect(s.results).toEqual([]);
    expect(s.status).toBe('idle');
    expect(clock.timers.size).toBe(0);
    // a query the server would refuse is not asked
    s.type('x'.repeat(101));
    await s.search();
    expect(s.status).toBe('failed');
    expect(s.error).toMatch(/at most 100/);
    expect(f.searches).toHaveLength(2);
  });

  it('follows the pages up to the bound, drops repeats, keeps the results when a page fails', async () => {
    const pages: Record<string, GifPage | Error> = { 'cat|': { results: [...page(0, 24).results, gif(0)], next: 'p1' } };
    for (let p = 1; p < 6; p++) pages[`cat|p${p}`] = { results: [gif((p - 1) * 24 + 1), ...page(p * 24, 24).results], next: `p${p + 1}` };
    const f = fakeApi(pages);
    const s = new GifSearch(f.api, { delayMs: 0 });
    s.query = 'cat';
    await s.search();
    expect(s.results).toHaveLength(24);
    expect(s.canLoadMore).toBe(true);
    for (let i = 0; i < 3; i++) await s.more();
    expect(s.results).toHaveLength(GIF_RESULTS_MAX);
    expect(new Set(s.results.map((g) => g.id)).size).toBe(GIF_RESULTS_MAX);
    expect(s.canLoadMore).toBe(false);
    expect(s.atBound).toBe(true);
    await s.more();
    expect(f.searches).toEqual([['cat', null], ['cat', 'p1'], ['cat', 'p2'], ['cat', 'p3']]);

    // a next page refused (a rate limit): the results stay, the reason is said, it can be tried again
    const g = fakeApi({ 'cat|': page(0, 5, 'p1'), 'cat|p1': new ApiError('rate_limited', 'slow', 429, 5) });
    const t = new GifSearch(g.api, { delayMs: 0 });
    t.query = 'cat';
    await t.search();
    await t.more();
    expect(t.results).toHaveLength(5);
    expect(t.error).toBe('Too many GIF searches for now: try again in 5 seconds.');
    expect(t.canLoadMore).toBe(true);

    // results without what the picker needs are left out
    const h = fakeApi({ 'cat|': { results: [gif(1), gif(2, { preview_width: 0 }), gif(3, { id: '' }), gif(4, { preview_url: undefined as never })] } });
    const u = new GifSearch(h.api, { delayMs: 0 });
    u.query = 'cat';
    await u.search();
    expect(u.results.map((x) => x.id)).toEqual(['g1']);
    expect(u.next).toBeNull();
  });

  it('drops the answer of a search replaced meanwhile, and says why one failed', async () => {
    let answer!: (p: GifPage) => void;
    const f = fakeApi({
      'slow|': () => new Promise<GifPage>((r) => (answer = r)),
      'fast|': page(50, 2),
      'down|': new ApiError('unavailable', 'the GIF provider is unavailable', 503),
    });
    const s = new GifSearch(f.api, { delayMs: 0 });
    s.query = 'slow';
    const first = s.search();
    s.query = 'fast';
    await s.search();
    answer(page(0, 4));
    await first;
    expect(s.searched).toBe('fast');
    expect(s.results.map((g) => g.id)).toEqual(['g50', 'g51']);
    s.query = 'down';
    await s.search();
    expect(s.status).toBe('failed');
    expect(s.results).toEqual([]);
    expect(s.error).toBe('The GIF provider is not answering right now: try again in a moment.');
  });

  it('fetches previews four at a time, once each, and lets their URLs go with the results', async () => {
    const f = fakeApi({ 'cat|': page(0, 10), 'dog|': page(20, 2) });
    const s = new GifSearch(f.api, { delayMs: 0 });
    s.query = 'cat';
    await s.search();
    f.hold(true);
    for (const g of s.results) s.want(g);
    s.want(s.results[0]!);
    s.want(gif(99));
    await flush();
    expect(f.media).toHaveLength(GIF_PREVIEWS_AT_ONCE);
    expect(f.media[0]).toBe('https://media.example/0-tiny.gif');
    f.hold(false);
    for (let i = 0; i < 4; i++) {
      f.release();
      await flush();
    }
    await vi.waitFor(() => expect(s.previews.size).toBe(10));
    expect(f.media).toHaveLength(10);
    expect(made).toHaveLength(10);
    // a new search lets them all go; a preview that was under way is dropped when it comes
    f.hold(true);
    s.query = 'dog';
    const late = s.results;
    await s.search();
    expect(revoked.sort()).toEqual([...made].sort());
    s.want(late[0]!);
    expect(f.media).toHaveLength(10);
    s.want(s.results[0]!);
    await flush();
    s.clear();
    f.release();
    await flush();
    expect(s.previews.size).toBe(0);
    expect(made).toHaveLength(10);
    // a preview that fails is marked, not asked again
    const b = fakeApi({ 'cat|': { results: [gif(1, { preview_url: 'https://media.example/broken.gif' })] } });
    const t = new GifSearch(b.api, { delayMs: 0 });
    t.query = 'cat';
    await t.search();
    t.want(t.results[0]!);
    await vi.waitFor(() => expect(t.failed.has('g1')).toBe(true));
    t.want(t.results[0]!);
    expect(b.media).toHaveLength(1);
  });

  it('downloads a picked GIF whole as a file named after it', async () => {
    const f = fakeApi({});
    const s = new GifSearch(f.api);
    const file = await s.file(gif(7, { title: 'a cat waving' }));
    expect([file.name, file.type, file.size]).toEqual(['a cat waving.gif', 'image/gif', GIF.length]);
    expect(f.media).toEqual(['https://media.example/7.gif']);
  });
});

async function signedIn() {
  const store = new MemoryStore();
  await store.put<StoredSession>('auth', 'session', { user_id: ME.id, username: 'alice', session_id: 'session-1', refresh_token: 'refresh-0' });
  return store;
}

describe('GIFs: the API client', () => {
  it('searches and fetches the media with the token', async () => {
    const server = new FakeServer().on('POST', '/sessions/refresh', () => ({ status: 200, body: pair(1, Date.now()) }));
    const seen: [string, string | undefined][] = [];
    const api = new ApiClient({
      store: await signedIn(),
      fetch: async (input, init) => {
        const url = String(input);
        if (!url.includes('/gifs')) return server.fetch(input, init);
        seen.push([url, (init?.headers as Record<string, string>).authorization]);
        if (url.includes('/gifs/media')) return picture();
        if (url.includes('q=down')) return new Response(JSON.stringify({ code: 'unavailable', message: 'down' }), { status: 503, headers: { 'content-type': 'application/json' } });
        return new Response(JSON.stringify(page(0, 1, 'n&1')), { headers: { 'content-type': 'application/json' } });
      },
    });
    const p = await api.searchGifs('happy cat & dog', null);
    expect(p.results[0]!.id).toBe('g0');
    await api.searchGifs('cat', 'n&1');
    await expect(api.searchGifs('down')).rejects.toMatchObject({ status: 503, code: 'unavailable' });
    const res = await api.gifMedia('https://media.example/a b.gif?x=1&y=2');
    expect(res.headers.get('content-type')).toBe('image/gif');
    expect(seen).toEqual([
      ['/api/v1/gifs?q=happy%20cat%20%26%20dog', 'Bearer access-1'],
      ['/api/v1/gifs?q=cat&pos=n%261', 'Bearer access-1'],
      ['/api/v1/gifs?q=down', 'Bearer access-1'],
      ['/api/v1/gifs/media?url=https%3A%2F%2Fmedia.example%2Fa%20b.gif%3Fx%3D1%26y%3D2', 'Bearer access-1'],
    ]);
  });
});

describe('GIFs: the picker in the composer', () => {
  async function pane(gifs: boolean | undefined, api: GifApi | null = null) {
    const stores = await chatStore([channel('p1')]);
    const prefs = new PrefsStore(new MemoryStore());
    const session = { me: null, instance: gifs === undefined ? null : { name: 'x', version: '1', protocol_version: 1, registration_mode: 'open', setup_pending: false, gifs }, api };
    render(PaneHost, { props: { app: { session: session as unknown as SessionStore, prefs, e2e: stores.chat.e2e }, stores, channelId: 'p1' } });
    await waitFor(() => expect(document.querySelector('.composer textarea')).not.toBeNull());
    return stores;
  }

  it('is not there when the server has no GIF search', async () => {
    await pane(false, fakeApi({}).api);
    expect(screen.queryByRole('button', { name: 'Add a GIF' })).toBeNull();
    cleanup();
    await pane(undefined, fakeApi({}).api);
    expect(screen.queryByRole('button', { name: 'Add a GIF' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Add an emoji' })).toBeTruthy();
  });

  it('searches, moves from the keyboard, closes with Escape and a click outside, sends the GIF picked as a file', async () => {
    const f = fakeApi({ 'cat|': page(0, 5, 'p1'), 'cat|p1': page(5, 2) });
    const { chat } = await pane(true, f.api);
    const sent = vi.spyOn(chat, 'sendFiles').mockReturnValue(null);
    const open = screen.getByRole('button', { name: 'Add a GIF' });
    await fireEvent.click(open);
    const panel = screen.getByRole('dialog', { name: 'GIFs' });
    expect(open.getAttribute('aria-expanded')).toBe('true');
    const field = within(panel).getByRole('searchbox', { name: 'Search GIFs' });
    expect(document.activeElement).toBe(field);
    expect(within(panel).getByTestId('gif-hint').textContent).toMatch(/configured GIF provider.*sent as a file\.$/s);
    expect(panel.textContent).toMatch(/Type what the GIF should show/);
    await fireEvent.input(field, { target: { value: 'cat' } });
    await waitFor(() => expect(within(panel).getAllByTestId('gif-result')).toHaveLength(5), { timeout: 2000 });
    const cells = within(panel).getAllByTestId('gif-result');
    expect(cells.map((c) => c.getAttribute('aria-label'))).toEqual(['cat 0', 'cat 1', 'cat 2', 'cat 3', 'cat 4']);
    // each keeps its preview's proportions before the preview is there
    expect(cells[1]!.style.getPropertyValue('--w')).toBe('240');
    expect(cells[1]!.style.getPropertyValue('--h')).toBe('124');
    await waitFor(() => expect(panel.querySelectorAll('.gif-cell img')).toHaveLength(5));
    expect(within(panel).getByTestId('gif-status').textContent).toBe('5 GIFs for “cat”.');
    // ↓ from the field to the first, → to the next, Home, ↑ from the first row back to the field
    await fireEvent.keyDown(field, { key: 'ArrowDown' });
    expect(document.activeElement).toBe(cells[0]);
    await fireEvent.keyDown(cells[0]!, { key: 'ArrowRight' });
    expect(document.activeElement).toBe(cells[1]);
    expect(cells[1]!.tabIndex).toBe(0);
    expect(cells[0]!.tabIndex).toBe(-1);
    await fireEvent.keyDown(cells[1]!, { key: 'End' });
    expect(document.activeElement).toBe(cells[4]);
    await fireEvent.keyDown(cells[4]!, { key: 'Home' });
    await fireEvent.keyDown(cells[0]!, { key: 'ArrowUp' });
    expect(document.activeElement).toBe(field);
    // more
    await fireEvent.click(within(panel).getByRole('button', { name: 'More GIFs' }));
    await waitFor(() => expect(within(panel).getAllByTestId('gif-result')).toHaveLength(7));
    expect(within(panel).queryByRole('button', { name: 'More GIFs' })).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(within(panel).getAllByTestId('gif-result')[5]));
    // Escape closes, the focus back on the button, the previews let go
    await fireEvent.keyDown(document.activeElement!, { key: 'Escape' });
    await waitFor(() => expect(screen.queryByRole('dialog', { name: 'GIFs' })).toBeNull());
    expect(document.activeElement).toBe(open);
    expect(revoked.sort()).toEqual([...made].sort());
    // a click outside closes too
    await fireEvent.click(open);
    expect(screen.getByRole('dialog', { name: 'GIFs' })).toBeTruthy();
    await fireEvent.pointerDown(document.body);
    await waitFor(() => expect(screen.queryByRole('dialog', { name: 'GIFs' })).toBeNull());

    // picked: downloaded whole, sent as a file, the panel closed
    await fireEvent.click(open);
    const again = screen.getByRole('dialog', { name: 'GIFs' });
    await fireEvent.input(within(again).getByRole('searchbox'), { target: { value: 'cat' } });
    await fireEvent.keyDown(within(again).getByRole('searchbox'), { key: 'Enter' });
    await waitFor(() => expect(within(again).getAllByTestId('gif-result')).toHaveLength(5));
    await fireEvent.click(within(again).getByRole('button', { name: 'cat 2' }));
    await waitFor(() => expect(sent).toHaveBeenCalledTimes(1));
    const [where, files] = sent.mock.calls[0]!;
    expect(where).toBe('p1');
    expect(files.map((x) => [x.name, x.type, x.size])).toEqual([['cat 2.gif', 'image/gif', GIF.length]]);
    expect(f.media).toContain('https://media.example/2.gif');
    await waitFor(() => expect(screen.queryByRole('dialog', { name: 'GIFs' })).toBeNull());
    expect(document.activeElement).toBe(open);
    chat.stop();
    await flush();
  });

  it('says why a search or a GIF failed, and keeps the panel open when the file is refused', async () => {
    const f = fakeApi({ 'down|': new ApiError('unavailable', 'down', 503), 'cat|': { results: [gif(1, { url: 'https://media.example/broken.gif' }), gif(2)] } });
    const { chat } = await pane(true, f.api);
    const sent = vi.spyOn(chat, 'sendFiles').mockReturnValue('At most 20 files can be on their way at once: wait for some to finish.');
    await fireEvent.click(screen.getByRole('button', { name: 'Add a GIF' }));
    const panel = screen.getByRole('dialog', { name: 'GIFs' });
    const field = within(panel).getByRole('searchbox');
    await fireEvent.input(field, { target: { value: 'down' } });
    await fireEvent.keyDown(field, { key: 'Enter' });
    await waitFor(() => expect(within(panel).getByTestId('gif-error').textContent).toBe('The GIF provider is not answering right now: try again in a moment.'));
    await fireEvent.input(field, { target: { value: 'cat' } });
    await fireEvent.keyDown(field, { key: 'Enter' });
    await waitFor(() => expect(within(panel).getAllByTestId('gif-result')).toHaveLength(2));
    expect(within(panel).queryByTestId('gif-error')).toBeNull();
    await fireEvent.click(within(panel).getByRole('button', { name: 'cat 1' }));
    await waitFor(() => expect(within(panel).getByTestId('gif-pick-error').textContent).toMatch(/could not be sent: The GIF provider is not answering/));
    expect(sent).not.toHaveBeenCalled();
    await fireEvent.click(within(panel).getByRole('button', { name: 'cat 2' }));
    await waitFor(() => expect(within(panel).getByTestId('gif-pick-error').textContent).toMatch(/At most 20 files/));
    expect(screen.getByRole('dialog', { name: 'GIFs' })).toBeTruthy();
    chat.stop();
    await flush();
  });
});

describe('GIFs in the timeline', () => {
  const attachment = (over: Partial<Attachment> = {}): Attachment => ({
    id: 'f1',
    name: 'cat.gif',
    content_type: 'image/gif',
    size: 900_000,
    width: 480,
    height: 270,
    thumbnail: true,
    ...over,
  });

  it('shows a GIF of a few MB whole in place, nothing else', () => {
    expect(animatesInPlace(fromAttachment(attachment(), 'k'))).toBe(true);
    expect(animatesInPlace(fromAttachment(attachment({ size: GIF_IN_PLACE_MAX }), 'k'))).toBe(true);
    expect(animatesInPlace(fromAttachment(attachment({ size: GIF_IN_PLACE_MAX + 1 }), 'k'))).toBe(false);
    expect(animatesInPlace(fromAttachment(attachment({ content_type: 'image/png', name: 'a.png' }), 'k'))).toBe(false);
    expect(animatesInPlace(fromAttachment(attachment({ content_type: 'image/webp' }), 'k'))).toBe(false);
    // not shown as an image (no thumbnail): a card, not animated either
    expect(animatesInPlace(fromAttachment(attachment({ thumbnail: false }), 'k'))).toBe(false);
    expect(animatesInPlace(fromAttachment(attachment({ size: undefined }), 'k'))).toBe(false);
  });

  /** The file view over a chat store that answers thumbnails and files at once (or holds them). */
  function view(file: ShownFile, hold = false) {
    const asked: string[] = [];
    const signals: AbortSignal[] = [];
    const chat = {
      openThumb: async () => {
        asked.push('thumb');
        return 'blob:thumb';
      },
      openFile: (_f: ShownFile, _p?: unknown, signal?: AbortSignal) => {
        asked.push('file');
        if (signal) signals.push(signal);
        if (!hold) return Promise.resolve('blob:whole');
        return new Promise<string>((_r, reject) => signal?.addEventListener('abort', () => reject(new DOMException('cancelled', 'AbortError'))));
      },
    } as unknown as ChatStore;
    const r = render(FileView, { props: { chat, file } });
    return { asked, signals, ...r };
  }

  it('the file view swaps the thumbnail for the whole GIF once downloaded, and lets go when it goes', async () => {
    const { asked, signals, unmount } = view(fromAttachment(attachment(), 'm/0'));
    const img = () => document.querySelector('[data-testid=file-image] img') as HTMLImageElement | null;
    await waitFor(() => expect(img()?.getAttribute('src')).toBe('blob:whole'));
    expect(img()!.dataset.whole).toBe('true');
    expect(asked).toEqual(['thumb', 'file']);
    unmount();
    expect(signals[0]!.aborted).toBe(true);
    // a PNG: the thumbnail only
    const png = view(fromAttachment(attachment({ content_type: 'image/png', name: 'a.png' }), 'm/1'));
    await waitFor(() => expect(img()?.getAttribute('src')).toBe('blob:thumb'));
    await flush();
    expect(png.asked).toEqual(['thumb']);
    png.unmount();
    // reduced motion: the thumbnail only
    vi.stubGlobal('matchMedia', (q: string) => ({ matches: q.includes('reduce'), media: q, addEventListener() {}, removeEventListener() {} }));
    const still = view(fromAttachment(attachment(), 'm/2'));
    await waitFor(() => expect(img()?.getAttribute('src')).toBe('blob:thumb'));
    await flush();
    expect(still.asked).toEqual(['thumb']);
    vi.unstubAllGlobals();
  });

  it('a download under way can be cancelled', async () => {
    const { signals } = view(fromAttachment(attachment({ content_type: 'application/pdf', name: 'a.pdf', thumbnail: false }), 'm/0'), true);
    await fireEvent.click(screen.getByTestId('file-download'));
    const cancel = await screen.findByRole('button', { name: 'Cancel the download of a.pdf' });
    await fireEvent.click(cancel);
    expect(signals[0]!.aborted).toBe(true);
    await waitFor(() => expect(screen.queryByTestId('file-cancel')).toBeNull());
    expect(screen.queryByTestId('file-error')).toBeNull();
    expect(screen.getByTestId('file-download').textContent).toMatch(/Download/);
  });
});
