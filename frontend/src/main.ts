import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { ApiClient } from './lib/api/client';
import { openStore } from './lib/storage/kv';
import { describeBrowser } from './lib/browserName';
import { SessionStore } from './lib/stores/session.svelte';
import { PrefsStore } from './lib/stores/prefs.svelte';
import { Keystore } from './lib/e2e/keystore';
import { E2e } from './lib/e2e/engine.svelte';
import { createChatStores } from './lib/chat/stores';
import { takeSetupToken } from './lib/setup';
import { router } from './lib/stores/router.svelte';

async function start(): Promise<void> {
  // The setup link of a fresh instance: its token leaves the address bar at once.
  const setupToken = takeSetupToken();
  const { store } = await openStore();
  const prefs = new PrefsStore(store);
  await prefs.load();
  const api = new ApiClient({ store, deviceName: describeBrowser(navigator.userAgent) });
  const session = new SessionStore(api);
  session.setupToken = setupToken;
  // The link opens the registration of the owner account.
  if (setupToken) router.navigate('/register', true);
  const e2e = new E2e(new Keystore(store), { api, deviceId: () => api.deviceId() });
  const createChat = () => createChatStores({ api, e2e, me: () => session.me });
  const target = document.getElementById('app');
  if (!target) throw new Error('no #app element');
  mount(App, { target, props: { session, prefs, e2e, createChat } });
  performance.mark('chatalot:first-render');
  await Promise.all([session.loadInstance(), session.resume()]);
  performance.mark('chatalot:ready');
}

void start();
