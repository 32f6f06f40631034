// Appearance preferences. They belong to this browser, not to the account, and are kept in
// IndexedDB (store `prefs`, key `appearance`).

export type Theme = 'system' | 'dark' | 'light';
export type Density = 'compact' | 'cozy' | 'comfortable';
export type Clock = '12' | '24';

export interface Prefs {
  theme: Theme;
  accent: string;
  density: Density;
  /** Base font size in CSS pixels. */
  fontSize: number;
  clock: Clock;
  /**
   * Show what a linked page says of itself under messages: fetched by the server in plaintext
   * channels, as its sender's browser put it inside the message in encrypted ones.
   */
  linkPreviews: boolean;
  /**
   * Add a link's preview to texts sent in end-to-end channels and DMs, asked of the server's
   * fetcher by this browser, which tells the server the address (docs/e2e.md 19.5). Off unless
   * turned on.
   */
  e2eLinkPreviews: boolean;
}

export const ACCENTS: readonly { name: string; value: string }[] = [
  { name: 'Blurple', value: '#5865f2' },
  { name: 'Teal', value: '#0f8a7e' },
  { name: 'Green', value: '#2f8f46' },
  { name: 'Amber', value: '#b8650a' },
  { name: 'Red', value: '#d0343c' },
  { name: 'Pink', value: '#c23a84' },
  { name: 'Purple', value: '#8142c8' },
];

export const FONT_SIZES = [12, 14, 15, 16, 18, 20] as const;

export const DEFAULT_PREFS: Prefs = {
  theme: 'system',
  accent: '#5865f2',
  density: 'cozy',
  fontSize: 15,
  clock: '24',
  linkPreviews: true,
  e2eLinkPreviews: false,
};

const pick = <T extends string>(v: unknown, allowed: readonly T[], fallback: T): T =>
  typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : fallback;

/** Accepts whatever was stored (older versions, tampering) and returns valid preferences. */
export function sanitisePrefs(raw: unknown): Prefs {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const accent =
    typeof r.accent === 'string' && /^#[0-9a-fA-F]{6}$/.test(r.accent) ? r.accent.toLowerCase() : DEFAULT_PREFS.accent;
  const fontSize =
    typeof r.fontSize === 'number' && (FONT_SIZES as readonly number[]).includes(r.fontSize)
      ? r.fontSize
      : DEFAULT_PREFS.fontSize;
  return {
    theme: pick(r.theme, ['system', 'dark', 'light'] as const, DEFAULT_PREFS.theme),
    accent,
    density: pick(r.density, ['compact', 'cozy', 'comfortable'] as const, DEFAULT_PREFS.density),
    fontSize,
    clock: pick(r.clock, ['12', '24'] as const, DEFAULT_PREFS.clock),
    linkPreviews: typeof r.linkPreviews === 'boolean' ? r.linkPreviews : DEFAULT_PREFS.linkPreviews,
    // only a stored `true` turns it on
    e2eLinkPreviews: r.e2eLinkPreviews === true,
  };
}

export function resolveTheme(theme: Theme, prefersDark: boolean): 'dark' | 'light' {
  return theme === 'system' ? (prefersDark ? 'dark' : 'light') : theme;
}

/** Sets the document's theme attributes and CSS variables. */
export function applyPrefs(p: Prefs, root: HTMLElement, prefersDark: boolean): void {
  root.dataset.theme = resolveTheme(p.theme, prefersDark);
  root.dataset.density = p.density;
  root.style.setProperty('--accent', p.accent);
  root.style.fontSize = `${p.fontSize}px`;
}

export function formatDateTime(iso: string, clock: Clock, locale?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    hourCycle: clock === '12' ? 'h12' : 'h23',
  }).format(d);
}

/** The time of day only, as the clock preference says. */
export function formatTime(iso: string, clock: Clock, locale?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit', hourCycle: clock === '12' ? 'h12' : 'h23' }).format(d);
}

/** A day for date separators: "Today", "Yesterday" or the full date. */
export function formatDay(iso: string, now: Date = new Date(), locale?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const start = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((start(now) - start(d)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return new Intl.DateTimeFormat(locale, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }).format(d);
}
