import { describe, expect, it } from 'vitest';
import { DEFAULT_PREFS, applyPrefs, formatDateTime, resolveTheme, sanitisePrefs } from '../../src/lib/prefs';
import { PrefsStore } from '../../src/lib/stores/prefs.svelte';
import { MemoryStore } from '../../src/lib/storage/kv';

describe('preferences', () => {
  it('sanitises whatever was stored', () => {
    expect(sanitisePrefs(undefined)).toEqual(DEFAULT_PREFS);
    expect(sanitisePrefs('junk')).toEqual(DEFAULT_PREFS);
    expect(
      sanitisePrefs({
        theme: 'dark',
        accent: '#ABCDEF',
        density: 'compact',
        fontSize: 18,
        clock: '12',
        linkPreviews: false,
        e2eLinkPreviews: true,
      }),
    ).toEqual({ theme: 'dark', accent: '#abcdef', density: 'compact', fontSize: 18, clock: '12', linkPreviews: false, e2eLinkPreviews: true });
    expect(
      sanitisePrefs({
        theme: 'neon',
        accent: 'red;background:url(x)',
        density: 1,
        fontSize: 99,
        clock: 24,
        linkPreviews: 'no',
        e2eLinkPreviews: 'yes',
      }),
    ).toEqual(DEFAULT_PREFS);
    // previews in encrypted conversations are off unless turned on
    expect(DEFAULT_PREFS.e2eLinkPreviews).toBe(false);
    expect(sanitisePrefs({ e2eLinkPreviews: 1 }).e2eLinkPreviews).toBe(false);
  });

  it('resolves the system theme', () => {
    expect(resolveTheme('system', true)).toBe('dark');
    expect(resolveTheme('system', false)).toBe('light');
    expect(resolveTheme('light', true)).toBe('light');
  });

  it('applies to the document root', () => {
    const root = document.createElement('html');
    applyPrefs({ theme: 'system', accent: '#0f8a7e', density: 'compact', fontSize: 18, clock: '24', linkPreviews: true, e2eLinkPreviews: false }, root, true);
    expect(root.dataset.theme).toBe('dark');
    expect(root.dataset.density).toBe('compact');
    expect(root.style.getPropertyValue('--accent')).toBe('#0f8a7e');
    expect(root.style.fontSize).toBe('18px');
  });

  it('formats times in 12 or 24 hours', () => {
    const iso = '2026-01-15T16:05:00Z';
    expect(formatDateTime(iso, '24', 'en-GB')).toMatch(/\d{2}:05/);
    expect(formatDateTime(iso, '12', 'en-US')).toMatch(/[AP]M/);
    expect(formatDateTime('not a date', '24')).toBe('not a date');
  });

  it('the store keeps preferences in the key-value store and reloads them', async () => {
    const kv = new MemoryStore();
    const a = new PrefsStore(kv);
    await a.load();
    expect(a.value).toEqual(DEFAULT_PREFS);
    await a.update({ theme: 'dark', fontSize: 20 });
    expect(document.documentElement.dataset.theme).toBe('dark');
    const b = new PrefsStore(kv);
    await b.load();
    expect(b.value).toMatchObject({ theme: 'dark', fontSize: 20 });
    await b.update({ fontSize: 13 }); // not offered: falls back to the default
    expect(b.value.fontSize).toBe(DEFAULT_PREFS.fontSize);
  });
});
