// The people cache of the signed-in session: display names and usernames of the users the app
// shows, learned from member lists and live member frames, and fetched once per session
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
}

export interface PeopleOptions {
  api: Pick<ApiClient, 'profile' | 'userByName'>;
  me: () => { id: string; display_name: string } | null;
}

export class PeopleStore {
  /** user id → display name and username, from member lists and profiles. */
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

  /** A user's whole profile (pronouns, status, about), fetched now. */
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

  /** Takes a user's current name (a profile, a member frame). */
  remember(p: Pick<Profile, 'id' | 'username' | 'display_name'>): void {
    const cur = this.profiles[p.id];
    if (cur && cur.display_name === p.display_name && cur.username === p.username) return;
    this.profiles = { ...this.profiles, [p.id]: { display_name: p.display_name, username: p.username } };
  }

  /** Takes the names of a community's member list. */
  rememberMembers(list: { user_id: string; username: string; display_name: string }[]): void {
    const next = { ...this.profiles };
    for (const m of list) next[m.user_id] = { display_name: m.display_name, username: m.username };
    this.profiles = next;
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
