// GIF search in the composer (docs/web.md "GIFs"), when the server has a GIF provider set up
// (`InstanceInfo.gifs`): the picker's search (`GET /gifs`, asked a moment after the typing
// stops), its pages of results ("More GIFs" follows `next`), the previews fetched through the
// server (`GET /gifs/media`) into object URLs a few at a time as they come into view, and the
// GIF picked, downloaded whole through the server and handed over as a file, which is then sent
// like any other (encrypted in an end-to-end conversation). The browser never reaches the
// provider. Everything is bounded: the results kept, the previews alive, the bytes read.

import { SvelteMap, SvelteSet } from 'svelte/reactivity';
import { ApiError } from '../api/client';
import type { Gif, GifPage } from '../api/types';
import { describeError } from '../errors';

/** The longest query the server takes (protocol `gif_limits::QUERY_MAX`), characters. */
export const GIF_QUERY_MAX = 100;
/** Results kept in the picker (four of the server's pages of 24): more asks for a new search. */
export const GIF_RESULTS_MAX = 96;
/** The search is asked this long after the typing stops. */
export const GIF_SEARCH_DELAY_MS = 300;
/** Previews fetched at once. */
export const GIF_PREVIEWS_AT_ONCE = 4;
/** The most bytes of a preview read. */
export const GIF_PREVIEW_MAX_BYTES = 2 * 1024 * 1024;
/** The most bytes of a GIF read (the server's own bound is 8 MiB unless its operator raised it). */
export const GIF_MAX_BYTES = 64 * 1024 * 1024;

/** What the picker asks of the API client. */
export interface GifApi {
  searchGifs(q: string, pos?: string | null): Promise<GifPage>;
  gifMedia(url: string, signal?: AbortSignal): Promise<Response>;
}

export type GifStatus = 'idle' | 'loading' | 'more' | 'ready' | 'failed';

/** The sentence shown for a failed search or GIF. */
export function gifProblem(e: unknown): string {
  if (e instanceof DOMException && e.name === 'AbortError') return 'Cancelled.';
  if (e instanceof ApiError) {
    if (e.status === 429 || e.code === 'rate_limited') {
      return e.retryAfter !== null
        ? `Too many GIF searches for now: try again in ${e.retryAfter} second${e.retryAfter === 1 ? '' : 's'}.`
        : 'Too many GIF searches for now: try again in a moment.';
    }
    if (e.status === 503) return 'The GIF provider is not answering right now: try again in a moment.';
    if (e.status === 404) return 'GIF search is not set up on this server.';
    if (e.status === 400) return e.message;
    return describeError(e);
  }
  if (e instanceof TypeError) return 'The server cannot be reached. Check your connection and try again.';
  return e instanceof Error ? e.message : String(e);
}

/** Why a query is not searched, or null ("" is no search at all). */
export function gifQueryProblem(q: string): string | null {
  const t = q.trim();
  if (!t) return null;
  if ([...t].length > GIF_QUERY_MAX) return `A search has at most ${GIF_QUERY_MAX} characters.`;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(t)) return 'A search cannot hold control characters.';
  return null;
}

/**
 * The name a picked GIF is sent under: its title in a line of at most 100 characters (whole
 * characters; "GIF" without one) and the extension of its type.
 */
export function gifFileName(title: string, type: string): string {
  const line = title.replace(/[\u0000-\u001f\u007f-\u009f/\\]+/g, ' ').replace(/\s+/g, ' ').trim();
  const stem = [...line].slice(0, 100).join('').trim() || 'GIF';
  return `${stem}.${type === 'image/webp' ? 'webp' : 'gif'}`;
}

/**
 * The picture of a `GET /gifs/media` answer as a blob of its type: a GIF or a WebP as the
 * server said (anything else is refused), of at most `max` bytes.
 */
export async function readGif(res: Response, max: number): Promise<Blob> {
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'image/gif' && type !== 'image/webp') {
    await res.body?.cancel().catch(() => {});
    throw new Error('The server sent something that is not a GIF.');
  }
  const parts: Uint8Array[] = [];
  let n = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      n += value.length;
      if (n > max) {
        await reader.cancel().catch(() => {});
        throw new Error('This GIF is too large.');
      }
      parts.push(value);
    }
  }
  if (!n) throw new Error('The server sent an empty GIF.');
  return new Blob(parts as BlobPart[], { type });
}

export interface GifSearchOptions {
  delayMs?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (id: unknown) => void;
}

/** The picker's search, its results and their previews. */
export class GifSearch {
  /** The text in the search field. */
  query = $state('');
  /** The query the results are for. */
  searched = $state('');
  results = $state<Gif[]>([]);
  next = $state<string | null>(null);
  status = $state<GifStatus>('idle');
  error = $state<string | null>(null);
  /** gif id → the object URL of its preview, for the results shown (revoked when they go). */
  readonly previews = new SvelteMap<string, string>();
  /** The previews that could not be fetched. */
  readonly failed = new SvelteSet<string>();

  private readonly api: GifApi;
  private readonly delayMs: number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (id: unknown) => void;
  private timer: unknown = null;
  /** Bumped by every new search and by `clear`: what an older one brings is dropped. */
  private generation = 0;
  /** Aborts the preview fetches of the current results. */
  private fetching = new AbortController();
  /** Previews asked for and not started (at most the results kept), and those under way. */
  private queue: Gif[] = [];
  private asked = new Set<string>();
  private running = 0;

  constructor(api: GifApi, opts: GifSearchOptions = {}) {
    this.api = api;
    this.delayMs = opts.delayMs ?? GIF_SEARCH_DELAY_MS;
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((id) => clearTimeout(id as ReturnType<typeof setTimeout>));
  }

  /** Whether more results can be asked for. */
  get canLoadMore(): boolean {
    return this.next !== null && this.results.length < GIF_RESULTS_MAX && this.status === 'ready';
  }

  /** Whether the results stop at the bound although the provider has more. */
  get atBound(): boolean {
    return this.next !== null && this.results.length >= GIF_RESULTS_MAX;
  }

  /** The text typed changed: searched a moment later (at once for an empty one: cleared). */
  type(q: string): void {
    this.query = q;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    if (!q.trim()) {
      this.reset();
      return;
    }
    this.timer = this.setTimer(() => {
      this.timer = null;
      void this.search();
    }, this.delayMs);
  }

  /** Searches the query now (Enter), unless its results are shown or coming already. */
  async search(): Promise<void> {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    const q = this.query.trim();
    if (!q) return this.reset();
    if (q === this.searched && (this.status === 'loading' || this.status === 'ready' || this.status === 'more')) return;
    this.reset();
    this.searched = q;
    const problem = gifQueryProblem(q);
    if (problem) {
      this.status = 'failed';
      this.error = problem;
      return;
    }
    const gen = this.generation;
    this.status = 'loading';
    try {
      const page = await this.api.searchGifs(q);
      if (gen !== this.generation) return;
      this.take(page);
    } catch (e) {
      if (gen !== this.generation) return;
      this.status = 'failed';
      this.error = gifProblem(e);
    }
  }

  /** The next page of the results ("More GIFs"), up to `GIF_RESULTS_MAX` kept. */
  async more(): Promise<void> {
    if (!this.canLoadMore || !this.next) return;
    const gen = this.generation;
    this.status = 'more';
    this.error = null;
    try {
      const page = await this.api.searchGifs(this.searched, this.next);
      if (gen !== this.generation) return;
      this.take(page);
    } catch (e) {
      if (gen !== this.generation) return;
      // The results shown stay; the error says why no more came.
      this.status = 'ready';
      this.error = gifProblem(e);
    }
  }

  private take(page: GifPage): void {
    const have = new Set(this.results.map((g) => g.id));
    const room = GIF_RESULTS_MAX - this.results.length;
    const fresh = (Array.isArray(page.results) ? page.results : []).filter((g) => usable(g) && !have.has(g.id) && have.add(g.id)).slice(0, room);
    this.results = [...this.results, ...fresh];
    this.next = typeof page.next === 'string' && page.next ? page.next : null;
    this.status = 'ready';
    this.error = null;
  }

  /** Fetches the preview of a result that came into view (once; a few at a time). */
  want(gif: Gif): void {
    if (this.asked.has(gif.id) || !this.results.some((g) => g.id === gif.id)) return;
    this.asked.add(gif.id);
    this.queue.push(gif);
    this.pump();
  }

  private pump(): void {
    while (this.running < GIF_PREVIEWS_AT_ONCE && this.queue.length) {
      const gif = this.queue.shift()!;
      const gen = this.generation;
      const signal = this.fetching.signal;
      this.running++;
      void (async () => {
        try {
          const blob = await readGif(await this.api.gifMedia(gif.preview_url, signal), GIF_PREVIEW_MAX_BYTES);
          if (gen !== this.generation) return;
          this.previews.set(gif.id, URL.createObjectURL(blob));
        } catch {
          if (gen === this.generation) this.failed.add(gif.id);
        } finally {
          if (gen === this.generation) {
            this.running--;
            this.pump();
          }
        }
      })();
    }
  }

  /**
   * The GIF `gif` names, downloaded whole through the server, as a file named after its title
   * (`gifFileName`) of its type (`image/gif`, or `image/webp` when the provider sent one).
   */
  async file(gif: Gif, signal?: AbortSignal): Promise<File> {
    const blob = await readGif(await this.api.gifMedia(gif.url, signal), GIF_MAX_BYTES);
    return new File([blob], gifFileName(gif.title, blob.type), { type: blob.type });
  }

  /** Drops the results and their previews (a new search). */
  private reset(): void {
    this.generation++;
    this.fetching.abort();
    this.fetching = new AbortController();
    this.queue = [];
    this.asked.clear();
    this.running = 0;
    for (const url of this.previews.values()) URL.revokeObjectURL(url);
    this.previews.clear();
    this.failed.clear();
    this.results = [];
    this.next = null;
    this.searched = '';
    this.status = 'idle';
    this.error = null;
  }

  /** The picker closed: nothing kept, nothing under way. */
  clear(): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.query = '';
    this.reset();
  }
}

const side = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 10_000;

/** A result the picker can show: an id, both addresses and the preview's dimensions. */
function usable(g: Gif): boolean {
  return (
    !!g &&
    typeof g.id === 'string' &&
    !!g.id &&
    typeof g.url === 'string' &&
    typeof g.preview_url === 'string' &&
    side(g.preview_width) &&
    side(g.preview_height) &&
    typeof g.title === 'string'
  );
}
