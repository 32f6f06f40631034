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

  it('merges an older page before the held messages, once each, the newer state kept', () => {
    const t = new Timeline(CH);
    t.applyPage(Array.from({ length: 50 }, (_, i) => msg(101 + i)), true, false);
    // An edit of 101 arrived live; the scroll-back page overlaps with 101 and 102 in their old state.
    t.apply(msg(101, { updated_seq: 200, content: { kind: 'text', text: 'edited' } }), 200);
    t.applyPage(Array.from({ length: 52 }, (_, i) => msg(51 + i)), true, true);
    expect(seqs(t)).toEqual(Array.from({ length: 100 }, (_, i) => 51 + i));
    expect(t.get('m101')!.content).toEqual({ kind: 'text', text: 'edited' });
    expect(t.hasMoreBefore).toBe(true);
    // The last page says nothing lies before it; a deleted message is kept in its place.
    t.applyPage([msg(49), msg(50, { updated_seq: 190, deleted: true, content: null })], false, true);
    expect(seqs(t).slice(0, 3)).toEqual([49, 50, 51]);
    expect(t.get('m50')!.deleted).toBe(true);
    expect(t.hasMoreBefore).toBe(false);
    expect(t.cursor).toBe(200);
  });

  it('merges a newer page after the held messages, keeping the no-holes rule', () => {
    const t = new Timeline(CH);
    t.applyPage([msg(10), msg(11), msg(12)], true, false);
    const before = t.messages;
    // Nothing new: the list is not written.
    t.applyPage([msg(11), msg(12)], true, false);
    expect(t.messages).toBe(before);
    // 5 lies before the window while older history remains: it is left for scroll-back.
    t.applyPage([msg(5, { updated_seq: 14 }), msg(12, { updated_seq: 15, content: { kind: 'text', text: 'v2' } }), msg(13), msg(14)], false, false);
    expect(seqs(t)).toEqual([10, 11, 12, 13, 14]);
    expect(t.get('m12')!.content).toEqual({ kind: 'text', text: 'v2' });
    // A page that is not a scroll-back page does not say what lies before the window.
    expect(t.hasMoreBefore).toBe(true);
    expect(t.cursor).toBe(15);
    // Once the whole history is held, an older message is inserted in its place.
    t.applyPage([msg(1)], false, true);
    t.applyPage([msg(3), msg(15)], true, false);
    expect(seqs(t)).toEqual([1, 3, 10, 11, 12, 13, 14, 15]);
    expect(t.hasMoreBefore).toBe(false);
  });

  it('merges a page out of order and with repeats: each message once, its newest state', () => {
    const t = new Timeline(CH);
    t.applyPage([msg(20), msg(21)], true, false);
    t.applyPage(
      [msg(8), msg(19, { updated_seq: 30, deleted: true, content: null }), msg(9), msg(19), msg(21, { updated_seq: 25 }), msg(8, { updated_seq: 22 }), msg(21)],
      true,
      true,
    );
    expect(seqs(t)).toEqual([8, 9, 19, 20, 21]);
    expect(t.get('m8')!.updated_seq).toBe(22);
    expect(t.get('m19')!.deleted).toBe(true);
    expect(t.get('m21')!.updated_seq).toBe(25);
    expect(t.cursor).toBe(30);
  });

  it('takes the server copy of an acknowledged send from a page, once', () => {
    const t = new Timeline(CH);
    t.applyPage([msg(3)], false, false);
    const content = { kind: 'text' as const, text: 'mine' };
    t.addPending({ nonce: 'n1', content, reply_to: null, created_at: '2026-11-28T10:00:00Z' });
    t.ack('n1', 'm4', 4, ME);
    const server = msg(4, { sender_id: ME, content, created_at: '2026-11-28T10:00:01Z' });
    t.applyPage([msg(3), server], false, false);
    expect(t.messages.map((m) => [m.id, m.created_at])).toEqual([
      ['m3', msg(3).created_at],
      ['m4', '2026-11-28T10:00:01Z'],
    ]);
    // It is no longer provisional: another copy of the same state changes nothing.
    const held = t.messages;
    t.applyPage([msg(4, { sender_id: ME, content, created_at: '2026-11-28T10:00:02Z' })], false, false);
    expect(t.messages).toBe(held);
  });

  it('merges a page as applying its messages one by one would (seeded model)', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    // What applyPage did before it merged: each message through `apply`, the no-holes rule off
    // for the first page and scroll-back pages.
    const oneByOne = (t: Timeline, page: Message[], hasMore: boolean, older: boolean) => {
      if (!t.loaded || older) {
        t.loaded = false;
        for (const m of page) t.apply(m);
        t.loaded = true;
        t.hasMoreBefore = hasMore;
      } else for (const m of page) t.apply(m);
    };
    for (let run = 0; run < 40; run++) {
      const a = new Timeline(CH);
      const b = new Timeline(CH);
      const version = (seq: number) => {
        const u = seq + rand(3) * 100;
        return rand(6) === 0 ? msg(seq, { updated_seq: u, deleted: true, content: null }) : msg(seq, { updated_seq: u, content: { kind: 'text', text: `v${u}` } });
      };
      for (let step = 0; step < 30; step++) {
        const op = rand(4);
        if (op === 0) {
          const m = version(1 + rand(80));
          expect(a.apply(m, m.updated_seq)).toBe(b.apply(m, m.updated_seq));
        } else if (op === 1 && a.loaded) {
          const seq = 1 + rand(80);
          const nonce = `n${run}-${step}`;
          const content = { kind: 'text' as const, text: nonce };
          for (const t of [a, b]) {
            t.addPending({ nonce, content, reply_to: null, created_at: '2026-11-28T10:00:00Z' });
            t.ack(nonce, `m${seq}`, seq, ME);
          }
        } else {
          const start = 1 + rand(80);
          const page = Array.from({ length: rand(12) }, () => version(start + rand(15)));
          if (rand(2) === 0) page.sort((x, y) => x.seq - y.seq);
          const hasMore = rand(3) > 0;
          const older = rand(2) === 0;
          a.applyPage(page, hasMore, older);
          oneByOne(b, page, hasMore, older);
        }
        expect(a.messages).toEqual(b.messages);
        expect([a.cursor, a.loaded, a.hasMoreBefore]).toEqual([b.cursor, b.loaded, b.hasMoreBefore]);
      }
    }
  });

  it('applies 50 older pages of 100 messages writing the list once per page', () => {
    const t = new Timeline(CH);
    // Counts what is written to the reactive list: each write copies every element it holds.
    const d = Object.getOwnPropertyDescriptor(Timeline.prototype, 'messages')!;
    let writes = 0;
    let copied = 0;
    Object.defineProperty(t, 'messages', {
      get: () => d.get!.call(t) as Message[],
      set: (v: Message[]) => {
        writes++;
        copied += v.length;
        d.set!.call(t, v);
      },
    });
    const page = (p: number) => Array.from({ length: 100 }, (_, i) => msg(5000 - 100 * p - 99 + i));
    const pages = Array.from({ length: 50 }, (_, p) => page(p));
    const started = performance.now();
    t.applyPage(pages[0]!, true, false);
    for (let p = 1; p < 50; p++) t.applyPage(pages[p]!, p < 49, true);
    const ms = performance.now() - started;
    expect(t.messages).toHaveLength(5000);
    expect(seqs(t)).toEqual(Array.from({ length: 5000 }, (_, i) => 1 + i));
    expect(t.hasMoreBefore).toBe(false);
    // One write per page of (held + page) elements: 127,500 in all. One by one it was a write
    // per message and about 12.5 million elements.
    expect(writes).toBe(50);
    expect(copied).toBe(127_500);
    expect(ms).toBeLessThan(1000);
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
