// Emoji in messages and reactions. A community's custom emoji is written `:name:` by people and
// carried as `<:name:ref>` (its image's reference), so that any reader, in a DM or an end-to-end
// channel too, shows it from the public image without knowing the community (docs/api.md
// "Custom emoji"). Here: the names and the wire form, the conversion between what the composer
// holds and what is sent, the `:` suggestions and the search of the picker.

import type { CustomEmoji } from '../api/types';
import { isImageRef } from '../images';

/** A custom emoji's name: 2 to 32 of `a-z`, `0-9` and `_` (the server's rule). */
export const EMOJI_NAME = /^[a-z0-9_]{2,32}$/;
/** The most custom emoji a community may have. */
export const EMOJI_PER_COMMUNITY = 100;
/** The wire form of a custom emoji: `<:name:ref>`, the reference 64 lowercase hex digits. */
const TOKEN = /^<:([a-z0-9_]{2,32}):([0-9a-f]{64})>$/;
const TOKEN_SOURCE = '<:[a-z0-9_]{2,32}:[0-9a-f]{64}>';

export interface EmojiToken {
  name: string;
  ref: string;
}

export function isEmojiName(name: string): boolean {
  return EMOJI_NAME.test(name);
}

/** `<:name:ref>`, or null when the name or the reference is not one. */
export function emojiToken(name: string, ref: string): string | null {
  return isEmojiName(name) && isImageRef(ref) ? `<:${name}:${ref}>` : null;
}

/** The name and reference of a `<:name:ref>` (a whole reaction string), or null. */
export function parseEmojiToken(s: string): EmojiToken | null {
  const m = TOKEN.exec(s);
  return m ? { name: m[1]!, ref: m[2]! } : null;
}

/** What a reaction or an emoji is called for people: `:name:` for a custom one, else itself. */
export function emojiLabel(emoji: string): string {
  const t = parseEmojiToken(emoji);
  return t ? `:${t.name}:` : emoji;
}

/**
 * What is wrong with a new custom emoji's name, or null: the server's rule said in words, and a
 * name the community uses already (`taken`).
 */
export function checkEmojiName(raw: string, taken: readonly string[] = []): string | null {
  const name = raw.trim();
  if (!name) return 'Enter a name for the emoji.';
  if (/\s/.test(name)) return 'Use no spaces: join words with _ (party_cat).';
  if (/[A-Z]/.test(name) && EMOJI_NAME.test(name.toLowerCase())) return 'Use lowercase letters only (a–z).';
  if (!/^[a-z0-9_]*$/.test(name)) return 'Use only lowercase letters a–z, digits 0–9 and _.';
  if (name.length < 2 || name.length > 32) return 'Use 2 to 32 characters.';
  if (taken.includes(name)) return `This community has an emoji called :${name}: already.`;
  return null;
}

/** A name to start from for an image file: its name lower-cased, other signs as `_` (or ''). */
export function nameFromFile(fileName: string): string {
  const base = fileName.replace(/\.[a-z0-9]{1,5}$/i, '').toLowerCase();
  const name = base.replace(/[^a-z0-9_]+/g, '_').replace(/_+/g, '_').replace(/^_|_$/g, '').slice(0, 32).replace(/_$/, '');
  return EMOJI_NAME.test(name) ? name : '';
}

// ---- the text outside code

/** A line that opens a fenced code block, as the Markdown parser reads it. */
const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)\s*$/;
/** Characters a backslash escapes in chat Markdown (parse.ts). */
const ESCAPABLE = /[\\`*_~[\]()<>#>|!.+-]/;

/**
 * Applies `fn` to the parts of a message's text that are not code: fenced blocks are kept as
 * they are, and so are code spans (read as the Markdown parser reads them, a paragraph at a
 * time).
 */
export function outsideCode(text: string, fn: (s: string) => string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let para: string[] = [];
  const endPara = () => {
    if (para.length) out.push(outsideSpans(para.join('\n'), fn));
    para = [];
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const fence = FENCE.exec(line);
    if (fence) {
      endPara();
      const marker = fence[1]!;
      const block = [line];
      i++;
      while (i < lines.length && !lines[i]!.trimStart().startsWith(marker)) block.push(lines[i++]!);
      if (i < lines.length) block.push(lines[i++]!);
      out.push(block.join('\n'));
      continue;
    }
    if (!line.trim()) {
      endPara();
      out.push(line);
      i++;
      continue;
    }
    para.push(line);
    i++;
  }
  endPara();
  return out.join('\n');
}

function outsideSpans(s: string, fn: (s: string) => string): string {
  let out = '';
  let plain = '';
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length && ESCAPABLE.test(s[i + 1]!)) {
      plain += s.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (ch === '`') {
      let ticks = 1;
      while (s[i + ticks] === '`') ticks++;
      const fence = '`'.repeat(ticks);
      const j = s.indexOf(fence, i + ticks);
      if (j > i + ticks) {
        out += fn(plain) + s.slice(i, j + ticks);
        plain = '';
        i = j + ticks;
        continue;
      }
      plain += fence;
      i += ticks;
      continue;
    }
    plain += ch;
    i++;
  }
  return out + fn(plain);
}

/**
 * The text to send: every `:name:` of one of the community's custom emoji becomes
 * `<:name:ref>`, outside code (an emoji already in its wire form stays as it is).
 */
export function toWire(text: string, custom: readonly CustomEmoji[]): string {
  if (!custom.length || !text.includes(':')) return text;
  const refs = new Map(custom.filter((e) => isEmojiName(e.name) && isImageRef(e.image_ref)).map((e) => [e.name, e.image_ref]));
  const re = new RegExp(`${TOKEN_SOURCE}|:([a-z0-9_]{2,32}):`, 'g');
  return outsideCode(text, (s) => s.replace(re, (m, name: string | undefined) => (name && refs.has(name) ? `<:${name}:${refs.get(name)}>` : m)));
}

/**
 * The text to edit: `<:name:ref>` shown as `:name:` where the community's emoji of that name
 * has that image (so that sending it again gives the same); others stay in their wire form.
 */
export function fromWire(text: string, custom: readonly CustomEmoji[]): string {
  if (!custom.length || !text.includes('<:')) return text;
  const refs = new Map(custom.map((e) => [e.name, e.image_ref]));
  const re = new RegExp(TOKEN_SOURCE, 'g');
  return outsideCode(text, (s) =>
    s.replace(re, (m) => {
      const t = parseEmojiToken(m)!;
      return refs.get(t.name) === t.ref ? `:${t.name}:` : m;
    }),
  );
}

// ---- the standard set

export type EmojiCategory = 'people' | 'nature' | 'food' | 'activities' | 'travel' | 'objects' | 'symbols' | 'flags';

export interface StandardEmoji {
  /** The emoji itself, as a message carries it. */
  char: string;
  /** Its names, the descriptive one first: `a-z`, `0-9`, `_`, `+`, `-`. */
  names: string[];
  category: EmojiCategory;
}

/** The categories of the standard set in the picker's order, with their labels and the emoji on their tabs. */
export const CATEGORIES: readonly { id: EmojiCategory; label: string; icon: string }[] = [
  { id: 'people', label: 'Smileys and people', icon: '😀' },
  { id: 'nature', label: 'Animals and nature', icon: '🐶' },
  { id: 'food', label: 'Food and drink', icon: '🍔' },
  { id: 'activities', label: 'Activities', icon: '⚽' },
  { id: 'travel', label: 'Travel and places', icon: '🚗' },
  { id: 'objects', label: 'Objects', icon: '💡' },
  { id: 'symbols', label: 'Symbols', icon: '❤️' },
  { id: 'flags', label: 'Flags', icon: '🏁' },
];

let standard: Promise<readonly StandardEmoji[]> | null = null;

/** The standard emoji (`standard.ts`), loaded once, when first wanted. */
export function loadStandardEmoji(): Promise<readonly StandardEmoji[]> {
  standard ??= import('./standard').then(
    (m) => m.STANDARD_EMOJI,
    (e: unknown) => {
      standard = null;
      throw e;
    },
  );
  return standard;
}

// ---- suggestions and search

export type EmojiChoice =
  | { kind: 'custom'; name: string; ref: string }
  | { kind: 'standard'; char: string; name: string };

/** What choosing an emoji puts in the composer: the character, or `:name:` for a custom one. */
export function insertText(c: EmojiChoice): string {
  return c.kind === 'custom' ? `:${c.name}:` : c.char;
}

/** What choosing an emoji as a reaction sends: the character, or `<:name:ref>`. */
export function reactionText(c: EmojiChoice): string | null {
  return c.kind === 'custom' ? emojiToken(c.name, c.ref) : c.char;
}

/** A stable key of a choice (lists, active options). */
export function choiceKey(c: EmojiChoice): string {
  return c.kind === 'custom' ? `c:${c.name}` : `s:${c.char}`;
}

/**
 * How well `name` matches `q` (lower is better), or null: the name itself, a name starting with
 * it, a word of the name (after `_`) starting with it, or the name containing it.
 */
function score(name: string, q: string): number | null {
  if (name === q) return 0;
  if (name.startsWith(q)) return 1;
  if (name.split('_').some((w, i) => i > 0 && w.startsWith(q))) return 2;
  if (q.length >= 3 && name.includes(q)) return 3;
  return null;
}

type Ranked = { choice: EmojiChoice; score: number; name: string; order: number };

function byRank(a: Ranked, b: Ranked): number {
  return a.score - b.score || a.name.length - b.name.length || a.order - b.order;
}

/**
 * The emoji matching `query` (lower-cased, without colons): the community's custom emoji
 * first, then the standard ones, each by how well one of its names matches, shorter names
 * first; at most `limit`. A standard emoji is named by its best-matching name.
 */
export function searchEmoji(
  query: string,
  custom: readonly CustomEmoji[],
  standard: readonly StandardEmoji[],
  limit = 8,
): EmojiChoice[] {
  const q = query.trim().toLowerCase().replace(/^:|:$/g, '').replace(/\s+/g, '_');
  if (!q) return [];
  const mine: Ranked[] = [];
  custom.forEach((e, order) => {
    const s = score(e.name, q);
    if (s !== null && isImageRef(e.image_ref)) mine.push({ choice: { kind: 'custom', name: e.name, ref: e.image_ref }, score: s, name: e.name, order });
  });
  mine.sort(byRank);
  const out = mine.slice(0, limit).map((r) => r.choice);
  if (out.length >= limit) return out;
  const std: Ranked[] = [];
  standard.forEach((e, order) => {
    let best: { s: number; name: string } | null = null;
    for (const name of e.names) {
      const s = score(name, q);
      if (s !== null && (!best || s < best.s || (s === best.s && name.length < best.name.length))) best = { s, name };
    }
    if (best) std.push({ choice: { kind: 'standard', char: e.char, name: best.name }, score: best.s, name: best.name, order });
  });
  std.sort(byRank);
  return out.concat(std.slice(0, limit - out.length).map((r) => r.choice));
}

/** Where the `:` being typed starts and ends, and what follows it. */
export interface EmojiQuery {
  start: number;
  end: number;
  query: string;
}

/**
 * The emoji being typed at the caret: a `:` at the start or after a space or an opening
 * bracket, then at least two of `a-z`, `0-9`, `_`, `+`, `-` (any case) up to the caret, not
 * closed by another `:`. Null otherwise (a time like 10:30, a word:colon, a closed `:name:`).
 */
export function emojiQuery(text: string, caret: number): EmojiQuery | null {
  const before = text.slice(0, caret);
  const m = /(?:^|[\s([{"'])(:([a-zA-Z0-9_+-]{2,32}))$/.exec(before);
  if (!m) return null;
  const rest = /^[a-zA-Z0-9_+-]*/.exec(text.slice(caret))![0];
  if (text[caret + rest.length] === ':') return null;
  const start = caret - m[1]!.length;
  return { start, end: caret + rest.length, query: m[2]!.toLowerCase() };
}

// ---- messages of emoji only

/** What may stand between emoji in a message shown large: spaces and emoji joiners. */
const EMOJI_PARTS = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\u200d\ufe0f\u20e3\u{e0020}-\u{e007f}\s]/gu;
const PICTOGRAPH = /\p{Extended_Pictographic}|\p{Regional_Indicator}{2}/gu;
/** Messages of at most this many emoji (and nothing else) show them large. */
export const JUMBO_MAX = 27;

/**
 * Whether `text` (the text around custom emoji) is only standard emoji and spaces; the count of
 * emoji it holds, or -1 when it holds something else.
 */
export function standardEmojiCount(text: string): number {
  if (text.replace(EMOJI_PARTS, '') !== '') return -1;
  return text.match(PICTOGRAPH)?.length ?? 0;
}
