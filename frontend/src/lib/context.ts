import { getContext, setContext } from 'svelte';
import type { SessionStore } from './stores/session.svelte';
import type { PrefsStore } from './stores/prefs.svelte';

export interface AppContext {
  session: SessionStore;
  prefs: PrefsStore;
}

const KEY = Symbol('app');

export function setApp(ctx: AppContext): void {
  setContext(KEY, ctx);
}

export function getApp(): AppContext {
  return getContext<AppContext>(KEY);
}
