// The people cache of the signed-in session: display names, usernames and avatars of the users
// the app shows, learned from member lists and live member frames, and fetched once per session
// (`GET /users/{id}/profile`, in a batch after the render that asked) for anyone else: DM
// partners, senders who left, people who are present or typing.

import type { ApiClient } from '../api/client';
import type { Profile } from '../api/types';

/** A short, readable tag for a user id (UUID v7 ids share their leading, time-based digits). */
export function shortId(id: string): string {
  return id.replace(/-/g, '').slice(-6);
}

/** What the cache holds of a user. */
export interface PersonName {
  display_name: string;
  username: string;
  /** The avatar's image reference, or null for none. */
  avatar_ref: string | null;
}

/** What a source says of a user: an `avatar_ref` left out (not `null`) keeps the one held. */
export type PersonInfo = Pick<Profile, 'id' | 'username' | 'display_name'> & { avatar_ref?: string | null };

export interface PeopleOptions {
  api: Pick<ApiClient, 'profile' | 'userByName'>;
  me: () => { id: string; display_name: string; avatar_ref?: string | null } | null;
}

export class PeopleStore {
  /** user id → display name, username and avatar, from member lists and profiles. */
  profiles = $state<Record<string, PersonName>>({});

  private readonly api: PeopleOptions['api'];
  private readonly me: PeopleOptions['me'];
  private wanted = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(opts: PeopleOptions) {
    this.api = opts.api;
    this.me = opts.me;
  }

  /**
   * A name for a user: the display name, from the member lists or the profile cache. An
   * unknown user shows a short tag of the id while their profile is fetched (in a batch, after
   * the render that asked for it).
   */
  nameOf(userId: string | null | undefined): string {
    if (!userId) return 'Deleted user';
    const me = this.me();
    if (me && userId === me.id) return me.display_name;
    const p = this.profiles[userId];
    if (p) return p.display_name || p.username;
    this.want(userId);
    return `user·${shortId(userId)}`;
  }

  /**
   * A user's avatar (its image reference), or null: none, or not known yet (asked for like the
   * name, which is shown beside it).
   */
  avatarOf(userId: string | null | undefined): string | null {
    if (!userId) return null;
    const me = this.me();
    if (me && userId === me.id) return me.avatar_ref ?? null;
    const p = this.profiles[userId];
    if (p) return p.avatar_ref;
    this.want(userId);
    return null;
  }

  /** A user's whole profile (pronouns, status, about, images), fetched now. */
  async fullProfile(userId: string): Promise<Profile> {
    const p = await this.api.profile(userId);
    this.remember(p);
    return p;
  }

  /** Finds an account by its exact username (for a new DM). */
  async findUser(username: string): Promise<Profile> {
    const p = await this.api.userByName(username);
    this.remember(p);
    return p;
  }

  /** Takes a user's current name and avatar (a profile, a member frame). */
  remember(p: PersonInfo): void {
    const cur = this.profiles[p.id];
    const next = PeopleStore.entry(p, cur);
    if (cur && cur.display_name === next.display_name && cur.username === next.username && cur.avatar_ref === next.avatar_ref) return;
    this.profiles = { ...this.profiles, [p.id]: next };
  }

  /** Takes the names and avatars of a community's member list. */
  rememberMembers(list: { user_id: string; username: string; display_name: string; avatar_ref?: string | null }[]): void {
    const next = { ...this.profiles };
    for (const m of list) next[m.user_id] = PeopleStore.entry({ ...m, id: m.user_id }, next[m.user_id]);
    this.profiles = next;
  }

  private static entry(p: PersonInfo, cur: PersonName | undefined): PersonName {
    return {
      display_name: p.display_name,
      username: p.username,
      avatar_ref: p.avatar_ref === undefined ? (cur?.avatar_ref ?? null) : p.avatar_ref,
    };
  }

  private want(userId: string): void {
    if (this.wanted.has(userId)) return;
    this.wanted.add(userId);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.fetchWanted();
    }, 0);
  }

  private async fetchWanted(): Promise<void> {
    const ids = [...this.wanted].filter((u) => !this.profiles[u]).slice(0, 50);
    await Promise.all(
      ids.map(async (u) => {
        try {
          this.remember(await this.api.profile(u));
        } catch {
          // Deleted or unreachable: keep the short tag (and do not ask again).
        }
      }),
    );
  }
}
