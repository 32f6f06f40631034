// The channel pane of an end-to-end channel rendered with its stores: ↑ in the empty composer
// edits the last own message from its decrypted text, and replies quote the decrypted text of
// the message they answer (the composer's "Replying to" and the quote in the timeline).
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { E2e, ciphertextDigest } from '../../src/lib/e2e/engine.svelte';
import { Keystore, toBase64 } from '../../src/lib/e2e/keystore';
import { MemoryStore } from '../../src/lib/storage/kv';
import { PrefsStore } from '../../src/lib/stores/prefs.svelte';
import type { SessionStore } from '../../src/lib/stores/session.svelte';
import type { Message } from '../../src/lib/api/types';
import { channel, chatStore, message } from './chatharness';
import { Directory, uuid } from './keydir';
import PaneHost from './PaneHost.svelte';

afterEach(() => cleanup());
// jsdom lays nothing out.
Element.prototype.scrollIntoView ??= function () {};

const KDF = { alg: 'argon2id' as const, m: 64, t: 1, p: 1 };

/** An encrypted message whose plaintext this browser holds (in its sealed message cache). */
async function sealed(e2e: E2e, channelId: string, seq: number, sender: string, text: string, n: number): Promise<Message> {
  const bytes = new Uint8Array([8, n, n + 1, n + 2, n + 3]);
  const m = message(channelId, seq, sender);
  m.content = { kind: 'encrypted', ciphertext: toBase64(bytes) };
  await e2e.keystore.cacheMessage(m.id, ciphertextDigest(bytes), text);
  return m;
}

async function pane(pages: (e2e: E2e) => Promise<Message[]>) {
  const dir = new Directory();
  const user = uuid(1);
  const device = uuid(101);
  const e2e = new E2e(new Keystore(new MemoryStore(), { kdf: KDF }), { api: dir.api(user, device), deviceId: async () => device });
  await e2e.unlock(user, 'pass phrase');
  expect(e2e.device).toBe('ready');
  const msgs = await pages(e2e);
  const stores = await chatStore([channel('e1', { e2e: true, last_seq: msgs.length, last_read_seq: msgs.length })], { e1: msgs }, {}, { e2e });
  const prefs = new PrefsStore(new MemoryStore());
  render(PaneHost, { props: { app: { session: { me: null } as unknown as SessionStore, prefs, e2e }, stores, channelId: 'e1' } });
  return { e2e, stores };
}

describe('an end-to-end channel', () => {
  it('↑ in the empty composer edits the last own message, starting from its decrypted text', async () => {
    await pane(async (e2e) => [
      await sealed(e2e, 'e1', 1, 'me', 'my older words', 1),
      await sealed(e2e, 'e1', 2, 'me', 'my last words', 2),
      await sealed(e2e, 'e1', 3, 'other', 'their answer', 3),
    ]);
    await screen.findByText('my last words');
    await screen.findByText('their answer');
    const box = document.querySelector('.composer textarea') as HTMLTextAreaElement;
    await fireEvent.keyDown(box, { key: 'ArrowUp' });
    const edit = (await screen.findByLabelText('Edit message')) as HTMLTextAreaElement;
    expect(edit.value).toBe('my last words');
  });

  it('a reply quotes the decrypted text, in the composer and in the timeline', async () => {
    await pane(async (e2e) => {
      const first = await sealed(e2e, 'e1', 1, 'other', 'the **question** asked', 1);
      const answer = await sealed(e2e, 'e1', 2, 'me', 'the answer given', 2);
      answer.reply_to = first.id;
      return [first, answer];
    });
    await screen.findByText('the answer given');
    const quote = await screen.findByTestId('reply-ref');
    await waitFor(() => expect(quote.textContent).toMatch(/the question asked/));
    expect(quote.textContent).not.toMatch(/encrypted message/);
    // Replying to it from its actions: the composer quotes it too.
    const question = screen.getByText('question').closest('[data-testid="message"]') as HTMLElement;
    const reply = Array.from(question.querySelectorAll('button')).find((b) => b.getAttribute('aria-label') === 'Reply')!;
    await fireEvent.click(reply);
    const replying = await screen.findByTestId('replying');
    expect(replying.textContent).toMatch(/the question asked/);
    expect(replying.textContent).not.toMatch(/encrypted message/);
  });
});
