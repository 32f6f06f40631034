// The chat stores over a fake API and socket (tests/unit/fakews.ts), signed in as `me`.
import type { ApiClient } from '../../src/lib/api/client';
import type { Channel, Message } from '../../src/lib/api/types';
import { createChatStores } from '../../src/lib/chat/stores';
import { E2e } from '../../src/lib/e2e/engine.svelte';
import { Keystore } from '../../src/lib/e2e/keystore';
import { MemoryStore } from '../../src/lib/storage/kv';
import { Clock, FakeWs, READY, flush } from './fakews';

export function channel(id: string, over: Partial<Channel> = {}): Channel {
  return {
    id,
    community_id: 'c1',
    kind: 'text',
    name: id,
    topic: '',
    e2e: false,
    slow_mode_secs: 0,
    archived: false,
    position: 0,
    view_role: 'member',
    post_role: 'member',
    can_post: true,
    last_seq: 0,
    last_read_seq: 0,
    history_for_new_members: true,
    unread: 0,
    ...over,
  };
}

export function message(channelId: string, seq: number, sender = 'other', text = `m${seq}`): Message {
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

/** The tokens the chat store's socket asked the API client to replace. */
export let renewals: (string | null)[] = [];

/** The stores, started and connected; `ready: false` leaves the socket's first `ready` to the test. */
export async function chatStore(
  channels: Channel[],
  pages: Record<string, Message[]> = {},
  extra: Record<string, unknown> = {},
  opts: { ready?: boolean; e2e?: E2e; e2eLinkPreviews?: () => boolean } = {},
) {
  FakeWs.all = [];
  renewals = [];
  const clock = new Clock();
  const api = {
    communities: async () => [{ id: 'c1', name: 'C', description: '', visibility: 'public', owner_id: 'x', role: 'member', created_at: '' }],
    channels: async () => ({ channels: channels.map((c) => ({ ...c })), complete: true }),
    channelDevices: async () => ({ devices: [] }),
    messages: async (id: string) => ({ messages: pages[id] ?? [], has_more: false }),
    token: async () => 'tok',
    freshToken: async (than: string | null) => {
      renewals.push(than);
      return 'tok-2';
    },
    serverNow: () => Date.parse('2026-11-28T10:00:00Z'),
    ...extra,
  } as unknown as ApiClient;
  const e2e = opts.e2e ?? new E2e(new Keystore(new MemoryStore()));
  const { chat, people, admin } = createChatStores({
    api,
    e2e,
    me: () => ({ id: 'me', display_name: 'Me' }),
    e2eLinkPreviews: opts.e2eLinkPreviews,
    socket: { createSocket: (url) => new FakeWs(url), setTimer: clock.set, clearTimer: clock.clear, random: () => 0.5 },
  });
  await chat.start();
  const ws = FakeWs.all[0]!;
  ws.open();
  await flush();
  if (opts.ready !== false) ws.receive(READY);
  return { chat, people, admin, ws, clock };
}
