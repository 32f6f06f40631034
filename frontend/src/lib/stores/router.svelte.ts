// History routing: paths such as /login or /settings/security. The server answers every path
// outside /api with index.html, so a reload on any of them lands back here.

export const PUBLIC_PATHS = ['/login', '/register', '/recover'] as const;

export const SETTINGS_SECTIONS = ['account', 'security', 'sessions', 'devices', 'appearance'] as const;
export type SettingsSection = (typeof SETTINGS_SECTIONS)[number];

export type Route =
  | { name: 'home' }
  | { name: 'login' }
  | { name: 'register' }
  | { name: 'recover' }
  | { name: 'settings'; section: SettingsSection }
  | { name: 'community'; communityId: string; channelId: string | null }
  | { name: 'dms'; channelId: string | null }
  | { name: 'join'; communityId: string }
  | { name: 'not_found' };

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const COMMUNITY = new RegExp(`^/c/(${UUID})(?:/(${UUID}))?$`);
const DMS = new RegExp(`^/dm(?:/(${UUID}))?$`);
const JOIN = new RegExp(`^/join/(${UUID})$`);

/** True for the routes drawn by the chat layout. */
export function isChat(route: Route): boolean {
  return route.name === 'home' || route.name === 'community' || route.name === 'dms' || route.name === 'join';
}

export function parseRoute(path: string): Route {
  const p = path.replace(/\/+$/, '') || '/';
  if (p === '/') return { name: 'home' };
  if (p === '/login') return { name: 'login' };
  if (p === '/register') return { name: 'register' };
  if (p === '/recover') return { name: 'recover' };
  if (p === '/settings') return { name: 'settings', section: 'account' };
  const c = COMMUNITY.exec(p);
  if (c) return { name: 'community', communityId: c[1]!.toLowerCase(), channelId: c[2]?.toLowerCase() ?? null };
  const d = DMS.exec(p);
  if (d) return { name: 'dms', channelId: d[1]?.toLowerCase() ?? null };
  const j = JOIN.exec(p);
  if (j) return { name: 'join', communityId: j[1]!.toLowerCase() };
  const m = /^\/settings\/([a-z]+)$/.exec(p);
  if (m && (SETTINGS_SECTIONS as readonly string[]).includes(m[1]!)) {
    return { name: 'settings', section: m[1] as SettingsSection };
  }
  return { name: 'not_found' };
}

export function isPublic(route: Route): boolean {
  return route.name === 'login' || route.name === 'register' || route.name === 'recover';
}

class Router {
  path = $state(typeof location === 'undefined' ? '/' : location.pathname);
  route = $derived(parseRoute(this.path));

  constructor() {
    if (typeof window !== 'undefined') {
      window.addEventListener('popstate', () => {
        this.path = location.pathname;
      });
    }
  }

  navigate(path: string, replace = false): void {
    if (path === this.path) return;
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    this.path = path;
  }
}

export const router = new Router();

/** Click handler for in-app links: plain left clicks navigate without a page load. */
export function link(event: MouseEvent): void {
  const a = event.currentTarget as HTMLAnchorElement;
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  if (a.origin !== location.origin) return;
  event.preventDefault();
  router.navigate(a.pathname);
}
