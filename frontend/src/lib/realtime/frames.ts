// Frames of the WebSocket protocol at /api/v1/ws (docs/protocol.md).

import type { components } from '../api/schema.gen';

type Schemas = components['schemas'];

// The frames are aliases of the generated schema (see api/types.ts).
export type Presence = Schemas['Presence'];
export type Cursor = Schemas['Cursor'];
export type ClientFrame = Schemas['ClientFrame'];
export type ServerFrame = Schemas['ServerFrame'];

/**
 * A reaction delta, sent live for `add_reaction`/`remove_reaction`: `user_id` added
 * (`present`) or took back `emoji`, which `count` users now react with (0: it is gone).
 */
export type ReactionChanged = Extract<ServerFrame, { type: 'reaction_changed' }>;

/** Every server frame type, once: the compiler fails when the schema gains or loses one. */
const SERVER_TYPE_LIST: Record<ServerFrame['type'], true> = {
  ready: true,
  reauthenticated: true,
  pong: true,
  subscribed: true,
  unsubscribed: true,
  message_acked: true,
  message_created: true,
  message_updated: true,
  reaction_changed: true,
  typing: true,
  presence_changed: true,
  read_marker: true,
  error: true,
  closing: true,
  community_updated: true,
  community_deleted: true,
  emoji_changed: true,
  channel_created: true,
  channel_updated: true,
  channel_deleted: true,
  group_created: true,
  group_updated: true,
  group_deleted: true,
  member_joined: true,
  member_left: true,
  member_role_changed: true,
  envelope_received: true,
  link_requested: true,
  link_answered: true,
};
const SERVER_TYPES = new Set<string>(Object.keys(SERVER_TYPE_LIST));

/** Parses a text frame; null for anything that is not a known server frame. */
export function parseServerFrame(data: unknown): ServerFrame | null {
  if (typeof data !== 'string') return null;
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const t = (v as { type?: unknown }).type;
  if (typeof t !== 'string' || !SERVER_TYPES.has(t)) return null;
  if ((t === 'message_created' || t === 'message_updated') && typeof (v as { message?: unknown }).message !== 'object') {
    return null;
  }
  const o = v as Record<string, unknown>;
  if ((t === 'channel_created' || t === 'channel_updated') && (typeof o.channel !== 'object' || !o.channel)) return null;
  if (t === 'community_updated' && (typeof o.community !== 'object' || !o.community)) return null;
  if (t === 'member_joined' && (typeof o.member !== 'object' || !o.member)) return null;
  if (t === 'emoji_changed' && (typeof o.community_id !== 'string' || !Array.isArray(o.emoji))) return null;
  if (
    t === 'reaction_changed' &&
    (typeof o.channel_id !== 'string' ||
      typeof o.message_id !== 'string' ||
      typeof o.user_id !== 'string' ||
      typeof o.emoji !== 'string' ||
      typeof o.event_seq !== 'number' ||
      typeof o.count !== 'number' ||
      typeof o.present !== 'boolean')
  ) {
    return null;
  }
  if (t === 'reauthenticated' && typeof o.token_expires_at !== 'string') return null;
  if (t === 'envelope_received') {
    const e = o.envelope as Record<string, unknown> | null | undefined;
    if (
      !e ||
      typeof e !== 'object' ||
      typeof e.id !== 'string' ||
      typeof e.sender_user_id !== 'string' ||
      typeof e.sender_device_id !== 'string' ||
      typeof e.recipient_device_id !== 'string' ||
      typeof e.ciphertext !== 'string'
    ) {
      return null;
    }
  }
  return v as ServerFrame;
}
