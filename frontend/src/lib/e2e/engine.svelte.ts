// The one place where end-to-end channels are handled: what may be sent in them, and how their
// message bodies are read. Bodies of E2E channels are never sent in plaintext: until this
// browser holds the keys of a channel (the key directory and device envelopes are not served
// yet), sending is refused with `keys_not_set_up` and received ciphertext that is not in the
// local decrypted-message cache is reported as undecryptable, in plain words.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Channel, Message } from '../api/types';
import { Keystore, KeystoreError, fromBase64 } from './keystore';

export type SendBlock = 'keys_not_set_up';

export type Decrypted =
  | { ok: true; text: string }
  | { ok: false; reason: 'no_key' | 'malformed' };

export type KeysStatus = 'locked' | 'unlocking' | 'unlocked' | 'wrong_password';

export const SEND_BLOCK_TEXT: Record<SendBlock, string> = {
  keys_not_set_up:
    'Encryption keys are not set up yet: this channel is end-to-end encrypted, and this browser cannot encrypt for its members until the server publishes their keys. Nothing is sent unencrypted.',
};

export const DECRYPT_FAILURE_TEXT: Record<Exclude<Decrypted, { ok: true }>['reason'], string> = {
  no_key: 'This message is end-to-end encrypted and could not be decrypted: this browser has no key for it.',
  malformed: 'This message could not be decrypted: its ciphertext is damaged.',
};

/** A short, stable name of a ciphertext, to key the decrypted-message cache. */
export function ciphertextDigest(ciphertext: Uint8Array): string {
  return bytesToHex(sha256(ciphertext)).slice(0, 32);
}

export class E2e {
  status = $state<KeysStatus>('locked');
  readonly keystore: Keystore;

  constructor(keystore: Keystore) {
    this.keystore = keystore;
  }

  /** Opens this user's keystore with the password (created on first use). */
  async unlock(userId: string, password: string): Promise<void> {
    this.status = 'unlocking';
    try {
      await this.keystore.unlock(userId, password);
      this.status = 'unlocked';
    } catch (e) {
      this.status = e instanceof KeystoreError && e.code === 'wrong_password' ? 'wrong_password' : 'locked';
      throw e;
    }
  }

  /** Starts a new keystore under `password` (the old one's contents are lost). */
  async reset(userId: string, password: string): Promise<void> {
    await this.keystore.reset(userId, password);
    this.status = 'unlocked';
  }

  async changePassword(oldPassword: string, newPassword: string): Promise<void> {
    if (this.status !== 'unlocked') return;
    await this.keystore.changePassword(oldPassword, newPassword);
  }

  lock(): void {
    this.keystore.lock();
    this.status = 'locked';
  }

  /** Why a message cannot be sent to this channel now, or null when it can. */
  sendBlock(channel: Pick<Channel, 'e2e'>): SendBlock | null {
    return channel.e2e ? 'keys_not_set_up' : null;
  }

  /** Encrypts a body for an E2E channel. Refuses while the keys are not set up. */
  async encrypt(channel: Pick<Channel, 'e2e'>, _text: string): Promise<string> {
    const block = this.sendBlock(channel);
    if (block) throw new Error(SEND_BLOCK_TEXT[block]);
    throw new Error('not an end-to-end channel');
  }

  /** Reads an encrypted message body. */
  async decrypt(message: Pick<Message, 'id' | 'content'>): Promise<Decrypted> {
    const c = message.content;
    if (!c || c.kind !== 'encrypted') return { ok: false, reason: 'malformed' };
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(c.ciphertext);
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (bytes.length === 0) return { ok: false, reason: 'malformed' };
    if (this.keystore.unlockedFor) {
      const cached = await this.keystore.cachedMessage(message.id, ciphertextDigest(bytes)).catch(() => null);
      if (cached !== null) return { ok: true, text: cached };
    }
    return { ok: false, reason: 'no_key' };
  }
}
