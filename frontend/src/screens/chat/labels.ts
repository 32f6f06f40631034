import type { Channel } from '../../lib/api/types';
import { shortId, type ChatStore } from '../../lib/chat/store.svelte';

/** How a channel is named in lists and headers. DMs have no name: the other people's tags. */
export function channelLabel(chat: ChatStore, c: Channel): string {
  if (c.community_id) return c.name;
  if (c.name) return c.name;
  const others = chat.dmPeers(c.id);
  if (others.length) return others.map((u) => chat.nameOf(u)).join(', ');
  return `Conversation ${shortId(c.id)}`;
}
