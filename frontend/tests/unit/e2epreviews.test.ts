// Link previews in end-to-end conversations (docs/e2e.md 19.5): the link body (tag 0x53) and its
// bounds, its place in the message cache, the rule a reader shows a card by, and the sender's
// side: with "Link previews in encrypted conversations" on, a text with a link goes with the
// preview inside its encrypted body (read by the other person's own device here), edits too;
// off, nothing is asked. A reader's pane shows the card from the body and asks the server
// nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import {
  MAX_BODY,
  MAX_LINK_DESCRIPTION,
  MAX_LINK_SITE_NAME,
  MAX_LINK_TITLE,
  MAX_LINK_URL,
  MalformedError,
  decodeBody,
  fileBody,
  linkTextBody,
  textBody,
  type FileRef,
  type LinkCard,
} from '../../src/lib/e2e/appcodec';
import { Writer } from '../../src/lib/crypto/encoding';
import { E2e, bodyText, cachedBody, ciphertextDigest, shown } from '../../src/lib/e2e/engine.svelte';
import { Keystore, fromBase64, toBase64 } from '../../src/lib/e2e/keystore';
import { LinkPreviews, encryptedCard, linkCardOf } from '../../src/lib/chat/previews.svelte';
import { E2E_PREVIEW_WAIT_MS } from '../../src/lib/chat/store.svelte';
import type { LinkPreview, Message } from '../../src/lib/api/types';
import { MemoryStore } from '../../src/lib/storage/kv';
import { PrefsStore } from '../../src/lib/stores/prefs.svelte';
import type { SessionStore } from '../../src/lib/stores/session.svelte';
import { channel, chatStore, message } from './chatharness';
import { flush } from './fakews';
import { Directory, uuid } from './keydir';
import PaneHost from './PaneHost.svelte';

afterEach(() => cleanup());
// jsdom lays nothing out.
Element.prototype.scrollIntoView ??= function () {};

const KDF = { alg: 'argon2id' as const, m: 64, t: 1, p: 1 };
const enc = new TextEncoder();

const LINK: LinkCard = {
  url: 'https://example.org/a',
  finalUrl: 'https://www.example.org/a/',
  title: 'A page',
  description: 'What it is about.',
  siteName: 'Example',
};
const TEXT = 'look https://example.org/a';

/** A link body's bytes from raw fields (to build what the encoder refuses to make). */
function raw(fields: Uint8Array[]): Uint8Array {
  const w = new Writer().u8(0x53);
  for (const f of fields) w.varBytes(f);
  return w.finish();
}
const fieldsOf = (text: string, l: LinkCard) => [text, l.url, l.finalUrl, l.title, l.description, l.siteName].map((s) => enc.encode(s));

/** The reason of the MalformedError `f` throws. */
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedError);
    return (e as Error).message.replace(/^malformed: /, '');
  }
  throw new Error('expected a MalformedError');
}

describe('the link body (0x53)', () => {
  it('round-trips texts and previews, up to every bound', () => {
    const cases: [string, LinkCard][] = [
      [TEXT, LINK],
      ['', { url: 'h', finalUrl: 'h', title: '', description: '', siteName: '' }],
      ['\u0000t ünïcödé 🦀 https://e.test/ö', { ...LINK, url: 'https://e.test/ö', title: '🦀 crabs', siteName: 'Ünï' }],
      [
        'x'.repeat(4000),
        {
          url: `https://e.test/${'u'.repeat(MAX_LINK_URL - 15)}`,
          finalUrl: 'f'.repeat(MAX_LINK_URL),
          title: 'é'.repeat(MAX_LINK_TITLE / 2),
          description: 'd'.repeat(MAX_LINK_DESCRIPTION),
          siteName: '🦀'.repeat(MAX_LINK_SITE_NAME / 4),
        },
      ],
    ];
    for (const [text, link] of cases) {
      const b = linkTextBody(text, link);
      expect(b[0]).toBe(0x53);
      expect(decodeBody(b)).toEqual({ kind: 'linkText', text, link });
      expect(linkTextBody(text, link)).toEqual(raw(fieldsOf(text, link)));
    }
  });

  it('the encoder refuses what the decoder would: an empty address, a field one byte over its bound', () => {
    expect(refusal(() => linkTextBody(TEXT, { ...LINK, url: '' }))).toBe('link address');
    expect(refusal(() => linkTextBody(TEXT, { ...LINK, finalUrl: '' }))).toBe('link address');
    const over: Partial<LinkCard>[] = [
      { url: 'u'.repeat(MAX_LINK_URL + 1) },
      { finalUrl: 'f'.repeat(MAX_LINK_URL + 1) },
      // bounds are in bytes: 601 two-byte characters are 1202 bytes
      { title: 'é'.repeat(MAX_LINK_TITLE / 2 + 1) },
      { description: 'd'.repeat(MAX_LINK_DESCRIPTION + 1) },
      { siteName: 's'.repeat(MAX_LINK_SITE_NAME + 1) },
    ];
    for (const o of over) expect(refusal(() => linkTextBody(TEXT, { ...LINK, ...o })), JSON.stringify(Object.keys(o))).toBe('length above limit');
    expect(refusal(() => linkTextBody('t'.repeat(MAX_BODY + 1), LINK))).toBe('length above limit');
  });

  it('the decoder refuses each field over its bound, an empty address, bad UTF-8, every cut and trailing bytes', () => {
    const good = fieldsOf(TEXT, LINK);
    const bounds = [MAX_BODY, MAX_LINK_URL, MAX_LINK_URL, MAX_LINK_TITLE, MAX_LINK_DESCRIPTION, MAX_LINK_SITE_NAME];
    for (const [i, max] of bounds.entries()) {
      const at = good.slice();
      at[i] = new Uint8Array(max).fill(0x61);
      expect(decodeBody(raw(at)).kind, `field ${i} at its bound`).toBe('linkText');
      const over = good.slice();
      over[i] = new Uint8Array(max + 1).fill(0x61);
      expect(refusal(() => decodeBody(raw(over))), `field ${i} over`).toBe('length above limit');
      const bad = good.slice();
      bad[i] = new Uint8Array([0x61, 0xc3, 0x28]);
      expect(refusal(() => decodeBody(raw(bad))), `field ${i} not UTF-8`).toBe('utf-8');
    }
    for (const i of [1, 2]) {
      const empty = good.slice();
      empty[i] = new Uint8Array(0);
      expect(refusal(() => decodeBody(raw(empty))), `address ${i} empty`).toBe('link address');
    }
    const b = raw(good);
    for (let n = 1; n < b.length; n++) expect(refusal(() => decodeBody(b.subarray(0, n))), `cut at ${n}`).toBe('truncated');
    expect(refusal(() => decodeBody(new Uint8Array([...b, 0])))).toBe('trailing bytes');
    // a length that claims more than is there
    const lying = b.slice();
    lying[4] = 0xff;
    expect(refusal(() => decodeBody(lying))).toBe('truncated');
  });
});

describe('the message cache keeps a link body', () => {
  const file: FileRef = {
    fileId: '0193aaaa-0000-7000-8000-000000000001',
    pointer: new Uint8Array(73).map((_, i) => (i === 0 ? 0x0a : i)),
    name: 'a.txt',
    mime: 'text/plain',
  };

  it('behind its own mark: a reload reads the text and its preview, and the backup gets the same body', () => {
    const cached = bodyText({ kind: 'linkText', text: TEXT, link: LINK });
    expect(cached.startsWith('\u0000l')).toBe(true);
    expect(shown(cached)).toEqual({ ok: true, text: TEXT, link: LINK });
    expect(cachedBody(cached)).toEqual(linkTextBody(TEXT, LINK));
  });

  it('no text reads back as a link body (or a file), and no link body as a text or a file', () => {
    const linkCached = bodyText({ kind: 'linkText', text: TEXT, link: LINK });
    const fileCached = bodyText({ kind: 'file', ...file });
    const lookalikes = [linkCached, fileCached, '\u0000l', '\u0000l{}', `\u0000l${JSON.stringify({ x: 'a' })}`, '\u0000t\u0000l', '\u0000', 'plain'];
    for (const text of lookalikes) {
      const c = bodyText({ kind: 'text', text });
      expect(shown(c), JSON.stringify(text)).toEqual({ ok: true, text });
      expect(decodeBody(cachedBody(c))).toEqual({ kind: 'text', text });
    }
    for (const text of lookalikes) {
      const c = bodyText({ kind: 'linkText', text, link: LINK });
      expect(shown(c), JSON.stringify(text)).toEqual({ ok: true, text, link: LINK });
      expect(decodeBody(cachedBody(c))).toEqual({ kind: 'linkText', text, link: LINK });
    }
    // a file stays a file
    expect(shown(fileCached)).toMatchObject({ file: { name: 'a.txt' } });
    expect(decodeBody(cachedBody(fileCached))).toEqual(decodeBody(fileBody(file)));
  });

  it('a damaged link entry is not taken for a link', () => {
    const c = `\u0000l${JSON.stringify({ x: TEXT, u: LINK.url, f: LINK.finalUrl, t: 1, d: '', s: '' })}`;
    expect(shown(c)).not.toHaveProperty('link');
  });
});

describe('the card a reader shows', () => {
  it('only when the address is in the text and both addresses are http(s); linking the address written', () => {
    expect(encryptedCard(TEXT, LINK)).toEqual({ href: 'https://example.org/a', site: 'Example', title: 'A page', description: 'What it is about.' });
    // the site after redirects names the card when the page gave no name; the link still goes to the text's address
    expect(encryptedCard(TEXT, { ...LINK, siteName: '  ' })).toMatchObject({ href: 'https://example.org/a', site: 'www.example.org' });
    expect(encryptedCard('no link here', LINK)).toBeNull();
    expect(encryptedCard('look https://example.org/', LINK)).toBeNull();
    for (const url of ['javascript:alert(1)', 'data:text/html,hi', 'ftp://example.org/a', 'not a url']) {
      expect(encryptedCard(`see ${url}`, { ...LINK, url }), url).toBeNull();
    }
    for (const finalUrl of ['javascript:alert(1)', 'file:///etc/passwd', 'nope']) {
      expect(encryptedCard(TEXT, { ...LINK, finalUrl }), finalUrl).toBeNull();
    }
    // nothing to say: no card
    expect(encryptedCard(TEXT, { ...LINK, title: ' ', description: '' })).toBeNull();
    expect(encryptedCard(TEXT, { ...LINK, title: '' })).toMatchObject({ title: '', description: 'What it is about.' });
  });

  it('the sender puts in only what fits the body and would show', () => {
    const p: LinkPreview = { url: LINK.url, final_url: LINK.finalUrl, title: 'A page', description: 'd', site_name: 'Example' };
    expect(linkCardOf(TEXT, LINK.url, p)).toEqual({ ...LINK, description: 'd' });
    expect(linkCardOf(TEXT, LINK.url, null)).toBeNull();
    expect(linkCardOf(TEXT, LINK.url, { ...p, final_url: '' })).toMatchObject({ finalUrl: LINK.url });
    expect(linkCardOf(TEXT, LINK.url, { ...p, title: 'é'.repeat(MAX_LINK_TITLE / 2 + 1) })).toBeNull();
    expect(linkCardOf(TEXT, LINK.url, { ...p, site_name: 's'.repeat(MAX_LINK_SITE_NAME + 1) })).toBeNull();
    expect(linkCardOf(TEXT, LINK.url, { ...p, final_url: 'javascript:x' })).toBeNull();
    expect(linkCardOf(TEXT, LINK.url, { ...p, title: '', description: '' })).toBeNull();
  });
});

describe('waiting for a preview', () => {
  it('answers when the fetcher does, gives up after the wait, and a send is asked for first', async () => {
    const asked: string[] = [];
    const resolvers = new Map<string, (p: LinkPreview | null) => void>();
    const p = new LinkPreviews(
      (url) =>
        new Promise((resolve) => {
          asked.push(url);
          resolvers.set(url, resolve);
        }),
    );
    const pv = (url: string): LinkPreview => ({ url, final_url: url, title: 'T', description: '', site_name: '' });
    // two readers' fetches run, a third waits; a send's address goes before it
    for (const u of ['https://r.test/1', 'https://r.test/2', 'https://r.test/3']) p.request(u);
    const answer = p.answer('https://s.test/', 5_000);
    expect(asked).toEqual(['https://r.test/1', 'https://r.test/2']);
    resolvers.get('https://r.test/1')!(pv('https://r.test/1'));
    await flush();
    expect(asked[2]).toBe('https://s.test/');
    resolvers.get('https://s.test/')!(pv('https://s.test/'));
    expect(await answer).toMatchObject({ title: 'T' });
    // known: answered at once
    expect(await p.answer('https://s.test/', 0)).toMatchObject({ title: 'T' });
    // slow: null after the wait; the answer is kept for later
    const started = Date.now();
    resolvers.get('https://r.test/2')!(null);
    await flush();
    expect(await p.answer('https://r.test/3', 50)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    resolvers.get('https://r.test/3')!(pv('https://r.test/3'));
    await flush();
    expect(await p.answer('https://r.test/3', 0)).toMatchObject({ title: 'T' });
    expect(asked.filter((u) => u === 'https://r.test/3')).toHaveLength(1);
  });
});

/** A person with an unlocked browser device on the in-memory directory. */
async function browserOf(dir: Directory, n: number) {
  const user = uuid(n);
  const device = uuid(100 + n);
  const e2e = new E2e(new Keystore(new MemoryStore(), { kdf: KDF }), { api: dir.api(user, device), deviceId: async () => device });
  await e2e.unlock(user, 'pass phrase');
  expect(e2e.device).toBe('ready');
  return { user, device, e2e };
}

let seq = 0;
/** What B's device reads of a ciphertext A sent. */
async function readAs(reader: E2e, channelId: string, sender: string, ciphertext: string) {
  seq++;
  return reader.decrypt({ id: uuid(7_000_000 + seq), channel_id: channelId, sender_id: sender, content: { kind: 'encrypted', ciphertext } });
}

describe('sending in an encrypted conversation', () => {
  async function dmOf(previewsOn: boolean, fetcher: (url: string) => Promise<LinkPreview | null>) {
    const dir = new Directory();
    const a = await browserOf(dir, 1);
    const b = await browserOf(dir, 2);
    const dm = uuid(900);
    dir.channels.set(dm, new Set([a.user, b.user]));
    const asked: string[] = [];
    const stores = await chatStore(
      [channel(dm, { community_id: null, kind: 'dm', e2e: true })],
      {},
      {
        linkPreview: (url: string) => {
          asked.push(url);
          return fetcher(url);
        },
      },
      { e2e: a.e2e, e2eLinkPreviews: () => previewsOn },
    );
    const sent = () => stores.ws.sent.filter((f) => f.type === 'send_message' || f.type === 'edit_message');
    const ciphertextOf = (f: Record<string, unknown>) => (f.content as { ciphertext: string }).ciphertext;
    return { dm, a, b, stores, asked, sent, ciphertextOf };
  }
  const page = (url: string): LinkPreview => ({ url, final_url: url, title: 'The page', description: 'About it', site_name: '' });

  it('with the setting on, the preview goes inside the encrypted body, made once by the sender', async () => {
    const s = await dmOf(true, async (url) => page(url));
    s.stores.chat.prefetchLinkPreview(s.dm, 'see https://site.test/x.');
    s.stores.chat.sendText(s.dm, 'see https://site.test/x.');
    await waitFor(() => expect(s.sent()).toHaveLength(1));
    expect(s.asked).toEqual(['https://site.test/x']);
    const read = await readAs(s.b.e2e, s.dm, s.a.user, s.ciphertextOf(s.sent()[0]!));
    expect(read).toEqual({
      ok: true,
      text: 'see https://site.test/x.',
      link: { url: 'https://site.test/x', finalUrl: 'https://site.test/x', title: 'The page', description: 'About it', siteName: '' },
    });
    // what the server stores is ciphertext only
    expect(s.ciphertextOf(s.sent()[0]!)).not.toMatch(/site/);
    expect(new TextDecoder().decode(fromBase64(s.ciphertextOf(s.sent()[0]!)))).not.toMatch(/site\.test|The page/);
    // the sender's own copy reads back with it too (from its cache)
    const own = message(s.dm, 1, s.a.user);
    own.content = { kind: 'encrypted', ciphertext: s.ciphertextOf(s.sent()[0]!) };
    expect(await s.a.e2e.decrypt(own)).toMatchObject({ link: { title: 'The page' } });

    // an edit is encoded the same way
    s.stores.chat.edit(s.dm, own.id, 'now https://site.test/y');
    await waitFor(() => expect(s.sent()).toHaveLength(2));
    expect(s.sent()[1]!.type).toBe('edit_message');
    expect(await readAs(s.b.e2e, s.dm, s.a.user, s.ciphertextOf(s.sent()[1]!))).toMatchObject({
      ok: true,
      text: 'now https://site.test/y',
      link: { url: 'https://site.test/y' },
    });
    // a text without a link is a plain text body
    s.stores.chat.sendText(s.dm, 'no link');
    await waitFor(() => expect(s.sent()).toHaveLength(3));
    expect(await readAs(s.b.e2e, s.dm, s.a.user, s.ciphertextOf(s.sent()[2]!))).toEqual({ ok: true, text: 'no link' });
    expect(s.asked).toEqual(['https://site.test/x', 'https://site.test/y']);
  });

  it('with the setting off (the default), nothing is asked and the link goes without a preview', async () => {
    const s = await dmOf(false, async (url) => page(url));
    s.stores.chat.prefetchLinkPreview(s.dm, 'see https://site.test/x');
    s.stores.chat.sendText(s.dm, 'see https://site.test/x');
    await waitFor(() => expect(s.sent()).toHaveLength(1));
    expect(await readAs(s.b.e2e, s.dm, s.a.user, s.ciphertextOf(s.sent()[0]!))).toEqual({ ok: true, text: 'see https://site.test/x' });
    s.stores.chat.edit(s.dm, uuid(5), 'edited https://site.test/z');
    await waitFor(() => expect(s.sent()).toHaveLength(2));
    expect(await readAs(s.b.e2e, s.dm, s.a.user, s.ciphertextOf(s.sent()[1]!))).toEqual({ ok: true, text: 'edited https://site.test/z' });
    expect(s.asked).toEqual([]);
  });

  it('a page slower than the wait: the text shows as sending at once, goes without a preview, and the next one after it', async () => {
    let late: (p: LinkPreview | null) => void = () => {};
    const s = await dmOf(true, (url) => new Promise((resolve) => (late = () => resolve(page(url)))));
    const started = Date.now();
    s.stores.chat.sendText(s.dm, 'slow https://slow.test/');
    s.stores.chat.sendText(s.dm, 'right after');
    const t = s.stores.chat.views.get(s.dm)!.timeline;
    expect(t.pending.map((p) => [p.display, p.status])).toEqual([
      ['slow https://slow.test/', 'preparing'],
      ['right after', 'preparing'],
    ]);
    await waitFor(() => expect(s.sent()).toHaveLength(2), { timeout: E2E_PREVIEW_WAIT_MS + 3_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(E2E_PREVIEW_WAIT_MS - 50);
    expect(t.pending.map((p) => p.status)).toEqual(['sending', 'sending']);
    const [first, second] = s.sent();
    expect(await readAs(s.b.e2e, s.dm, s.a.user, s.ciphertextOf(first!))).toEqual({ ok: true, text: 'slow https://slow.test/' });
    expect(await readAs(s.b.e2e, s.dm, s.a.user, s.ciphertextOf(second!))).toEqual({ ok: true, text: 'right after' });
    // the frames go out with the pending copies' nonces, in order
    expect([first!.nonce, second!.nonce]).toEqual(t.pending.map((p) => p.nonce));
    late(null);
  }, 15_000);

  it('a plaintext channel is never concerned: nothing asked by the sender side', async () => {
    const asked: string[] = [];
    const stores = await chatStore([channel('p1')], {}, { linkPreview: async (u: string) => void asked.push(u) }, { e2eLinkPreviews: () => true });
    stores.chat.prefetchLinkPreview('p1', 'https://site.test/');
    stores.chat.sendText('p1', 'https://site.test/');
    await flush();
    expect(asked).toEqual([]);
    expect(stores.ws.sent.find((f) => f.type === 'send_message')?.content).toEqual({ kind: 'text', text: 'https://site.test/' });
  });
});

describe('a reader’s pane', () => {
  /** An encrypted message whose body this browser holds (in its sealed message cache). */
  async function sealed(e2e: E2e, seqNo: number, sender: string, cached: string): Promise<Message> {
    const bytes = new Uint8Array([8, seqNo, seqNo + 1, seqNo + 2, seqNo + 3]);
    const m = message('e1', seqNo, sender);
    m.content = { kind: 'encrypted', ciphertext: toBase64(bytes) };
    await e2e.keystore.cacheMessage(m.id, ciphertextDigest(bytes), cached);
    return m;
  }

  async function pane(opts: { linkPreviews?: boolean; e2eLinkPreviews?: boolean } = {}) {
    const dir = new Directory();
    const { e2e } = await browserOf(dir, 1);
    const msgs = [
      await sealed(e2e, 1, 'other', bodyText({ kind: 'linkText', text: TEXT, link: LINK })),
      // a preview whose address is not in the text: no card
      await sealed(e2e, 2, 'other', bodyText({ kind: 'linkText', text: 'elsewhere https://other.test/', link: LINK })),
      // a plain encrypted text with a link: no card, nothing asked
      await sealed(e2e, 3, 'other', bodyText({ kind: 'text', text: 'bare https://bare.test/' })),
    ];
    const asked: string[] = [];
    const api = {
      linkPreview: async (url: string) => {
        asked.push(url);
        return { url, final_url: url, title: 'fetched', description: '', site_name: '' };
      },
    };
    const on = opts.e2eLinkPreviews ?? false;
    const stores = await chatStore([channel('e1', { e2e: true, last_seq: 3, last_read_seq: 3 })], { e1: msgs }, api, { e2e, e2eLinkPreviews: () => on });
    const prefs = new PrefsStore(new MemoryStore());
    await prefs.update({ linkPreviews: opts.linkPreviews ?? true, e2eLinkPreviews: on });
    render(PaneHost, { props: { app: { session: { me: null, api } as unknown as SessionStore, prefs, e2e }, stores, channelId: 'e1' } });
    await waitFor(() => expect(document.body.textContent).toContain('bare https://bare.test/'));
    return { asked, stores };
  }

  const bodyWith = (text: string) => screen.getByText(text, { exact: false }).closest('[data-testid="message"]') as HTMLElement;

  it('shows the card from the body and asks the server nothing', async () => {
    const { asked } = await pane();
    const card = await screen.findByTestId('link-preview');
    expect(screen.getAllByTestId('link-preview')).toHaveLength(1);
    expect(bodyWith('look').contains(card)).toBe(true);
    const link = card.querySelector('a')!;
    expect(link.textContent).toBe('A page');
    expect(link.getAttribute('href')).toBe('https://example.org/a');
    expect(link.getAttribute('rel')).toMatch(/noopener/);
    expect(card.textContent).toMatch(/Example/);
    expect(card.textContent).toMatch(/What it is about\./);
    await new Promise((r) => setTimeout(r, 50));
    expect(asked).toEqual([]);
  });

  it('shows no card when the reader turned previews off', async () => {
    await pane({ linkPreviews: false });
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.queryAllByTestId('link-preview')).toHaveLength(0);
  });

  it('the composer asks for a link being written a moment after the typing stops, only with the setting on', async () => {
    for (const on of [false, true]) {
      const { asked } = await pane({ e2eLinkPreviews: on });
      const box = document.querySelector('.composer textarea') as HTMLTextAreaElement;
      await fireEvent.input(box, { target: { value: 'reading https://typed.test/page' } });
      expect(asked).toEqual([]);
      await new Promise((r) => setTimeout(r, 900));
      expect(asked).toEqual(on ? ['https://typed.test/page'] : []);
      cleanup();
    }
  });
});
