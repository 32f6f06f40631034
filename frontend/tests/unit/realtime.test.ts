import { describe, expect, it } from 'vitest';
import { RealtimeSocket, backoff } from '../../src/lib/realtime/socket';
import { parseServerFrame } from '../../src/lib/realtime/frames';
import { ChatStore, newNonce } from '../../src/lib/chat/store.svelte';
import type { ApiClient } from '../../src/lib/api/client';
import type { Channel, Message } from '../../src/lib/api/types';
import { E2e } from '../../src/lib/e2e/engine.svelte';
import { Keystore } from '../../src/lib/e2e/keystore';
import { MemoryStore } from '../../src/lib/storage/kv';

/** A WebSocket stand-in: records what is sent, lets the test open, answer and close it. */
class FakeWs {
  static all: FakeWs[] = [];
  readyState: 0 | 1 | 2 | 3 = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closedWith: number | null = null;
  constructor(readonly url: string) {
    FakeWs.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.closedWith = code;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent);
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code } as CloseEvent);
  }
  types() {
    return this.sent.map((f) => f.type);
  }
}

/** Timers run by hand. */
class Clock {
  timers = new Map<number, { fn: () => void; ms: number }>();
  next = 1;
  set = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.timers.set(id, { fn, ms });
    return id;
  };
  clear = (id: unknown) => {
    this.timers.delete(id as number);
  };
  runAll() {
    const list = [...this.timers.entries()];
    this.timers.clear();
    for (const [, t] of list) t.fn();
  }
}

const flush = () => new Promise((r) => setTimeout(r, 0));
const READY = { type: 'ready', protocol_version: 1, user_id: 'me', session_id: 's', heartbeat_secs: 30 };

function socket(token: () => Promise<string> = async () => 'tok') {
  FakeWs.all = [];
  const clock = new Clock();
  const frames: unknown[] = [];
  const statuses: string[] = [];
  let unauthorized = 0;
  const s = new RealtimeSocket({
    url: 'ws://test/api/v1/ws',
    token,
    onFrame: (f) => frames.push(f),
    onStatus: (st) => statuses.push(st),
    onUnauthorized: () => unauthorized++,
    createSocket: (url) => new FakeWs(url),
    setTimer: clock.set,
    clearTimer: clock.clear,
    random: () => 0.5,
  });
  return { s, clock, frames, statuses, unauthorized: () => unauthorized };
}

describe('RealtimeSocket', () => {
  it('authenticates first, and sends only once ready', async () => {
    const { s, frames, statuses } = socket();
    s.start();
    const ws = FakeWs.all[0]!;
    expect(s.send({ type: 'ping' })).toBe(false);
    ws.open();
    await flush();
    expect(ws.sent).toEqual([{ type: 'authenticate', token: 'tok' }]);
    expect(s.send({ type: 'ping' })).toBe(false);
    ws.receive(READY);
    expect(s.status).toBe('ready');
    expect(s.send({ type: 'ping' })).toBe(true);
    expect(ws.types()).toEqual(['authenticate', 'ping']);
    expect(frames).toEqual([READY]);
    expect(statuses).toEqual(['connecting', 'ready']);
  });

  it('reconnects after a drop with growing delays, and resets them once ready', async () => {
    const { s, clock, statuses } = socket();
    s.start();
    FakeWs.all[0]!.drop();
    expect(s.status).toBe('offline');
    expect([...clock.timers.values()].map((t) => t.ms)).toEqual([500]);
    clock.runAll();
    expect(FakeWs.all).toHaveLength(2);
    FakeWs.all[1]!.drop();
    expect([...clock.timers.values()].map((t) => t.ms)).toEqual([1000]);
    clock.runAll();
    const ws = FakeWs.all[2]!;
    ws.open();
    await flush();
    ws.receive(READY);
    expect(statuses.slice(-2)).toEqual(['connecting', 'ready']);
    ws.drop();
    // ready reset the attempts
    expect([...clock.timers.values()].filter((t) => t.ms !== 30_000).map((t) => t.ms)).toEqual([500]);
  });

  it('stops for good when stopped, and when no token can be had', async () => {
    const { s, clock } = socket();
    s.start();
    s.stop();
    expect(FakeWs.all[0]!.closedWith).toBe(1000);
    expect(clock.timers.size).toBe(0);
    expect(s.status).toBe('stopped');

    const t = socket(async () => {
      throw new Error('signed out');
    });
    t.s.start();
    FakeWs.all[0]!.open();
    await flush();
    expect(t.s.status).toBe('stopped');
    expect(t.unauthorized()).toBe(1);
  });

  it('pings each heartbeat and drops a connection that went silent', async () => {
    const { s, clock } = socket();
    s.start();
    const ws = FakeWs.all[0]!;
    ws.open();
    await flush();
    ws.receive(READY);
    clock.runAll();
    expect(ws.types()).toEqual(['authenticate', 'ping']);
  });

  it('backs off from half a second to thirty, with jitter', () => {
    expect(backoff(0, () => 0.5)).toBe(500);
    expect(backoff(3, () => 0.5)).toBe(4000);
    expect(backoff(20, () => 0.5)).toBe(30_000);
    expect(backoff(0, () => 0)).toBe(375);
    expect(backoff(0, () => 0.999999)).toBe(625);
  });

  it('ignores frames that are not known server frames', () => {
    expect(parseServerFrame('not json')).toBeNull();
    expect(parseServerFrame('{"type":"evil"}')).toBeNull();
    expect(parseServerFrame('{"type":"message_created","event_seq":1}')).toBeNull();
    expect(parseServerFrame(new ArrayBuffer(2))).toBeNull();
    expect(parseServerFrame('{"type":"pong"}')).toEqual({ type: 'pong' });
  });
});

// ---- the chat store over a fake API and socket

function channel(id: string, over: Partial<Channel> = {}): Channel {
  return {
    id,
    community_id: 'c1',
    kind: 'text',
    name: id,
    topic: '',
    e2e: false,
    slow_mode_secs: 0,
    archived: false,
    last_seq: 0,
    last_read_seq: 0,
    unread: 0,
    ...over,
  };
}

function message(channelId: string, seq: number, sender = 'other', text = `m${seq}`): Message {
  return {
    id: `${channelId}-${seq}`,
    channel_id: channelId,
    seq,
    updated_seq: seq,
    sender_id: sender,
    content: { kind: 'text', text },
    reply_to: null,
    created_at: '2026-11-28T10:00:00Z',
    edited_at: null,
    deleted: false,
    reactions: [],
  };
}

async function chatStore(channels: Channel[], pages: Record<string, Message[]> = {}) {
  FakeWs.all = [];
  const clock = new Clock();
  const api = {
    communities: async () => [{ id: 'c1', name: 'C', description: '', visibility: 'public', owner_id: 'x', role: 'member', created_at: '' }],
    channels: async () => channels.map((c) => ({ ...c })),
    messages: async (id: string) => ({ messages: pages[id] ?? [], has_more: false }),
    token: async () => 'tok',
  } as unknown as ApiClient;
  const e2e = new E2e(new Keystore(new MemoryStore()));
  const chat = new ChatStore({
    api,
    e2e,
    me: () => ({ id: 'me', display_name: 'Me' }),
    socket: { createSocket: (url) => new FakeWs(url), setTimer: clock.set, clearTimer: clock.clear, random: () => 0.5 },
  });
  await chat.start();
  const ws = FakeWs.all[0]!;
  ws.open();
  await flush();
  ws.receive(READY);
  return { chat, ws, clock };
}

describe('ChatStore', () => {
  it('applies live list frames: channels, community changes, joins, role changes and removal', async () => {
    const { chat, ws } = await chatStore([channel('a', { last_seq: 3, unread: 2, last_read_seq: 1 })]);
    ws.receive({ type: 'channel_created', channel: { ...channel('b'), last_seq: 4 } });
    expect(chat.channelsOf('c1').map((c) => c.id)).toEqual(['a', 'b']);
    expect(ws.sent.at(-1)).toEqual({ type: 'subscribe', channels: [{ channel_id: 'b', after_seq: 4 }] });
    // twice is harmless; an update keeps the read state
    ws.receive({ type: 'channel_created', channel: channel('b') });
    ws.receive({ type: 'channel_updated', channel: { ...channel('a'), name: 'renamed', can_post: false } });
    expect(chat.channelsOf('c1').length).toBe(2);
    expect(chat.channel('a')).toMatchObject({ name: 'renamed', can_post: false, unread: 2, last_read_seq: 1, last_seq: 3 });
    ws.receive({ type: 'channel_deleted', channel_id: 'b', community_id: 'c1' });
    expect(chat.channel('b')).toBeUndefined();
    ws.receive({ type: 'community_updated', community: { ...chat.community('c1')!, name: 'New', role: null } });
    expect(chat.community('c1')).toMatchObject({ name: 'New', role: 'member' });
    ws.receive({ type: 'member_joined', community_id: 'c1', member: { user_id: 'u2', username: 'bob', display_name: 'Bob', role: 'member', joined_at: '' } });
    expect(chat.nameOf('u2')).toBe('Bob');
    ws.receive({ type: 'member_role_changed', community_id: 'c1', user_id: 'me', role: 'moderator' });
    expect(chat.community('c1')!.role).toBe('moderator');
    ws.receive({ type: 'member_left', community_id: 'c1', user_id: 'me', reason: 'kicked' });
    expect(chat.community('c1')).toBeUndefined();
    expect(chat.channels).toEqual([]);
  });

  it('subscribes every channel from its cursor when ready', async () => {
    const { ws } = await chatStore([channel('a', { last_seq: 7 }), channel('b', { last_seq: 0 })]);
    expect(ws.sent[1]).toEqual({
      type: 'subscribe',
      channels: [
        { channel_id: 'a', after_seq: 7 },
        { channel_id: 'b', after_seq: 0 },
      ],
    });
  });

  it('counts unread messages from others in channels not being read, and clears them', async () => {
    const { chat, ws } = await chatStore([channel('a', { last_seq: 2, last_read_seq: 2 })], {
      a: [message('a', 3), message('a', 4, 'me'), message('a', 5)],
    });
    ws.receive({ type: 'message_created', event_seq: 3, message: message('a', 3) });
    ws.receive({ type: 'message_created', event_seq: 4, message: message('a', 4, 'me') });
    ws.receive({ type: 'message_created', event_seq: 5, message: message('a', 5) });
    expect(chat.channel('a')!.unread).toBe(2);
    expect(chat.channel('a')!.last_seq).toBe(5);
    await chat.open('a');
    expect(chat.views.get('a')!.dividerAfter).toBe(2);
    chat.markRead('a');
    expect(ws.sent.at(-1)).toEqual({ type: 'mark_read', channel_id: 'a', seq: 5 });
    expect(chat.channel('a')!.unread).toBe(0);
  });

  it('loads a channel, merges live traffic and marks read up to the newest message', async () => {
    const { chat, ws } = await chatStore([channel('a', { last_seq: 2, unread: 1, last_read_seq: 1 })], {
      a: [message('a', 1), message('a', 2)],
    });
    await chat.open('a');
    const t = chat.views.get('a')!.timeline;
    expect(t.messages.map((m) => m.seq)).toEqual([1, 2]);
    // after loading, the channel is subscribed again from the page's cursor
    expect(ws.sent.at(-1)).toEqual({ type: 'subscribe', channels: [{ channel_id: 'a', after_seq: 2 }] });
    ws.receive({ type: 'message_created', event_seq: 3, message: message('a', 3) });
    ws.receive({ type: 'message_created', event_seq: 3, message: message('a', 3) });
    expect(t.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(chat.channel('a')!.unread).toBe(2);
    chat.markRead('a');
    expect(ws.sent.at(-1)).toEqual({ type: 'mark_read', channel_id: 'a', seq: 3 });
    expect(chat.channel('a')!.unread).toBe(0);
    expect(chat.channel('a')!.last_read_seq).toBe(3);
    // another session read further: the marker follows
    ws.receive({ type: 'read_marker', channel_id: 'a', seq: 3 });
    expect(chat.channel('a')!.unread).toBe(0);
  });

  it('sends with a nonce, resends the same nonce after a reconnect, and settles on the ack', async () => {
    const { chat, ws, clock } = await chatStore([channel('a')]);
    await chat.open('a');
    chat.sendText('a', '  hello  ', null);
    const sent = ws.sent.at(-1) as { nonce: string };
    expect(sent).toMatchObject({ type: 'send_message', channel_id: 'a', content: { kind: 'text', text: 'hello' } });
    expect(sent.nonce).toMatch(/^[0-9a-f]{32}$/);
    ws.drop();
    clock.runAll();
    const ws2 = FakeWs.all[1]!;
    ws2.open();
    await flush();
    ws2.receive(READY);
    const again = ws2.sent.filter((f) => f.type === 'send_message');
    expect(again).toEqual([ws.sent.at(-1)]);
    ws2.receive({ type: 'message_acked', channel_id: 'a', nonce: sent.nonce, message_id: 'a-1', seq: 1 });
    ws2.receive({ type: 'message_acked', channel_id: 'a', nonce: sent.nonce, message_id: 'a-1', seq: 1 });
    ws2.receive({ type: 'message_created', event_seq: 1, message: { ...message('a', 1, 'me', 'hello') } });
    const t = chat.views.get('a')!.timeline;
    expect(t.pending).toEqual([]);
    expect(t.messages.map((m) => m.id)).toEqual(['a-1']);
    expect(chat.channel('a')!.unread).toBe(0);
  });

  it('fails a send the server refuses, and never sends in an end-to-end channel while the keys are locked', async () => {
    const { chat, ws } = await chatStore([channel('a'), channel('s', { e2e: true })]);
    await chat.open('a');
    chat.sendText('a', 'too fast');
    const nonce = (ws.sent.at(-1) as { nonce: string }).nonce;
    ws.receive({ type: 'error', code: 'slow_mode', message: 'slow mode: wait 5 s', frame: 'send_message', nonce });
    expect(chat.views.get('a')!.timeline.pending[0]).toMatchObject({ status: 'failed', error: 'slow mode: wait 5 s' });
    const before = ws.sent.length;
    await chat.open('s');
    chat.sendText('s', 'secret');
    expect(chat.edit('s', 'x', 'secret')).toBe(false);
    expect(ws.sent.slice(before).filter((f) => f.type === 'send_message' || f.type === 'edit_message')).toEqual([]);
    expect(chat.sendBlock('s')).toMatch(/keys are locked.*Nothing is sent unencrypted/);
    expect(chat.sendBlock('a')).toBeNull();
    // refusals not tied to a send are shown, except for typing and read markers
    ws.receive({ type: 'error', code: 'rate_limited', message: 'too many typing frames', frame: 'start_typing' });
    expect(chat.notice).toBeNull();
    ws.receive({ type: 'error', code: 'forbidden', message: 'not your message', frame: 'edit_message' });
    expect(chat.notice).toBe('not your message');
  });

  it('tracks typing and presence per channel, and toggles reactions', async () => {
    let now = 1000;
    const { chat, ws } = await chatStore([channel('a')]);
    (chat as unknown as { now: () => number }).now = () => now;
    ws.receive({ type: 'subscribed', channel_id: 'a', last_seq: 0, present: [['other', 'online'], ['me', 'online']] });
    ws.receive({ type: 'presence_changed', channel_id: 'a', user_id: 'third', presence: 'idle' });
    expect(chat.views.get('a')!.present).toEqual({ other: 'online', me: 'online', third: 'idle' });
    ws.receive({ type: 'typing', channel_id: 'a', user_id: 'other' });
    expect(chat.typingIn('a')).toEqual(['other']);
    now += 7000;
    expect(chat.typingIn('a')).toEqual([]);
    chat.typing('a');
    chat.typing('a');
    expect(ws.sent.filter((f) => f.type === 'start_typing')).toHaveLength(1);
    const m = { ...message('a', 1), reactions: [{ emoji: '👍', count: 1, user_ids: ['me'] }] };
    chat.toggleReaction(m, '👍');
    chat.toggleReaction(m, '🎉');
    expect(ws.sent.slice(-2).map((f) => [f.type, f.emoji])).toEqual([
      ['remove_reaction', '👍'],
      ['add_reaction', '🎉'],
    ]);
  });

  it('makes distinct random nonces', () => {
    const seen = new Set(Array.from({ length: 100 }, newNonce));
    expect(seen.size).toBe(100);
  });
});
