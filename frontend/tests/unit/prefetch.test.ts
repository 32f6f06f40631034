// Reading back: once the reader has loaded an older page, the next one is fetched ahead, so the
// following scroll waits for nothing but showing it; a change to a message it may hold, closing
// the view, or time drops it and the page is fetched again.
import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/lib/api/types';
import { PAGE_SIZE, PREFETCH_FRESH_MS } from '../../src/lib/chat/store.svelte';
import { channel, chatStore, message } from './chatharness';
import { flush } from './fakews';

/** A channel of `n` messages and an API that pages them as the server does, counting calls. */
function history(n: number) {
  const all: Message[] = Array.from({ length: n }, (_, i) => message('h', i + 1));
  const calls: Array<number | null> = [];
  const messages = async (_id: string, q: { before_seq?: number; limit?: number }) => {
    calls.push(q.before_seq ?? null);
    const before = q.before_seq ?? Infinity;
    const older = all.filter((m) => m.seq < before);
    const page = older.slice(-(q.limit ?? PAGE_SIZE));
    return { messages: page.map((m) => ({ ...m })), has_more: older.length > page.length };
  };
  return { all, calls, messages };
}

describe('reading back through older pages', () => {
  it('fetches the next older page ahead once the reader scrolled back, and shows it from there', async () => {
    const h = history(4 * PAGE_SIZE);
    const { chat } = await chatStore([channel('h', { last_seq: h.all.length })], {}, { messages: h.messages });
    await chat.openChannel('h');
    expect(h.calls).toEqual([null]); // opening alone fetches nothing ahead
    expect(await chat.loadOlder('h')).toBe(true);
    await flush();
    // the page asked for, then the one before it, ahead
    expect(h.calls).toEqual([null, 151, 101]);
    expect(await chat.loadOlder('h')).toBe(true);
    await flush();
    // shown from the page fetched ahead; the last one fetched ahead in turn
    expect(h.calls).toEqual([null, 151, 101, 51]);
    expect(await chat.loadOlder('h')).toBe(true);
    await flush();
    const t = chat.views.get('h')!.timeline;
    expect(t.messages.map((m) => m.seq)).toEqual(h.all.map((m) => m.seq));
    expect(t.hasMoreBefore).toBe(false);
    expect(await chat.loadOlder('h')).toBe(false);
    expect(h.calls).toEqual([null, 151, 101, 51]);
  });

  it('drops the page fetched ahead when one of its messages changes, and fetches it again', async () => {
    const h = history(4 * PAGE_SIZE);
    const { chat, ws } = await chatStore([channel('h', { last_seq: h.all.length })], {}, { messages: h.messages });
    await chat.openChannel('h');
    await chat.loadOlder('h');
    await flush();
    expect(chat.views.get('h')!.prefetched?.before).toBe(101);
    // an edit of message 60 (in the page fetched ahead, not held yet)
    h.all[59] = { ...h.all[59]!, updated_seq: 201, content: { kind: 'text', text: 'edited' }, edited_at: '2026-11-28T10:05:00Z' };
    ws.receive({ type: 'message_updated', event_seq: 201, message: h.all[59] });
    expect(chat.views.get('h')!.prefetched).toBeNull();
    await chat.loadOlder('h');
    await flush();
    expect(h.calls).toEqual([null, 151, 101, 101, 51]);
    const shown = chat.views.get('h')!.timeline.get('h-60')!;
    expect(shown.content).toEqual({ kind: 'text', text: 'edited' });
    // a reaction to a message not held yet drops it too; one to a held message does not
    ws.receive({ type: 'reaction_changed', channel_id: 'h', message_id: 'h-120', event_seq: 202, user_id: 'other', emoji: '🎉', present: true, count: 1 });
    expect(chat.views.get('h')!.prefetched?.before).toBe(51);
    ws.receive({ type: 'reaction_changed', channel_id: 'h', message_id: 'h-20', event_seq: 203, user_id: 'other', emoji: '🎉', present: true, count: 1 });
    expect(chat.views.get('h')!.prefetched).toBeNull();
  });

  it('forgets it when the view closes, when it failed, and when it waited too long', async () => {
    const h = history(5 * PAGE_SIZE);
    let failAt: number | null = null;
    const messages = async (id: string, q: { before_seq?: number; limit?: number }) => {
      if (q.before_seq === failAt) {
        failAt = null;
        h.calls.push(-1);
        throw new Error('offline');
      }
      return h.messages(id, q);
    };
    const { chat } = await chatStore([channel('h', { last_seq: h.all.length })], {}, { messages });
    await chat.openChannel('h');
    failAt = 151;
    await chat.loadOlder('h'); // the page asked for comes; the one ahead fails
    await flush();
    await chat.loadOlder('h'); // so it is asked for again
    await flush();
    expect(h.calls).toEqual([null, 201, -1, 151, 101]);
    expect(chat.views.get('h')!.loadError).toBeNull();
    chat.closeChannel('h');
    expect(chat.views.get('h')!.prefetched).toBeNull();
    await chat.openChannel('h');
    await chat.loadOlder('h');
    await flush();
    expect(h.calls).toEqual([null, 201, -1, 151, 101, 101, 51]);
    // kept too long: fetched again
    const v = chat.views.get('h')!;
    v.prefetched!.at -= PREFETCH_FRESH_MS + 1;
    await chat.loadOlder('h');
    await flush();
    expect(h.calls).toEqual([null, 201, -1, 151, 101, 101, 51, 51]);
    expect(v.timeline.messages.length).toBe(5 * PAGE_SIZE);
  });
});
