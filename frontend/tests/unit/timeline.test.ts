import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/lib/api/types';
import {
  MAX_REACTION_USERS,
  Timeline,
  continues,
  countUnread,
  differentDay,
  firstUnreadId,
  withReaction,
} from '../../src/lib/chat/timeline.svelte';

const CH = '00000000-0000-7000-8000-0000000000c1';
const ME = 'me';

function msg(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: `m${seq}`,
    channel_id: CH,
    seq,
    updated_seq: seq,
    sender_id: 'other',
    content: { kind: 'text', text: `text ${seq}` },
    reply_to: null,
    created_at: new Date(Date.UTC(2026, 10, 28, 10, 0, seq)).toISOString(),
    edited_at: null,
    deleted: false,
    reactions: [],
    ...over,
  };
}

const seqs = (t: Timeline) => t.messages.map((m) => m.seq);

describe('Timeline', () => {
  it('keeps messages ordered by seq whatever order they arrive in, once each', () => {
    const t = new Timeline(CH);
    t.applyPage([msg(3), msg(5)], false, false);
    t.apply(msg(9));
    t.apply(msg(4));
    t.apply(msg(7));
    t.apply(msg(5));
    expect(seqs(t)).toEqual([3, 4, 5, 7, 9]);
    expect(t.cursor).toBe(9);
  });

  it('applies a reaction delta: users follow, count is taken, order kept, an emoji at zero dropped', () => {
    const start = [
      { emoji: '👍', count: 2, user_ids: ['a', 'b'] },
      { emoji: '🎉', count: 1, user_ids: ['c'] },
    ];
    expect(withReaction(start, { user_id: 'c', emoji: '👍', present: true, count: 3 })).toEqual([
      { emoji: '👍', count: 3, user_ids: ['a', 'b', 'c'] },
      { emoji: '🎉', count: 1, user_ids: ['c'] },
    ]);
    expect(withReaction(start, { user_id: 'a', emoji: '👍', present: false, count: 1 })).toEqual([
      { emoji: '👍', count: 1, user_ids: ['b'] },
      { emoji: '🎉', count: 1, user_ids: ['c'] },
    ]);
    expect(withReaction(start, { user_id: 'c', emoji: '🎉', present: false, count: 0 })).toEqual([start[0]]);
    expect(withReaction(start, { user_id: 'a', emoji: '👀', present: true, count: 1 }).map((r) => r.emoji)).toEqual(['👍', '🎉', '👀']);
    // Present twice is once; an unknown emoji at zero is nothing.
    expect(withReaction(start, { user_id: 'a', emoji: '👍', present: true, count: 2 })).toEqual(start);
    expect(withReaction(start, { user_id: 'a', emoji: '✅', present: false, count: 0 })).toEqual(start);
    // The user list stays capped as the server caps it; the count goes on.
    const full = [{ emoji: '👍', count: MAX_REACTION_USERS, user_ids: Array.from({ length: MAX_REACTION_USERS }, (_, i) => `u${i}`) }];
    const more = withReaction(full, { user_id: 'late', emoji: '👍', present: true, count: MAX_REACTION_USERS + 1 });
    expect(more[0]!.count).toBe(MAX_REACTION_USERS + 1);
    expect(more[0]!.user_ids).toHaveLength(MAX_REACTION_USERS);
    expect(start[0]!.user_ids).toEqual(['a', 'b']);
  });

  it('moves the cursor for a delta on a message it does not hold only once loaded', () => {
    const t = new Timeline(CH);
    const d = { message_id: 'm1', event_seq: 8, user_id: 'a', emoji: '👍', present: true, count: 1 };
    // A page still loading may predate it: the backlog after the cursor brings the state.
    expect(t.applyReaction(d)).toBe(false);
    expect(t.cursor).toBe(0);
    t.applyPage([msg(5)], true, false);
    expect(t.applyReaction(d)).toBe(false);
    expect(t.cursor).toBe(8);
    expect(t.applyReaction({ ...d, message_id: 'm5', event_seq: 9 })).toBe(true);
    expect(t.get('m5')!.reactions).toEqual([{ emoji: '👍', count: 1, user_ids: ['a'] }]);
    // A history page with the older state does not undo it; a newer state replaces it.
    t.applyPage([msg(5)], true, false);
    expect(t.get('m5')!.reactions).toHaveLength(1);
    t.apply(msg(5, { updated_seq: 10, reactions: [] }));
    expect(t.get('m5')!.reactions).toEqual([]);
    // A deleted message takes no reactions.
    t.apply(msg(5, { updated_seq: 11, deleted: true, content: null }));
    expect(t.applyReaction({ ...d, message_id: 'm5', event_seq: 12 })).toBe(false);
  });

  it('takes the newer state of a message and ignores older ones', () => {
    const t = new Timeline(CH);
    t.applyPage([msg(1), msg(2)], false, false);
    const edited = msg(1, { updated_seq: 6, content: { kind: 'text', text: 'edited' }, edited_at: '2026-11-28T11:00:00Z' });
    expect(t.apply(edited, 6)).toBe(true);
    // a late copy of the original (e.g. from a history page) does not undo the edit
    expect(t.apply(msg(1))).toBe(false);
    expect(t.get('m1')?.content).toEqual({ kind: 'text', text: 'edited' });
    const deleted = msg(1, { updated_seq: 8, content: null, deleted: true });
    t.apply(deleted, 8);
    expect(t.get('m1')?.deleted).toBe(true);
    expect(t.cursor).toBe(8);
  });

  it('does not insert a message older than the loaded window while older history remains', () => {
    const t = new Timeline(CH);
    t.applyPage([msg(50), msg(51)], true, false);
    expect(t.apply(msg(10, { updated_seq: 60 }), 60)).toBe(false);
    expect(seqs(t)).toEqual([50, 51]);
    // the cursor still moves: the change was seen
    expect(t.cursor).toBe(60);
    // scroll-back pages extend the window backwards
    t.applyPage([msg(10, { updated_seq: 60 }), msg(20)], false, true);
    expect(seqs(t)).toEqual([10, 20, 50, 51]);
    expect(t.hasMoreBefore).toBe(false);
    expect(t.oldestSeq).toBe(10);
    expect(t.newestSeq).toBe(51);
  });

  it('inserts older messages once the whole history is loaded', () => {
    const t = new Timeline(CH);
    t.applyPage([msg(5)], false, false);
    expect(t.apply(msg(2))).toBe(true);
    expect(seqs(t)).toEqual([2, 5]);
  });

  it('matches a send to its message by nonce, ack first or created first', () => {
    const t = new Timeline(CH);
    t.applyPage([], false, false);
    const content = { kind: 'text' as const, text: 'hi' };
    t.addPending({ nonce: 'n1', content, reply_to: null, created_at: '2026-11-28T10:00:00Z' });
    expect(t.pending.map((p) => p.status)).toEqual(['sending']);
    // ack first: a provisional message replaces the pending one
    expect(t.ack('n1', 'id1', 4, ME)).toBe(true);
    expect(t.pending).toEqual([]);
    expect(t.messages.map((m) => [m.id, m.seq, m.sender_id, m.channel_id])).toEqual([['id1', 4, ME, CH]]);
    // then the server's copy replaces it, though its updated_seq is the same
    const server = msg(4, { id: 'id1', sender_id: ME, content, created_at: '2026-11-28T10:00:01Z' });
    expect(t.apply(server, 4)).toBe(true);
    expect(t.messages).toHaveLength(1);
    expect(t.messages[0]!.created_at).toBe('2026-11-28T10:00:01Z');
    // and a second copy of the same state changes nothing
    expect(t.apply(server, 4)).toBe(false);

    // created first, then the ack: still one message
    t.addPending({ nonce: 'n2', content, reply_to: null, created_at: '2026-11-28T10:01:00Z' });
    t.apply(msg(6, { id: 'id2', sender_id: ME }), 6);
    expect(t.ack('n2', 'id2', 6, ME)).toBe(true);
    expect(t.pending).toEqual([]);
    expect(t.messages.map((m) => m.id)).toEqual(['id1', 'id2']);
    // an ack for an unknown nonce (another tab's send) is ignored
    expect(t.ack('n3', 'id3', 7, ME)).toBe(false);
  });

  it('marks failed sends and retries them with the same nonce', () => {
    const t = new Timeline(CH);
    t.addPending({ nonce: 'n1', content: { kind: 'text', text: 'x' }, reply_to: 'm1', created_at: '2026-11-28T10:00:00Z' });
    t.fail('n1', 'slow mode');
    expect(t.pending[0]).toMatchObject({ status: 'failed', error: 'slow mode' });
    const again = t.retry('n1');
    expect(again).toMatchObject({ nonce: 'n1', status: 'sending', error: null, reply_to: 'm1' });
    t.discard('n1');
    expect(t.pending).toEqual([]);
  });
});

describe('unread and grouping', () => {
  it('counts unread messages from others after the read marker', () => {
    const list = [msg(1), msg(2, { sender_id: ME }), msg(3), msg(4, { deleted: true, content: null }), msg(5)];
    expect(countUnread(list, 0, ME)).toBe(3);
    expect(countUnread(list, 3, ME)).toBe(1);
    expect(countUnread(list, 5, ME)).toBe(0);
    expect(firstUnreadId(list, 1, ME)).toBe('m3');
    expect(firstUnreadId(list, 5, ME)).toBeNull();
  });

  it('groups consecutive messages of one sender within five minutes on the same day', () => {
    const a = msg(1, { created_at: '2026-11-28T10:00:00Z' });
    expect(continues(a, msg(2, { created_at: '2026-11-28T10:04:00Z' }))).toBe(true);
    expect(continues(a, msg(2, { created_at: '2026-11-28T10:06:00Z' }))).toBe(false);
    expect(continues(a, msg(2, { created_at: '2026-11-28T10:01:00Z', sender_id: 'third' }))).toBe(false);
    expect(continues(a, msg(2, { created_at: '2026-11-28T10:01:00Z', reply_to: 'm1' }))).toBe(false);
    expect(continues(undefined, a)).toBe(false);
    expect(differentDay('2026-11-28T10:00:00', '2026-11-28T23:59:00')).toBe(false);
    expect(differentDay('2026-11-28T23:59:00', '2026-11-29T00:01:00')).toBe(true);
  });
});
