// Emoji in the channel pane: the composer's `:` suggestions from the keyboard and the pointer
// (↑ ↓ Enter Tab Escape, the community's own first), what is sent (`:name:` as `<:name:ref>`),
// the picker (search, tabs, arrow keys, Escape), and reactions with custom emoji.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { MemoryStore } from '../../src/lib/storage/kv';
import { PrefsStore } from '../../src/lib/stores/prefs.svelte';
import type { SessionStore } from '../../src/lib/stores/session.svelte';
import type { CustomEmoji, Message } from '../../src/lib/api/types';
import { channel, chatStore, message } from './chatharness';
import { flush } from './fakews';
import PaneHost from './PaneHost.svelte';

afterEach(() => cleanup());
Element.prototype.scrollIntoView ??= function () {};

const REF = 'b'.repeat(64);
const REF2 = 'c'.repeat(64);
const PARTY = `<:party_blob:${REF}>`;

function emoji(name: string, ref = REF): CustomEmoji {
  return { id: `e-${name}`, community_id: 'c1', name, image_ref: ref, created_by: null, created_at: '2026-11-28T10:00:00Z' };
}

async function pane(msgs: Message[] = []) {
  const stores = await chatStore([channel('p1', { last_seq: msgs.length, last_read_seq: msgs.length })], { p1: msgs });
  stores.chat.setEmoji('c1', [emoji('party_blob'), emoji('cat', REF2)]);
  const prefs = new PrefsStore(new MemoryStore());
  const e2e = stores.chat.e2e;
  render(PaneHost, { props: { app: { session: { me: null } as unknown as SessionStore, prefs, e2e }, stores, channelId: 'p1' } });
  const box = document.querySelector('.composer textarea') as HTMLTextAreaElement;
  await fireEvent.focus(box);
  return { ...stores, box };
}

/** Types `value` as the whole text, the caret at its end. */
async function type(box: HTMLTextAreaElement, value: string) {
  box.value = value;
  box.setSelectionRange(value.length, value.length);
  await fireEvent.input(box);
}

const options = () => screen.queryAllByRole('option').map((o) => o.textContent!.replace(/\s+/g, ' ').trim());

describe('emoji in the composer', () => {
  it('suggests after a colon and two letters, the community emoji first; ↑ ↓ move, Enter inserts :name:', async () => {
    const { box } = await pane();
    await type(box, 'hi :p');
    expect(screen.queryByRole('listbox')).toBeNull();
    await type(box, 'hi :part');
    // The standard set arrives with its module; the custom ones are there at once.
    await waitFor(() => expect(options().length).toBeGreaterThan(1));
    const list = screen.getByRole('listbox');
    expect(options()[0]).toBe(':party_blob: this community');
    // Then the standard ones: a name that is the query's closest first (🥳 is also :party:).
    expect(options()[1]).toBe('🥳 :party:');
    expect(options()).toContain('🎉 :party_popper:');
    expect(options().length).toBeLessThanOrEqual(8);
    expect(box.getAttribute('aria-controls')).toBe(list.id);
    expect(box.getAttribute('aria-autocomplete')).toBe('list');
    const ids = screen.getAllByRole('option').map((o) => o.id);
    expect(box.getAttribute('aria-activedescendant')).toBe(ids[0]);
    expect(screen.getAllByRole('option')[0]!.getAttribute('aria-selected')).toBe('true');

    await fireEvent.keyDown(box, { key: 'ArrowDown' });
    expect(box.getAttribute('aria-activedescendant')).toBe(ids[1]);
    await fireEvent.keyDown(box, { key: 'ArrowUp' });
    await fireEvent.keyDown(box, { key: 'ArrowUp' });
    expect(box.getAttribute('aria-activedescendant')).toBe(ids.at(-1));
    await fireEvent.keyDown(box, { key: 'ArrowDown' });
    expect(box.getAttribute('aria-activedescendant')).toBe(ids[0]);
    await fireEvent.keyDown(box, { key: 'Enter' });
    await waitFor(() => expect(box.value).toBe('hi :party_blob: '));
    expect(screen.queryByRole('listbox')).toBeNull();
    expect(box.selectionStart).toBe('hi :party_blob: '.length);
    expect(box.hasAttribute('aria-activedescendant')).toBe(false);
  });

  it('Tab inserts the character of a standard emoji; Escape closes until the query changes; the pointer picks too', async () => {
    const { box, ws } = await pane();
    await type(box, 'yes :tada');
    await waitFor(() => expect(options()[0]).toBe('🎉 :tada:'));
    await fireEvent.keyDown(box, { key: 'Tab' });
    await waitFor(() => expect(box.value).toBe('yes 🎉 '));

    await type(box, 'yes 🎉 :ca');
    await waitFor(() => expect(options()[0]).toBe(':cat: this community'));
    await fireEvent.keyDown(box, { key: 'Escape' });
    expect(screen.queryByRole('listbox')).toBeNull();
    // Enter sends then, as usual… but not before the query changes: one more letter opens it again.
    await type(box, 'yes 🎉 :cat');
    await waitFor(() => expect(options()[0]).toBe(':cat: this community'));
    const opt = screen.getAllByRole('option')[0]!;
    await fireEvent.mouseDown(opt);
    await fireEvent.click(opt);
    await waitFor(() => expect(box.value).toBe('yes 🎉 :cat: '));

    // Sent: the community's :cat: in its wire form, code left alone.
    await type(box, 'yes 🎉 :cat: and `:cat:`');
    await fireEvent.keyDown(box, { key: 'Enter' });
    const sent = ws.sent.filter((f) => f.type === 'send_message');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.content).toEqual({ kind: 'text', text: `yes 🎉 <:cat:${REF2}> and \`:cat:\`` });
    expect(box.value).toBe('');
    // The pending copy shows the picture.
    await waitFor(() => expect(document.querySelector('[data-testid=pending-message] img')?.getAttribute('alt')).toBe(':cat:'));
  });

  it('the picker: search, the community tab, arrow keys, Escape, and the pick at the caret', async () => {
    const { box } = await pane();
    await type(box, 'ab');
    box.setSelectionRange(1, 1);
    const open = screen.getByRole('button', { name: 'Add an emoji' });
    expect(open.getAttribute('aria-haspopup')).toBe('dialog');
    await fireEvent.click(open);
    const dialog = screen.getByRole('dialog', { name: 'Emoji' });
    const search = within(dialog).getByLabelText('Search emoji');
    await waitFor(() => expect(document.activeElement).toBe(search));
    expect(open.getAttribute('aria-expanded')).toBe('true');
    // The community's own first, then the standard categories.
    const tabs = within(dialog).getAllByRole('tab');
    expect(tabs.map((t) => t.getAttribute('aria-label'))).toEqual([
      'This community', 'Smileys and people', 'Animals and nature', 'Food and drink', 'Activities', 'Travel and places', 'Objects', 'Symbols', 'Flags',
    ]);
    expect(tabs[0]!.getAttribute('aria-selected')).toBe('true');
    const panel = within(dialog).getByRole('tabpanel');
    expect(within(panel).getAllByRole('button').map((b) => b.getAttribute('aria-label'))).toEqual([':cat:', ':party_blob:']);
    // ← → between the tabs.
    await fireEvent.keyDown(tabs[0]!, { key: 'ArrowRight' });
    await waitFor(() => expect(document.activeElement).toBe(tabs[1]));
    expect(tabs[1]!.getAttribute('aria-selected')).toBe('true');
    await waitFor(() => expect(within(within(dialog).getByRole('tabpanel')).getAllByRole('button').length).toBeGreaterThan(100));

    // A search: ↓ to the results, arrow keys among them, Enter (a click) picks.
    await fireEvent.input(search, { target: { value: 'heart' } });
    const results = within(dialog).getByRole('group', { name: 'Emoji matching heart' });
    const cells = within(results).getAllByRole('button');
    expect(cells.length).toBeGreaterThan(8);
    await fireEvent.keyDown(search, { key: 'ArrowDown' });
    expect(document.activeElement).toBe(cells[0]);
    await fireEvent.keyDown(cells[0]!, { key: 'ArrowRight' });
    expect(document.activeElement).toBe(cells[1]);
    await fireEvent.keyDown(cells[1]!, { key: 'ArrowDown' });
    expect(document.activeElement).toBe(cells[9]);
    await fireEvent.keyDown(cells[9]!, { key: 'ArrowUp' });
    await fireEvent.keyDown(cells[1]!, { key: 'ArrowUp' });
    expect(document.activeElement).toBe(search);
    await fireEvent.keyDown(search, { key: 'ArrowDown' });
    await fireEvent.click(document.activeElement!);
    await waitFor(() => expect(box.value).toBe('a❤️b'));
    expect(screen.queryByRole('dialog')).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(box));

    // Escape closes and gives the focus back to the button; so does… a click outside (no focus move).
    await fireEvent.click(open);
    await waitFor(() => expect(document.activeElement).toBe(within(screen.getByRole('dialog')).getByLabelText('Search emoji')));
    await fireEvent.keyDown(document.activeElement!, { key: 'Escape' });
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(document.activeElement).toBe(open);
    await fireEvent.click(open);
    await fireEvent.pointerDown(document.body);
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());

    // A custom one from its tab goes in as :name:, and is sent as its wire form.
    await fireEvent.click(open);
    await fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: ':party_blob:' }));
    await waitFor(() => expect(box.value).toBe('a❤️:party_blob:b'));
  });
});

describe('custom emoji reactions', () => {
  it('offers the community emoji in the reaction picker and sends them as <:name:ref>; chips show the picture', async () => {
    const m = message('p1', 1, 'other', 'hello there');
    m.reactions = [{ emoji: PARTY, count: 2, user_ids: ['other', 'me'] }, { emoji: '🎉', count: 1, user_ids: ['other'] }];
    const { ws } = await pane([m]);
    const item = (await screen.findByText('hello there')).closest('[data-testid=message]') as HTMLElement;
    const chips = within(item).getAllByTestId('reaction');
    expect(chips.map((c) => c.getAttribute('aria-label'))).toEqual([':party_blob: 2: take back your reaction', '🎉 1: react too']);
    expect(chips[0]!.querySelector('img')!.getAttribute('alt')).toBe('');
    expect(chips[0]!.querySelector('img')!.getAttribute('src')).toBe(`/api/v1/images/${REF}`);
    expect(chips[0]!.textContent!.trim()).toBe('2');
    await fireEvent.click(chips[0]!);
    expect(ws.sent.at(-1)).toEqual({ type: 'remove_reaction', channel_id: 'p1', message_id: m.id, emoji: PARTY });

    await fireEvent.click(within(item).getByRole('button', { name: 'Add a reaction' }));
    const picker = within(item).getByRole('group', { name: 'Pick a reaction' });
    await fireEvent.click(within(picker).getByRole('button', { name: 'React with :cat:' }));
    expect(ws.sent.at(-1)).toEqual({ type: 'add_reaction', channel_id: 'p1', message_id: m.id, emoji: `<:cat:${REF2}>` });

    // The whole picker from "More reactions…".
    await fireEvent.click(within(item).getByRole('button', { name: 'Add a reaction' }));
    await fireEvent.click(within(item).getByRole('button', { name: 'More reactions…' }));
    const dialog = within(item).getByRole('dialog', { name: 'Pick a reaction' });
    await fireEvent.input(within(dialog).getByLabelText('Search emoji'), { target: { value: 'rocket' } });
    await waitFor(() => expect(within(dialog).getAllByRole('button', { name: 'rocket' }).length).toBe(1));
    await fireEvent.keyDown(within(dialog).getByLabelText('Search emoji'), { key: 'Enter' });
    expect(ws.sent.at(-1)).toEqual({ type: 'add_reaction', channel_id: 'p1', message_id: m.id, emoji: '🚀' });
    await flush();
    expect(within(item).queryByRole('group', { name: 'Pick a reaction' })).toBeNull();
  });
});
