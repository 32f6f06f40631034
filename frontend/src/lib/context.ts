import { getContext, setContext } from 'svelte';
import type { SessionStore } from './stores/session.svelte';
import type { PrefsStore } from './stores/prefs.svelte';
import type { E2e } from './e2e/engine.svelte';

export interface AppContext {
  session: SessionStore;
  prefs: PrefsStore;
  /** The end-to-end keystore and engine; absent where no keys are kept (some unit tests). */
  e2e?: E2e;
}

const KEY = Symbol('app');

export function setApp(ctx: AppContext): void {
  setContext(KEY, ctx);
}

export function getApp(): AppContext {
  return getContext<AppContext>(KEY);
}
