// The stores of a signed-in chat session, made together: `ChatStore` (the live chat state over
// the WebSocket), `PeopleStore` (names) and `CommunityAdmin` (member lists, groups and
// administration), which follows the chat store's frames and so is made before it starts.

import { linkFrames } from '../e2e/linkFrames.svelte';
import { CommunityAdmin } from './admin.svelte';
import { PeopleStore } from './people.svelte';
import { ChatStore, type ChatOptions } from './store.svelte';

export interface ChatStores {
  chat: ChatStore;
  people: PeopleStore;
  admin: CommunityAdmin;
}

export function createChatStores(opts: ChatOptions): ChatStores {
  const chat = new ChatStore(opts);
  const people = new PeopleStore({ api: opts.api, me: opts.me });
  const admin = new CommunityAdmin({ api: opts.api, chat, people });
  // Device linking follows the account's frames wherever the user is in the app.
  chat.listen((f) => linkFrames.note(f));
  return { chat, people, admin };
}
