import { describe, expect, it } from 'vitest';
import { MIN_RENEW_GAP_MS, RealtimeSocket, backoff, renewDelay, type SocketOptions } from '../../src/lib/realtime/socket';
import { parseServerFrame } from '../../src/lib/realtime/frames';
import { newNonce } from '../../src/lib/chat/store.svelte';
import { ApiError } from '../../src/lib/api/client';
import { Clock, FakeWs, READY, flush } from './fakews';
import { channel, chatStore, message, renewals } from './chatharness';

function socket(token: () => Promise<string> = async () => 'tok', extra: Partial<SocketOptions> = {}) {
  FakeWs.all = [];
  const clock = new Clock();
  const frames: unknown[] = [];
  const statuses: string[] = [];
  let unauthorized = 0;
  const s = new RealtimeSocket({
    ...extra,
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

  it('renews the token ahead of expiry: 80 % of its life, a minute before, or half a short one', () => {
    expect(renewDelay(900_000)).toBe(720_000);
    expect(renewDelay(240_000)).toBe(180_000);
    expect(renewDelay(120_000)).toBe(60_000);
    expect(renewDelay(30_000)).toBe(15_000);
    expect(renewDelay(0)).toBeNull();
    expect(renewDelay(-5_000)).toBeNull();
    expect(renewDelay(NaN)).toBeNull();
  });

  /** A socket whose server clock is `now` and whose renewals hand out tok-1, tok-2, … */
  async function renewing(over: { renewToken?: (current: string | null) => Promise<string> } = {}) {
    let now = Date.parse('2026-11-28T10:00:00Z');
    let n = 0;
    const asked: (string | null)[] = [];
    const t = socket(async () => 'tok-0', {
      now: () => now,
      renewToken:
        over.renewToken ??
        (async (current) => {
          asked.push(current);
          return `tok-${++n}`;
        }),
    });
    t.s.start();
    const ws = FakeWs.all[0]!;
    ws.open();
    await flush();
    const at = (ms: number) => new Date(now + ms).toISOString();
    return { ...t, ws, asked, at, advance: (ms: number) => (now += ms) };
  }

  it('after a close with 4001 asks for a token newer than the refused one; a session that is gone stops it', async () => {
    const { s, ws, clock, asked } = await renewing();
    ws.receive(READY);
    // A drop for another reason presents the held token again.
    ws.drop(1006);
    clock.runAll();
    FakeWs.all[1]!.open();
    await flush();
    expect(FakeWs.all[1]!.sent).toEqual([{ type: 'authenticate', token: 'tok-0' }]);
    expect(asked).toEqual([]);
    // 4001 (the session revoked, say): the next connection asks for a newer token.
    FakeWs.all[1]!.drop(4001);
    clock.runAll();
    FakeWs.all[2]!.open();
    await flush();
    expect(asked).toEqual(['tok-0']);
    expect(FakeWs.all[2]!.sent).toEqual([{ type: 'authenticate', token: 'tok-1' }]);
    FakeWs.all[2]!.receive(READY);
    // Once ready, a later drop presents the connection's token again.
    FakeWs.all[2]!.drop(1006);
    clock.runAll();
    FakeWs.all[3]!.open();
    await flush();
    expect(asked).toEqual(['tok-0']);
    expect(s.status).toBe('connecting');

    // When no newer token can be had (the refresh of a revoked session is refused), it stops.
    const t = socket(async () => 'tok-0', {
      renewToken: async () => {
        throw new ApiError('invalid_refresh_token', 'revoked', 401);
      },
    });
    t.s.start();
    FakeWs.all[0]!.open();
    await flush();
    FakeWs.all[0]!.receive(READY);
    FakeWs.all[0]!.drop(4001);
    t.clock.runAll();
    FakeWs.all[1]!.open();
    await flush();
    expect(t.s.status).toBe('stopped');
    expect(t.unauthorized()).toBe(1);
  });

  it('schedules a renewal from token_expires_at, sends a newer token, and reschedules on reauthenticated', async () => {
    const { s, ws, clock, asked, at, advance, frames } = await renewing();
    ws.receive({ ...READY, token_expires_at: at(900_000) });
    expect(clock.others()).toEqual([720_000]);
    advance(720_000);
    clock.run(720_000);
    await flush();
    // The token handed out at connect is the one to replace.
    expect(asked).toEqual(['tok-0']);
    expect(ws.sent.at(-1)).toEqual({ type: 'authenticate', token: 'tok-1' });
    expect(clock.others()).toEqual([]);
    // No renewal until the server answers; its answer plans the next one.
    ws.receive({ type: 'reauthenticated', token_expires_at: at(900_000) });
    expect(clock.others()).toEqual([720_000]);
    expect(s.status).toBe('ready');
    advance(720_000);
    clock.run(720_000);
    await flush();
    expect(asked).toEqual(['tok-0', 'tok-1']);
    expect(ws.sent.filter((f) => f.type === 'authenticate').map((f) => f.token)).toEqual(['tok-0', 'tok-1', 'tok-2']);
    // reauthenticated is the socket's own business.
    expect(frames.map((f) => (f as { type: string }).type)).toEqual(['ready']);
  });

  it('reads the deadline on the server clock, and renews a short-lived token halfway', async () => {
    const { ws, clock, at } = await renewing();
    // 90 s left by the server's clock (whatever the local one says): renew after 45 s.
    ws.receive({ ...READY, token_expires_at: at(90_000) });
    expect(clock.others()).toEqual([45_000]);
  });

  it('never renews in a loop: not when the deadline is past, did not move, or within the minimum gap', async () => {
    const t = await renewing();
    // Expired by this clock (clocks disagree): no renewal; the server's close reconnects.
    t.ws.receive({ ...READY, token_expires_at: t.at(-1_000) });
    expect(t.clock.others()).toEqual([]);

    const u = await renewing();
    u.ws.receive({ ...READY, token_expires_at: u.at(900_000) });
    u.advance(720_000);
    u.clock.run(720_000);
    await flush();
    // The server kept the old deadline: renewing again would gain nothing.
    u.ws.receive({ type: 'reauthenticated', token_expires_at: u.at(180_000) });
    expect(u.clock.others()).toEqual([]);

    const v = await renewing();
    v.ws.receive({ ...READY, token_expires_at: v.at(900_000) });
    v.advance(720_000);
    v.clock.run(720_000);
    await flush();
    // The local clock jumped: the new deadline is later than the old one but only seconds
    // ahead by this clock. The next renewal still waits the minimum gap.
    v.advance(175_000);
    v.ws.receive({ type: 'reauthenticated', token_expires_at: v.at(8_000) });
    const [wait] = v.clock.others();
    expect(wait).toBeGreaterThan(MIN_RENEW_GAP_MS - 1_000);
    expect(wait).toBeLessThanOrEqual(MIN_RENEW_GAP_MS);
  });

  it('does not renew after stop, nor after the connection dropped', async () => {
    const { s, ws, clock, at, asked } = await renewing();
    ws.receive({ ...READY, token_expires_at: at(900_000) });
    const timer = [...clock.timers.values()].find((x) => x.ms === 720_000);
    s.stop();
    expect(clock.timers.size).toBe(0);
    timer!.fn(); // even if the timer had fired
    await flush();
    expect(asked).toEqual([]);
    expect(ws.sent.filter((f) => f.type === 'authenticate')).toHaveLength(1);

    // A renewal whose token arrives after stop sends nothing.
    let release: (t: string) => void = () => {};
    const late = await renewing({ renewToken: () => new Promise<string>((r) => (release = r)) });
    late.ws.receive({ ...READY, token_expires_at: late.at(900_000) });
    late.clock.run(720_000);
    late.s.stop();
    release('tok-late');
    await flush();
    expect(late.ws.sent.map((f) => f.token)).toEqual(['tok-0']);

    // A dropped connection takes its renewal with it.
    const gone = await renewing();
    gone.ws.receive({ ...READY, token_expires_at: gone.at(900_000) });
    gone.ws.drop();
    expect(gone.clock.others()).toEqual([500]);
  });

  it('waits for a newer token, retries a failed renewal, and keeps a refused one quiet', async () => {
    // The fallback token() still hands out the held token: nothing is sent, asked again later.
    let handed = 'tok-0';
    const t = socket(async () => handed, { now: () => Date.parse('2026-11-28T10:12:00Z') });
    t.s.start();
    const ws = FakeWs.all[0]!;
    ws.open();
    await flush();
    ws.receive({ ...READY, token_expires_at: '2026-11-28T10:15:00Z' });
    t.clock.run(120_000);
    await flush();
    expect(ws.types()).toEqual(['authenticate']);
    expect(t.clock.others()).toEqual([120_000]);
    handed = 'tok-1';
    t.clock.run(120_000);
    await flush();
    expect(ws.sent.at(-1)).toEqual({ type: 'authenticate', token: 'tok-1' });

    // A failed refresh is tried again before the deadline.
    let fail = true;
    const f = await renewing({
      renewToken: async () => {
        if (fail) throw new Error('network');
        return 'tok-9';
      },
    });
    f.ws.receive({ ...READY, token_expires_at: f.at(900_000) });
    f.advance(720_000);
    f.clock.run(720_000);
    await flush();
    expect(f.clock.others()).toEqual([120_000]);
    fail = false;
    f.clock.run(120_000);
    await flush();
    expect(f.ws.sent.at(-1)).toEqual({ type: 'authenticate', token: 'tok-9' });
    // A token of another session is refused without closing: not shown as an error.
    f.ws.receive({ type: 'error', code: 'invalid_request', message: 'a connection keeps its session', frame: 'authenticate' });
    expect(f.frames.map((x) => (x as { type: string }).type)).toEqual(['ready']);
    expect(f.s.status).toBe('ready');
  });

  it('plans no renewal when ready names no deadline', async () => {
    const { ws, clock } = await renewing();
    ws.receive(READY);
    expect(clock.others()).toEqual([]);
  });

  it('backs off from half a second to thirty, with jitter', () => {
    expect(backoff(0, () => 0.5)).toBe(500);
    expect(backoff(3, () => 0.5)).toBe(4000);
    expect(backoff(20, () => 0.5)).toBe(30_000);
    expect(backoff(0, () => 0)).toBe(375);
    expect(backoff(0, () => 0.999999)).toBe(625);
  });

  it('knows envelope_received: a live envelope is a server frame, a malformed one is not', () => {
    const envelope = {
      id: 'e1',
      sender_user_id: 'u1',
      sender_device_id: 'd1',
      recipient_device_id: 'd2',
      channel_id: 'c1',
      ciphertext: 'AAEC',
      created_at: '2026-11-28T10:00:00Z',
    };
    expect(parseServerFrame(JSON.stringify({ type: 'envelope_received', envelope }))).toEqual({ type: 'envelope_received', envelope });
    expect(parseServerFrame(JSON.stringify({ type: 'envelope_received', envelope: { ...envelope, channel_id: null } }))).not.toBeNull();
    expect(parseServerFrame('{"type":"envelope_received"}')).toBeNull();
    expect(parseServerFrame(JSON.stringify({ type: 'envelope_received', envelope: { ...envelope, ciphertext: 7 } }))).toBeNull();
  });

  it('ignores frames that are not known server frames', () => {
    expect(parseServerFrame('not json')).toBeNull();
    expect(parseServerFrame('{"type":"evil"}')).toBeNull();
    expect(parseServerFrame('{"type":"message_created","event_seq":1}')).toBeNull();
    expect(parseServerFrame(new ArrayBuffer(2))).toBeNull();
    expect(parseServerFrame('{"type":"pong"}')).toEqual({ type: 'pong' });
  });
});

describe('ChatStore', () => {
  it('applies live list frames: channels, community changes, joins, role changes and removal', async () => {
    const { chat, people, ws } = await chatStore([channel('a', { last_seq: 3, unread: 2, last_read_seq: 1 })]);
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
    expect(people.nameOf('u2')).toBe('Bob');
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
    await chat.openChannel('a');
    expect(chat.views.get('a')!.dividerAfter).toBe(2);
    chat.markRead('a');
    expect(ws.sent.at(-1)).toEqual({ type: 'mark_read', channel_id: 'a', seq: 5 });
    expect(chat.channel('a')!.unread).toBe(0);
  });

  it('loads a channel, merges live traffic and marks read up to the newest message', async () => {
    const { chat, ws } = await chatStore([channel('a', { last_seq: 2, unread: 1, last_read_seq: 1 })], {
      a: [message('a', 1), message('a', 2)],
    });
    await chat.openChannel('a');
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
    await chat.openChannel('a');
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
    await chat.openChannel('a');
    chat.sendText('a', 'too fast');
    const nonce = (ws.sent.at(-1) as { nonce: string }).nonce;
    ws.receive({ type: 'error', code: 'slow_mode', message: 'slow mode: wait 5 s', frame: 'send_message', nonce });
    expect(chat.views.get('a')!.timeline.pending[0]).toMatchObject({ status: 'failed', error: 'slow mode: wait 5 s' });
    const before = ws.sent.length;
    await chat.openChannel('s');
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

  it('applies reaction deltas: add, a second user, another emoji, remove down to zero; the cursor follows', async () => {
    const { chat, ws, clock } = await chatStore([channel('a', { last_seq: 4 }), channel('b', { last_seq: 2 })], {
      a: [message('a', 3), message('a', 4, 'me')],
    });
    await chat.openChannel('a');
    const t = chat.views.get('a')!.timeline;
    const delta = (event_seq: number, user_id: string, emoji: string, present: boolean, count: number) =>
      ws.receive({ type: 'reaction_changed', channel_id: 'a', message_id: 'a-3', event_seq, user_id, emoji, present, count });
    const reactions = () => t.get('a-3')!.reactions;

    delta(5, 'other', '👍', true, 1);
    expect(reactions()).toEqual([{ emoji: '👍', count: 1, user_ids: ['other'] }]);
    expect(t.get('a-3')!.updated_seq).toBe(5);
    expect(t.cursor).toBe(5);
    expect(chat.channel('a')!.last_seq).toBe(5);
    delta(6, 'me', '👍', true, 2);
    delta(7, 'third', '🎉', true, 1);
    expect(reactions()).toEqual([
      { emoji: '👍', count: 2, user_ids: ['other', 'me'] },
      { emoji: '🎉', count: 1, user_ids: ['third'] },
    ]);
    // It is ours now: the chip takes it back.
    chat.toggleReaction(t.get('a-3')!, '👍');
    expect(ws.sent.at(-1)).toMatchObject({ type: 'remove_reaction', message_id: 'a-3', emoji: '👍' });
    // A repeat, or a delta the held state already has, changes nothing.
    delta(6, 'me', '👍', true, 2);
    delta(4, 'other', '👍', false, 0);
    expect(reactions()[0]).toEqual({ emoji: '👍', count: 2, user_ids: ['other', 'me'] });
    delta(8, 'other', '👍', false, 1);
    expect(reactions()).toEqual([
      { emoji: '👍', count: 1, user_ids: ['me'] },
      { emoji: '🎉', count: 1, user_ids: ['third'] },
    ]);
    delta(9, 'me', '👍', false, 0);
    expect(reactions()).toEqual([{ emoji: '🎉', count: 1, user_ids: ['third'] }]);
    delta(10, 'third', '🎉', false, 0);
    expect(reactions()).toEqual([]);
    // Reactions are not messages: no unread count, the other message is untouched.
    expect(chat.channel('a')!.unread).toBe(0);
    expect(t.get('a-4')!.updated_seq).toBe(4);
    // A channel that is not open moves its cursor too.
    ws.receive({ type: 'reaction_changed', channel_id: 'b', message_id: 'b-1', event_seq: 12, user_id: 'other', emoji: '👀', present: true, count: 1 });
    expect(chat.channel('b')!.last_seq).toBe(12);

    // After a reconnect both resume from there; the backlog's full state still applies.
    ws.drop();
    clock.runAll();
    const ws2 = FakeWs.all[1]!;
    ws2.open();
    await flush();
    ws2.receive(READY);
    expect(ws2.sent.find((f) => f.type === 'subscribe')).toEqual({
      type: 'subscribe',
      channels: [
        { channel_id: 'a', after_seq: 10 },
        { channel_id: 'b', after_seq: 12 },
      ],
    });
    ws2.receive({
      type: 'message_updated',
      event_seq: 11,
      message: { ...message('a', 3), updated_seq: 11, reactions: [{ emoji: '✅', count: 2, user_ids: ['me', 'other'] }] },
    });
    expect(reactions()).toEqual([{ emoji: '✅', count: 2, user_ids: ['me', 'other'] }]);
    expect(t.cursor).toBe(11);
  });

  it('applies reaction deltas in end-to-end channels without touching the ciphertext', async () => {
    const sealed = { ...message('s', 1), content: { kind: 'encrypted' as const, ciphertext: 'AAECAwQ=' } };
    const { chat, ws } = await chatStore([channel('s', { e2e: true, last_seq: 1 })], { s: [sealed] });
    await chat.openChannel('s');
    const t = chat.views.get('s')!.timeline;
    const content = t.get('s-1')!.content;
    ws.receive({ type: 'reaction_changed', channel_id: 's', message_id: 's-1', event_seq: 2, user_id: 'other', emoji: '🎉', present: true, count: 1 });
    expect(t.get('s-1')!.reactions).toEqual([{ emoji: '🎉', count: 1, user_ids: ['other'] }]);
    // The same object: the message is not decrypted again.
    expect(t.get('s-1')!.content).toBe(content);
    expect(t.cursor).toBe(2);
  });

  it('renews its connection with a newer token from the API client, on the server clock', async () => {
    const { ws, clock } = await chatStore([channel('a')]);
    ws.receive({ type: 'reauthenticated', token_expires_at: '2026-11-28T10:15:00Z' });
    clock.run(720_000);
    await flush();
    expect(renewals).toEqual(['tok']);
    expect(ws.sent.at(-1)).toEqual({ type: 'authenticate', token: 'tok-2' });
  });

  it('hands live envelopes to the end-to-end engine', async () => {
    const { chat, ws } = await chatStore([channel('a')]);
    const got: unknown[] = [];
    chat.e2e.envelopeReceived = (e) => void got.push(e);
    const envelope = { id: 'e1', sender_user_id: 'u1', sender_device_id: 'd1', recipient_device_id: 'd2', channel_id: 'a', ciphertext: 'AAEC', created_at: '' };
    ws.receive({ type: 'envelope_received', envelope });
    expect(got).toEqual([envelope]);
  });

  it('shows community channels by position whatever the list order, DMs most recently active first', async () => {
    const { chat, ws } = await chatStore([
      channel('dm-old', { community_id: null, kind: 'dm' }),
      channel('z', { position: 0 }),
      channel('dm-new', { community_id: null, kind: 'dm' }),
      channel('b', { position: 2 }),
      channel('a', { position: 1 }),
      channel('c', { position: 1 }),
    ]);
    expect(chat.channelsOf('c1').map((c) => c.id)).toEqual(['z', 'a', 'c', 'b']);
    expect(chat.dms.map((c) => c.id)).toEqual(['dm-old', 'dm-new']);
    // A new message moves its DM to the top; community channels keep their order.
    ws.receive({ type: 'message_created', event_seq: 1, message: message('dm-new', 1) });
    ws.receive({ type: 'message_created', event_seq: 1, message: message('b', 1) });
    expect(chat.dms.map((c) => c.id)).toEqual(['dm-new', 'dm-old']);
    expect(chat.channelsOf('c1').map((c) => c.id)).toEqual(['z', 'a', 'c', 'b']);
    // A new DM is the most recent.
    ws.receive({ type: 'channel_created', channel: channel('dm-3', { community_id: null, kind: 'group_dm' }) });
    expect(chat.dms.map((c) => c.id)).toEqual(['dm-3', 'dm-new', 'dm-old']);
    expect(chat.channelsComplete).toBe(true);
  });

  it('says when the channel list was longer than the pages read', async () => {
    const { chat } = await chatStore([], {}, { channels: async () => ({ channels: [channel('a')], complete: false }) });
    expect(chat.channelsComplete).toBe(false);
    expect(chat.channels.map((c) => c.id)).toEqual(['a']);
  });

  it('names DM members it does not know from the devices the channel lists (presence is not known for all)', async () => {
    const asked: string[] = [];
    const { chat } = await chatStore(
      [channel('dm', { community_id: null, kind: 'dm' }), channel('g', { community_id: null, kind: 'group_dm' })],
      {},
      {
        channelDevices: async (id: string) => {
          asked.push(id);
          return { devices: [{ user_id: 'me', device_id: 'x' }, { user_id: id === 'dm' ? 'bob' : 'carol', device_id: 'y' }, { user_id: 'dave', device_id: 'z' }] };
        },
      },
    );
    await flush();
    expect(asked.sort()).toEqual(['dm', 'g']);
    expect(chat.dmPeers('dm')).toEqual(['bob', 'dave']);
    expect(chat.dmPeers('g')).toEqual(['carol', 'dave']);
  });

  it('leaves a DM: gone from the list, its view dropped; a 404 means it was gone already; other failures keep it', async () => {
    const left: string[] = [];
    const { chat, ws } = await chatStore(
      [channel('d1', { community_id: null, kind: 'dm' }), channel('d2', { community_id: null, kind: 'group_dm' }), channel('d3', { community_id: null, kind: 'dm' }), channel('a')],
      {},
      {
        leaveDm: async (id: string) => {
          left.push(id);
          if (id === 'd2') throw new ApiError('not_found', 'no such conversation', 404);
          if (id === 'd3') throw new ApiError('network', 'The server cannot be reached.');
        },
      },
    );
    await chat.openChannel('d1');
    expect(await chat.leaveDm('d1')).toBe('left');
    expect(chat.channel('d1')).toBeUndefined();
    expect(chat.views.has('d1')).toBe(false);
    expect(chat.leftDms.has('d1')).toBe(true);
    expect(chat.dmNotice).toBe('You left the conversation.');
    expect(await chat.leaveDm('d2')).toBe('gone');
    expect(chat.channel('d2')).toBeUndefined();
    expect(chat.dmNotice).toMatch(/no longer in this conversation/);
    await expect(chat.leaveDm('d3')).rejects.toMatchObject({ code: 'network' });
    expect(chat.channel('d3')).toBeDefined();
    expect(chat.leftDms.has('d3')).toBe(false);
    expect(left).toEqual(['d1', 'd2', 'd3']);
    // The server then ends the subscription: its slot is freed; an answer to that needs nothing.
    const before = ws.sent.length;
    ws.receive({ type: 'unsubscribed', channel_id: 'd1', reason: 'removed' });
    expect(ws.sent.slice(before)).toEqual([{ type: 'unsubscribe', channel_id: 'd1' }]);
    ws.receive({ type: 'unsubscribed', channel_id: 'd1' });
    expect(ws.sent.length).toBe(before + 1);
    // Left in another tab: the channel_deleted frame takes it away (and marks it left).
    ws.receive({ type: 'channel_deleted', channel_id: 'd3', community_id: null });
    expect(chat.channel('d3')).toBeUndefined();
    expect(chat.leftDms.has('d3')).toBe(true);
    expect(chat.channelsOf('c1').map((c) => c.id)).toEqual(['a']);
  });

  it('in a 1:1 DM a refused send closes the composer with a notice instead of a retry; a group DM just fails it', async () => {
    const { chat, ws } = await chatStore([
      channel('dm', { community_id: null, kind: 'dm' }),
      channel('g', { community_id: null, kind: 'group_dm' }),
    ]);
    await chat.openChannel('dm');
    chat.sendText('dm', 'hello?');
    const nonce = (ws.sent.at(-1) as { nonce: string }).nonce;
    ws.receive({ type: 'error', code: 'forbidden', message: 'a block stands between the two of you', frame: 'send_message', nonce });
    expect(chat.sendBlock('dm')).toBe("You can't send messages in this conversation.");
    expect(chat.views.get('dm')!.timeline.pending[0]).toMatchObject({ status: 'failed', error: "You can't send messages in this conversation." });
    const before = ws.sent.length;
    chat.sendText('dm', 'again');
    expect(ws.sent.length).toBe(before);
    await chat.openChannel('g');
    chat.sendText('g', 'hi all');
    const n2 = (ws.sent.at(-1) as { nonce: string }).nonce;
    ws.receive({ type: 'error', code: 'forbidden', message: 'nope', frame: 'send_message', nonce: n2 });
    expect(chat.sendBlock('g')).toBeNull();
    // A message from the other person opens the DM again.
    ws.receive({ type: 'message_created', event_seq: 2, message: message('dm', 2, 'other') });
    expect(chat.sendBlock('dm')).toBeNull();
    // Codes that only say "not now" get a sentence; the others keep the server's words.
    chat.sendText('dm', 'third');
    const n3 = (ws.sent.at(-1) as { nonce: string }).nonce;
    ws.receive({ type: 'error', code: 'busy', message: 'the channel is busy; retry with the same nonce', frame: 'send_message', nonce: n3 });
    expect(chat.views.get('dm')!.timeline.pending.at(-1)).toMatchObject({ error: 'The server is busy right now. Try again in a moment.' });
    ws.receive({ type: 'error', code: 'storage_full', message: 'disk full', frame: 'edit_message' });
    expect(chat.notice).toMatch(/storage is full/);
  });

  it('makes distinct random nonces', () => {
    const seen = new Set(Array.from({ length: 100 }, newNonce));
    expect(seen.size).toBe(100);
  });
});
