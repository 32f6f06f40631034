// Persistent key-value storage of the web app. Everything the app keeps between visits lives in
// one IndexedDB database, `chatalot`, never in localStorage: IndexedDB is not readable by
// every script through a synchronous global, it holds structured values, and the end-to-end
// keys of later versions will live beside these records.

export type StoreName = 'auth' | 'devices' | 'prefs' | 'keys' | 'msgcache';
export const STORE_NAMES: readonly StoreName[] = ['auth', 'devices', 'prefs', 'keys', 'msgcache'];

export interface KeyValueStore {
  get<T>(store: StoreName, key: string): Promise<T | undefined>;
  put<T>(store: StoreName, key: string, value: T): Promise<void>;
  delete(store: StoreName, key: string): Promise<void>;
  /** Removes every record of one store. */
  clear(store: StoreName): Promise<void>;
}

export const DB_NAME = 'chatalot';
/** Version 2 added `keys` and `msgcache` (the wrapped end-to-end keystore). */
export const DB_VERSION = 2;

function done<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** The IndexedDB implementation: one object store per `StoreName`, out-of-line string keys. */
export class IdbStore implements KeyValueStore {
  private db: Promise<IDBDatabase>;

  constructor(factory: IDBFactory = indexedDB, name = DB_NAME) {
    this.db = new Promise((resolve, reject) => {
      const req = factory.open(name, DB_VERSION);
      req.onupgradeneeded = () => {
        for (const s of STORE_NAMES) {
          if (!req.result.objectStoreNames.contains(s)) req.result.createObjectStore(s);
        }
      };
      req.onsuccess = () => {
        // A newer version of the app opened in another tab: let it upgrade.
        req.result.onversionchange = () => req.result.close();
        resolve(req.result);
      };
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('the database is open in an older version of the app'));
    });
  }

  private async tx(store: StoreName, mode: IDBTransactionMode): Promise<IDBObjectStore> {
    const db = await this.db;
    return db.transaction(store, mode).objectStore(store);
  }

  async get<T>(store: StoreName, key: string): Promise<T | undefined> {
    return (await done((await this.tx(store, 'readonly')).get(key))) as T | undefined;
  }

  async put<T>(store: StoreName, key: string, value: T): Promise<void> {
    await done((await this.tx(store, 'readwrite')).put(value, key));
  }

  async delete(store: StoreName, key: string): Promise<void> {
    await done((await this.tx(store, 'readwrite')).delete(key));
  }

  async clear(store: StoreName): Promise<void> {
    await done((await this.tx(store, 'readwrite')).clear());
  }
}

/** Kept in memory only: for tests, and when the browser refuses IndexedDB (some private modes). */
export class MemoryStore implements KeyValueStore {
  private data = new Map<string, unknown>();

  async get<T>(store: StoreName, key: string): Promise<T | undefined> {
    const v = this.data.get(`${store}/${key}`);
    return v === undefined ? undefined : (structuredClone(v) as T);
  }

  async put<T>(store: StoreName, key: string, value: T): Promise<void> {
    this.data.set(`${store}/${key}`, structuredClone(value));
  }

  async delete(store: StoreName, key: string): Promise<void> {
    this.data.delete(`${store}/${key}`);
  }

  async clear(store: StoreName): Promise<void> {
    for (const k of [...this.data.keys()]) if (k.startsWith(`${store}/`)) this.data.delete(k);
  }
}

/** Opens IndexedDB, or falls back to memory (the app then forgets the session on reload). */
export async function openStore(): Promise<{ store: KeyValueStore; persistent: boolean }> {
  if (typeof indexedDB === 'undefined') return { store: new MemoryStore(), persistent: false };
  try {
    const store = new IdbStore();
    await store.get('prefs', 'probe');
    return { store, persistent: true };
  } catch {
    return { store: new MemoryStore(), persistent: false };
  }
}
