import { describe, expect, it } from 'vitest';
import { parseRoute, isPublic } from '../../src/lib/stores/router.svelte';
import { describeBrowser } from '../../src/lib/device';
import { describeError } from '../../src/lib/errors';
import { ApiError } from '../../src/lib/api/client';
import { MemoryStore } from '../../src/lib/storage/kv';

describe('routes', () => {
  it('parses paths', () => {
    expect(parseRoute('/')).toEqual({ name: 'home' });
    expect(parseRoute('/login/')).toEqual({ name: 'login' });
    expect(parseRoute('/settings')).toEqual({ name: 'settings', section: 'account' });
    expect(parseRoute('/settings/sessions')).toEqual({ name: 'settings', section: 'sessions' });
    expect(parseRoute('/settings/nope')).toEqual({ name: 'not_found' });
    expect(parseRoute('/x')).toEqual({ name: 'not_found' });
    expect(isPublic(parseRoute('/recover'))).toBe(true);
    expect(isPublic(parseRoute('/settings'))).toBe(false);
  });
});

describe('device names', () => {
  it('names common browsers', () => {
    expect(
      describeBrowser('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0 Safari/537.36'),
    ).toBe('Chrome on Linux');
    expect(describeBrowser('Mozilla/5.0 (Windows NT 10.0; rv:140.0) Gecko/20100101 Firefox/140.0')).toBe('Firefox on Windows');
    expect(
      describeBrowser('Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile Safari/604.1'),
    ).toBe('Safari on iOS');
    expect(describeBrowser('curl/8')).toBe('Browser');
  });
});

describe('error messages', () => {
  it('explains codes and falls back to the API message', () => {
    expect(describeError(new ApiError('rate_limited', 'x', 429, 1))).toBe('Too many attempts. Try again in 1 second.');
    expect(describeError(new ApiError('rate_limited', 'x', 429, 30))).toMatch(/30 seconds/);
    expect(describeError(new ApiError('invalid_request', 'username: too short', 400))).toBe('username: too short');
    expect(describeError(new ApiError('invalid_totp', 'x', 403))).toMatch(/code is wrong/);
    expect(describeError(new Error('boom'))).toBe('Something went wrong.');
  });
});

describe('memory store', () => {
  it('stores copies, per store', async () => {
    const s = new MemoryStore();
    const v = { a: 1 };
    await s.put('prefs', 'k', v);
    v.a = 2;
    expect(await s.get('prefs', 'k')).toEqual({ a: 1 });
    expect(await s.get('auth', 'k')).toBeUndefined();
    await s.delete('prefs', 'k');
    expect(await s.get('prefs', 'k')).toBeUndefined();
  });
});
