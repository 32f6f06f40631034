import { describe, expect, it } from 'vitest';
import { LinkPreviews, PREVIEW_CACHE, PREVIEWS_AT_ONCE, firstLink } from '../../src/lib/chat/previews.svelte';
import type { LinkPreview } from '../../src/lib/api/types';

const preview = (url: string, title = 'T'): LinkPreview => ({ url, final_url: url, title, description: '', site_name: '' });

describe('the first link of a message', () => {
  it('finds the first http(s) address and drops the punctuation after it', () => {
    expect(firstLink('see https://example.com/a, then')).toBe('https://example.com/a');
    expect(firstLink('(at http://example.com/x).')).toBe('http://example.com/x');
    expect(firstLink('wiki: https://en.wikipedia.org/wiki/Rust_(programming_language)!')).toBe(
      'https://en.wikipedia.org/wiki/Rust_(programming_language)',
    );
    expect(firstLink('two: https://a.example/ and https://b.example/')).toBe('https://a.example/');
    expect(firstLink('HTTPS://EXAMPLE.COM/')).toBe('HTTPS://EXAMPLE.COM/');
  });

  it('ignores code, other schemes, broken and overlong addresses', () => {
    expect(firstLink('`https://in.code/`')).toBeNull();
    expect(firstLink('```\nhttps://in.block/\n```')).toBeNull();
    expect(firstLink('`https://in.code/` but https://out.side/')).toBe('https://out.side/');
    expect(firstLink('ftp://example.com/ javascript:alert(1) mailto:a@b')).toBeNull();
    expect(firstLink('http://')).toBeNull();
    expect(firstLink(`https://example.com/${'a'.repeat(2100)}`)).toBeNull();
    expect(firstLink('no links here')).toBeNull();
  });
});

describe('link previews', () => {
  it('asks once per address, a few at a time, and forgets the oldest past its bound', async () => {
    const asked: string[] = [];
    const pending: (() => void)[] = [];
    let running = 0;
    let most = 0;
    const p = new LinkPreviews(
      (url) =>
        new Promise((resolve) => {
          asked.push(url);
          running++;
          most = Math.max(most, running);
          pending.push(() => {
            running--;
            resolve(preview(url, url.endsWith('/0') ? '' : 'T'));
          });
        }),
    );
    for (let i = 0; i < 5; i++) expect(p.request(`https://e.example/${i}`).status).toBe('loading');
    p.request('https://e.example/1');
    expect(asked.length).toBe(PREVIEWS_AT_ONCE);
    while (pending.length) {
      pending.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(asked.length).toBe(5);
    expect(most).toBe(PREVIEWS_AT_ONCE);
    expect(p.request('https://e.example/1')).toMatchObject({ status: 'ok', preview: { title: 'T' } });
    // a page with neither title nor description shows nothing
    expect(p.request('https://e.example/0').status).toBe('none');
    for (let i = 0; i < PREVIEW_CACHE + 10; i++) p.request(`https://f.example/${i}`);
    expect(p.entries.size).toBe(PREVIEW_CACHE);
    expect(p.entries.has('https://e.example/1')).toBe(false);
  });

  it('a page without a preview (204) shows nothing', async () => {
    const p = new LinkPreviews(() => Promise.resolve(null));
    p.request('https://plain.example/');
    await new Promise((r) => setTimeout(r, 0));
    expect(p.request('https://plain.example/').status).toBe('none');
  });

  it('a refusal shows nothing and is not asked again', async () => {
    let n = 0;
    const p = new LinkPreviews(() => {
      n++;
      return Promise.reject(new Error('404'));
    });
    p.request('https://gone.example/');
    await new Promise((r) => setTimeout(r, 0));
    expect(p.request('https://gone.example/').status).toBe('none');
    expect(n).toBe(1);
  });
});
