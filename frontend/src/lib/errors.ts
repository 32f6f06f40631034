import { ApiError } from './api/client';

/** The sentence shown to people for a failed request. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    switch (e.code) {
      case 'rate_limited':
        return e.retryAfter !== null
          ? `Too many attempts. Try again in ${e.retryAfter} second${e.retryAfter === 1 ? '' : 's'}.`
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
      case 'unavailable':
        return 'The server is busy or its database is unavailable. Try again shortly.';
      case 'internal':
        return 'The server failed to handle this request.';
      default:
        return e.message;
    }
  }
  return 'Something went wrong.';
}
