import { ApiError } from './api/client';
import type { ErrorCode } from './api/types';

/**
 * The sentence shown to people for an error code of the API (REST or WebSocket), given the
 * server's message; `retryAfter` is the seconds of `Retry-After`, when known.
 */
export function describeCode(code: ErrorCode | string, message: string, retryAfter: number | null = null): string {
  switch (code) {
    case 'rate_limited':
      return retryAfter !== null
        ? `Too many attempts. Try again in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`
        : 'Too many attempts. Try again in a moment.';
    case 'invalid_credentials':
      return 'The username or password is wrong.';
    case 'invalid_totp':
      return 'That code is wrong or was already used.';
    case 'wrong_password':
      return 'The current password is wrong.';
    case 'username_taken':
      return 'This username is taken.';
    case 'invite_required':
      return 'This instance needs an invite code to register.';
    case 'invalid_invite':
      return 'This invite code is not valid: it may be mistyped, expired, revoked or used up.';
    case 'registration_closed':
      return 'Registration is closed on this instance.';
    case 'invalid_setup_token':
      return 'This setup token is not valid: it may be mistyped, or the instance has its owner already.';
    case 'unavailable':
      return 'The server is busy or its database is unavailable. Try again shortly.';
    case 'busy':
      return 'The server is busy right now. Try again in a moment.';
    case 'too_many_sessions':
      return 'You are connected from too many tabs or devices at once. Close one of them and try again.';
    case 'queue_full':
      return 'A recipient’s device has too many encrypted messages waiting for it, so nothing was sent. Try again later.';
    case 'quota_exceeded':
      return message ? `You have reached a limit: ${message}` : 'You have reached the most of this that one account may have.';
    case 'storage_full':
      return 'The server’s storage is full, so nothing was stored. Try again later.';
    case 'internal':
      return 'The server failed to handle this request.';
    default:
      return message;
  }
}

/** The sentence shown to people for a failed request. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) return describeCode(e.code, e.message, e.retryAfter);
  return 'Something went wrong.';
}

/** Codes of WebSocket `error` frames whose own message is replaced by a sentence. */
const FRAME_CODES_DESCRIBED = new Set([
  'busy',
  'unavailable',
  'internal',
  'too_many_sessions',
  'queue_full',
  'quota_exceeded',
  'storage_full',
]);

/**
 * The sentence for a refused WebSocket frame: the server's message (it names the rule: slow
 * mode, permissions, rate limits), or a plain sentence for the codes that say only that the
 * server could not take it now.
 */
export function frameErrorText(code: string, message: string): string {
  return FRAME_CODES_DESCRIBED.has(code) ? describeCode(code, message) : message;
}
