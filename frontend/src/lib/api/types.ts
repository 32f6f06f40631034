// Request and response bodies of the REST API under /api/v1 (docs/api.md).

export type Role = 'owner' | 'admin' | 'member';
export type RegistrationMode = 'open' | 'invite_only' | 'closed';

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_json'
  | 'weak_password'
  | 'unauthorized'
  | 'invalid_credentials'
  | 'totp_required'
  | 'invalid_refresh_token'
  | 'forbidden'
  | 'invalid_totp'
  | 'wrong_password'
  | 'registration_closed'
  | 'invite_required'
  | 'invalid_invite'
  | 'not_found'
  | 'method_not_allowed'
  | 'username_taken'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'too_many_sessions'
  | 'slow_mode'
  | 'internal'
  | 'unavailable'
  | 'busy'
  | 'queue_full'
  | 'invalid_setup_token'
  | 'quota_exceeded'
  | 'storage_full'
  // Client-side codes: the request never got an API answer.
  | 'network'
  | 'bad_response';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export interface InstanceInfo {
  name: string;
  version: string;
  protocol_version: number;
  registration_mode: RegistrationMode;
  /** True until the instance's owner account exists (registered with the setup token). */
  setup_pending?: boolean;
}

export interface Me {
  id: string;
  username: string;
  display_name: string;
  role: Role;
  totp_enabled: boolean;
  created_at: string;
}

export interface TokenPair {
  access_token: string;
  access_token_expires_at: string;
  refresh_token: string;
  session_id: string;
}

export interface LoginResponse extends TokenPair {
  device_id: string;
  device_secret?: string | null;
  user: Me;
  recovery_code?: string | null;
}

export interface RegisterRequest {
  username: string;
  password: string;
  display_name?: string;
  invite_code?: string;
  device_name?: string;
  /** The setup token the server logs while the instance has no owner: makes this account the owner. */
  setup_token?: string;
}

export interface LoginRequest {
  username: string;
  password: string;
  totp_code?: string;
  device_id?: string;
  device_secret?: string;
  device_name?: string;
}

export interface SessionInfo {
  id: string;
  device_id: string;
  device_name: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

export interface TotpSetup {
  secret: string;
  otpauth_url: string;
}

export interface BackupCodes {
  backup_codes: string[];
}

export interface RecoveryCode {
  recovery_code: string;
}

export interface RevokedSessions {
  revoked: number;
}

export interface AuditEvent {
  id: string;
  user_id: string | null;
  action: string;
  subject_id: string | null;
  ip: string | null;
  user_agent: string | null;
  created_at: string;
}

/** Bounds shared with the server (protocol `limits`). */
export const LIMITS = {
  USERNAME_MIN: 3,
  USERNAME_MAX: 32,
  PASSWORD_MIN: 10,
  PASSWORD_MAX: 256,
  DISPLAY_NAME_MAX: 64,
  DEVICE_NAME_MAX: 64,
} as const;

// ---- communities, channels and messages

export type Visibility = 'public' | 'private';
export type ChannelKind = 'text' | 'voice' | 'announcement' | 'dm' | 'group_dm';

export type CommunityRole = 'owner' | 'admin' | 'moderator' | 'member';

export interface Community {
  id: string;
  name: string;
  description: string;
  visibility: Visibility;
  discoverable?: boolean;
  welcome_message?: string;
  owner_id: string;
  /** The caller's role in it; `null` for a non-member and in live frames. */
  role: string | null;
  created_at: string;
}

/** What every signed-in user may see of an account. */
export interface Profile {
  id: string;
  username: string;
  display_name: string;
  bio?: string;
  pronouns?: string;
  custom_status?: string;
  created_at?: string;
}

export interface Member {
  user_id: string;
  username: string;
  display_name: string;
  role: CommunityRole;
  joined_at: string;
}

/** A ban of a community (`GET /communities/{id}/bans`). */
export interface Ban {
  user_id: string;
  username: string;
  banned_by: string | null;
  reason: string;
  created_at: string;
}

export type GroupKind = 'public' | 'private' | 'personal';

export interface Group {
  id: string;
  community_id: string;
  name: string;
  kind: GroupKind;
  assigned_to: string | null;
  position: number;
}

/** A community as the directory lists it. */
export interface DirectoryEntry {
  community: Community;
  member_count: number;
}

/** The settings an admin may change (`PATCH /communities/{id}`); omitted fields stay. */
export interface UpdateCommunityRequest {
  name?: string;
  description?: string;
  visibility?: Visibility;
  discoverable?: boolean;
  welcome_message?: string;
}

export interface CommunityInvite {
  id: string;
  community_id: string;
  /** Only in the answer that creates the invite. */
  code?: string;
  max_uses: number | null;
  uses: number;
  expires_at: string | null;
  revoked: boolean;
  created_at: string;
}

export interface CreateCommunityRequest {
  name: string;
  description?: string;
  visibility?: Visibility;
  /** Whether the first channel (`general`) is end-to-end encrypted; the server's default is yes. */
  e2e?: boolean;
}

export interface CreateChannelRequest {
  name: string;
  kind?: 'text' | 'voice' | 'announcement';
  topic?: string;
  e2e?: boolean;
}

export interface Channel {
  id: string;
  community_id: string | null;
  kind: ChannelKind;
  name: string;
  topic: string;
  /** True: message bodies are end-to-end ciphertext the server cannot read. */
  e2e: boolean;
  slow_mode_secs: number;
  archived: boolean;
  group_id?: string | null;
  position?: number;
  view_role?: CommunityRole;
  post_role?: CommunityRole;
  /** Whether the caller may send a message here now (absent from older servers: yes). */
  can_post?: boolean;
  last_seq: number;
  last_read_seq: number;
  /** Messages from others after `last_read_seq` (the server stops counting at 1000). */
  unread: number;
}

/** A page of `GET /channels`: most recently active first; `next_before` is null on the last page. */
export interface ChannelPage {
  channels: Channel[];
  next_before?: string | null;
}

export type Content = { kind: 'text'; text: string } | { kind: 'encrypted'; ciphertext: string };

export interface Reaction {
  emoji: string;
  count: number;
  user_ids: string[];
}

export interface Message {
  id: string;
  channel_id: string;
  seq: number;
  updated_seq: number;
  sender_id: string | null;
  /** Absent once deleted. */
  content?: Content | null;
  reply_to?: string | null;
  created_at: string;
  edited_at?: string | null;
  deleted: boolean;
  reactions: Reaction[];
}

export interface MessagePage {
  messages: Message[];
  has_more: boolean;
}

/** Bounds of the WebSocket protocol (protocol `ws::limits`). */
export const WS_LIMITS = {
  TEXT_MAX_CHARS: 4000,
  CIPHERTEXT_MAX_BYTES: 64 * 1024,
  NONCE_MAX_BYTES: 64,
  EMOJI_MAX_BYTES: 64,
  REACTIONS_PER_MESSAGE: 20,
  NAME_MAX: 100,
  TOPIC_MAX: 1000,
  PAGE_MAX: 100,
} as const;

// ---- end-to-end keys and envelopes

/** A device's published identity (`DeviceKeys`). */
export interface DeviceKeysJson {
  user_id: string;
  device_id: string;
  /** A DeviceCertificate, base64. */
  certificate: string;
}

/** Opaque device-to-device ciphertext (`Envelope`). */
export interface EnvelopeJson {
  id: string;
  sender_user_id: string;
  sender_device_id: string;
  recipient_device_id: string;
  channel_id: string | null;
  ciphertext: string;
}

export interface NewEnvelopeJson {
  recipient_device_id: string;
  channel_id?: string;
  ciphertext: string;
}
