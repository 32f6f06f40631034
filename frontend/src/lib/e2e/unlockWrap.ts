// The keystore's data key wrapped by a browser-held key, so that a reload or a new tab opens
// the keys without the password (docs/e2e.md section 18.7). The wrapping key is a WebCrypto
// AES-GCM-256 key made with `extractable: false`: script can use it through `crypto.subtle` but
// never read its bytes. CryptoKey objects are structured-cloneable, so the key and the data key
// it wraps are kept together in their own IndexedDB database, `chatalot-unlock` (store
// `wraps`, key: the user id), which sign-out and a revoked session delete whole. The same
// wrapping, with an in-memory key, hands the data key to the other tabs of this browser when
// one of them is unlocked with the password (`handover`).
//
// Limit: a key that cannot be exported stops script from copying it out, not a process that
// can drive this browser profile (it can run the same `decrypt`).

export const UNLOCK_DB_NAME = 'chatalot-unlock';
const UNLOCK_DB_VERSION = 1;
const WRAPS = 'wraps';
const IV_LEN = 12;

/** A wrapped data key: the wrapping key itself (not extractable), the nonce and the AES-GCM ciphertext. */
export interface WrapRecord {
  v: 1;
  key: CryptoKey;
  iv: Uint8Array;
  ct: Uint8Array;
}

/** Where wrapped data keys are kept (IndexedDB in the browser, memory in tests). */
export interface WrapStore {
  get(userId: string): Promise<WrapRecord | undefined>;
  put(userId: string, rec: WrapRecord): Promise<void>;
  delete(userId: string): Promise<void>;
  /** Removes every wrapped key of this browser (the whole database). */
  destroy(): Promise<void>;
}

export type WrapPurpose = 'reload' | 'handover';

const enc = new TextEncoder();

function aad(purpose: WrapPurpose, userId: string): Uint8Array<ArrayBuffer> {
  return enc.encode(`chatalot-unlock/v1\u0000${purpose}\u0000${userId}`);
}

/** Wraps `dek` for `userId` under a new non-extractable AES-GCM-256 key. */
export async function wrapDataKey(purpose: WrapPurpose, userId: string, dek: Uint8Array): Promise<WrapRecord> {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(IV_LEN));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad(purpose, userId) }, key, new Uint8Array(dek)),
  );
  return { v: 1, key, iv, ct };
}

/** The data key a record wraps for `userId`, or null when it does not open (another user, damaged). */
export async function unwrapDataKey(purpose: WrapPurpose, userId: string, rec: WrapRecord | undefined | null): Promise<Uint8Array | null> {
  if (!rec || rec.v !== 1 || !(rec.iv instanceof Uint8Array) || !(rec.ct instanceof Uint8Array) || !rec.key) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: new Uint8Array(rec.iv), additionalData: aad(purpose, userId) },
      rec.key,
      new Uint8Array(rec.ct),
    );
    return new Uint8Array(plain);
  } catch {
    return null;
  }
}

function done<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * The IndexedDB store of wrapped keys. Each operation opens the database and closes it after,
 * so no tab holds a connection that would delay `destroy`; reading never creates the database
 * (an open that would create it is aborted), so once destroyed it stays gone until the next
 * unlock writes a wrapped key again.
 */
export class IdbWrapStore implements WrapStore {
  constructor(
    private readonly factory: IDBFactory = indexedDB,
    private readonly name = UNLOCK_DB_NAME,
  ) {}

  private open(create: boolean): Promise<IDBDatabase | null> {
    return new Promise((resolve, reject) => {
      const req = this.factory.open(this.name, UNLOCK_DB_VERSION);
      let aborted = false;
      req.onupgradeneeded = (ev) => {
        if (!create && ev.oldVersion === 0) {
          aborted = true;
          req.transaction?.abort();
          return;
        }
        if (!req.result.objectStoreNames.contains(WRAPS)) req.result.createObjectStore(WRAPS);
      };
      req.onsuccess = () => {
        req.result.onversionchange = () => req.result.close();
        resolve(req.result);
      };
      req.onerror = (ev) => {
        if (aborted) {
          ev.preventDefault();
          resolve(null);
        } else reject(req.error);
      };
      req.onblocked = () => reject(new Error('the unlock database is busy'));
    });
  }

  private async with<T>(create: boolean, none: T, fn: (s: IDBObjectStore) => Promise<T>, mode: IDBTransactionMode): Promise<T> {
    const db = await this.open(create);
    if (!db) return none;
    try {
      const tx = db.transaction(WRAPS, mode);
      const out = await fn(tx.objectStore(WRAPS));
      if (mode === 'readwrite') {
        await new Promise<void>((resolve, reject) => {
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error);
          tx.onabort = () => reject(tx.error ?? new Error('aborted'));
        });
      }
      return out;
    } finally {
      db.close();
    }
  }

  get(userId: string): Promise<WrapRecord | undefined> {
    return this.with(false, undefined, (s) => done(s.get(userId)) as Promise<WrapRecord | undefined>, 'readonly');
  }

  async put(userId: string, rec: WrapRecord): Promise<void> {
    await this.with(true, undefined, (s) => done(s.put(rec, userId)).then(() => undefined), 'readwrite');
  }

  async delete(userId: string): Promise<void> {
    await this.with(false, undefined, (s) => done(s.delete(userId)).then(() => undefined), 'readwrite');
  }

  destroy(): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = this.factory.deleteDatabase(this.name);
      req.onsuccess = () => resolve();
      req.onerror = () => reject(req.error);
    });
  }
}

/** Kept in memory only (tests; browsers without IndexedDB keep no wrapped key at all). */
export class MemoryWrapStore implements WrapStore {
  readonly data = new Map<string, WrapRecord>();

  async get(userId: string): Promise<WrapRecord | undefined> {
    return this.data.get(userId);
  }

  async put(userId: string, rec: WrapRecord): Promise<void> {
    this.data.set(userId, rec);
  }

  async delete(userId: string): Promise<void> {
    this.data.delete(userId);
  }

  async destroy(): Promise<void> {
    this.data.clear();
  }
}
