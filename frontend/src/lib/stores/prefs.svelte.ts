import type { KeyValueStore } from '../storage/kv';
import { DEFAULT_PREFS, applyPrefs, sanitisePrefs, type Prefs } from '../prefs';

const KEY = 'appearance';

/** The appearance preferences, applied to the document whenever they change. */
export class PrefsStore {
  value = $state<Prefs>({ ...DEFAULT_PREFS });
  private store: KeyValueStore;
  private media: MediaQueryList | null;

  constructor(store: KeyValueStore) {
    this.store = store;
    this.media = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
    this.media?.addEventListener('change', () => this.apply());
  }

  async load(): Promise<void> {
    try {
      this.value = sanitisePrefs(await this.store.get('prefs', KEY));
    } catch {
      this.value = { ...DEFAULT_PREFS };
    }
    this.apply();
  }

  async update(patch: Partial<Prefs>): Promise<void> {
    this.value = sanitisePrefs({ ...this.value, ...patch });
    this.apply();
    await this.store.put('prefs', KEY, $state.snapshot(this.value));
  }

  apply(): void {
    if (typeof document === 'undefined') return;
    applyPrefs(this.value, document.documentElement, this.media?.matches ?? false);
  }
}
