// Community administration: the member lists (with roles) and groups of the communities the user
// opened, kept live from the member and group frames and loaded again after every reconnect;
// and the changes whose answers update the chat lists: community settings, channel settings and
// groups, new channels and invite codes, leaving and deleting. The server decides every change
// (each also arrives as a live frame); the requests that change nothing held here (kicks, roles,
// bans, invite lists) are made with the API client directly.

import type { ApiClient } from '../api/client';
import type { Channel, CommunityRole, CreateChannelRequest, CustomEmoji, Group, GroupKind, Member, UpdateCommunityRequest } from '../api/types';
import { isNotFound } from './store.svelte';
import type { ServerFrame } from '../realtime/frames';
import type { PeopleStore } from './people.svelte';
import type { ChatStore } from './store.svelte';

const ROLE_RANK: Record<CommunityRole, number> = { member: 0, moderator: 1, admin: 2, owner: 3 };

/** The rank of a community role (member 0 … owner 3); unknown roles rank as members. */
export function roleRank(role: string | null | undefined): number {
  return role && role in ROLE_RANK ? ROLE_RANK[role as CommunityRole] : 0;
}

/**
 * What a channel's settings may change: name and history for new members (admins), topic, slow
 * mode, archive (moderators), group.
 */
export type ChannelChange = {
  name?: string;
  topic?: string;
  slow_mode_secs?: number;
  archived?: boolean;
  group_id?: string | null;
  history_for_new_members?: boolean;
};

export interface AdminOptions {
  api: ApiClient;
  /** The chat lists the answers update (and whose frames keep the member lists live). */
  chat: ChatStore;
  /** Where the names of loaded and joining members go. */
  people: PeopleStore;
}

export class CommunityAdmin {
  /** community id → its members (loaded when the community is opened, then kept live). */
  members = $state<Record<string, Member[]>>({});
  /** community id → the groups the user may see (loaded with the members, kept live). */
  groups = $state<Record<string, Group[]>>({});

  private readonly api: ApiClient;
  private readonly chat: ChatStore;
  private readonly people: PeopleStore;
  private readies = 0;

  /** Create it before the chat store starts: it counts the socket's `ready` frames. */
  constructor(opts: AdminOptions) {
    this.api = opts.api;
    this.chat = opts.chat;
    this.people = opts.people;
    this.chat.listen((f) => this.onFrame(f));
  }

  // ---- members and groups

  /** Loads the members of a community (and learns their names), and its groups. */
  async loadMembers(communityId: string): Promise<void> {
    void this.loadGroups(communityId);
    try {
      const list = await this.api.members(communityId);
      this.members = { ...this.members, [communityId]: list };
      this.people.rememberMembers(list);
    } catch {
      // Not a member (any more): the lists will drop the community.
    }
  }

  async loadGroups(communityId: string): Promise<void> {
    try {
      const list = await this.api.groups(communityId);
      this.groups = { ...this.groups, [communityId]: list };
    } catch {
      // Not a member (any more).
    }
  }

  async createGroup(communityId: string, name: string, kind: GroupKind): Promise<Group> {
    const g = await this.api.createGroup(communityId, { name, kind });
    await this.loadGroups(communityId);
    return g;
  }

  async renameGroup(communityId: string, groupId: string, name: string): Promise<void> {
    await this.api.renameGroup(groupId, name);
    await this.loadGroups(communityId);
  }

  async deleteGroup(communityId: string, groupId: string): Promise<void> {
    await this.api.deleteGroup(groupId);
    await this.loadGroups(communityId);
  }

  // ---- the community and its channels

  async updateCommunity(id: string, req: UpdateCommunityRequest): Promise<void> {
    this.chat.mergeCommunity(await this.api.updateCommunity(id, req));
  }

  async leaveCommunity(id: string): Promise<void> {
    await this.api.removeMember(id, this.chat.myId);
    this.dropCommunity(id);
  }

  async deleteCommunity(id: string): Promise<void> {
    await this.api.deleteCommunity(id);
    this.dropCommunity(id);
  }

  /** Adds a custom emoji (admins); the chat store's list has it at once. */
  async createEmoji(communityId: string, name: string, imageRef: string): Promise<CustomEmoji> {
    const e = await this.api.createEmoji(communityId, { name, image_ref: imageRef });
    this.chat.mergeEmoji(e);
    return e;
  }

  /** Removes a custom emoji (admins); one gone already (404) is dropped all the same. */
  async deleteEmoji(communityId: string, emojiId: string): Promise<void> {
    try {
      await this.api.deleteEmoji(communityId, emojiId);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    this.chat.dropEmoji(communityId, emojiId);
  }

  /** A new invite code of a community, unlimited and without expiry (moderators and above). */
  async createInvite(communityId: string): Promise<string> {
    const inv = await this.api.createCommunityInvite(communityId, {});
    return inv.code ?? '';
  }

  async createChannel(communityId: string, req: CreateChannelRequest): Promise<Channel> {
    const c = await this.api.createChannel(communityId, req);
    await this.chat.refreshLists();
    return c;
  }

  /** Changes a channel's name (admins), topic, slow mode or archive state (moderators), or group. */
  async updateChannel(channelId: string, req: ChannelChange): Promise<void> {
    this.chat.mergeChannel(await this.api.updateChannel(channelId, req));
  }

  private dropCommunity(id: string): void {
    this.chat.dropCommunity(id);
    this.forgetMembers(id);
  }

  private forgetMembers(id: string): void {
    if (!(id in this.members)) return;
    const next = { ...this.members };
    delete next[id];
    this.members = next;
  }

  // ---- live frames (after the chat store applied them; applied by id: twice is harmless)

  private onFrame(f: ServerFrame): void {
    switch (f.type) {
      case 'ready':
        // Member frames are not replayed: after a reconnect, load the loaded lists again.
        if (this.readies++ > 0) for (const id of Object.keys(this.members)) void this.loadMembers(id);
        break;
      case 'community_deleted':
        this.forgetMembers(f.community_id);
        break;
      case 'group_created':
      case 'group_updated':
        if (f.group.community_id in this.groups) void this.loadGroups(f.group.community_id);
        break;
      case 'group_deleted':
        if (f.community_id in this.groups) {
          this.groups = { ...this.groups, [f.community_id]: this.groups[f.community_id]!.filter((g) => g.id !== f.group_id) };
        }
        break;
      case 'member_joined': {
        const m = f.member;
        this.people.remember({ id: m.user_id, username: m.username, display_name: m.display_name, avatar_ref: m.avatar_ref });
        const list = this.members[f.community_id];
        if (list && !list.some((x) => x.user_id === m.user_id)) {
          this.members = { ...this.members, [f.community_id]: [...list, m] };
        }
        break;
      }
      case 'member_left': {
        if (f.user_id === this.chat.myId) {
          this.forgetMembers(f.community_id);
          break;
        }
        const list = this.members[f.community_id];
        if (list) this.members = { ...this.members, [f.community_id]: list.filter((x) => x.user_id !== f.user_id) };
        break;
      }
      case 'member_role_changed': {
        const list = this.members[f.community_id];
        if (list) {
          this.members = {
            ...this.members,
            [f.community_id]: list.map((x) => (x.user_id === f.user_id ? { ...x, role: f.role } : x)),
          };
        }
        break;
      }
      default:
        break;
    }
  }
}
