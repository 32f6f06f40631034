import { describe, expect, it } from 'vitest';
import { parseRoute, isPublic } from '../../src/lib/stores/router.svelte';
import { describeBrowser } from '../../src/lib/browserName';
import { describeCode, describeError, frameErrorText } from '../../src/lib/errors';
import { takeSetupToken } from '../../src/lib/setup';
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

describe('error sentences of the newer codes', () => {
  it('gives each a plain sentence; quota_exceeded says which limit', () => {
    const say = (code: string, message = 'server words', status = 400) =>
      describeError(new ApiError(code as never, message, status));
    expect(say('busy', 'x', 503)).toBe('The server is busy right now. Try again in a moment.');
    expect(say('queue_full', 'recipient_device_id d: queue full', 507)).toMatch(/too many encrypted messages waiting.*nothing was sent/);
    expect(say('too_many_sessions', 'x', 429)).toMatch(/too many tabs or devices/);
    expect(say('invalid_setup_token', 'x', 403)).toMatch(/setup token is not valid.*owner already/);
    expect(say('quota_exceeded', 'communities: at most 100 per user', 403)).toBe(
      'You have reached a limit: communities: at most 100 per user',
    );
    expect(say('quota_exceeded', '', 403)).toMatch(/reached the most/);
    expect(say('storage_full', 'disk', 507)).toBe('The server’s storage is full, so nothing was stored. Try again later.');
    // None of them shows the server's own words (but quota_exceeded, which names the limit).
    for (const code of ['busy', 'queue_full', 'too_many_sessions', 'invalid_setup_token', 'storage_full']) {
      expect(say(code, 'server words')).not.toContain('server words');
    }
  });

  it('refused WebSocket frames keep the server words, but for the codes that only say "not now"', () => {
    expect(frameErrorText('slow_mode', 'slow mode: wait 4 s')).toBe('slow mode: wait 4 s');
    expect(frameErrorText('forbidden', 'the channel is archived')).toBe('the channel is archived');
    expect(frameErrorText('busy', 'the channel is busy; retry with the same nonce')).toBe(describeCode('busy', ''));
    expect(frameErrorText('storage_full', 'x')).toMatch(/storage is full/);
    expect(frameErrorText('quota_exceeded', 'messages: at most 10 pinned')).toBe('You have reached a limit: messages: at most 10 pinned');
  });
});

describe('the setup link', () => {
  it('reads the token of #setup= and removes the fragment from the address bar', () => {
    history.replaceState(null, '', '/?x=1#setup=7k2m-q9xd-4hpa-zr1t-8c3v-w5nb');
    expect(takeSetupToken()).toBe('7k2m-q9xd-4hpa-zr1t-8c3v-w5nb');
    expect(location.hash).toBe('');
    expect(location.pathname + location.search).toBe('/?x=1');
    expect(location.href.includes('setup')).toBe(false);
    // Read once: nothing left to read.
    expect(takeSetupToken()).toBeNull();
  });

  it('leaves other addresses alone', () => {
    history.replaceState(null, '', '/register#section');
    expect(takeSetupToken()).toBeNull();
    expect(location.hash).toBe('#section');
    history.replaceState(null, '', '/');
    expect(takeSetupToken()).toBeNull();
    // An empty token is removed from the address too, but is no token.
    const calls: string[] = [];
    const fake = { hash: '#setup=', pathname: '/', search: '' };
    expect(takeSetupToken(fake, { state: null, replaceState: (_s: unknown, _t: string, url?: string | URL | null) => calls.push(String(url)) })).toBeNull();
    expect(calls).toEqual(['/']);
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
