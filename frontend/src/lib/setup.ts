// The setup link of a fresh instance: the server logs `http://host/#setup=XXXX-…` while the
// instance has no owner. The token is read from the fragment once, at start, and the fragment
// is removed from the address bar (and so from the history entry) at once.

/** The token of `#setup=…` in the address, or null; the fragment is removed when present. */
export function takeSetupToken(
  loc: Pick<Location, 'hash' | 'pathname' | 'search'> = location,
  hist: Pick<History, 'replaceState' | 'state'> = history,
): string | null {
  if (!loc.hash.startsWith('#')) return null;
  const params = new URLSearchParams(loc.hash.slice(1));
  if (!params.has('setup')) return null;
  hist.replaceState(hist.state, '', `${loc.pathname}${loc.search}`);
  const token = (params.get('setup') ?? '').trim();
  return token || null;
}
