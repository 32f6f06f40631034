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
  /** Several records of one store, read together (undefined for each missing one). */
  getMany<T>(store: StoreName, keys: string[]): Promise<Array<T | undefined>>;
  /**
   * One read-write transaction over `stores`: reads the `guard` record, then writes what `write`
   * makes of it (into `stores` only), all or nothing: a `write` that throws writes nothing, and
   * its error is the answer. Resolves once the transaction is committed.
   */
  putIf<G>(guard: { store: StoreName; key: string }, stores: StoreName[], write: (g: G | undefined) => Put[]): Promise<void>;
}

/** One record to write. */
export interface Put {
  store: StoreName;
  key: string;
  value: unknown;
}

/**
 * `getMany` and `putIf` over `get` and `put`, for the stores kept in one tab's memory (nothing
 * else writes them between the steps).
 */
export abstract class SimpleStore implements KeyValueStore {
  abstract get<T>(store: StoreName, key: string): Promise<T | undefined>;
  abstract put<T>(store: StoreName, key: string, value: T): Promise<void>;
  abstract delete(store: StoreName, key: string): Promise<void>;
  abstract clear(store: StoreName): Promise<void>;

  async getMany<T>(store: StoreName, keys: string[]): Promise<Array<T | undefined>> {
    const out: Array<T | undefined> = [];
    for (const k of keys) out.push(await this.get<T>(store, k));
    return out;
  }

  async putIf<G>(guard: { store: StoreName; key: string }, stores: StoreName[], write: (g: G | undefined) => Put[]): Promise<void> {
    const puts = write(await this.get<G>(guard.store, guard.key));
    for (const p of puts) if (!stores.includes(p.store)) throw new Error(`${p.store} is not a store of this transaction`);
    for (const p of puts) await this.put(p.store, p.key, p.value);
  }
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

  async getMany<T>(store: StoreName, keys: string[]): Promise<Array<T | undefined>> {
    if (!keys.length) return [];
    const os = await this.tx(store, 'readonly');
    return Promise.all(keys.map((k) => done(os.get(k)) as Promise<T | undefined>));
  }

  async putIf<G>(guard: { store: StoreName; key: string }, stores: StoreName[], write: (g: G | undefined) => Put[]): Promise<void> {
    const db = await this.db;
    const tx = db.transaction([...new Set<StoreName>([guard.store, ...stores])], 'readwrite');
    await new Promise<void>((resolve, reject) => {
      let failure: unknown = null;
      tx.oncomplete = () => resolve();
      tx.onabort = () => reject(failure ?? tx.error ?? new Error('the transaction was aborted'));
      tx.onerror = () => {};
      const req = tx.objectStore(guard.store).get(guard.key);
      req.onsuccess = () => {
        try {
          for (const p of write(req.result as G | undefined)) tx.objectStore(p.store).put(p.value, p.key);
        } catch (e) {
          failure = e;
          tx.abort();
        }
      };
    });
  }
}

/** Kept in memory only: for tests, and when the browser refuses IndexedDB (some private modes). */
export class MemoryStore extends SimpleStore {
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
