// Checks of the chat forms, mirroring the server's rules (1 to 100 characters after trimming,
// no control characters) so that mistakes are explained before anything is sent.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function checkName(raw: string, what = 'a name'): string | null {
  const t = raw.trim();
  if (!t) return `Enter ${what}.`;
  if ([...t].length > 100) return 'Use at most 100 characters.';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(t)) return 'Remove the control characters.';
  return null;
}

/** The community id in an invite link (…/join/<id>) or a bare id; null when there is none. */
export function communityIdFrom(raw: string): string | null {
  const t = raw.trim();
  const m = /\/join\/([0-9a-fA-F-]{36})\/?$/.exec(t);
  const id = m ? m[1]! : t;
  return UUID.test(id) ? id.toLowerCase() : null;
}

/** A user id; null when the text is not one. */
export function userIdFrom(raw: string): string | null {
  const t = raw.trim();
  return UUID.test(t) ? t.toLowerCase() : null;
}

/** An invite code (16 Crockford base32 symbols; case, `-` and spaces do not matter), or null. */
export function inviteCodeFrom(raw: string): string | null {
  const t = raw.replace(/[\s-]/g, '').toUpperCase();
  return /^[0-9A-Z]{16}$/.test(t) ? t : null;
}
