// The messages of one channel as this client knows them: confirmed messages ordered by `seq`,
// then this client's sends still waiting for `message_acked`. Messages, edits and deletions
// from the server carry the whole current state of a message; a change older than the one held
// (lower `updated_seq`) is ignored, so live frames, the resubscribe backlog and history pages
// can arrive in any order and still converge. Reactions arrive live as deltas
// (`reaction_changed`), applied to the held message when they are newer than its state; a
// backlog carries the whole state instead. A send is matched to its message by nonce (ack) and
// then by id (the created frame), so it is shown once whichever arrives first.

import type { Content, Message, Reaction } from '../api/types';
import type { ReactionChanged } from '../realtime/frames';
import type { Attachment } from './attachments';

/** The server lists at most this many users per reaction. */
export const MAX_REACTION_USERS = 100;

/**
 * The reactions of a message after a delta: `user` added (`present`) or took back `emoji`,
 * which `count` users now react with. The user list follows (capped as the server caps it), an
 * emoji at 0 is dropped, a new one goes last, and the others keep their order.
 */
export function withReaction(
  reactions: readonly Reaction[],
  d: Pick<ReactionChanged, 'user_id' | 'emoji' | 'present' | 'count'>,
): Reaction[] {
  const at = reactions.findIndex((r) => r.emoji === d.emoji);
  if (d.count <= 0) return reactions.filter((_, i) => i !== at);
  if (at < 0) return [...reactions, { emoji: d.emoji, count: d.count, user_ids: d.present ? [d.user_id] : [] }];
  const r = reactions[at]!;
  let users = r.user_ids.filter((u) => u !== d.user_id);
  if (d.present) users = r.user_ids.includes(d.user_id) || users.length >= MAX_REACTION_USERS ? r.user_ids : [...users, d.user_id];
  return reactions.map((x, i) => (i === at ? { emoji: r.emoji, count: d.count, user_ids: users } : x));
}

export interface Pending {
  nonce: string;
  content: Content;
  /** The text an encrypted send was made from (shown while it is pending). */
  display?: string;
  reply_to: string | null;
  created_at: string;
  /** The files the message names (sent with it again on a retry). */
  files?: string[];
  /** In a plaintext channel, those files as the server described them (shown once acked). */
  attachments?: Attachment[];
  /**
   * `preparing`: not sent yet, its content still to be made (an encrypted send waiting for its
   * link preview, or for the send made before it); `content` is then a placeholder.
   */
  status: 'preparing' | 'sending' | 'failed';
  error: string | null;
}

export class Timeline {
  /** Confirmed messages, ascending `seq`, unique ids. */
  messages = $state<Message[]>([]);
  /** Sends not yet acknowledged, in the order they were made. */
  pending = $state<Pending[]>([]);
  /** Older messages exist before `messages[0]` on the server. */
  hasMoreBefore = $state(true);
  /** The first page has been loaded. */
  loaded = $state(false);
  /** Highest `event_seq` (or message `updated_seq`) seen: the resume cursor. */
  cursor = $state(0);
  /** Ids of messages made here from an ack, before the server's own copy arrived. */
  private provisional = new Set<string>();
  readonly channelId: string;

  constructor(channelId: string) {
    this.channelId = channelId;
  }

  private index(seq: number): number {
    // first position whose seq >= seq
    let lo = 0;
    let hi = this.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.messages[mid]!.seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The held message with this id. */
  get(id: string): Message | undefined {
    return this.messages.find((m) => m.id === id);
  }

  private note(seq: number): void {
    if (seq > this.cursor) this.cursor = seq;
  }

  /**
   * Whether `m` replaces `held`, the state held for the same id: a newer state does, and so
   * does the server's copy of a message made here from an ack (same `updated_seq`).
   */
  private supersedes(m: Message, held: Message): boolean {
    return m.updated_seq > held.updated_seq || (m.updated_seq === held.updated_seq && this.provisional.has(m.id));
  }

  /**
   * Merges one message state. Returns true when the timeline changed. A message older than the
   * oldest held one is not inserted while older history remains unloaded (scroll-back brings
   * it with its current state), so the timeline never has holes.
   */
  apply(m: Message, eventSeq?: number): boolean {
    this.note(Math.max(eventSeq ?? 0, m.updated_seq, m.seq));
    const list = this.messages;
    const at = list.findIndex((x) => x.id === m.id);
    if (at >= 0) {
      if (!this.supersedes(m, list[at]!)) return false;
      this.provisional.delete(m.id);
      const next = list.slice();
      next[at] = m;
      this.messages = next;
      return true;
    }
    const first = list[0];
    if (this.loaded && this.hasMoreBefore && first && m.seq < first.seq) return false;
    const i = this.index(m.seq);
    this.messages = [...list.slice(0, i), m, ...list.slice(i)];
    return true;
  }

  /**
   * Applies a reaction delta to the held message. A delta no newer than the held state is
   * already in it and changes nothing; one for a message not held only moves the cursor once
   * the first page is loaded (a page still loading may predate it: the cursor then stays, and
   * the subscription's backlog brings the message's whole state). Returns true when the
   * timeline changed.
   */
  applyReaction(d: Omit<ReactionChanged, 'type' | 'channel_id'>): boolean {
    const list = this.messages;
    const at = list.findIndex((x) => x.id === d.message_id);
    if (at < 0) {
      if (this.loaded) this.note(d.event_seq);
      return false;
    }
    this.note(d.event_seq);
    const held = list[at]!;
    if (d.event_seq <= held.updated_seq || held.deleted) return false;
    const next = list.slice();
    // The body (plaintext or ciphertext) stays the same object: nothing is decrypted again.
    next[at] = { ...held, updated_seq: d.event_seq, reactions: withReaction(held.reactions, d) };
    this.messages = next;
    return true;
  }

  /**
   * Merges a history page. `older` marks a scroll-back page (its `has_more` says whether more
   * lies before it); the first page (no cursor) sets the same. The result is the one of
   * applying the page's messages one by one (a scroll-back page and the first page ignoring
   * the no-holes rule, since they extend the timeline backwards), but the held list is read
   * once and written once: a page costs the page plus the messages held, however many pages
   * came before.
   */
  applyPage(messages: Message[], hasMore: boolean, older: boolean): void {
    const extend = !this.loaded || older;
    let top = 0;
    for (const m of messages) top = Math.max(top, m.updated_seq, m.seq);
    this.note(top);
    const list = this.messages;
    const held = list.slice();
    const at = new Map<string, number>();
    for (let i = 0; i < held.length; i++) at.set(held[i]!.id, i);
    // Below this seq a message not held is not inserted (the no-holes rule of `apply`).
    const floor = !extend && this.hasMoreBefore && held.length > 0 ? held[0]!.seq : -Infinity;
    // Messages not held, by id: the state kept, the seq that placed it, and its place in the page.
    const added = new Map<string, { m: Message; seq: number; k: number }>();
    let changed = false;
    for (let k = 0; k < messages.length; k++) {
      const m = messages[k]!;
      const i = at.get(m.id);
      if (i !== undefined) {
        if (!this.supersedes(m, held[i]!)) continue;
        this.provisional.delete(m.id);
        held[i] = m;
        changed = true;
        continue;
      }
      const a = added.get(m.id);
      if (a) {
        if (!this.supersedes(m, a.m)) continue;
        this.provisional.delete(m.id);
        a.m = m;
        continue;
      }
      if (m.seq < floor) continue;
      added.set(m.id, { m, seq: m.seq, k });
    }
    if (added.size > 0) {
      // `apply` puts a message before those of the same seq already there, so of equal seqs the
      // later in the page comes first. A page arrives sorted, and sorting a sorted run is linear.
      const adds = [...added.values()].sort((x, y) => x.seq - y.seq || y.k - x.k);
      const out = new Array<Message>(held.length + adds.length);
      let i = 0;
      let j = 0;
      let o = 0;
      while (j < adds.length) {
        if (i < held.length && held[i]!.seq < adds[j]!.seq) out[o++] = held[i++]!;
        else out[o++] = adds[j++]!.m;
      }
      while (i < held.length) out[o++] = held[i++]!;
      this.messages = out;
    } else if (changed) {
      this.messages = held;
    }
    if (extend) {
      this.loaded = true;
      this.hasMoreBefore = hasMore;
    }
  }

  /** The oldest held `seq`, for the next scroll-back page. */
  get oldestSeq(): number | null {
    return this.messages[0]?.seq ?? null;
  }

  /** The newest held `seq`. */
  get newestSeq(): number {
    return this.messages[this.messages.length - 1]?.seq ?? 0;
  }

  addPending(p: Omit<Pending, 'status' | 'error'>, status: 'preparing' | 'sending' = 'sending'): void {
    this.pending = [...this.pending, { ...p, status, error: null }];
  }

  /** A send that was preparing has its content and goes now; undefined when it is not held. */
  prepared(nonce: string, content: Content): Pending | undefined {
    let found: Pending | undefined;
    this.pending = this.pending.map((p) => {
      if (p.nonce !== nonce || p.status !== 'preparing') return p;
      found = { ...p, content, status: 'sending' };
      return found;
    });
    return found;
  }

  /** The server stored our send: it becomes a message (unless the server's copy is here already). */
  ack(nonce: string, messageId: string, seq: number, senderId: string): boolean {
    const p = this.pending.find((x) => x.nonce === nonce);
    if (!p) return false;
    this.pending = this.pending.filter((x) => x.nonce !== nonce);
    if (!this.get(messageId)) {
      this.provisional.add(messageId);
      this.apply({
        id: messageId,
        channel_id: this.channelId,
        seq,
        updated_seq: seq,
        sender_id: senderId,
        content: p.content,
        reply_to: p.reply_to,
        created_at: p.created_at,
        edited_at: null,
        deleted: false,
        reactions: [],
        ...(p.files?.length ? { files: p.files } : {}),
        ...(p.attachments?.length ? { attachments: p.attachments } : {}),
      });
    }
    return true;
  }

  fail(nonce: string, error: string): void {
    this.pending = this.pending.map((p) => (p.nonce === nonce ? { ...p, status: 'failed', error } : p));
  }

  /** Marks a failed send as sending again (it keeps its nonce, so it is never stored twice). */
  retry(nonce: string): Pending | undefined {
    let found: Pending | undefined;
    this.pending = this.pending.map((p) => {
      if (p.nonce !== nonce) return p;
      found = { ...p, status: 'sending', error: null };
      return found;
    });
    return found;
  }

  discard(nonce: string): void {
    this.pending = this.pending.filter((p) => p.nonce !== nonce);
  }
}

/** Messages from others after `lastReadSeq` among those held. */
export function countUnread(messages: readonly Message[], lastReadSeq: number, me: string): number {
  return messages.filter((m) => m.seq > lastReadSeq && m.sender_id !== me && !m.deleted).length;
}

/** The first message from someone else after `lastReadSeq`: where the "new messages" divider goes. */
export function firstUnreadId(messages: readonly Message[], lastReadSeq: number, me: string): string | null {
  return messages.find((m) => m.seq > lastReadSeq && m.sender_id !== me)?.id ?? null;
}

/** True when two instants fall on different local calendar days. */
export function differentDay(a: string, b: string): boolean {
  const x = new Date(a);
  const y = new Date(b);
  return x.getFullYear() !== y.getFullYear() || x.getMonth() !== y.getMonth() || x.getDate() !== y.getDate();
}

/** Consecutive messages of one sender within five minutes are shown as one group. */
export function continues(prev: Message | undefined, m: Message): boolean {
  if (!prev || prev.sender_id !== m.sender_id || m.reply_to) return false;
  if (differentDay(prev.created_at, m.created_at)) return false;
  return Date.parse(m.created_at) - Date.parse(prev.created_at) < 5 * 60_000;
}
