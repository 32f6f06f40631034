// Frames of the WebSocket protocol at /api/v1/ws (docs/protocol.md).

import type { Content, Message } from '../api/types';

export type Presence = 'online' | 'idle' | 'dnd' | 'invisible' | 'offline';

export interface Cursor {
  channel_id: string;
  after_seq?: number;
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
  | { type: 'ready'; protocol_version: number; user_id: string; session_id: string; heartbeat_secs: number }
  | { type: 'pong' }
  | { type: 'subscribed'; channel_id: string; last_seq: number; present: [string, Presence][] }
  | { type: 'unsubscribed'; channel_id: string; reason?: string | null }
  | { type: 'message_acked'; channel_id: string; nonce: string; message_id: string; seq: number }
  | { type: 'message_created'; event_seq: number; message: Message }
  | { type: 'message_updated'; event_seq: number; message: Message }
  | { type: 'typing'; channel_id: string; user_id: string }
  | { type: 'presence_changed'; channel_id: string; user_id: string; presence: Presence }
  | { type: 'read_marker'; channel_id: string; seq: number }
  | { type: 'error'; code: string; message: string; frame?: string | null; nonce?: string | null }
  | { type: 'closing'; reason: string };

const SERVER_TYPES = new Set([
  'ready',
  'pong',
  'subscribed',
  'unsubscribed',
  'message_acked',
  'message_created',
  'message_updated',
  'typing',
  'presence_changed',
  'read_marker',
  'error',
  'closing',
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
  return v as ServerFrame;
}
