// What the parts of the end-to-end device share: the server's key directory as they need it,
// the failures they report, the warnings they collect and the refusals (blocks) they recognise.

import { CryptoError } from '../crypto/index';
import { MalformedError, type Body } from './appcodec';
import type { DeviceKeysJson, EnvelopeJson, NewEnvelopeJson } from '../api/types';
import type { UnreadableReason } from './reasons';
import type { CachedText } from './keystore';

export type { DeviceKeysJson, EnvelopeJson, NewEnvelopeJson };

// ---- the server's key directory, as the device needs it

export interface KeyApi {
  publishKeys(deviceId: string, body: { certificate: string; signed_prekey: string; one_time_prekeys: string[] }): Promise<unknown>;
  uploadPrekeys(deviceId: string, keys: string[]): Promise<unknown>;
  rotateSignedPreKey(deviceId: string, signedPreKey: string): Promise<unknown>;
  keyStatus(deviceId: string): Promise<{ one_time_prekeys: number }>;
  userDevices(userId: string): Promise<{ user_key: string | null; devices: DeviceKeysJson[] }>;
  channelDevices(channelId: string): Promise<{ devices: DeviceKeysJson[] }>;
  claimBundles(userId: string, deviceIds: string[]): Promise<{ bundles: { user_id: string; device_id: string; bundle: string }[] }>;
  sendEnvelopes(envelopes: NewEnvelopeJson[]): Promise<{ ids: string[] }>;
  envelopes(deviceId: string): Promise<{ envelopes: EnvelopeJson[]; has_more: boolean }>;
  ackEnvelopes(deviceId: string, ids: string[]): Promise<unknown>;
}

// ---- what the device reports

export type Warning =
  | { kind: 'untrusted_device'; user: string; device: string; reason: string }
  | { kind: 'bad_bundle'; user: string; device: string; reason: string }
  | { kind: 'rejected'; what: string; reason: string }
  | { kind: 'member_added'; channel: string; user: string };

const WARNINGS_KEPT = 100;

/** What the device refused or flagged, newest last (each once; the last 100). */
export class Warnings {
  list: Warning[] = [];

  add(w: Warning): void {
    const key = JSON.stringify(w);
    if (this.list.some((x) => JSON.stringify(x) === key)) return;
    this.list = [...this.list, w].slice(-WARNINGS_KEPT);
  }
}

/** Why a message could not be read (shown in plain words by the app). */
export type DecryptFailure =
  | 'not_for_this_device'
  | 'unknown_sender_key'
  | 'no_session'
  | 'wrong_sender'
  | 'channel_mismatch'
  | 'untrusted'
  | 'malformed'
  | 'refused'
  /** A history key from the backup whose sender device is no longer listed. */
  | 'sender_gone'
  /** The backup's history key starts after this message. */
  | 'before_history'
  | 'failed';

export class E2eFailure extends Error {
  /** Why the message cannot be read, in the user's terms (docs/e2e.md 18.8), once it is known. */
  why?: UnreadableReason;

  constructor(
    readonly reason: DecryptFailure,
    detail: string,
  ) {
    super(detail);
    this.name = 'E2eFailure';
  }
}

export type SetupError = 'other_browser' | 'device_conflict';

export class E2eSetupError extends Error {
  constructor(
    readonly code: SetupError,
    message: string,
  ) {
    super(message);
    this.name = 'E2eSetupError';
  }
}

/** A message the device can decrypt: the fields of a stored message it needs. */
export interface CipherMessage {
  id: string;
  channel_id: string;
  sender_id: string | null;
  ciphertext: Uint8Array;
  /** Its sequence number in the channel (kept with an archived direct message). */
  seq?: number;
  /** When it was sent (`created_at`), to say why it cannot be read. */
  created_at?: string;
  /** When the reader joined the channel's community (community channels), likewise. */
  joined_at?: string | null;
  /**
   * The message's text for the cache, made from its body: stored in one transaction with the
   * ratchet state that used up its key, so a page closed at any point finds either both or the
   * earlier state (whose keys still read the message).
   */
  cacheAs?: (body: Body) => CachedText;
}

export function describe(e: unknown): string {
  if (e instanceof CryptoError) return `${e.code}${e.detail ? `: ${e.detail}` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

export function failureOf(e: unknown): E2eFailure {
  if (e instanceof E2eFailure) return e;
  if (e instanceof MalformedError) return new E2eFailure('malformed', e.message);
  if (e instanceof CryptoError) return new E2eFailure('failed', describe(e));
  return new E2eFailure('failed', describe(e));
}

// ---- refusals (blocks)

/** How long a user who refused this device (a claim or envelopes) is not asked again (ms). */
export const REFUSED_FOR_MS = 5 * 60 * 1000;

/**
 * The server's refusal to let this user reach another one (403 `forbidden`): the other user
 * blocked this one, or (outside a channel) they are not related.
 */
export function isRefusal(e: unknown): boolean {
  return !!e && typeof e === 'object' && (e as { code?: unknown }).code === 'forbidden';
}

/**
 * The recipient device a refused `POST /envelopes` names ("recipient_device_id <uuid>: its user
 * does not accept messages from you"), or null when the error is something else.
 */
export function refusedRecipient(e: unknown): string | null {
  if (!isRefusal(e)) return null;
  const m = /recipient_device_id ([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/.exec(
    (e as { message?: unknown }).message as string,
  );
  return m ? m[1]!.toLowerCase() : null;
}
