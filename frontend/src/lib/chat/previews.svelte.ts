// Link previews under messages of plaintext channels: the first web address of a message, asked
// of the server's fetcher (`GET /api/v1/link_preview`) once, a few at a time, and remembered.
// Messages of end-to-end channels and DMs never get here: asking would tell the server the link.

import { SvelteMap } from 'svelte/reactivity';
import type { ApiClient } from '../api/client';
import type { LinkPreview } from '../api/types';

/** Previews remembered (the oldest asked for goes first). */
export const PREVIEW_CACHE = 200;
/** Previews asked for at once. */
export const PREVIEWS_AT_ONCE = 2;
/** The longest address asked about (the server's bound). */
export const URL_MAX = 2048;

export type PreviewState = { status: 'loading' } | { status: 'ok'; preview: LinkPreview } | { status: 'none' };

const TRAILING = /[.,;:!?'")\]}>]+$/;

/**
 * The first http(s) address of a message's text, outside code spans and blocks, without the
 * punctuation that usually follows an address in a sentence (a closing parenthesis is kept when
 * the address opened one). Null when there is none.
 */
export function firstLink(text: string): string | null {
  const outside = text.replace(/```[\s\S]*?```/g, ' ').replace(/`[^`\n]*`/g, ' ');
  const m = /\bhttps?:\/\/[^\s<>"'`]+/i.exec(outside);
  if (!m) return null;
  let url = m[0];
  for (;;) {
    const t = TRAILING.exec(url);
    if (!t) break;
    const last = url[url.length - 1];
    if (last === ')' && (url.match(/\(/g)?.length ?? 0) >= (url.match(/\)/g)?.length ?? 0)) break;
    url = url.slice(0, -1);
  }
  if (url.length > URL_MAX) return null;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  } catch {
    return null;
  }
  return url;
}

export class LinkPreviews {
  readonly entries = new SvelteMap<string, PreviewState>();
  private readonly waiting: string[] = [];
  private running = 0;

  constructor(private readonly fetchPreview: (url: string) => Promise<LinkPreview | null>) {}

  /** The state of `url`'s preview, asking for it the first time. */
  request(url: string): PreviewState {
    const known = this.entries.get(url);
    if (known) return known;
    const state: PreviewState = { status: 'loading' };
    this.entries.set(url, state);
    while (this.entries.size > PREVIEW_CACHE) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    this.waiting.push(url);
    this.pump();
    return state;
  }

  private pump(): void {
    while (this.running < PREVIEWS_AT_ONCE && this.waiting.length) {
      const url = this.waiting.shift()!;
      if (!this.entries.has(url)) continue;
      this.running++;
      this.fetchPreview(url).then(
        (preview) => {
          const useful = preview && (preview.title.trim() || preview.description.trim());
          if (this.entries.has(url)) this.entries.set(url, preview && useful ? { status: 'ok', preview } : { status: 'none' });
        },
        () => {
          if (this.entries.has(url)) this.entries.set(url, { status: 'none' });
        },
      ).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }
}

const perClient = new WeakMap<ApiClient, LinkPreviews>();

/** The previews of one signed-in client. */
export function previewsOf(api: ApiClient): LinkPreviews {
  let p = perClient.get(api);
  if (!p) {
    p = new LinkPreviews((url) => api.linkPreview(url));
    perClient.set(api, p);
  }
  return p;
}
