// Link previews. Under messages of plaintext channels: the first web address of a message, asked
// of the server's fetcher (`GET /api/v1/link_preview`) once, a few at a time, and remembered.
// Messages of end-to-end channels and DMs are never asked about by their readers: asking would
// tell the server the link. There, a preview comes only inside the encrypted body, made by the
// sender's browser when its user turned "Link previews in encrypted conversations" on
// (docs/e2e.md 19.5): `linkCardOf` makes the body's fields from the fetcher's answer and
// `encryptedCard` is the rule a reader shows one by.

import { SvelteMap } from 'svelte/reactivity';
import type { ApiClient } from '../api/client';
import type { LinkPreview } from '../api/types';
import { MAX_LINK_DESCRIPTION, MAX_LINK_SITE_NAME, MAX_LINK_TITLE, MAX_LINK_URL, type LinkCard } from '../e2e/appcodec';

/** Previews remembered (the oldest asked for goes first). */
export const PREVIEW_CACHE = 200;
/** Previews asked for at once. */
export const PREVIEWS_AT_ONCE = 2;
/** The longest address asked about (the server's bound). */
export const URL_MAX = 2048;
/**
 * How long after the typing stops a link being written in an encrypted conversation is asked
 * about (when previews there are on): not at every key, nor for an address half typed.
 */
export const PREFETCH_AFTER_MS = 600;

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
  /** Those waiting for an address's answer (`answer`), told when it comes or is forgotten. */
  private readonly waiters = new Map<string, (() => void)[]>();

  constructor(private readonly fetchPreview: (url: string) => Promise<LinkPreview | null>) {}

  /**
   * The state of `url`'s preview, asking for it the first time. `first`: asked before those
   * already waiting (a send waits for it).
   */
  request(url: string, first = false): PreviewState {
    const known = this.entries.get(url);
    if (known) {
      if (first && known.status === 'loading' && this.waiting.includes(url)) {
        this.waiting.splice(this.waiting.indexOf(url), 1);
        this.waiting.unshift(url);
      }
      return known;
    }
    const state: PreviewState = { status: 'loading' };
    this.entries.set(url, state);
    while (this.entries.size > PREVIEW_CACHE) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
      this.tell(oldest);
    }
    if (first) this.waiting.unshift(url);
    else this.waiting.push(url);
    this.pump();
    return state;
  }

  /**
   * `url`'s preview (asked for first if it is not known), waited for at most `ms`: null when
   * the page has none, the fetcher refused or the time ran out.
   */
  async answer(url: string, ms: number): Promise<LinkPreview | null> {
    const now = this.request(url, true);
    if (now.status === 'loading') {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        this.waiters.set(url, [...(this.waiters.get(url) ?? []), resolve]);
      });
      clearTimeout(timer);
    }
    const s = this.entries.get(url);
    return s?.status === 'ok' ? s.preview : null;
  }

  private tell(url: string): void {
    const w = this.waiters.get(url);
    this.waiters.delete(url);
    for (const resolve of w ?? []) resolve();
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
          this.tell(url);
        },
        () => {
          if (this.entries.has(url)) this.entries.set(url, { status: 'none' });
          this.tell(url);
        },
      ).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }
}

/** An http(s) address, parsed; null for anything else. */
function httpUrl(s: string): URL | null {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

/** What a preview card shows: the site, the title (a link to `href`) and the description. */
export interface CardView {
  href: string;
  site: string;
  title: string;
  description: string;
}

/**
 * The card of a link body's preview, or null when none shows (docs/e2e.md 19.5): its address
 * must occur in the message's text, it and the address after redirects must be http(s), and it
 * must say something (a title or a description). The card's link goes to the address written
 * in the text, never to the one after redirects; the site is the page's own name, else the
 * host it was found at.
 */
export function encryptedCard(text: string, link: LinkCard): CardView | null {
  if (!link.url || !text.includes(link.url)) return null;
  const u = httpUrl(link.url);
  const f = httpUrl(link.finalUrl);
  if (!u || !f) return null;
  const title = link.title.trim();
  const description = link.description.trim();
  if (!title && !description) return null;
  return { href: u.href, site: link.siteName.trim() || f.hostname, title, description };
}

const utf8 = new TextEncoder();
const fits = (s: string, max: number) => utf8.encode(s).length <= max;

/**
 * The preview to send inside a link body, from the fetcher's answer for `url` (the first link
 * of `text`): null when there is none, when a field is beyond the body's bounds, or when a
 * reader would not show it (`encryptedCard`).
 */
export function linkCardOf(text: string, url: string, preview: LinkPreview | null): LinkCard | null {
  if (!preview) return null;
  const link: LinkCard = {
    url,
    finalUrl: preview.final_url || url,
    title: preview.title,
    description: preview.description,
    siteName: preview.site_name,
  };
  if (!fits(link.url, MAX_LINK_URL) || !fits(link.finalUrl, MAX_LINK_URL) || !fits(link.title, MAX_LINK_TITLE)) return null;
  if (!fits(link.description, MAX_LINK_DESCRIPTION) || !fits(link.siteName, MAX_LINK_SITE_NAME)) return null;
  return encryptedCard(text, link) ? link : null;
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
