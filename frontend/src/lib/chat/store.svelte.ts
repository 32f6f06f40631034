// The live chat state of the signed-in user: communities, channels with read state, and one
// timeline per opened channel, kept current over the WebSocket. Every channel is subscribed
// (so unread counts move live) with its cursor: the timeline's for opened channels, the
// channel's `last_seq` otherwise; on every reconnect the same cursors resume exactly where the
// client left off. Sends carry a nonce and are resent with it after a reconnect until acked.
// Names of people are in `PeopleStore` (people.svelte.ts), member lists, groups and community
// administration in `CommunityAdmin` (admin.svelte.ts), which follows this store's frames.
// The custom emoji of the communities opened are here too, since the composer and the
// messages use them.

import { SvelteMap, SvelteSet } from 'svelte/reactivity';
import { ApiError, type ApiClient } from '../api/client';
import type { Channel, Community, Content, CreateCommunityRequest, CustomEmoji, Message } from '../api/types';
import { EMOJI_PER_COMMUNITY, isEmojiName } from '../emoji/emoji';
import { isImageRef } from '../images';
import type { E2e } from '../e2e/engine.svelte';
import { SEND_BLOCK_TEXT } from '../e2e/engine.svelte';
import { describeError, frameErrorText } from '../errors';
import type { ClientFrame, Presence, ServerFrame } from '../realtime/frames';
import { RealtimeSocket, type SocketOptions, type SocketStatus } from '../realtime/socket';
import { Timeline } from './timeline.svelte';
import { MAX_UPLOADS_PER_CHANNEL, Upload, isAbort, uploadEncrypted, uploadError, uploadPlain } from './uploads.svelte';
import { heldType, readWhole, type Attachment, type ShownFile } from './attachments';
import { downloadResumable } from './download';
import type { FileRef, LinkCard } from '../e2e/appcodec';
import { firstLink, linkCardOf, previewsOf } from './previews.svelte';
import { decryptStream, formatSize } from '../e2e/files';
import { AttachmentPointer } from '../crypto/attachment';

export const PAGE_SIZE = 50;
/** How long a page fetched ahead of the reader may wait to be shown before it is fetched again. */
export const PREFETCH_FRESH_MS = 60_000;

/** An older page fetched while the reader reads back, before they reach it. */
interface Prefetched {
  /** The `before_seq` it was fetched with. */
  before: number;
  at: number;
  page: Promise<{ messages: Message[]; has_more: boolean }>;
}

type Progress = (done: number, total: number) => void;

/** A download under way: what it makes, how to cancel it, who waits for it and its progress. */
interface Opening {
  p: Promise<string>;
  ctl: AbortController;
  waiting: number;
  listeners: Set<Progress>;
}

/** The forms the chat layout shows in place of a channel. */
export type ChatForm = 'create-community' | 'join' | 'create-channel' | 'new-dm' | 'community-settings' | 'directory' | null;

/** Why the composer of a 1:1 DM is closed after the server refused a send there (a block). */
export const DM_REFUSED_TEXT = "You can't send messages in this conversation.";

/** Community channels in their order: by `position`, then by id (UUIDv7: creation order). */
export function byPosition(a: Channel, b: Channel): number {
  return (a.position ?? 0) - (b.position ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** True for an end-to-end failure because the other people do not accept messages from this user. */
function isRefusedEncryption(e: unknown): boolean {
  return e instanceof Error && e.name === 'E2eFailure' && (e as Error & { reason?: string }).reason === 'refused';
}

const TYPING_SHOWN_MS = 6_000;
const TYPING_SEND_EVERY_MS = 3_000;

/** What is known of one channel beyond its listing: its timeline, who is typing, who is here. */
export class ChannelView {
  readonly timeline: Timeline;
  /** user id → until when (ms) they count as typing */
  typing = $state<Record<string, number>>({});
  present = $state<Record<string, Presence>>({});
  /** `last_read_seq` when the channel was opened: the "new messages" divider follows it. */
  dividerAfter = $state<number | null>(null);
  loadingOlder = $state(false);
  loadError = $state<unknown>(null);
  /**
   * The next older page, fetched as soon as the reader has scrolled back once (one per view):
   * reading back waits for decrypting and showing, not for the network. Dropped when a change to
   * a message it may hold arrives, when the view closes, or after `PREFETCH_FRESH_MS`.
   */
  prefetched: Prefetched | null = null;
  /** Files on their way to this channel (at most `MAX_UPLOADS_PER_CHANNEL`). */
  uploads = $state<Upload[]>([]);
  /** An upload runs at a time; the others wait their turn. */
  uploading = false;

  constructor(channelId: string) {
    this.timeline = new Timeline(channelId);
  }
}

/** A random nonce; `crypto.getRandomValues` works outside secure contexts too. */
export function newNonce(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * How long a send in an encrypted conversation waits for its link's preview when it is not
 * ready yet (it was asked for while the text was written); it goes without one after that.
 */
export const E2E_PREVIEW_WAIT_MS = 2_000;

export interface ChatOptions {
  api: ApiClient;
  e2e: E2e;
  /**
   * Whether texts sent in end-to-end channels and DMs carry their first link's preview, asked
   * of the server's fetcher by this browser ("Link previews in encrypted conversations", off
   * unless turned on; docs/e2e.md 19.5). Never, when not given.
   */
  e2eLinkPreviews?: () => boolean;
  me: () => { id: string; display_name: string; avatar_ref?: string | null } | null;
  socket?: Partial<SocketOptions>;
  now?: () => number;
}

export class ChatStore {
  communities = $state<Community[]>([]);
  channels = $state<Channel[]>([]);
  loaded = $state(false);
  loadError = $state<unknown>(null);
  /** False when the channel list was longer than the pages read (the least active are not listed). */
  channelsComplete = $state(true);
  /** 1:1 DMs where the server refused a send (a block): their composer says so. */
  readonly refusedDms = new SvelteSet<string>();
  /** DMs and group DMs this user left (here or elsewhere) during this session. */
  readonly leftDms = new SvelteSet<string>();
  /** What became of the last conversation left here, shown above the DM list. */
  dmNotice = $state<string | null>(null);
  status = $state<SocketStatus>('stopped');
  /** The latest refusal of a frame that is not tied to a send (rate limits, permissions). */
  notice = $state<string | null>(null);
  myPresence = $state<Exclude<Presence, 'offline'>>('online');
  activeId = $state<string | null>(null);
  readonly views = new SvelteMap<string, ChannelView>();
  /**
   * community id → its custom emoji by name (at most 100): loaded when the community is opened,
   * replaced by every `emoji_changed`, loaded again after a reconnect.
   */
  emoji = $state<Record<string, CustomEmoji[]>>({});

  private readonly api: ApiClient;
  readonly e2e: E2e;
  private readonly me: ChatOptions['me'];
  private readonly socket: RealtimeSocket;
  private readonly now: () => number;
  private readonly e2eLinkPreviews: () => boolean;
  /** The encrypted sends of each channel under way, in the order they were made. */
  private readonly e2eSends = new Map<string, Promise<void>>();
  private lastTypingSent = new Map<string, number>();
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private readies = 0;
  /** The other members of DMs opened here (the channel listing does not name them). */
  private knownPeers = $state<Record<string, string[]>>({});
  private peersAsked = new Set<string>();
  /** Told every frame after this store applied it (the administration store). */
  private listeners: ((f: ServerFrame) => void)[] = [];

  constructor(opts: ChatOptions) {
    this.api = opts.api;
    this.e2e = opts.e2e;
    this.me = opts.me;
    this.now = opts.now ?? (() => Date.now());
    this.e2eLinkPreviews = opts.e2eLinkPreviews ?? (() => false);
    // Why an encrypted message cannot be read depends on when the reader joined (docs/e2e.md 18.8).
    if (this.e2e) {
      this.e2e.joinedAtOf = (id) => this.channel(id)?.joined_at;
      // New members of a channel read its history when its setting says so (docs/e2e.md 18.5).
      this.e2e.historyOf = (id) => this.channel(id)?.history_for_new_members;
    }
    const proto = typeof location !== 'undefined' && location.protocol === 'https:' ? 'wss:' : 'ws:';
    const host = typeof location !== 'undefined' ? location.host : 'localhost';
    this.socket = new RealtimeSocket({
      url: `${proto}//${host}/api/v1/ws`,
      token: () => this.api.token(),
      renewToken: (current) => this.api.freshToken(current),
      now: () => this.api.serverNow(),
      onFrame: (f) => this.onFrame(f),
      onStatus: (s) => (this.status = s),
      ...opts.socket,
    });
  }

  get myId(): string {
    return this.me()?.id ?? '';
  }

  // ---- lifecycle

  async start(): Promise<void> {
    await this.refreshLists();
    this.socket.start();
    // Changes arrive as live frames; the lists are loaded again after every reconnect (and,
    // as a cheap safety net, when the window gets the focus).
    if (typeof window !== 'undefined') window.addEventListener('focus', this.onFocus);
  }

  stop(): void {
    this.socket.stop();
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    for (const o of this.opened.values()) URL.revokeObjectURL(o.url);
    this.opened.clear();
    this.openedBytes = 0;
    if (typeof window !== 'undefined') window.removeEventListener('focus', this.onFocus);
  }

  private onFocus = (): void => this.scheduleRefresh();

  async refreshLists(): Promise<void> {
    try {
      const [communities, list] = await Promise.all([this.api.communities(), this.api.channels()]);
      this.communities = communities;
      const known = new Set(this.channels.map((c) => c.id));
      // Most recently active first: the DMs keep that order; community channels are sorted
      // by position where they are shown.
      this.channels = list.channels;
      this.channelsComplete = list.complete;
      this.loadError = null;
      const added = list.channels.filter((c) => !known.has(c.id));
      for (const c of added) this.leftDms.delete(c.id);
      if (this.loaded && added.length) this.subscribe(added);
      void this.learnDmPeers(list.channels);
    } catch (e) {
      this.loadError = e;
    } finally {
      this.loaded = true;
    }
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refreshLists();
    }, 500);
  }

  // ---- lookups

  channel(id: string | null | undefined): Channel | undefined {
    return id ? this.channels.find((c) => c.id === id) : undefined;
  }

  community(id: string | null | undefined): Community | undefined {
    return id ? this.communities.find((c) => c.id === id) : undefined;
  }

  /** The channels of a community, by position (the list itself is in activity order). */
  channelsOf(communityId: string): Channel[] {
    return this.channels.filter((c) => c.community_id === communityId).sort(byPosition);
  }

  /** DMs and group DMs, most recently active first. */
  get dms(): Channel[] {
    return this.channels.filter((c) => c.kind === 'dm' || c.kind === 'group_dm');
  }

  /** Moves a DM to the top of the list (a new message in it). */
  private bump(channelId: string): void {
    const first = this.channels.find((c) => c.community_id === null);
    if (!first || first.id === channelId) return;
    const c = this.channel(channelId);
    if (!c || c.community_id !== null) return;
    this.channels = [c, ...this.channels.filter((x) => x.id !== channelId)];
  }

  unreadIn(communityId: string | null): number {
    return this.channels
      .filter((c) => (communityId === null ? c.community_id === null : c.community_id === communityId))
      .reduce((n, c) => n + c.unread, 0);
  }

  view(channelId: string): ChannelView {
    let v = this.views.get(channelId);
    if (!v) {
      v = new ChannelView(channelId);
      this.views.set(channelId, v);
    }
    return v;
  }

  /**
   * Learns who is in the DMs whose members this client does not know (the listing does not
   * name them, and presence is not known for every member: a DM someone opened does not show
   * the recipient's presence, nor does a group DM show someone a block keeps apart): the users
   * of the devices the channel lists. Group DMs are asked once even when some members are
   * known; DMs when nobody is. At most 20 channels per call, each asked once per session.
   */
  private async learnDmPeers(channels: Channel[]): Promise<void> {
    const todo = channels
      .filter(
        (c) =>
          c.community_id === null &&
          !this.peersAsked.has(c.id) &&
          (c.kind === 'group_dm' || this.dmPeers(c.id).length === 0),
      )
      .slice(0, 20);
    for (const c of todo) {
      this.peersAsked.add(c.id);
      try {
        const { devices } = await this.api.channelDevices(c.id);
        const users = [...new Set(devices.map((d) => d.user_id))].filter((u) => u !== this.myId);
        const known = this.knownPeers[c.id] ?? [];
        const all = [...new Set([...known, ...users])];
        if (all.length > known.length) this.knownPeers = { ...this.knownPeers, [c.id]: all };
      } catch {
        // Named by its members' messages, or by its id, instead.
      }
    }
  }

  /**
   * Who else is in a DM, as far as this client knows: whom it was opened with, whose devices
   * it lists, who wrote, whose presence shows (presence is not known for every member: a DM
   * someone opened does not show the recipient's presence until they answer).
   */
  dmPeers(channelId: string): string[] {
    const set = new Set(this.knownPeers[channelId] ?? []);
    const v = this.views.get(channelId);
    if (v) {
      for (const u of Object.keys(v.present)) set.add(u);
      for (const m of v.timeline.messages) if (m.sender_id) set.add(m.sender_id);
    }
    set.delete(this.myId);
    return [...set].sort();
  }

  typingIn(channelId: string): string[] {
    const v = this.views.get(channelId);
    if (!v) return [];
    const now = this.now();
    return Object.entries(v.typing)
      .filter(([u, until]) => until > now && u !== this.myId)
      .map(([u]) => u);
  }

  // ---- WebSocket

  /** Calls `fn` with every server frame, after this store applied it; returns the unsubscribe. */
  listen(fn: (f: ServerFrame) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== fn);
    };
  }

  private send(frame: ClientFrame): boolean {
    return this.socket.send(frame);
  }

  private subscribe(channels: Channel[]): void {
    if (!channels.length) return;
    const cursors = channels.map((c) => {
      const v = this.views.get(c.id);
      const after = v?.timeline.loaded ? v.timeline.cursor : c.last_seq;
      return { channel_id: c.id, after_seq: after };
    });
    for (let i = 0; i < cursors.length; i += 100) {
      this.send({ type: 'subscribe', channels: cursors.slice(i, i + 100) });
    }
  }

  private onFrame(f: ServerFrame): void {
    this.apply(f);
    for (const fn of this.listeners) fn(f);
  }

  private apply(f: ServerFrame): void {
    switch (f.type) {
      case 'ready': {
        this.subscribe(this.channels);
        // Live list frames are not replayed: after a reconnect, load the lists again.
        if (this.readies++ > 0) {
          // A refused DM gets another try after a reconnect (a block may have been lifted).
          this.refusedDms.clear();
          void this.refreshLists();
          // `emoji_changed` is not replayed either.
          for (const id of Object.keys(this.emoji)) void this.loadEmoji(id);
        }
        if (this.myPresence !== 'online') this.send({ type: 'set_presence', presence: this.myPresence });
        // Envelopes queued while this device was away (the socket pushes only new ones).
        void this.e2e.processEnvelopes();
        // Sends that were never acknowledged go again, with their nonces.
        for (const [id, v] of this.views) {
          for (const p of v.timeline.pending) {
            if (p.status === 'sending') this.sendFrame(id, p.nonce, p.content, p.reply_to, p.files);
          }
        }
        break;
      }
      case 'subscribed': {
        const v = this.view(f.channel_id);
        v.present = Object.fromEntries(f.present);
        const c = this.channel(f.channel_id);
        if (c && f.last_seq > c.last_seq) c.last_seq = f.last_seq;
        break;
      }
      case 'message_created':
      case 'message_updated': {
        const m = f.message;
        const c = this.channel(m.channel_id);
        if (!c) {
          this.scheduleRefresh();
          return;
        }
        if (f.event_seq > c.last_seq) c.last_seq = f.event_seq;
        const v = this.views.get(m.channel_id);
        if (v?.prefetched && m.seq < v.prefetched.before) v.prefetched = null;
        const isNew = f.type === 'message_created' && (!v || !v.timeline.get(m.id));
        if (v?.timeline.loaded || (v && this.activeId === m.channel_id)) v.timeline.apply(m, f.event_seq);
        if (isNew && m.sender_id && m.sender_id !== this.myId && m.seq > c.last_read_seq && !m.deleted) {
          c.unread += 1;
          if (v) delete v.typing[m.sender_id];
        }
        if (isNew && !m.deleted) {
          // A message from the other person: nothing stands between the two of them now.
          if (m.sender_id && m.sender_id !== this.myId) this.refusedDms.delete(m.channel_id);
          this.bump(m.channel_id);
          // An encrypted direct message is read as it arrives, shown or not: its pairwise key
          // is used once, and reading it puts its text in the cache and in the key backup, so
          // the account's other and later devices read it too (docs/e2e.md 18.10).
          if (this.e2e && c.e2e && (c.kind === 'dm' || c.kind === 'group_dm') && m.sender_id !== this.myId && m.content?.kind === 'encrypted') {
            void this.e2e.decrypt(m).catch(() => {});
          }
        }
        break;
      }
      case 'reaction_changed': {
        // A delta: only the emoji and who reacted, never the (possibly encrypted) body.
        const c = this.channel(f.channel_id);
        if (!c) {
          this.scheduleRefresh();
          return;
        }
        if (f.event_seq > c.last_seq) c.last_seq = f.event_seq;
        const v = this.views.get(f.channel_id);
        // a reaction to a message not held yet may be to one of the page fetched ahead
        if (v?.prefetched && !v.timeline.get(f.message_id)) v.prefetched = null;
        if (v?.timeline.loaded || (v && this.activeId === f.channel_id)) v.timeline.applyReaction(f);
        break;
      }
      case 'message_acked': {
        const v = this.views.get(f.channel_id);
        v?.timeline.ack(f.nonce, f.message_id, f.seq, this.myId);
        break;
      }
      case 'typing': {
        const v = this.view(f.channel_id);
        v.typing = { ...v.typing, [f.user_id]: this.now() + TYPING_SHOWN_MS };
        break;
      }
      case 'presence_changed': {
        const v = this.view(f.channel_id);
        v.present = { ...v.present, [f.user_id]: f.presence };
        break;
      }
      case 'read_marker': {
        const c = this.channel(f.channel_id);
        if (!c) return;
        if (f.seq > c.last_read_seq) c.last_read_seq = f.seq;
        if (c.last_read_seq >= c.last_seq) c.unread = 0;
        else this.scheduleRefresh();
        break;
      }
      case 'unsubscribed':
        // The server ended the subscription (access lost, a DM left): free its slot on this
        // connection, and load the lists again. An answer to our own unsubscribe needs nothing.
        if (f.reason === 'removed') {
          this.send({ type: 'unsubscribe', channel_id: f.channel_id });
          this.scheduleRefresh();
        }
        break;
      case 'envelope_received':
        this.e2e.envelopeReceived(f.envelope);
        break;
      case 'error': {
        const text = frameErrorText(f.code, f.message);
        if (f.nonce) {
          for (const [id, v] of this.views) {
            if (!v.timeline.pending.some((p) => p.nonce === f.nonce)) continue;
            if (f.code === 'forbidden' && this.channel(id)?.kind === 'dm') {
              // In a 1:1 DM only a block refuses a send: no retrying, the composer says so.
              this.refusedDms.add(id);
              v.timeline.fail(f.nonce, DM_REFUSED_TEXT);
            } else {
              v.timeline.fail(f.nonce, text);
            }
          }
        } else if (f.frame !== 'start_typing' && f.frame !== 'mark_read' && f.frame !== 'unsubscribe') {
          this.notice = text;
        }
        break;
      }
      default:
        this.onListFrame(f);
        break;
    }
  }

  /** Live changes of communities, channels and memberships (applied by id: twice is harmless). */
  private onListFrame(f: ServerFrame): void {
    switch (f.type) {
      case 'community_updated':
        this.mergeCommunity(f.community);
        break;
      case 'community_deleted':
        this.dropCommunity(f.community_id);
        break;
      case 'emoji_changed':
        // The whole list as it now is (an emoji added or removed, here or elsewhere).
        if (this.community(f.community_id)) this.setEmoji(f.community_id, f.emoji);
        break;
      case 'channel_created':
      case 'channel_updated': {
        const ch = f.channel;
        if (this.mergeChannel(ch)) break;
        if (!ch.community_id || this.community(ch.community_id)) {
          const added = { ...ch, last_read_seq: ch.last_read_seq ?? 0, unread: 0 };
          // A new DM is the most recently active one.
          this.channels = ch.community_id ? [...this.channels, added] : [added, ...this.channels];
          this.leftDms.delete(ch.id);
          this.subscribe([ch]);
          if (!ch.community_id) void this.learnDmPeers([ch]);
        } else {
          this.scheduleRefresh();
        }
        break;
      }
      case 'channel_deleted':
        if (f.community_id === null && this.channel(f.channel_id)) {
          // A DM or group DM this user left (here or in another tab).
          this.forgetDm(f.channel_id);
          this.leftDms.add(f.channel_id);
        } else {
          this.channels = this.channels.filter((c) => c.id !== f.channel_id);
        }
        break;
      case 'member_joined':
        // This user is in a community not listed here yet (joined elsewhere): load the lists.
        // Member lists and names follow these frames in CommunityAdmin and PeopleStore.
        if (f.member.user_id === this.myId && !this.community(f.community_id)) this.scheduleRefresh();
        if (f.member.user_id !== this.myId && this.e2e) {
          // This device hands the newcomer the history of the encrypted channels that allow it.
          const shared = this.channels
            .filter((c) => c.community_id === f.community_id && c.e2e && c.history_for_new_members)
            .map((c) => c.id);
          this.e2e.memberJoined(shared, f.member.user_id);
        }
        break;
      case 'member_left':
        if (f.user_id === this.myId) this.dropCommunity(f.community_id);
        break;
      case 'member_role_changed':
        if (f.user_id === this.myId) {
          const c = this.community(f.community_id);
          if (c) c.role = f.role;
        }
        break;
      default:
        break;
    }
  }

  /** Takes a community's new state (from a frame or an answer), keeping the caller's role. */
  mergeCommunity(c: Community): void {
    const i = this.communities.findIndex((x) => x.id === c.id);
    if (i >= 0) this.communities[i] = { ...c, role: this.communities[i]!.role };
  }

  /** Takes a known channel's new state, keeping this client's read state; false when unknown. */
  mergeChannel(ch: Channel): boolean {
    const cur = this.channel(ch.id);
    if (!cur) return false;
    Object.assign(cur, { ...ch, last_seq: Math.max(cur.last_seq, ch.last_seq), last_read_seq: cur.last_read_seq, unread: cur.unread });
    return true;
  }

  /** Forgets a community the user left, was removed from, or that was deleted. */
  dropCommunity(id: string): void {
    this.communities = this.communities.filter((c) => c.id !== id);
    this.channels = this.channels.filter((c) => c.community_id !== id);
    if (id in this.emoji) {
      const next = { ...this.emoji };
      delete next[id];
      this.emoji = next;
    }
  }

  // ---- custom emoji

  /** The custom emoji of a community (none for DMs, or before they are loaded). */
  emojiOf(communityId: string | null | undefined): CustomEmoji[] {
    return (communityId && this.emoji[communityId]) || [];
  }

  /** The custom emoji a channel's messages may use: its community's. */
  emojiFor(channelId: string | null | undefined): CustomEmoji[] {
    return this.emojiOf(this.channel(channelId)?.community_id);
  }

  /** Loads a community's custom emoji (when it is opened); a failure keeps what is held. */
  async loadEmoji(communityId: string): Promise<void> {
    try {
      const list = await this.api.listEmoji(communityId);
      if (this.community(communityId)) this.setEmoji(communityId, list);
    } catch {
      // Not a member (any more), or offline: what is held stays.
    }
  }

  /** Takes a community's whole list: well-formed emoji only, by name, at most 100. */
  setEmoji(communityId: string, list: CustomEmoji[]): void {
    const clean = list
      .filter((e) => e && e.community_id === communityId && isEmojiName(e.name) && isImageRef(e.image_ref))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .slice(0, EMOJI_PER_COMMUNITY);
    this.emoji = { ...this.emoji, [communityId]: clean };
  }

  /** An emoji just added (its answer): in the list by id, whichever of it and the frame came first. */
  mergeEmoji(e: CustomEmoji): void {
    const list = this.emojiOf(e.community_id).filter((x) => x.id !== e.id && x.name !== e.name);
    this.setEmoji(e.community_id, [...list, e]);
  }

  /** An emoji just removed. */
  dropEmoji(communityId: string, emojiId: string): void {
    if (!(communityId in this.emoji)) return;
    this.setEmoji(communityId, this.emojiOf(communityId).filter((x) => x.id !== emojiId));
  }

  // ---- opening and history

  /** Opens a channel's view: loads its newest page once, remembers where the divider goes. */
  async openChannel(channelId: string): Promise<void> {
    this.activeId = channelId;
    this.dmNotice = null;
    const c = this.channel(channelId);
    const v = this.view(channelId);
    if (c && v.dividerAfter === null) v.dividerAfter = c.last_read_seq;
    if (v.timeline.loaded) return;
    try {
      const page = await this.api.messages(channelId, { limit: PAGE_SIZE });
      v.timeline.applyPage(page.messages, page.has_more, false);
      v.loadError = null;
      // Changes between the page and the subscription's cursor come as a backlog.
      if (c && this.status === 'ready') {
        this.send({ type: 'subscribe', channels: [{ channel_id: channelId, after_seq: v.timeline.cursor }] });
      }
    } catch (e) {
      v.loadError = e;
    }
  }

  /** Closes a channel's view (it stays subscribed; the divider goes). */
  closeChannel(channelId: string): void {
    if (this.activeId === channelId) this.activeId = null;
    const v = this.views.get(channelId);
    if (v) {
      v.dividerAfter = null;
      v.prefetched = null;
    }
  }

  async loadOlder(channelId: string): Promise<boolean> {
    const v = this.view(channelId);
    const t = v.timeline;
    if (!t.loaded || !t.hasMoreBefore || v.loadingOlder) return false;
    const before = t.oldestSeq;
    if (before === null) return false;
    v.loadingOlder = true;
    const fetch = (b: number) => this.api.messages(channelId, { before_seq: b, limit: PAGE_SIZE });
    try {
      const ahead = v.prefetched;
      v.prefetched = null;
      const fresh = ahead && ahead.before === before && Date.now() - ahead.at < PREFETCH_FRESH_MS;
      // (a change to one of its messages before it was taken dropped it: see the frames)
      const shown = fresh ? await ahead.page.catch(() => fetch(before)) : await fetch(before);
      t.applyPage(shown.messages, shown.has_more, true);
      const next = t.oldestSeq;
      if (shown.has_more && shown.messages.length && next !== null && this.views.get(channelId) === v) {
        const p: Prefetched = { before: next, at: Date.now(), page: fetch(next) };
        p.page.catch(() => {});
        v.prefetched = p;
      }
      return shown.messages.length > 0;
    } catch (e) {
      v.loadError = e;
      return false;
    } finally {
      v.loadingOlder = false;
    }
  }

  /** Everything held in the channel has been seen: tells the server (and other sessions). */
  markRead(channelId: string): void {
    const c = this.channel(channelId);
    const v = this.views.get(channelId);
    if (!c || !v) return;
    const seq = v.timeline.newestSeq;
    if (seq <= c.last_read_seq && c.unread === 0) return;
    if (seq > c.last_read_seq) {
      if (!this.send({ type: 'mark_read', channel_id: channelId, seq })) return;
      c.last_read_seq = seq;
    }
    c.unread = 0;
  }

  // ---- sending and changing

  private sendFrame(channelId: string, nonce: string, content: Content, replyTo: string | null, files?: string[]): void {
    const frame: ClientFrame = { type: 'send_message', channel_id: channelId, nonce, content };
    if (replyTo) frame.reply_to = replyTo;
    if (files?.length) frame.files = files;
    this.send(frame);
  }

  /** Why the composer of a channel is closed, or null. */
  sendBlock(channelId: string): string | null {
    const c = this.channel(channelId);
    if (!c) return 'This channel is not available.';
    if (c.archived) return 'This channel is archived: it can be read, not written.';
    if (c.can_post === false) {
      const who = c.post_role && c.post_role !== 'member' ? `${c.post_role}s and above` : 'some members';
      return c.kind === 'announcement'
        ? `This is an announcement channel: only ${who} post here.`
        : `You cannot post in this channel: only ${who} do.`;
    }
    if (this.refusedDms.has(channelId)) return DM_REFUSED_TEXT;
    const block = this.e2e.sendBlock(c);
    return block ? SEND_BLOCK_TEXT[block] : null;
  }

  /** Sends a text; shown at once as pending, resent after a reconnect, never stored twice. */
  sendText(channelId: string, text: string, replyTo: string | null = null): void {
    const body = text.trim();
    const c = this.channel(channelId);
    if (!body || !c || this.sendBlock(channelId)) return;
    if (c.e2e) {
      this.sendEncrypted(c, body, replyTo);
      return;
    }
    this.queueSend(channelId, { kind: 'text', text: body }, undefined, replyTo);
  }

  /** Shows a send as pending and sends it; `display` is the text of an encrypted send. */
  private queueSend(
    channelId: string,
    content: Content,
    display: string | undefined,
    replyTo: string | null,
    files?: string[],
    attachments?: Attachment[],
  ): void {
    const nonce = newNonce();
    this.view(channelId).timeline.addPending({
      nonce,
      content,
      display,
      reply_to: replyTo,
      created_at: new Date(this.now()).toISOString(),
      files,
      attachments,
    });
    this.sendFrame(channelId, nonce, content, replyTo, files);
    this.lastTypingSent.delete(channelId);
  }

  /**
   * The link whose preview a text sent to this channel carries: its first http(s) link, in an
   * end-to-end channel or DM, when the user turned previews there on. Null otherwise.
   */
  private e2ePreviewUrl(channelId: string, text: string): string | null {
    const c = this.channel(channelId);
    if (!c?.e2e || !this.e2eLinkPreviews() || this.sendBlock(channelId)) return null;
    return firstLink(text);
  }

  /**
   * Asks the server's fetcher for the preview of the first link of a text being written in an
   * encrypted conversation (when previews there are on), so that it is ready when it is sent.
   * The composer calls it a moment after the typing stops.
   */
  prefetchLinkPreview(channelId: string, text: string): void {
    const url = this.e2ePreviewUrl(channelId, text);
    if (url) previewsOf(this.api).request(url);
  }

  /** The preview a text carries (waited for at most `E2E_PREVIEW_WAIT_MS`), or null. */
  private async linkFor(text: string, url: string | null): Promise<LinkCard | null> {
    if (!url) return null;
    return linkCardOf(text, url, await previewsOf(this.api).answer(url, E2E_PREVIEW_WAIT_MS));
  }

  /** The largest file the server takes (asked once; 100 MB until it answered). */
  private maxUpload: number | null = null;

  /**
   * Sends files (picked, dropped or pasted), each as a message of its own: in an end-to-end
   * channel or DM encrypted here, in a plaintext channel as they are (named and typed, the
   * server making an image's thumbnail); uploaded with progress, then sent. Null, or why not
   * (nothing is started then).
   */
  sendFiles(channelId: string, files: File[]): string | null {
    const c = this.channel(channelId);
    if (!c) return 'This channel is not available.';
    const block = this.sendBlock(channelId);
    if (block) return block;
    const v = this.view(channelId);
    if (v.uploads.length + files.length > MAX_UPLOADS_PER_CHANNEL) {
      return `At most ${MAX_UPLOADS_PER_CHANNEL} files can be on their way at once: wait for some to finish.`;
    }
    const max = this.maxUpload ?? 100 * 1024 * 1024;
    // An encrypted blob is 16 bytes a 64 KiB chunk and 5 bytes larger than the file.
    const stored = (size: number) => (c.e2e ? size + Math.ceil(size / 65536) * 16 + 21 : size);
    const tooLarge = files.find((f) => stored(f.size) > max);
    if (tooLarge) return `${tooLarge.name} is too large: a file may have at most ${formatSize(max)} here.`;
    v.uploads = [...v.uploads, ...files.map((f) => new Upload(f))];
    void this.runUploads(c);
    if (this.maxUpload === null) {
      void this.api
        .fileUsage()
        .then((u) => (this.maxUpload = u.max_upload_bytes))
        .catch(() => {});
    }
    return null;
  }

  private async runUploads(c: Channel): Promise<void> {
    const v = this.view(c.id);
    if (v.uploading) return;
    v.uploading = true;
    try {
      for (;;) {
        const u = v.uploads.find((x) => x.status === 'preparing' && !x.signal.aborted);
        if (!u) return;
        try {
          if (c.e2e) {
            const { ref, files } = await uploadEncrypted(this.api, c.id, u);
            u.status = 'sending';
            await this.sendEncryptedFile(c, ref, files);
          } else {
            const { attachment, files } = await uploadPlain(this.api, c.id, u);
            u.status = 'sending';
            // A file with no caption: the text typed in the composer goes as a message of its own.
            this.queueSend(c.id, { kind: 'text', text: '' }, `📎 ${attachment.name}`, null, files, [attachment]);
          }
          u.release();
          v.uploads = v.uploads.filter((x) => x !== u);
        } catch (e) {
          if (u.signal.aborted || isAbort(e)) {
            v.uploads = v.uploads.filter((x) => x !== u);
            continue;
          }
          u.status = 'failed';
          u.error = uploadError(e);
        }
      }
    } finally {
      v.uploading = false;
    }
  }

  /** Cancels a file on its way (or drops a failed one). */
  cancelUpload(channelId: string, id: string): void {
    const v = this.view(channelId);
    const u = v.uploads.find((x) => x.id === id);
    if (!u) return;
    u.cancel();
    v.uploads = v.uploads.filter((x) => x !== u);
  }

  /** Tries a failed file again from the start. */
  retryUpload(channelId: string, id: string): void {
    const c = this.channel(channelId);
    const u = this.view(channelId).uploads.find((x) => x.id === id);
    if (!c || !u || u.status !== 'failed') return;
    u.restart();
    void this.runUploads(c);
  }

  /** Files and thumbnails held as object URLs, by what they are (the least lately used go first). */
  private opened = new Map<string, { url: string; size: number }>();
  private openedBytes = 0;
  /** Downloads under way, by what they fetch, and how many callers still wait for each. */
  private opening = new Map<string, Opening>();

  /**
   * A file a message names, downloaded (in an end-to-end channel decrypted and checked), as an
   * object URL this tab keeps (at most 64 files and 256 MB with the thumbnails; the least lately
   * used are let go, and all of them when the store stops). A download that breaks off goes on
   * from the bytes received (`downloadResumable`); `signal` cancels this caller's wait, and the
   * download itself once nobody else waits for it. Fails, showing nothing, for a blob that is
   * not the one the message names, or a download cut short for good.
   */
  openFile(f: ShownFile, onProgress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<string> {
    const s = f.source;
    if (s.kind === 'encrypted') {
      return this.hold(
        `f:${s.ref.fileId}`,
        async (abort, progress) => {
          const pointer = AttachmentPointer.fromBytes(s.ref.pointer);
          const blob = await this.download(s.ref.fileId, null, progress, abort);
          return decryptStream(pointer, blob.stream(), heldType(f.mime));
        },
        signal,
        onProgress,
      );
    }
    return this.hold(`f:${s.fileId}`, (abort, progress) => this.download(s.fileId, f.size, progress, abort, heldType(f.mime)), signal, onProgress);
  }

  /** The stored bytes of a file, resumed where a connection broke off. */
  private download(fileId: string, size: number | null, onProgress: Progress | undefined, signal: AbortSignal, type?: string): Promise<Blob> {
    return downloadResumable((from, sig) => this.api.fileResponse(fileId, sig, from), { size, type, onProgress, signal });
  }

  /**
   * The thumbnail of a file (an image's, or a video's poster) as an object URL kept like the
   * files: decrypted here in an end-to-end channel, the server's own in a plaintext one.
   */
  openThumb(f: ShownFile): Promise<string> {
    const s = f.source;
    if (s.kind === 'encrypted') {
      const thumb = s.ref.thumb;
      if (!thumb) return Promise.reject(new Error('This file has no thumbnail.'));
      return this.hold(`f:${thumb.fileId}`, async (abort) => {
        const pointer = AttachmentPointer.fromBytes(thumb.pointer);
        const blob = await this.download(thumb.fileId, null, undefined, abort);
        return decryptStream(pointer, blob.stream(), 'image/webp');
      });
    }
    if (!s.thumbnail) return Promise.reject(new Error('This file has no thumbnail.'));
    return this.hold(`t:${s.fileId}`, async (abort) => {
      const res = await this.api.thumbnailResponse(s.fileId, abort);
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      // Only the types the server makes thumbnails in are shown as one.
      if (type !== 'image/webp' && type !== 'image/jpeg') throw new Error('The server sent no thumbnail.');
      return readWhole(res, type, null);
    });
  }

  /**
   * What `load` makes, held under `key` as an object URL (one download for any number asking).
   * Every caller's `onProgress` hears of it. A caller's `signal` ends its wait (an
   * `AbortError`); the download is cancelled when every caller that waits for it has cancelled
   * (one without a signal never does).
   */
  private hold(key: string, load: (signal: AbortSignal, progress: Progress) => Promise<Blob>, signal?: AbortSignal, onProgress?: Progress): Promise<string> {
    const held = this.opened.get(key);
    if (held) {
      this.opened.delete(key);
      this.opened.set(key, held);
      return Promise.resolve(held.url);
    }
    if (signal?.aborted) return Promise.reject(new DOMException('The download was cancelled.', 'AbortError'));
    let o = this.opening.get(key);
    if (!o) {
      const ctl = new AbortController();
      const listeners = new Set<Progress>();
      const p = (async () => {
        const blob = await load(ctl.signal, (d, t) => listeners.forEach((l) => l(d, t)));
        const url = URL.createObjectURL(blob);
        this.opened.set(key, { url, size: blob.size });
        this.openedBytes += blob.size;
        for (const [id, x] of this.opened) {
          if (this.opened.size <= 64 && this.openedBytes <= 256 * 1024 * 1024) break;
          if (id === key) continue;
          URL.revokeObjectURL(x.url);
          this.opened.delete(id);
          this.openedBytes -= x.size;
        }
        return url;
      })().finally(() => {
        if (this.opening.get(key)?.p === p) this.opening.delete(key);
      });
      o = { p, ctl, waiting: 0, listeners };
      this.opening.set(key, o);
    }
    const under = o;
    under.waiting++;
    if (onProgress) under.listeners.add(onProgress);
    if (!signal) {
      // Never cancelled: counted for good.
      return under.p;
    }
    return new Promise<string>((resolve, reject) => {
      const stop = () => {
        under.waiting--;
        if (onProgress) under.listeners.delete(onProgress);
        if (under.waiting === 0) {
          under.ctl.abort(new DOMException('The download was cancelled.', 'AbortError'));
          if (this.opening.get(key) === under) this.opening.delete(key);
        }
        reject(new DOMException('The download was cancelled.', 'AbortError'));
      };
      signal.addEventListener('abort', stop, { once: true });
      under.p.then(
        (url) => {
          signal.removeEventListener('abort', stop);
          resolve(url);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', stop);
          reject(e);
        },
      );
    });
  }

  /** The message naming an uploaded file: its body encrypted, its files listed for the server. */
  private async sendEncryptedFile(c: Channel, ref: FileRef, files: string[]): Promise<void> {
    const ciphertext = await this.e2e.encryptFile(c, ref);
    this.queueSend(c.id, { kind: 'encrypted', ciphertext }, `📎 ${ref.name}`, null, files);
  }

  /**
   * Encrypts on this device, then sends like any message: the pending copy holds the
   * ciphertext (a resend after a reconnect sends the same bytes with the same nonce) and
   * shows the text it was made from. With its link's preview (when previews in encrypted
   * conversations are on) inside the body. A send that waits (for its preview, or for the
   * send before it) shows at once as pending and goes when its content is made; the sends of a
   * channel go in the order they were made.
   */
  private sendEncrypted(c: Channel, body: string, replyTo: string | null): void {
    const url = this.e2ePreviewUrl(c.id, body);
    const waits = url !== null && previewsOf(this.api).request(url, true).status === 'loading';
    const before = this.e2eSends.get(c.id);
    let nonce: string | null = null;
    if (waits || before) {
      nonce = newNonce();
      const content: Content = { kind: 'encrypted', ciphertext: '' };
      const at = new Date(this.now()).toISOString();
      this.view(c.id).timeline.addPending({ nonce, content, display: body, reply_to: replyTo, created_at: at }, 'preparing');
      this.lastTypingSent.delete(c.id);
    }
    const run = async () => {
      const link = await this.linkFor(body, url);
      await this.encryptAndSend(c, body, link, replyTo, nonce);
    };
    const p = (before ?? Promise.resolve()).then(run).catch((e: unknown) => {
      if (nonce) this.view(c.id).timeline.discard(nonce);
      this.notice = `Not sent: ${e instanceof Error ? e.message : String(e)}`;
    });
    this.e2eSends.set(c.id, p);
    void p.finally(() => {
      if (this.e2eSends.get(c.id) === p) this.e2eSends.delete(c.id);
    });
  }

  /** `nonce`: of the pending copy shown while the send was preparing. Never throws. */
  private async encryptAndSend(c: Channel, body: string, link: LinkCard | null, replyTo: string | null, nonce: string | null): Promise<void> {
    let ciphertext: string;
    try {
      ciphertext = await this.e2e.encrypt(c, body, link);
    } catch (e) {
      if (nonce) this.view(c.id).timeline.discard(nonce);
      if (c.kind === 'dm' && isRefusedEncryption(e)) {
        // The other person does not accept messages from this user: the composer says so.
        this.refusedDms.add(c.id);
        return;
      }
      this.notice = `Not sent: ${e instanceof ApiError ? describeError(e) : e instanceof Error ? e.message : String(e)}`;
      return;
    }
    const content: Content = { kind: 'encrypted', ciphertext };
    if (!nonce) {
      this.queueSend(c.id, content, body, replyTo);
      return;
    }
    const p = this.view(c.id).timeline.prepared(nonce, content);
    if (p) this.sendFrame(c.id, nonce, content, replyTo);
  }

  retry(channelId: string, nonce: string): void {
    const p = this.view(channelId).timeline.retry(nonce);
    if (p) this.sendFrame(channelId, nonce, p.content, p.reply_to, p.files);
  }

  discard(channelId: string, nonce: string): void {
    this.view(channelId).timeline.discard(nonce);
  }

  edit(channelId: string, messageId: string, text: string): boolean {
    const body = text.trim();
    if (!body || this.sendBlock(channelId)) return false;
    const c = this.channel(channelId);
    if (c?.e2e) {
      // Encoded as a send is: with its link's preview when previews there are on.
      const url = this.e2ePreviewUrl(channelId, body);
      this.linkFor(body, url)
        .then((link) => this.e2e.encrypt(c, body, link))
        .then((ciphertext) =>
          this.send({ type: 'edit_message', channel_id: channelId, message_id: messageId, content: { kind: 'encrypted', ciphertext } }),
        )
        .catch((e: unknown) => (this.notice = `Not edited: ${e instanceof Error ? e.message : String(e)}`));
      return true;
    }
    return this.send({ type: 'edit_message', channel_id: channelId, message_id: messageId, content: { kind: 'text', text: body } });
  }

  remove(channelId: string, messageId: string): boolean {
    return this.send({ type: 'delete_message', channel_id: channelId, message_id: messageId });
  }

  /** Adds the reaction, or takes it back when it is already ours. */
  toggleReaction(message: Message, emoji: string): boolean {
    const mine = message.reactions.some((r) => r.emoji === emoji && r.user_ids.includes(this.myId));
    return this.send({
      type: mine ? 'remove_reaction' : 'add_reaction',
      channel_id: message.channel_id,
      message_id: message.id,
      emoji,
    });
  }

  /** Tells the channel we are typing, at most once per three seconds. */
  typing(channelId: string): void {
    const last = this.lastTypingSent.get(channelId) ?? 0;
    if (this.now() - last < TYPING_SEND_EVERY_MS) return;
    if (this.send({ type: 'start_typing', channel_id: channelId })) this.lastTypingSent.set(channelId, this.now());
  }

  setPresence(p: Exclude<Presence, 'offline'>): void {
    this.myPresence = p;
    this.send({ type: 'set_presence', presence: p });
  }

  // ---- communities, channels, DMs

  async createCommunity(req: CreateCommunityRequest): Promise<Community> {
    const c = await this.api.createCommunity(req);
    await this.refreshLists();
    return c;
  }

  async joinCommunity(id: string): Promise<Community> {
    const c = await this.api.joinCommunity(id);
    await this.refreshLists();
    return c;
  }

  /** Joins the community of an invite code (public or private). */
  async joinByCode(code: string): Promise<Community> {
    const c = await this.api.joinByCode(code);
    await this.refreshLists();
    return c;
  }

  async openDm(userIds: string[]): Promise<Channel> {
    const c = await this.api.openDm(userIds);
    this.knownPeers = { ...this.knownPeers, [c.id]: userIds.filter((u) => u !== this.myId) };
    this.leftDms.delete(c.id);
    await this.refreshLists();
    return c;
  }

  /**
   * Leaves a DM or group DM: it goes from the list at once. `gone` when the server no longer
   * knew this user in it (404: left already, elsewhere); the list is loaded again then. Opening
   * the same people again brings it back with its whole history.
   */
  async leaveDm(channelId: string): Promise<'left' | 'gone'> {
    let result: 'left' | 'gone' = 'left';
    try {
      await this.api.leaveDm(channelId);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      result = 'gone';
    }
    this.forgetDm(channelId);
    this.leftDms.add(channelId);
    this.dmNotice =
      result === 'left'
        ? 'You left the conversation.'
        : 'You were no longer in this conversation (it was left elsewhere): it is gone from your list.';
    if (result === 'gone') this.scheduleRefresh();
    return result;
  }

  /** Drops a DM from the list with what is held of it (its history is loaded again on return). */
  private forgetDm(channelId: string): void {
    this.channels = this.channels.filter((c) => c.id !== channelId);
    if (this.activeId === channelId) this.activeId = null;
    this.views.delete(channelId);
    this.refusedDms.delete(channelId);
    this.peersAsked.delete(channelId);
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.code === 'not_found';
}
