import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render } from '@testing-library/svelte';
import Markdown from '../../src/lib/markdown/Markdown.svelte';
import { parseMarkdown, plainText, safeUrl } from '../../src/lib/markdown/parse';

afterEach(() => cleanup());

function html(source: string): HTMLElement {
  const { container } = render(Markdown, { props: { source } });
  return container.querySelector('.md')!;
}

const ALLOWED_TAGS = new Set(['DIV', 'P', 'BR', 'STRONG', 'EM', 'DEL', 'CODE', 'PRE', 'A', 'BLOCKQUOTE', 'UL', 'OL', 'LI']);
const ALLOWED_ATTRS = new Set(['class', 'href', 'target', 'rel', 'start']);

// Payloads from the usual XSS filter-evasion lists, aimed at HTML, URL and Markdown handling.
const HOSTILE = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '<svg/onload=alert(1)>',
  '<iframe src="javascript:alert(1)"></iframe>',
  '<a href="javascript:alert(1)">x</a>',
  '[x](javascript:alert(1))',
  '[x](JaVaScRiPt:alert(1))',
  '[x](javascript&colon;alert(1))',
  '[x](java\tscript:alert(1))',
  '[x](java\nscript:alert(1))',
  '[x]( javascript:alert(1))',
  '[x](\u0001javascript:alert(1))',
  '[x](vbscript:msgbox(1))',
  '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '[x](file:///etc/passwd)',
  '[x](//evil.example/)',
  '[x](/relative)',
  '[x](https://ok.example/" onmouseover="alert(1))',
  '[<img src=x onerror=alert(1)>](https://ok.example/)',
  '![img](javascript:alert(1))',
  '**<b onclick=alert(1)>b</b>**',
  '`<script>alert(1)</script>`',
  '```html\n<script>alert(1)</script>\n```',
  '> <style>body{display:none}</style>',
  '- <object data="x"></object>\n- <embed src=x>',
  '1. <form action=x><input autofocus onfocus=alert(1)>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '&lt;script&gt;alert(1)&lt;/script&gt;',
  '&#106;avascript:alert(1)',
  '<details open ontoggle=alert(1)>',
  '"><svg onload=alert(1)>',
  "'-alert(1)-'",
  '{@html "<img src=x onerror=alert(1)>"}',
  '<base href="javascript:/">',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  'https://ok.example/<script>alert(1)</script>',
  'http://ok.example/"onmouseover="alert(1)',
  '[a](https://ok.example/)[b](javascript:alert(1))',
  '*'.repeat(5000),
  '['.repeat(3000) + ']('.repeat(3000),
  '> '.repeat(200) + 'deep',
  // Look-alikes of a custom emoji (`<:name:ref>`) that are not one.
  '<:cat:javascript:alert(1)>',
  `<:cat:${'a'.repeat(64)}" onerror="alert(1)>`,
  `<:<img src=x onerror=alert(1)>:${'a'.repeat(64)}>`,
  `<:cat:${'a'.repeat(64)}/../../x>`,
];

function checkTree(root: HTMLElement, source: string) {
  for (const el of Array.from(root.querySelectorAll('*')).concat(root)) {
    expect(ALLOWED_TAGS.has(el.tagName), `${el.tagName} from ${JSON.stringify(source)}`).toBe(true);
    for (const a of Array.from(el.attributes)) {
      expect(ALLOWED_ATTRS.has(a.name), `${a.name} on ${el.tagName} from ${JSON.stringify(source)}`).toBe(true);
    }
    if (el.tagName === 'A') {
      const href = el.getAttribute('href') ?? '';
      expect(/^(https?:\/\/[^\s"<>]+|mailto:)/.test(href), `href ${href}`).toBe(true);
      expect(el.getAttribute('rel')).toBe('noopener noreferrer');
      expect(el.getAttribute('target')).toBe('_blank');
    }
  }
}

describe('markdown rendering', () => {
  it('renders the supported syntax with a fixed set of elements', () => {
    const root = html(
      '# Title\nHello **bold** *em* _em2_ ~~gone~~ `code` [link](https://example.org/a?b=1) and https://example.com/x.\n\n> quoted\n\n- one\n- two\n\n3. three\n4. four\n\n```js\nlet a = "<b>";\n```',
    );
    expect(root.querySelector('.md-h1')?.textContent).toBe('Title');
    expect(root.querySelector('strong')?.textContent).toBe('bold');
    expect(Array.from(root.querySelectorAll('em')).map((e) => e.textContent)).toEqual(['em', 'em2']);
    expect(root.querySelector('del')?.textContent).toBe('gone');
    expect(root.querySelector('p code')?.textContent).toBe('code');
    const links = Array.from(root.querySelectorAll('a')).map((a) => [a.textContent, a.getAttribute('href')]);
    expect(links).toEqual([
      ['link', 'https://example.org/a?b=1'],
      ['https://example.com/x', 'https://example.com/x'],
    ]);
    expect(root.querySelector('blockquote')?.textContent).toBe('quoted');
    expect(Array.from(root.querySelectorAll('ul li')).map((l) => l.textContent)).toEqual(['one', 'two']);
    expect(root.querySelector('ol')?.getAttribute('start')).toBe('3');
    expect(root.querySelector('pre code')?.textContent).toBe('let a = "<b>";');
    checkTree(root, 'sample');
  });

  it('keeps line breaks, snake_case, escapes and unclosed markers as text', () => {
    const root = html('line one\nline two snake_case_name \\*not em\\* 2 * 3 * 4 **open');
    expect(root.querySelectorAll('br').length).toBe(1);
    expect(root.querySelector('em')).toBeNull();
    expect(root.textContent).toBe('line oneline two snake_case_name *not em* 2 * 3 * 4 **open');
  });

  it.each(HOSTILE.map((s) => [s.length > 60 ? `${s.slice(0, 40)}… (${s.length} characters)` : s, s]))(
    'renders hostile input as inert text: %s',
    (_label, source) => {
    const root = html(source);
    checkTree(root, source);
    // Nothing was lost or turned into markup beyond the supported syntax: visible text keeps the payload.
    if (/<script>/.test(source) && !source.startsWith('https://')) expect(root.textContent).toContain('<script>');
    },
  );

  it('links only absolute http, https and mailto URLs', () => {
    expect(safeUrl('https://example.org/')).toBe('https://example.org/');
    expect(safeUrl('mailto:someone@example.org')).toBe('mailto:someone@example.org');
    for (const bad of ['javascript:alert(1)', ' javascript:x', 'data:text/html,x', '/x', '//x.example', 'http://', 'java\tscript:x', 'ftp://x.example/']) {
      expect(safeUrl(bad), bad).toBeNull();
    }
    const tree = parseMarkdown('[x](javascript:alert(1))');
    expect(tree).toEqual([{ t: 'p', c: [{ t: 'text', v: '[x](javascript:alert(1))' }] }]);
  });

  it('gives a plain-text preview', () => {
    expect(plainText('**Hello** _there_\n> see `code` [here](https://x.example/)')).toBe('Hello there see code here');
  });
});
