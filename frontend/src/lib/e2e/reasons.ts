// Why a message cannot be read (docs/e2e.md 18.8): one reason per undecryptable message, in plain
// words, never a generic "no key". The device's refusal says what was missing or what failed; the
// message's time against when the reader joined the community, when this device's keys were made
// (linked or restored: earlier messages reached it only through the key backup) and when the
// account's keys were reset tells the rest.

import type { AccountOrigin } from './account';

export type UnreadableReason =
  /** Sent before the reader joined the community (new members get no earlier keys). */
  | 'before_joined'
  /** Sent before this device was linked or restored, and not in the key backup. */
  | 'not_in_backup'
  /** Encrypted with keys this account no longer has: its keys were reset since. */
  | 'reset'
  /** Sent from a device no longer listed for its sender (removed, or its account reset). */
  | 'sender_gone'
  /** A signature, an AEAD tag or an attestation failed, or it was replayed or moved. */
  | 'tampered'
  /** Its sender key, expected in an envelope, has not arrived yet. */
  | 'key_pending'
  /** A direct message without a ciphertext for this device (the sender did not know it). */
  | 'not_for_device';

/** What went wrong, as the device saw it. */
export type Missing =
  /** No sender key, live or from the backup. */
  | 'sender_key'
  /** No ciphertext for this device, nor an archived body. */
  | 'direct'
  /** A history key exists but its sender device is not listed any more. */
  | 'sender_device'
  /** The backup's history key starts after this message. */
  | 'before_history'
  /** Something failed to verify or decrypt. */
  | 'tampered';

export interface ReasonContext {
  missing: Missing;
  /** The message's `created_at` (ms), if known. */
  createdAt?: number;
  /** When the reader joined the community (community channels), if known. */
  joinedAt?: number;
  /** This device's account part: how and when its keys came about. */
  origin?: AccountOrigin;
  since?: number;
  /** When the account's keys were reset (ms), as far as this device knows. */
  resets?: number[];
}

/** Messages this close to an edge (ms) count as after it: clocks differ a little. */
const SKEW_MS = 2000;

export function unreadableReason(c: ReasonContext): UnreadableReason {
  if (c.missing === 'tampered') return 'tampered';
  if (c.missing === 'sender_device') return 'sender_gone';
  const t = c.createdAt;
  if (t !== undefined && Number.isFinite(t)) {
    if (c.joinedAt !== undefined && t < c.joinedAt - SKEW_MS) return 'before_joined';
    if (c.resets?.some((r) => t < r - SKEW_MS)) return 'reset';
    if (c.since !== undefined && t < c.since - SKEW_MS) {
      if (c.origin === 'reset') return 'reset';
      if (c.origin === 'linked' || c.origin === 'restored') return 'not_in_backup';
    }
  }
  if (c.missing === 'before_history') return 'not_in_backup';
  return c.missing === 'direct' ? 'not_for_device' : 'key_pending';
}

export const UNREADABLE_TEXT: Record<UnreadableReason, string> = {
  before_joined: 'Sent before you joined this community, and its key was not shared with you.',
  not_in_backup:
    'Sent before this device was linked or restored, and its key is not in your key backup, so this device cannot read it.',
  reset: 'Encrypted with keys your account no longer has: its encryption keys were reset since.',
  sender_gone:
    'Sent from a device its sender no longer has (removed, or their keys were reset), so its key can no longer be checked.',
  tampered: 'Refused: this message was changed, forged or replayed (its signature or encryption does not check out).',
  key_pending: 'Its key has not arrived yet: it shows once the sender’s device sends it to this one.',
  not_for_device: 'It was not encrypted for this device: it was sent while this device was not among the conversation’s readers.',
};
