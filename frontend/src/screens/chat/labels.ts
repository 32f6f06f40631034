import type { Channel } from '../../lib/api/types';
import type { ChatStore } from '../../lib/chat/store.svelte';
import { shortId, type PeopleStore } from '../../lib/chat/people.svelte';

/** How a channel is named in lists and headers. DMs have no name: the other people's tags. */
export function channelLabel(chat: ChatStore, people: PeopleStore, c: Channel): string {
  if (c.community_id) return c.name;
  if (c.name) return c.name;
  const others = chat.dmPeers(c.id);
  if (others.length) return others.map((u) => people.nameOf(u)).join(', ');
  return `Conversation ${shortId(c.id)}`;
}
