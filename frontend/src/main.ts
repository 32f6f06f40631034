import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { ApiClient } from './lib/api/client';
import { openStore } from './lib/storage/kv';
import { describeBrowser } from './lib/browserName';
import { SessionStore } from './lib/stores/session.svelte';
import { PrefsStore } from './lib/stores/prefs.svelte';
import { Keystore } from './lib/e2e/keystore';
import { E2e, KEYS_CHANNEL } from './lib/e2e/engine.svelte';
import { IdbWrapStore } from './lib/e2e/unlockWrap';
import { createChatStores } from './lib/chat/stores';
import { takeSetupToken } from './lib/setup';
import { router } from './lib/stores/router.svelte';

async function start(): Promise<void> {
  // The setup link of a fresh instance: its token leaves the address bar at once.
  const setupToken = takeSetupToken();
  const { store, persistent } = await openStore();
  const prefs = new PrefsStore(store);
  await prefs.load();
  const api = new ApiClient({ store, deviceName: describeBrowser(navigator.userAgent) });
  const session = new SessionStore(api);
  session.setupToken = setupToken;
  // The link opens the registration of the owner account.
  if (setupToken) router.navigate('/register', true);
  // The wrapped copy of the keystore's data key (reloads open the keys without the password)
  // needs IndexedDB: without it nothing is kept between visits anyway.
  const wraps = persistent && typeof crypto?.subtle !== 'undefined' ? new IdbWrapStore() : null;
  const e2e = new E2e(
    new Keystore(store, { wraps }),
    { api, deviceId: () => api.deviceId(), userId: () => session.me?.id ?? null },
    { channel: typeof BroadcastChannel === 'function' ? new BroadcastChannel(KEYS_CHANNEL) : null },
  );
  // Signing out here, or the server ending the session (revoked, expired), deletes every key
  // of this browser; the other tabs lock and sign out with it.
  session.onEnded = () => void e2e.erase().catch(() => {});
  const createChat = () => createChatStores({ api, e2e, me: () => session.me, e2eLinkPreviews: () => prefs.value.e2eLinkPreviews });
  const target = document.getElementById('app');
  if (!target) throw new Error('no #app element');
  mount(App, { target, props: { session, prefs, e2e, createChat } });
  performance.mark('chatalot:first-render');
  await Promise.all([session.loadInstance(), session.resume()]);
  performance.mark('chatalot:ready');
}

void start();
