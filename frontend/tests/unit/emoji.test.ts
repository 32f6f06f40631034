// Emoji: the wire form `<:name:ref>` in the Markdown parser and renderer (valid and invalid
// tokens, code, messages of emoji only, a picture that does not load), the `:name:` ↔
// `<:name:ref>` conversion around code, the checks of a new emoji's name, the suggestions'
// ranking and what starts them, the standard set, and the chat store's lists of custom emoji.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render } from '@testing-library/svelte';
import { tick } from 'svelte';
import Markdown from '../../src/lib/markdown/Markdown.svelte';
import { parseMarkdown, plainText } from '../../src/lib/markdown/parse';
import {
  checkEmojiName,
  emojiLabel,
  emojiQuery,
  emojiToken,
  fromWire,
  nameFromFile,
  parseEmojiToken,
  searchEmoji,
  standardEmojiCount,
  toWire,
  type EmojiChoice,
} from '../../src/lib/emoji/emoji';
import { STANDARD_EMOJI } from '../../src/lib/emoji/standard';
import type { CustomEmoji } from '../../src/lib/api/types';
import { channel, chatStore } from './chatharness';
import { READY, flush } from './fakews';
import { ApiClient, ApiError, type StoredSession } from '../../src/lib/api/client';
import { MemoryStore } from '../../src/lib/storage/kv';
import { FakeServer, ME, pair } from './fake';

afterEach(() => cleanup());

const REF = 'a'.repeat(64);
const REF2 = '0123456789abcdef'.repeat(4);
const PARTY = `<:party_blob:${REF}>`;

function emoji(name: string, ref = REF, id = `e-${name}`, community = 'c1'): CustomEmoji {
  return { id, community_id: community, name, image_ref: ref, created_by: null, created_at: '2026-11-28T10:00:00Z' };
}

function html(source: string): HTMLElement {
  const { container } = render(Markdown, { props: { source } });
  return container.querySelector('.md')!;
}

const ALLOWED_TAGS = new Set(['DIV', 'P', 'BR', 'STRONG', 'EM', 'DEL', 'CODE', 'PRE', 'A', 'BLOCKQUOTE', 'UL', 'OL', 'LI', 'IMG', 'SPAN']);
const ALLOWED_ATTRS: Record<string, Set<string>> = {
  IMG: new Set(['class', 'src', 'alt', 'title', 'width', 'height', 'loading', 'decoding', 'data-testid']),
  SPAN: new Set(['class', 'data-testid']),
};

/** Only the Markdown elements, and emoji pictures whose address is an image reference. */
function checkTree(root: HTMLElement, source: string) {
  for (const el of Array.from(root.querySelectorAll('*'))) {
    expect(ALLOWED_TAGS.has(el.tagName), `${el.tagName} from ${JSON.stringify(source)}`).toBe(true);
    const allowed = ALLOWED_ATTRS[el.tagName] ?? new Set(['class', 'href', 'target', 'rel', 'start']);
    for (const a of Array.from(el.attributes)) expect(allowed.has(a.name), `${a.name} on ${el.tagName}`).toBe(true);
    if (el.tagName === 'IMG') {
      expect(el.getAttribute('src')).toMatch(/^\/api\/v1\/images\/[0-9a-f]{64}$/);
      expect(el.getAttribute('alt')).toMatch(/^:[a-z0-9_]{2,32}:$/);
    }
  }
}

describe('custom emoji in Markdown', () => {
  it('renders <:name:ref> as a picture of fixed size, named :name:, loaded lazily', () => {
    const root = html(`nice ${PARTY} one`);
    const img = root.querySelector('img')!;
    expect(img.getAttribute('src')).toBe(`/api/v1/images/${REF}`);
    expect(img.getAttribute('alt')).toBe(':party_blob:');
    expect(img.getAttribute('title')).toBe(':party_blob:');
    expect(img.getAttribute('loading')).toBe('lazy');
    expect([img.getAttribute('width'), img.getAttribute('height')]).toEqual(['22', '22']);
    expect(root.classList.contains('md-jumbo')).toBe(false);
    expect(root.textContent).toBe('nice  one');
    checkTree(root, 'sample');
    expect(parseMarkdown(`a ${PARTY}`)).toEqual([{ t: 'p', c: [{ t: 'text', v: 'a ' }, { t: 'emoji', name: 'party_blob', ref: REF }] }]);
  });

  it.each([
    ['a reference in upper case', `<:cat:${'A'.repeat(64)}>`],
    ['a reference too short', `<:cat:${'a'.repeat(63)}>`],
    ['a reference too long', `<:cat:${'a'.repeat(65)}>`],
    ['a reference that is no hex', `<:cat:${'g'.repeat(64)}>`],
    ['a name of one letter', `<:c:${REF}>`],
    ['a name of 33', `<:${'c'.repeat(33)}:${REF}>`],
    ['a name in upper case', `<:Cat:${REF}>`],
    ['a name with a dash', `<:my-cat:${REF}>`],
    ['a name with a space', `<:my cat:${REF}>`],
    ['no closing bracket', `<:cat:${REF}`],
    ['an address for a reference', '<:cat:https://evil.example/x.png>'],
    ['script in the name', `<:<script>:${REF}>`],
    ['an attribute smuggled in', `<:cat:${REF}" onerror="alert(1)>`],
    ['a traversal', `<:cat:../../${REF}>`],
    ['an escaped bracket', `\\<:cat:${REF}>`],
  ])('leaves %s as text', (_what, source) => {
    const root = html(source);
    expect(root.querySelector('img')).toBeNull();
    checkTree(root, source);
  });

  it('never makes a picture inside code spans or code blocks', () => {
    const root = html(`\`${PARTY}\` and\n\n\`\`\`\n${PARTY}\n\`\`\``);
    expect(root.querySelector('img')).toBeNull();
    expect(root.querySelector('p code')!.textContent).toBe(PARTY);
    expect(root.querySelector('pre code')!.textContent).toBe(PARTY);
  });

  it('keeps names with underscores whole inside emphasis, links and lists', () => {
    const cat = `<:cat_:${REF}>`;
    const root = html(`_so ${cat} here_ and [${PARTY}](https://x.example/)\n- ${cat}`);
    expect(root.querySelector('em img')!.getAttribute('alt')).toBe(':cat_:');
    expect(root.querySelector('a img')!.getAttribute('alt')).toBe(':party_blob:');
    expect(root.querySelector('li img')!.getAttribute('alt')).toBe(':cat_:');
    checkTree(root, 'nested');
  });

  it('shows a message of emoji only large: custom, standard, or both', () => {
    for (const source of [PARTY, `${PARTY} ${PARTY}`, `🎉 ${PARTY}`, '👍🏽 🇫🇷 ❤️', `${PARTY}\n🎉`]) {
      const root = html(source);
      expect(root.classList.contains('md-jumbo'), source).toBe(true);
      for (const img of Array.from(root.querySelectorAll('img'))) expect(img.getAttribute('width')).toBe('44');
      cleanup();
    }
    for (const source of [`${PARTY} ok`, '**🎉**', `${PARTY}\n\n${PARTY}`, '123', '#', PARTY.repeat(28), '🎉'.repeat(28)]) {
      expect(html(source).classList.contains('md-jumbo'), source).toBe(false);
      cleanup();
    }
    expect(standardEmojiCount(' 🎉 👍🏽 ')).toBe(2);
    expect(standardEmojiCount('🎉 a')).toBe(-1);
  });

  it('falls back to the text :name: when the picture does not load', async () => {
    const root = html(`hi ${PARTY}`);
    await fireEvent.error(root.querySelector('img')!);
    await tick();
    expect(root.querySelector('img')).toBeNull();
    expect(root.textContent).toBe('hi :party_blob:');
  });

  it('names custom emoji :name: in previews and labels', () => {
    expect(plainText(`**look** ${PARTY}`)).toBe('look :party_blob:');
    expect(emojiLabel(PARTY)).toBe(':party_blob:');
    expect(emojiLabel('🎉')).toBe('🎉');
    expect(parseEmojiToken(PARTY)).toEqual({ name: 'party_blob', ref: REF });
    expect(parseEmojiToken(`${PARTY} `)).toBeNull();
    expect(emojiToken('party_blob', REF)).toBe(PARTY);
    expect(emojiToken('Party', REF)).toBeNull();
    expect(emojiToken('party', 'x')).toBeNull();
    // The longest fits the 100 bytes of a reaction.
    expect(new TextEncoder().encode(emojiToken('x'.repeat(32), REF)!).length).toBeLessThanOrEqual(100);
  });
});

describe(':name: and <:name:ref>', () => {
  const custom = [emoji('party_blob'), emoji('cat', REF2)];

  it('sends the community emoji in their wire form, and nothing else', () => {
    expect(toWire('so :party_blob: and :cat:!', custom)).toBe(`so ${PARTY} and <:cat:${REF2}>!`);
    expect(toWire(':party_blob::cat:', custom)).toBe(`${PARTY}<:cat:${REF2}>`);
    expect(toWire(':unknown: :Cat: 10:30 :c:', custom)).toBe(':unknown: :Cat: 10:30 :c:');
    expect(toWire(':cat:', [])).toBe(':cat:');
  });

  it('does not convert inside code spans and fenced blocks, nor inside a wire form already there', () => {
    expect(toWire('`:cat:` :cat: ``a :cat: b``', custom)).toBe(`\`:cat:\` <:cat:${REF2}> \`\`a :cat: b\`\``);
    expect(toWire('```\n:cat:\n```\n:cat:', custom)).toBe(`\`\`\`\n:cat:\n\`\`\`\n<:cat:${REF2}>`);
    expect(toWire('~~~js\n:cat:\n', custom)).toBe('~~~js\n:cat:\n');
    expect(toWire('\\`:cat:\\`', custom)).toBe(`\\\`<:cat:${REF2}>\\\``);
    expect(toWire('an `open :cat:', custom)).toBe(`an \`open <:cat:${REF2}>`);
    // A code span does not reach over a blank line (nor does the parser's).
    expect(toWire('`a\n\n:cat: `', custom)).toBe(`\`a\n\n<:cat:${REF2}> \``);
    expect(toWire(`<:party_blob:${REF2}> :party_blob:`, custom)).toBe(`<:party_blob:${REF2}> ${PARTY}`);
    // What is sent renders as what was typed.
    const root = html(toWire('`:cat:` :cat:', custom));
    expect(root.querySelector('code')!.textContent).toBe(':cat:');
    expect(root.querySelector('img')!.getAttribute('alt')).toBe(':cat:');
  });

  it('edits with :name: where the community still has that emoji with that picture', () => {
    expect(fromWire(`so ${PARTY} <:cat:${REF}> \`${PARTY}\``, custom)).toBe(`so :party_blob: <:cat:${REF}> \`${PARTY}\``);
    const text = 'a :party_blob: b `:cat:` :cat:';
    expect(fromWire(toWire(text, custom), custom)).toBe(text);
  });
});

describe('naming a custom emoji', () => {
  it('says what is wrong with a name, in words', () => {
    expect(checkEmojiName('party_blob')).toBeNull();
    expect(checkEmojiName('  ok ')).toBeNull();
    expect(checkEmojiName('')).toMatch(/Enter a name/);
    expect(checkEmojiName('a')).toMatch(/2 to 32/);
    expect(checkEmojiName('a'.repeat(33))).toMatch(/2 to 32/);
    expect(checkEmojiName('Party')).toMatch(/lowercase letters only/);
    expect(checkEmojiName('party blob')).toMatch(/no spaces/);
    expect(checkEmojiName('party-blob')).toMatch(/only lowercase letters a–z, digits 0–9 and _/);
    expect(checkEmojiName('café')).toMatch(/only lowercase/);
    expect(checkEmojiName('cat', ['cat', 'dog'])).toBe('This community has an emoji called :cat: already.');
  });

  it('starts from the file name', () => {
    expect(nameFromFile('Party Blob (2).PNG')).toBe('party_blob_2');
    expect(nameFromFile('x.png')).toBe('');
    expect(nameFromFile('ünï.gif')).toBe('');
    expect(nameFromFile('ünïcorn.gif')).toBe('n_corn');
    expect(nameFromFile(`${'a'.repeat(40)}.webp`)).toBe('a'.repeat(32));
  });
});

describe('emoji suggestions', () => {
  const names = (list: EmojiChoice[]) => list.map((c) => (c.kind === 'custom' ? `c:${c.name}` : c.name));

  it('puts the community emoji first, then the standard ones, best match first, at most 8', () => {
    const custom = [emoji('myparty'), emoji('partyparrot'), emoji('party'), emoji('big_party'), emoji('cat')];
    const got = searchEmoji('party', custom, STANDARD_EMOJI);
    expect(got).toHaveLength(6);
    // The name itself, then names starting with it, then a word of a name, then inside one.
    expect(names(got).slice(0, 4)).toEqual(['c:party', 'c:partyparrot', 'c:big_party', 'c:myparty']);
    expect(got.slice(4).every((c) => c.kind === 'standard')).toBe(true);
    // 🥳 is called party too, 🎉 party_popper.
    expect(names(got).slice(4)).toEqual(['party', 'party_popper']);
    expect(searchEmoji('face', custom, STANDARD_EMOJI)).toHaveLength(8);
    // Many custom matches fill the eight alone.
    const many = Array.from({ length: 12 }, (_, i) => emoji(`party${i}`));
    expect(searchEmoji('party', many, STANDARD_EMOJI).every((c) => c.kind === 'custom')).toBe(true);
    expect(searchEmoji('zzzz_nothing', custom, STANDARD_EMOJI)).toEqual([]);
  });

  it('names a standard emoji by its best-matching name, and finds shortcodes', () => {
    expect(searchEmoji('+1', [], STANDARD_EMOJI)[0]).toEqual({ kind: 'standard', char: '👍', name: '+1' });
    expect(searchEmoji('tada', [], STANDARD_EMOJI)[0]).toEqual({ kind: 'standard', char: '🎉', name: 'tada' });
    expect(searchEmoji('thumbs', [], STANDARD_EMOJI).map((c) => (c.kind === 'standard' ? c.char : '')).slice(0, 2)).toEqual(['👍', '👎']);
    expect(searchEmoji(':HEART:', [], STANDARD_EMOJI)[0]).toMatchObject({ char: '❤️', name: 'heart' });
    // Two letters match names and their words, not the middle of names.
    expect(searchEmoji('at', [], STANDARD_EMOJI).every((c) => c.kind === 'standard' && /(^|_)at/.test(c.name))).toBe(true);
  });

  it('start after a colon and two characters, not in times or words, and not once closed', () => {
    expect(emojiQuery(':pa', 3)).toEqual({ start: 0, end: 3, query: 'pa' });
    expect(emojiQuery('hi :Part', 8)).toEqual({ start: 3, end: 8, query: 'part' });
    expect(emojiQuery('hi (:+1', 7)).toEqual({ start: 4, end: 7, query: '+1' });
    expect(emojiQuery('a :par b', 6)).toEqual({ start: 2, end: 6, query: 'par' });
    expect(emojiQuery('a :partly', 6)).toEqual({ start: 2, end: 9, query: 'par' });
    expect(emojiQuery(':p', 2)).toBeNull();
    expect(emojiQuery('at 10:30', 8)).toBeNull();
    expect(emojiQuery('word:smile', 10)).toBeNull();
    expect(emojiQuery(':smile:', 7)).toBeNull();
    expect(emojiQuery(':smile: x', 6)).toBeNull();
    expect(emojiQuery(': smile', 7)).toBeNull();
  });
});

describe('the standard set', () => {
  it('holds a few hundred well-formed emoji, each once, with names of their own', () => {
    const rgi = new RegExp('^\\p{RGI_Emoji}$', 'v');
    expect(STANDARD_EMOJI.length).toBeGreaterThan(300);
    expect(STANDARD_EMOJI.length).toBeLessThan(1000);
    const chars = new Set<string>();
    const seen = new Set<string>();
    for (const e of STANDARD_EMOJI) {
      expect(rgi.test(e.char), `${e.char} (${e.names[0]})`).toBe(true);
      expect(chars.has(e.char), e.char).toBe(false);
      chars.add(e.char);
      for (const n of e.names) {
        expect(n, e.char).toMatch(/^[a-z0-9_+-]{2,32}$/);
        expect(seen.has(n), n).toBe(false);
        seen.add(n);
      }
    }
    for (const c of ['people', 'nature', 'food', 'activities', 'travel', 'objects', 'symbols', 'flags']) {
      expect(STANDARD_EMOJI.filter((e) => e.category === c).length, c).toBeGreaterThan(20);
    }
  });
});

describe('the custom emoji routes of the API client', () => {
  it('lists, adds and removes a community emoji', async () => {
    const server = new FakeServer();
    const store = new MemoryStore();
    await store.put<StoredSession>('auth', 'session', { user_id: ME.id, username: 'alice', session_id: 'session-1', refresh_token: 'refresh-0' });
    server.on('POST', '/sessions/refresh', () => ({ status: 200, body: pair(1, Date.now()) }));
    server.on('GET', '/communities/c1/emoji', { status: 200, body: [emoji('cat')] });
    server.on('POST', '/communities/c1/emoji', (call) => ({ status: 201, body: { ...emoji('dog'), ...(call.body as object) } }));
    server.on('DELETE', '/communities/c1/emoji/e-dog', { status: 204 });
    server.on('POST', '/communities/c2/emoji', { status: 409, body: { code: 'conflict', message: 'the name is taken' } });
    const api = new ApiClient({ store, fetch: server.fetch });
    expect(await api.listEmoji('c1')).toEqual([emoji('cat')]);
    expect((await api.createEmoji('c1', { name: 'dog', image_ref: REF2 })).image_ref).toBe(REF2);
    await api.deleteEmoji('c1', 'e-dog');
    await expect(api.createEmoji('c2', { name: 'cat', image_ref: REF })).rejects.toMatchObject({ code: 'conflict', status: 409 });
    const calls = server.calls.filter((c) => c.path.includes('/emoji')).map((c) => [c.method, c.path, c.body, c.auth]);
    expect(calls).toEqual([
      ['GET', '/communities/c1/emoji', undefined, 'Bearer access-1'],
      ['POST', '/communities/c1/emoji', { name: 'dog', image_ref: REF2 }, 'Bearer access-1'],
      ['DELETE', '/communities/c1/emoji/e-dog', undefined, 'Bearer access-1'],
      ['POST', '/communities/c2/emoji', { name: 'cat', image_ref: REF }, 'Bearer access-1'],
    ]);
  });
});

describe('the custom emoji in the chat store', () => {
  it('loads a community list, takes each emoji_changed whole, keeps only well-formed ones, and forgets it with the community', async () => {
    const answer: CustomEmoji[] = [emoji('zebra'), emoji('cat')];
    let asked = 0;
    const { chat, ws } = await chatStore([channel('p1')], {}, {
      listEmoji: async (id: string) => {
        asked++;
        expect(id).toBe('c1');
        return answer;
      },
    });
    expect(chat.emojiFor('p1')).toEqual([]);
    await chat.loadEmoji('c1');
    expect(chat.emojiOf('c1').map((e) => e.name)).toEqual(['cat', 'zebra']);
    expect(chat.emojiFor('p1')).toHaveLength(2);

    ws.receive({
      type: 'emoji_changed',
      community_id: 'c1',
      emoji: [emoji('party_blob'), emoji('Bad Name'), emoji('noref', 'x'.repeat(64)), emoji('other', REF, 'e9', 'c2')],
    });
    expect(chat.emojiOf('c1').map((e) => e.name)).toEqual(['party_blob']);
    // A community not listed here is not kept.
    ws.receive({ type: 'emoji_changed', community_id: 'c9', emoji: [emoji('x1', REF, 'e1', 'c9')] });
    expect(chat.emojiOf('c9')).toEqual([]);
    // At most 100.
    ws.receive({ type: 'emoji_changed', community_id: 'c1', emoji: Array.from({ length: 130 }, (_, i) => emoji(`e${String(i).padStart(3, '0')}`, REF, `id${i}`)) });
    expect(chat.emojiOf('c1')).toHaveLength(100);

    // Added and removed here: at once, whichever of the answer and the frame comes first.
    chat.setEmoji('c1', [emoji('cat')]);
    chat.mergeEmoji(emoji('dog', REF2));
    chat.mergeEmoji(emoji('dog', REF2));
    expect(chat.emojiOf('c1').map((e) => e.name)).toEqual(['cat', 'dog']);
    chat.dropEmoji('c1', 'e-cat');
    expect(chat.emojiOf('c1').map((e) => e.name)).toEqual(['dog']);

    chat.dropCommunity('c1');
    expect(chat.emojiOf('c1')).toEqual([]);
    expect(asked).toBe(1);
    chat.stop();
  });

  it('adds and removes through the administration store, the list following at once (a removal found done counts)', async () => {
    const { chat, admin } = await chatStore([channel('p1')], {}, {
      listEmoji: async () => [],
      createEmoji: async (_c: string, req: { name: string; image_ref: string }) => emoji(req.name, req.image_ref),
      deleteEmoji: async (_c: string, id: string) => {
        if (id === 'e-gone') throw new ApiError('not_found', 'no such emoji', 404);
        if (id === 'e-cat') throw new ApiError('forbidden', 'admins only', 403);
      },
    });
    await chat.loadEmoji('c1');
    await admin.createEmoji('c1', 'cat', REF);
    await admin.createEmoji('c1', 'gone', REF2);
    expect(chat.emojiOf('c1').map((e) => e.name)).toEqual(['cat', 'gone']);
    await admin.deleteEmoji('c1', 'e-gone');
    await expect(admin.deleteEmoji('c1', 'e-cat')).rejects.toMatchObject({ code: 'forbidden' });
    expect(chat.emojiOf('c1').map((e) => e.name)).toEqual(['cat']);
    chat.stop();
  });

  it('reloads the lists it holds after a reconnect', async () => {
    let answer: CustomEmoji[] = [emoji('cat')];
    const { chat, ws } = await chatStore([channel('p1')], {}, { listEmoji: async () => answer });
    await chat.loadEmoji('c1');
    answer = [emoji('after')];
    // A second `ready` on the same connection stands for a reconnect.
    ws.receive(READY);
    await flush();
    await flush();
    expect(chat.emojiOf('c1').map((e) => e.name)).toEqual(['after']);
    chat.stop();
  });
});
