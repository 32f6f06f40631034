// Frames of the WebSocket protocol at /api/v1/ws (docs/protocol.md).

import type { Channel, Community, CommunityRole, Content, EnvelopeJson, Member, Message } from '../api/types';

export type Presence = 'online' | 'idle' | 'dnd' | 'invisible' | 'offline';

export interface Cursor {
  channel_id: string;
  after_seq?: number;
}

/**
 * A reaction delta, sent live for `add_reaction`/`remove_reaction`: `user_id` added
 * (`present`) or took back `emoji`, which `count` users now react with (0: it is gone).
 */
export interface ReactionChanged {
  type: 'reaction_changed';
  channel_id: string;
  message_id: string;
  event_seq: number;
  user_id: string;
  emoji: string;
  present: boolean;
  count: number;
}

export type ClientFrame =
  | { type: 'authenticate'; token: string }
  | { type: 'ping' }
  | { type: 'subscribe'; channels: Cursor[] }
  | { type: 'unsubscribe'; channel_id: string }
  | { type: 'send_message'; channel_id: string; nonce: string; content: Content; reply_to?: string }
  | { type: 'edit_message'; channel_id: string; message_id: string; content: Content }
  | { type: 'delete_message'; channel_id: string; message_id: string }
  | { type: 'add_reaction'; channel_id: string; message_id: string; emoji: string }
  | { type: 'remove_reaction'; channel_id: string; message_id: string; emoji: string }
  | { type: 'start_typing'; channel_id: string }
  | { type: 'set_presence'; presence: Exclude<Presence, 'offline'> }
  | { type: 'mark_read'; channel_id: string; seq: number };

export type ServerFrame =
  | {
      type: 'ready';
      protocol_version: number;
      user_id: string;
      session_id: string;
      heartbeat_secs: number;
      /** RFC 3339: the server closes the connection then (4001) unless it is renewed. */
      token_expires_at?: string;
    }
  /** The answer to `authenticate` with a newer token on an open connection: the new deadline. */
  | { type: 'reauthenticated'; token_expires_at: string }
  | { type: 'pong' }
  | { type: 'subscribed'; channel_id: string; last_seq: number; present: [string, Presence][] }
  | { type: 'unsubscribed'; channel_id: string; reason?: string | null }
  | { type: 'message_acked'; channel_id: string; nonce: string; message_id: string; seq: number }
  | { type: 'message_created'; event_seq: number; message: Message }
  | { type: 'message_updated'; event_seq: number; message: Message }
  | ReactionChanged
  | { type: 'typing'; channel_id: string; user_id: string }
  | { type: 'presence_changed'; channel_id: string; user_id: string; presence: Presence }
  | { type: 'read_marker'; channel_id: string; seq: number }
  | { type: 'error'; code: string; message: string; frame?: string | null; nonce?: string | null }
  | { type: 'closing'; reason: string }
  | { type: 'envelope_received'; envelope: EnvelopeJson }
  | { type: 'community_updated'; community: Community }
  | { type: 'community_deleted'; community_id: string }
  | { type: 'channel_created'; channel: Channel }
  | { type: 'channel_updated'; channel: Channel }
  | { type: 'channel_deleted'; channel_id: string; community_id: string | null }
  | { type: 'group_created' | 'group_updated'; group: { id: string; community_id: string } }
  | { type: 'group_deleted'; group_id: string; community_id: string }
  | { type: 'member_joined'; community_id: string; member: Member }
  | { type: 'member_left'; community_id: string; user_id: string; reason: 'left' | 'kicked' | 'banned' }
  | { type: 'member_role_changed'; community_id: string; user_id: string; role: CommunityRole };

const SERVER_TYPES = new Set([
  'ready',
  'reauthenticated',
  'pong',
  'subscribed',
  'unsubscribed',
  'message_acked',
  'message_created',
  'message_updated',
  'reaction_changed',
  'typing',
  'presence_changed',
  'read_marker',
  'error',
  'closing',
  'community_updated',
  'community_deleted',
  'channel_created',
  'channel_updated',
  'channel_deleted',
  'group_created',
  'group_updated',
  'group_deleted',
  'member_joined',
  'member_left',
  'member_role_changed',
  'envelope_received',
]);

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
