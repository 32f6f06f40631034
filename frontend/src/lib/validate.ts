// Form checks done before a request is sent. They mirror the server's rules (docs/api.md) so
// that most mistakes are explained next to the field; the server still decides.

import { LIMITS } from './api/types';

export type FieldError = string | null;

const USERNAME_RE = /^[a-z0-9][a-z0-9_.-]*$/;
const encoder = new TextEncoder();

export function byteLength(s: string): number {
  return encoder.encode(s).length;
}

export function checkUsername(raw: string): FieldError {
  const name = raw.trim().toLowerCase();
  if (name.length === 0) return 'Enter a username.';
  if (name.length < LIMITS.USERNAME_MIN || name.length > LIMITS.USERNAME_MAX) {
    return `A username has ${LIMITS.USERNAME_MIN} to ${LIMITS.USERNAME_MAX} characters.`;
  }
  if (!USERNAME_RE.test(name)) {
    return 'Use only letters a–z, digits, and _ . - (starting with a letter or digit).';
  }
  return null;
}

/** A password given to prove who you are: only present and not absurdly long. */
export function checkGivenPassword(raw: string): FieldError {
  if (raw.length === 0) return 'Enter your password.';
  if (byteLength(raw) > LIMITS.PASSWORD_MAX) return 'This password is too long.';
  return null;
}

/** A new password: the server's policy. */
export function checkNewPassword(raw: string, username: string): FieldError {
  const bytes = byteLength(raw);
  if (bytes < LIMITS.PASSWORD_MIN) return `Use at least ${LIMITS.PASSWORD_MIN} characters.`;
  if (bytes > LIMITS.PASSWORD_MAX) return `Use at most ${LIMITS.PASSWORD_MAX} bytes.`;
  const user = username.trim().toLowerCase();
  if (user.length > 0 && raw.toLowerCase().includes(user)) return 'The password must not contain the username.';
  const first = [...raw][0];
  if (first !== undefined && [...raw].every((c) => c === first)) {
    return 'The password must not be one character repeated.';
  }
  return null;
}

export function checkConfirmation(password: string, confirmation: string): FieldError {
  return password === confirmation ? null : 'The two passwords differ.';
}

/** Control characters (Unicode category Cc). */
const CONTROL_RE = /\p{Cc}/u;

export function checkDisplayName(raw: string): FieldError {
  const name = raw.trim();
  if (name.length === 0) return null; // optional: the server uses the username
  if ([...name].length > LIMITS.DISPLAY_NAME_MAX) {
    return `A display name has at most ${LIMITS.DISPLAY_NAME_MAX} characters.`;
  }
  if (CONTROL_RE.test(name)) return 'A display name cannot contain control characters.';
  return null;
}

/** A 6-digit authenticator code, or (when `allowBackup`) a backup code. */
export function checkSecondFactor(raw: string, allowBackup: boolean): FieldError {
  const code = raw.trim();
  if (code.length === 0) return 'Enter the code.';
  if (/^\d{6}$/.test(code.replace(/\s/g, ''))) return null;
  if (allowBackup && /^[0-9A-Za-z][0-9A-Za-z -]{3,62}$/.test(code)) return null;
  return allowBackup ? 'Enter the 6-digit code or a backup code.' : 'Enter the 6-digit code.';
}

/** Recovery and invite codes: Crockford base32 in groups; case, spaces and dashes do not matter. */
export function checkCode(raw: string, what: string): FieldError {
  const symbols = raw.replace(/[\s-]/g, '');
  if (symbols.length === 0) return `Enter the ${what}.`;
  if (!/^[0-9A-Za-z]+$/.test(symbols) || byteLength(raw) > 64) return `This is not a valid ${what}.`;
  return null;
}

/** The authenticator code as the server expects it (digits only). */
export function normaliseTotp(raw: string): string {
  const compact = raw.replace(/\s/g, '');
  return /^\d{6}$/.test(compact) ? compact : raw.trim();
}

/** The setup token of a fresh instance (optional in the form; the server checks it). */
export function checkSetupToken(raw: string): FieldError {
  const t = raw.trim();
  if (!t) return null;
  if (byteLength(t) > 64 || /[\u0000-\u001f\u007f]/.test(t)) return 'This is not a valid setup token.';
  return null;
}

// ---- the name and type of a file uploaded to a plaintext channel (`POST /channels/{id}/files?name=&type=`)

/** Bytes of a file name the server takes. */
export const FILE_NAME_MAX_BYTES = 255;
/** Bytes of a declared type the server takes. */
export const FILE_TYPE_MAX_BYTES = 100;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Why the server would refuse this file name, or null. */
export function fileNameProblem(name: string): FieldError {
  if (!name) return 'A file needs a name.';
  if (name.match(LONE_SURROGATE)) return 'The file name is not valid text.';
  if (byteLength(name) > FILE_NAME_MAX_BYTES) return `The file name is longer than ${FILE_NAME_MAX_BYTES} bytes.`;
  if (CONTROL.test(name)) return 'The file name holds a control character.';
  if (/[/\\]/.test(name)) return 'The file name holds a slash or a backslash.';
  return null;
}

/**
 * The name a file is uploaded under: its own, with control characters, slashes and backslashes
 * made `_`, and a name longer than the server takes shortened (the end of its stem goes, the
 * extension stays); "file" for a file without one.
 */
export function uploadName(name: string): string {
  let n = name.replace(LONE_SURROGATE, '\ufffd').replace(/[\u0000-\u001f\u007f-\u009f/\\]/gu, '_').trim();
  if (!n) return 'file';
  if (byteLength(n) <= FILE_NAME_MAX_BYTES) return n;
  const dot = n.lastIndexOf('.');
  const ext = dot > 0 && byteLength(n.slice(dot)) <= 16 ? n.slice(dot) : '';
  const stem = [...(ext ? n.slice(0, dot) : n)];
  const room = FILE_NAME_MAX_BYTES - byteLength(ext);
  let used = 0;
  let end = 0;
  while (end < stem.length && used + byteLength(stem[end]!) <= room) used += byteLength(stem[end++]!);
  n = stem.slice(0, end).join('') + ext;
  return n || 'file';
}

/** `type/subtype` of a file's type (no parameters), lower case; null when it is none or too long. */
export function uploadType(type: string): string | null {
  const t = type.split(';')[0]!.trim().toLowerCase();
  if (!/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(t) || t.length > FILE_TYPE_MAX_BYTES) return null;
  return t;
}

/**
 * The query of a plaintext upload (`?name=…&type=…`). Throws, saying why, for a name the server
 * would refuse (`uploadName` makes one it takes); a type it would not take is left out.
 */
export function plainUploadQuery(name: string, type?: string | null): string {
  const problem = fileNameProblem(name);
  if (problem) throw new Error(problem);
  const t = type ? uploadType(type) : null;
  return `?name=${encodeURIComponent(name)}${t ? `&type=${encodeURIComponent(t)}` : ''}`;
}
