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
  | 'internal'
  | 'unavailable'
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
