// Chat Markdown, parsed into a small tree that the Markdown component renders with Svelte's
// text interpolation and a fixed set of elements. Nothing here produces HTML: text that looks
// like HTML stays text, and the only attribute taken from input is a link's `href`, which must
// parse as an absolute http:, https: or mailto: URL (anything else is shown as plain text).
//
// Supported: paragraphs with line breaks, fenced code blocks (```), block quotes (>), bullet and
// numbered lists, headings (#, ##, ###), inline code, **bold**, *italic* / _italic_,
// ~~strikethrough~~, [text](url) and bare http(s) URLs, backslash escapes, and custom emoji in
// their wire form `<:name:ref>` (a name of `a-z0-9_` and an image reference of 64 lowercase hex
// digits, nothing else: the image is shown from the reference, never from an address in the text).

export type Inline =
  | { t: 'text'; v: string }
  | { t: 'code'; v: string }
  | { t: 'strong'; c: Inline[] }
  | { t: 'em'; c: Inline[] }
  | { t: 'del'; c: Inline[] }
  | { t: 'link'; href: string; c: Inline[] }
  | { t: 'emoji'; name: string; ref: string }
  | { t: 'br' };

export type Block =
  | { t: 'p'; c: Inline[] }
  | { t: 'h'; level: 1 | 2 | 3; c: Inline[] }
  | { t: 'pre'; lang: string; v: string }
  | { t: 'quote'; c: Block[] }
  | { t: 'list'; ordered: boolean; start: number; items: Inline[][] };

const MAX_DEPTH = 6;
const ALLOWED_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/** The URL to link to, or null when it is not an absolute http(s)/mailto URL. */
export function safeUrl(raw: string): string | null {
  const s = raw.trim();
  // Reject control characters and whitespace outright (browsers strip some of them).
  if (!s || /[\u0000-\u0020\u007f-\u009f]/.test(s)) return null;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return null;
  }
  if (!ALLOWED_PROTOCOLS.has(u.protocol)) return null;
  if (u.protocol !== 'mailto:' && !u.hostname) return null;
  return u.href;
}

const ESCAPABLE = /[\\`*_~[\]()<>#>|!.+-]/;
const WORD = /[\p{L}\p{N}]/u;
/** A custom emoji at the position it is tried at (`lastIndex`): `<:name:ref>`. */
const EMOJI = /<:([a-z0-9_]{2,32}):([0-9a-f]{64})>/y;

function parseInline(s: string, depth = 0): Inline[] {
  const out: Inline[] = [];
  let text = '';
  const flush = () => {
    if (text) out.push({ t: 'text', v: text });
    text = '';
  };
  let i = 0;
  outer: while (i < s.length) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length && ESCAPABLE.test(s[i + 1]!)) {
      text += s[i + 1];
      i += 2;
      continue;
    }
    if (ch === '\n') {
      flush();
      out.push({ t: 'br' });
      i += 1;
      continue;
    }
    if (ch === '`') {
      let ticks = 1;
      while (s[i + ticks] === '`') ticks++;
      const fence = '`'.repeat(ticks);
      const j = s.indexOf(fence, i + ticks);
      if (j > i + ticks) {
        flush();
        out.push({ t: 'code', v: s.slice(i + ticks, j) });
        i = j + ticks;
        continue;
      }
      text += fence;
      i += ticks;
      continue;
    }
    if (depth < MAX_DEPTH) {
      for (const [delim, kind] of [
        ['**', 'strong'],
        ['__', 'strong'],
        ['~~', 'del'],
        ['*', 'em'],
        ['_', 'em'],
      ] as const) {
        if (!s.startsWith(delim, i)) continue;
        const after = s[i + delim.length];
        if (after === undefined || /\s/.test(after)) continue;
        // Underscores inside words (snake_case) are text.
        if (delim[0] === '_' && i > 0 && WORD.test(s[i - 1]!)) continue;
        let j = s.indexOf(delim, i + delim.length);
        while (j > 0) {
          const before = s[j - 1]!;
          const next = s[j + delim.length];
          const okClose =
            !/\s/.test(before) &&
            !(delim.length === 1 && next === delim) &&
            !(delim[0] === '_' && next !== undefined && WORD.test(next));
          if (okClose && j > i + delim.length && !inEmoji(s, j)) break;
          j = s.indexOf(delim, j + 1);
        }
        if (j < 0) continue;
        flush();
        out.push({ t: kind, c: parseInline(s.slice(i + delim.length, j), depth + 1) });
        i = j + delim.length;
        continue outer;
      }
    }
    if (ch === '<') {
      EMOJI.lastIndex = i;
      const m = EMOJI.exec(s);
      if (m) {
        flush();
        out.push({ t: 'emoji', name: m[1]!, ref: m[2]! });
        i += m[0].length;
        continue;
      }
    }
    if (ch === '[') {
      const close = findClose(s, i);
      if (close > 0 && s[close + 1] === '(') {
        const end = s.indexOf(')', close + 2);
        if (end > 0) {
          const href = safeUrl(s.slice(close + 2, end));
          if (href) {
            flush();
            const label = s.slice(i + 1, close);
            out.push({ t: 'link', href, c: depth < MAX_DEPTH ? parseInline(label, depth + 1) : [{ t: 'text', v: label }] });
            i = end + 1;
            continue;
          }
        }
      }
    }
    if ((ch === 'h' || ch === 'H') && (i === 0 || !WORD.test(s[i - 1]!))) {
      const m = /^https?:\/\/[^\s<>"]+/i.exec(s.slice(i));
      if (m) {
        let url = m[0];
        // Trailing punctuation belongs to the sentence; a closing bracket only if unbalanced.
        while (/[.,;:!?'"*_~]$/.test(url) || (url.endsWith(')') && count(url, '(') < count(url, ')'))) {
          url = url.slice(0, -1);
        }
        const href = safeUrl(url);
        if (href) {
          flush();
          out.push({ t: 'link', href, c: [{ t: 'text', v: url }] });
          i += url.length;
          continue;
        }
      }
    }
    text += ch;
    i += 1;
  }
  flush();
  return out;
}

/** Whether position `j` is inside a custom emoji (whose name may hold `_`). */
function inEmoji(s: string, j: number): boolean {
  const from = s.lastIndexOf('<:', j);
  if (from < 0 || j - from > 36) return false;
  EMOJI.lastIndex = from;
  const m = EMOJI.exec(s);
  return m !== null && j < from + m[0].length;
}

function count(s: string, c: string): number {
  let n = 0;
  for (const x of s) if (x === c) n++;
  return n;
}

/** Index of the `]` closing the `[` at `open`, or -1. */
function findClose(s: string, open: number): number {
  let depth = 0;
  for (let j = open; j < s.length; j++) {
    if (s[j] === '\\') {
      j++;
      continue;
    }
    if (s[j] === '[') depth++;
    else if (s[j] === ']' && --depth === 0) return j;
    else if (s[j] === '\n') return -1;
  }
  return -1;
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const HEADING = /^\s{0,3}(#{1,3})\s+(.*?)\s*#*\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

function parseBlocks(lines: string[], depth: number): Block[] {
  const blocks: Block[] = [];
  let para: string[] = [];
  const endPara = () => {
    if (para.length) blocks.push({ t: 'p', c: parseInline(para.join('\n')) });
    para = [];
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const fence = FENCE.exec(line);
    if (fence) {
      endPara();
      const marker = fence[1]!;
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i]!.trimStart().startsWith(marker)) body.push(lines[i++]!);
      i++; // the closing fence (or the end)
      blocks.push({ t: 'pre', lang: fence[2] ?? '', v: body.join('\n') });
      continue;
    }
    if (!line.trim()) {
      endPara();
      i++;
      continue;
    }
    const quote = QUOTE.exec(line);
    if (quote && depth < MAX_DEPTH) {
      endPara();
      const inner: string[] = [];
      while (i < lines.length) {
        const q = QUOTE.exec(lines[i]!);
        if (!q) break;
        inner.push(q[1]!);
        i++;
      }
      blocks.push({ t: 'quote', c: parseBlocks(inner, depth + 1) });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      endPara();
      blocks.push({ t: 'h', level: heading[1]!.length as 1 | 2 | 3, c: parseInline(heading[2]!) });
      i++;
      continue;
    }
    const bullet = BULLET.exec(line);
    const numbered = NUMBERED.exec(line);
    if (bullet || numbered) {
      endPara();
      const ordered = !bullet;
      const items: Inline[][] = [];
      const start = numbered ? Math.min(Number(numbered[1]), 1_000_000) : 1;
      while (i < lines.length) {
        const b = ordered ? NUMBERED.exec(lines[i]!) : BULLET.exec(lines[i]!);
        if (!b) break;
        items.push(parseInline(ordered ? b[2]! : b[1]!));
        i++;
      }
      blocks.push({ t: 'list', ordered, start, items });
      continue;
    }
    para.push(line);
    i++;
  }
  endPara();
  return blocks;
}

/** Parses a message body. */
export function parseMarkdown(source: string): Block[] {
  return parseBlocks(source.replace(/\r\n?/g, '\n').split('\n'), 0);
}

/** The text of a message without markup, for previews (replies) and labels; custom emoji as `:name:`. */
export function plainText(source: string): string {
  const walk = (nodes: Inline[]): string =>
    nodes
      .map((n) => (n.t === 'text' || n.t === 'code' ? n.v : n.t === 'br' ? ' ' : n.t === 'emoji' ? `:${n.name}:` : walk(n.c)))
      .join('');
  const blocks = (bs: Block[]): string =>
    bs
      .map((b) =>
        b.t === 'pre' ? b.v : b.t === 'quote' ? blocks(b.c) : b.t === 'list' ? b.items.map(walk).join(' ') : walk(b.c),
      )
      .join(' ');
  return blocks(parseMarkdown(source)).replace(/\s+/g, ' ').trim();
}
