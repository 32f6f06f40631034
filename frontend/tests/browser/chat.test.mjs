// The chat end to end: two people in two browser contexts against the real server binary.
// They register, one creates a public community with plaintext channels and the other joins
// it by its invite link; they chat, reply, edit, react, delete, see unread badges, typing and
// the new-message divider, scroll back through history, reload and still read it, open a DM
// (end-to-end encrypted: sending stays closed and ciphertext is reported as undecryptable), and
// a hostile corpus in messages and names executes nothing (A8). Steps run in order.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a long enough passphrase';

let server;
let browser;
let base;
let A; // { page, problems, ctx, id }
let B;
const ids = {};
const env = { password: PW };
const { api, person, register, token, lockOnEveryReload, messages, messageWith, send, assertClean } = chatHelpers(env);

/** Sends frames over a raw WebSocket opened in the page (same origin, under the CSP). */
async function rawSend(page, accessToken, channelId, contents, perSecond = 15) {
  return page.evaluate(
    async ({ accessToken, channelId, contents, perSecond }) => {
      const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/api/v1/ws`);
      const frames = [];
      const acked = new Set();
      await new Promise((res, rej) => {
        ws.onopen = () => ws.send(JSON.stringify({ type: 'authenticate', token: accessToken }));
        ws.onerror = rej;
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          frames.push(f);
          if (f.type === 'ready') ws.send(JSON.stringify({ type: 'subscribe', channels: [{ channel_id: channelId }] }));
          if (f.type === 'subscribed') res();
          if (f.type === 'message_acked') acked.add(f.nonce);
        };
      });
      for (let i = 0; i < contents.length; i++) {
        ws.send(JSON.stringify({ type: 'send_message', channel_id: channelId, nonce: `raw-${Date.now()}-${i}`, content: contents[i] }));
        await new Promise((r) => setTimeout(r, 1000 / perSecond));
      }
      const settled = () => acked.size + frames.filter((f) => f.type === 'error' && f.nonce).length;
      const deadline = Date.now() + 15000;
      while (settled() < contents.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      ws.close();
      return { acked: acked.size, errors: frames.filter((f) => f.type === 'error') };
    },
    { accessToken, channelId, contents, perSecond },
  );
}

/** Waits for the path to be a channel of the community other than the ones listed. */
async function waitForNewChannel(page, known) {
  await page.waitForURL((u) => {
    const m = /^\/c\/[0-9a-f-]{36}\/([0-9a-f-]{36})$/.exec(u.pathname);
    return m !== null && !known.includes(m[1]);
  });
  return page.url().split('/').pop();
}

async function assertNoCsp(page, where) {
  assert.deepEqual(await page.evaluate(() => window.__csp), [], `${where}: CSP violations`);
}

describe('web app: chat', { timeout: 900_000 }, () => {
  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startServer();
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'dark');
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('two people register; the keystore is created and holds only sealed records', async () => {
    await register(A, 'anna', 'Anna Karenina');
    await register(B, 'boris', 'Boris Godunov');
    // The keystore header appears once Argon2id has run; its data key is sealed.
    await A.page.waitForFunction(
      (id) =>
        new Promise((resolve) => {
          const req = indexedDB.open('chatalot');
          req.onsuccess = () => {
            const get = req.result.transaction('keys').objectStore('keys').get(id);
            get.onsuccess = () => resolve(Boolean(get.result?.dek?.ct));
          };
        }),
      A.id,
    );
    const meta = await A.page.evaluate(
      (id) =>
        new Promise((resolve) => {
          const req = indexedDB.open('chatalot');
          req.onsuccess = () => {
            const get = req.result.transaction('keys').objectStore('keys').get(id);
            get.onsuccess = () => resolve(get.result);
          };
        }),
      A.id,
    );
    assert.equal(meta.kdf.alg, 'argon2id');
    assert.ok(meta.kdf.m >= 19456);
    assert.equal(await A.page.evaluate(() => localStorage.length + sessionStorage.length), 0);
    // Boris asks for his password at every page load (the unlocked reloads are tests/browser/unlock.test.mjs).
    await lockOnEveryReload(B);
  });

  it('creates a public community with a plaintext first channel, and more channels', async () => {
    const { page } = A;
    await page.getByRole('button', { name: 'Create a community' }).first().click();
    await page.getByLabel('Name', { exact: true }).fill('Book club');
    await page.getByLabel('Description (optional)').fill('Novels, mostly Russian');
    await page.getByLabel('Public: anyone with the link').check();
    await page.getByLabel('Encrypt the first channel end-to-end').uncheck();
    await page.getByRole('button', { name: 'Create community' }).click();
    await page.waitForURL(/\/c\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/);
    const [, community, general] = /\/c\/([0-9a-f-]{36})\/([0-9a-f-]{36})$/.exec(page.url());
    ids.community = community;
    ids.general = general;
    assert.equal(await page.getByTestId('channel-title').textContent(), '#general');
    assert.match(await page.getByTestId('e2e-badge').textContent(), /Plaintext/);
    assert.equal(await page.getByTestId('community-name').textContent(), 'Book club');

    // A second plaintext channel, and an encrypted one.
    await page.getByRole('button', { name: 'Create a channel' }).click();
    await page.getByLabel('Channel name').fill('off-topic');
    await page.getByLabel('Topic (optional)').fill('Anything goes');
    await page.getByLabel('End-to-end encrypted').uncheck();
    await page.getByRole('button', { name: 'Create channel' }).click();
    ids.offTopic = await waitForNewChannel(page, [ids.general]);
    assert.equal(await page.getByTestId('channel-title').textContent(), '#off-topic');

    await page.getByRole('button', { name: 'Create a channel' }).click();
    await page.getByLabel('Channel name').fill('secrets');
    await page.getByRole('button', { name: 'Create channel' }).click();
    ids.secrets = await waitForNewChannel(page, [ids.general, ids.offTopic]);
    assert.match(await page.getByTestId('e2e-badge').textContent(), /End-to-end encrypted/);
    // An encrypted channel sends once this browser's keys are set up (at registration).
    await page.locator('.composer').waitFor();
    assert.equal(await page.getByTestId('send-blocked').count(), 0);
    assert.equal(await page.getByTestId('channel-link').count(), 3);
    assertClean(A, 'create');
  });

  it('the other person joins by the invite link, and a private community by an invite code', async () => {
    const invite = await A.page.getByTestId('invite-link').inputValue();
    assert.equal(invite, `${base}/join/${ids.community}`);
    const { page } = B;
    await page.goto(invite);
    assert.equal(await page.getByLabel('Invite code or link').inputValue(), ids.community);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.waitForURL(`${base}/c/${ids.community}/${ids.general}`);
    assert.equal(await page.getByTestId('community-name').textContent(), 'Book club');
    assert.match(await page.getByTestId('e2e-badge').textContent(), /Plaintext/);
    // A private community cannot be joined with its id, but with an invite code.
    const t = await token('anna');
    const priv = await api('POST', '/communities', { name: 'Private', visibility: 'private', e2e: false }, t);
    assert.equal(priv.status, 201);
    ids.private = priv.body.id;
    await page.goto(`${base}/join/${priv.body.id}`);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.locator('#join-link-error').waitFor();
    assert.match(await page.locator('#join-link-error').textContent(), /needs an invite code/);
    await A.page.goto(`${base}/c/${ids.private}`);
    await A.page.getByText('Invite people').click();
    await A.page.getByRole('button', { name: 'Create an invite code' }).click();
    const code = await A.page.getByTestId('invite-code').inputValue();
    assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    await page.getByLabel('Invite code or link').fill('0000-0000-0000-0000');
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.locator('#join-link-error').filter({ hasText: /unknown, expired/ }).waitFor();
    await page.getByLabel('Invite code or link').fill(code.toLowerCase());
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.waitForURL(new RegExp(`/c/${ids.private}/[0-9a-f-]{36}$`));
    assert.equal(await page.getByTestId('community-name').textContent(), 'Private');
    // The member panel names both, with roles.
    await page.getByText(/^Members/).click();
    await page.getByTestId('member').filter({ hasText: 'Anna Karenina' }).filter({ hasText: 'owner' }).waitFor();
    await page.getByTestId('member').filter({ hasText: 'Boris Godunov' }).waitFor();
    await A.page.screenshot({ path: join(SCREENSHOTS, 'chat-invite-code-desktop-light.png') });
    await page.screenshot({ path: join(SCREENSHOTS, 'chat-members-desktop-dark.png') });
    // Live frames: a new channel appears, a renamed community follows, a kick removes it at once.
    const ch = await api('POST', `/communities/${ids.private}/channels`, { name: 'live-one', e2e: false }, t);
    assert.equal(ch.status, 201);
    await page.getByRole('link', { name: /^live-one/ }).waitFor();
    assert.equal((await api('PATCH', `/communities/${ids.private}`, { name: 'Private room' }, t)).status, 200);
    await page.getByTestId('community-name').filter({ hasText: 'Private room' }).waitFor();
    assert.equal((await api('DELETE', `/communities/${ids.private}/members/${B.id}`, undefined, t)).status, 204);
    await page.waitForURL(`${base}/`);
    await page.getByRole('link', { name: 'Private room' }).waitFor({ state: 'detached' });
    assertClean(
      { problems: B.problems.filter((m) => !m.includes('404')) },
      'join',
    );
    B.problems.length = 0;
    await page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await page.getByTestId('channel-start').waitFor();
    await A.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await A.page.getByTestId('channel-start').waitFor();
  });

  it('they chat live: send, markdown, typing, reply, edit, react, delete', async () => {
    await A.page.getByRole('link', { name: /^general/ }).click();
    await A.page.getByTestId('channel-start').waitFor();

    // Typing shows on the other side.
    await A.page.locator('.composer textarea').pressSequentially('Hel');
    await B.page.getByTestId('typing').filter({ hasText: 'is typing' }).waitFor();

    await send(A.page, 'Hello **Boris**, have you read `Anna Karenina`?');
    const first = messageWith(B.page, 'have you read');
    await first.waitFor();
    assert.equal(await first.locator('strong').textContent(), 'Boris');
    assert.equal(await first.locator('code').textContent(), 'Anna Karenina');
    // Senders are named by their display names (from the member list).
    await first.getByTestId('sender').filter({ hasText: /^Anna Karenina$/ }).waitFor();
    // The sender sees it once, acknowledged (no pending copy left).
    await messageWith(A.page, 'have you read').waitFor();
    await A.page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0);
    assert.equal(await messageWith(A.page, 'have you read').count(), 1);

    // Reply.
    await first.hover();
    await first.getByRole('button', { name: 'Reply' }).click();
    await B.page.getByTestId('replying').waitFor();
    await send(B.page, 'Twice. See https://example.org/tolstoy.');
    const reply = messageWith(A.page, 'Twice.');
    await reply.waitFor();
    assert.match(await reply.getByTestId('reply-ref').textContent(), /Anna Karenina.*have you read/);
    const link = reply.locator('a');
    assert.equal(await link.getAttribute('href'), 'https://example.org/tolstoy');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');

    // Edit with the keyboard: ↑ in the empty composer edits the last own message.
    await A.page.locator('.composer textarea').fill('');
    await A.page.locator('.composer textarea').press('ArrowUp');
    const edit = A.page.getByLabel('Edit message');
    await edit.fill('Hello **Boris**, have you read *War and Peace*?');
    await edit.press('Enter');
    const edited = messageWith(B.page, 'War and Peace');
    await edited.waitFor();
    assert.match(await edited.textContent(), /\(edited\)/);
    assert.equal(await edited.locator('em').textContent(), 'War and Peace');

    // React: Boris adds 👍, Anna adds hers to it.
    await edited.hover();
    await edited.getByRole('button', { name: 'Add a reaction' }).click();
    await edited.getByRole('button', { name: 'React with 👍' }).click();
    const chipA = messageWith(A.page, 'War and Peace').getByRole('button', { name: /^👍 1/ });
    await chipA.waitFor();
    assert.equal(await chipA.getAttribute('aria-pressed'), 'false');
    await chipA.click();
    const chipB = messageWith(B.page, 'War and Peace').getByRole('button', { name: /^👍 2/ });
    await chipB.waitFor();
    assert.equal(await chipB.getAttribute('aria-pressed'), 'true');
    // A second emoji goes after the first on both sides.
    await edited.hover();
    await edited.getByRole('button', { name: 'Add a reaction' }).click();
    await edited.getByRole('button', { name: 'React with 👀' }).click();
    const chipsA = messageWith(A.page, 'War and Peace').getByRole('list', { name: 'Reactions' }).getByRole('button');
    await messageWith(A.page, 'War and Peace').getByRole('button', { name: /^👀 1/ }).waitFor();
    assert.deepEqual(
      (await chipsA.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim()),
      ['👍 2', '👀 1'],
    );
    // Taking them back shows live on the other side: the count falls, then the chip goes.
    const ownA = messageWith(A.page, 'War and Peace').getByRole('button', { name: /^👍 2/ });
    assert.equal(await ownA.getAttribute('aria-pressed'), 'true');
    await ownA.click();
    const leftB = messageWith(B.page, 'War and Peace').getByRole('button', { name: /^👍 1/ });
    await leftB.waitFor();
    assert.equal(await leftB.getAttribute('aria-pressed'), 'true');
    await leftB.click();
    await messageWith(A.page, 'War and Peace').getByRole('button', { name: /^👍/ }).waitFor({ state: 'detached' });
    await messageWith(B.page, 'War and Peace').getByRole('button', { name: /^👍/ }).waitFor({ state: 'detached' });
    await messageWith(B.page, 'War and Peace').getByRole('button', { name: /^👀 1/ }).click();
    await messageWith(A.page, 'War and Peace').getByRole('list', { name: 'Reactions' }).waitFor({ state: 'detached' });
    // The message itself is untouched by all this.
    assert.equal(await messageWith(A.page, 'War and Peace').locator('em').textContent(), 'War and Peace');

    // Delete, with a confirmation in the page (no browser dialog).
    await send(A.page, 'a message to take back');
    const doomed = messageWith(A.page, 'a message to take back');
    await doomed.waitFor();
    await messageWith(B.page, 'a message to take back').waitFor();
    await doomed.hover();
    await doomed.getByRole('button', { name: 'Delete' }).click();
    await A.page.getByRole('button', { name: 'Delete', exact: true }).last().click();
    await B.page.getByText('This message was deleted.').waitFor();
    assert.equal(await messageWith(B.page, 'a message to take back').count(), 0);
    assertClean(A, 'chat A');
    assertClean(B, 'chat B');
  });

  it('counts unread messages, shows the new-message divider, and marks them read', async () => {
    await B.page.getByRole('link', { name: /^off-topic/ }).click();
    await B.page.getByTestId('channel-start').waitFor();
    await send(A.page, 'first unread');
    await send(A.page, 'second unread');
    const badge = B.page.getByRole('link', { name: /^general.*2 unread/ });
    await badge.waitFor();
    assert.equal(await badge.getByTestId('unread-badge').textContent(), '2');
    assert.match(await B.page.getByTestId('community-link').first().getAttribute('aria-label'), /Book club, 2 unread/);
    assert.match(await B.page.title(), /^\(2\)/);
    await badge.click();
    const divider = B.page.getByTestId('new-divider');
    await divider.waitFor();
    // The divider sits right before the first unread message.
    const next = await divider.evaluate((d) => d.nextElementSibling?.textContent ?? '');
    assert.match(next, /first unread/);
    await B.page.waitForFunction(() => document.querySelectorAll('[data-testid=unread-badge]').length === 0);
    // The read marker is stored: after a reload nothing is unread.
    await B.page.reload();
    await messageWith(B.page, 'second unread').waitFor();
    assert.equal(await B.page.getByTestId('unread-badge').count(), 0);
    const list = await api('GET', '/channels', undefined, await token('boris'));
    assert.equal(list.body.channels.find((c) => c.id === ids.general).unread, 0);
  });

  it('reloads and reads the history, and scrolls back through older pages', async () => {
    await A.page.reload();
    await messageWith(A.page, 'War and Peace').waitFor();
    assert.match(await messageWith(A.page, 'Twice.').getByTestId('reply-ref').textContent(), /War and Peace/);
    assert.equal(await A.page.getByText('This message was deleted.').count(), 1);
    assert.equal(await A.page.getByTestId('channel-link').count(), 3);

    // Seventy more messages from Anna, sent outside the app, arrive live for Boris.
    const t = await token('anna');
    const contents = Array.from({ length: 70 }, (_, i) => ({ kind: 'text', text: `numbered message ${i + 1}` }));
    const res = await rawSend(A.page, t, ids.general, contents);
    assert.equal(res.acked, 70, JSON.stringify(res.errors));
    await messageWith(B.page, 'numbered message 70').waitFor();

    // After a reload only the newest page is loaded; scrolling up brings the rest.
    await B.page.reload();
    await messageWith(B.page, 'numbered message 70').waitFor();
    assert.equal(await messageWith(B.page, 'have you read').count(), 0);
    assert.equal(await B.page.getByTestId('channel-start').count(), 0);
    for (let i = 0; i < 5 && (await B.page.getByTestId('channel-start').count()) === 0; i++) {
      await messages(B.page).evaluate((el) => el.scrollTo(0, 0));
      await B.page.waitForTimeout(400);
    }
    await B.page.getByTestId('channel-start').waitFor();
    await messageWith(B.page, 'have you read').waitFor();
    const seqs = await messages(B.page).getByTestId('message').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'ordered by sequence');
    assert.equal(new Set(seqs).size, seqs.length, 'no duplicates');
    assert.equal(await messages(B.page).getByTestId('message-body').filter({ hasText: /numbered message \d+/ }).count(), 70);
    // A date separator heads the day.
    assert.equal(await messages(B.page).locator('.date-sep').first().textContent(), 'Today');
  });

  it('reconnects by itself and resyncs what it missed', async () => {
    await B.ctx.setOffline(true);
    await B.page.getByTestId('connection').waitFor({ timeout: 90_000 });
    await send(A.page, 'sent while Boris was offline');
    await messageWith(A.page, 'sent while Boris was offline').waitFor();
    await B.ctx.setOffline(false);
    await messageWith(B.page, 'sent while Boris was offline').waitFor({ timeout: 60_000 });
    await B.page.getByTestId('connection').waitFor({ state: 'detached' });
    const seqs = await messages(B.page).getByTestId('message').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    assert.equal(new Set(seqs).size, seqs.length, 'no duplicates after the resync');
    B.problems.length = 0; // the offline period logs failed connections
  });

  it('opens a DM: end-to-end encrypted, and ciphertext it cannot read is reported plainly', async () => {
    // Anna's name on her messages offers a DM.
    assert.ok(await messages(B.page).getByRole('button', { name: 'Anna Karenina: send a direct message' }).count());
    // Boris starts it by her username.
    await B.page.getByRole('link', { name: /^Direct messages/ }).click();
    await B.page.getByRole('button', { name: 'New direct message' }).first().click();
    await B.page.getByLabel('Username').fill('nobody-here');
    await B.page.getByRole('button', { name: 'Open conversation' }).click();
    await B.page.locator('#dm-user-error').filter({ hasText: 'No user has this username.' }).waitFor();
    await B.page.getByLabel('Username').fill('Anna');
    await B.page.getByRole('button', { name: 'Open conversation' }).click();
    await B.page.waitForURL(/\/dm\/[0-9a-f-]{36}$/);
    ids.dm = B.page.url().split('/').pop();
    await B.page.getByTestId('channel-link').filter({ hasText: 'Anna Karenina' }).waitFor();
    B.problems.splice(0, B.problems.length, ...B.problems.filter((m) => !m.includes('404'))); // the unknown username
    assert.match(await B.page.getByTestId('e2e-badge').textContent(), /End-to-end encrypted/);
    // Boris's keys are locked since his last page load: the composer stays closed and says why.
    assert.match(await B.page.getByTestId('send-blocked').textContent(), /keys are locked.*Nothing is sent unencrypted/);
    assert.equal(await B.page.locator('.composer').count(), 0);
    const list = await api('GET', '/channels', undefined, await token('boris'));
    const dm = list.body.channels.find((c) => c.id === ids.dm);
    assert.equal(dm.kind, 'dm');
    assert.equal(dm.e2e, true, 'DMs are end-to-end encrypted on the server');

    // Ciphertext from another client that this browser holds no key for.
    const t = await token('anna');
    const res = await rawSend(A.page, t, ids.dm, [{ kind: 'encrypted', ciphertext: 'CAECAwQFBgcICQoLDA0ODw==' }]);
    assert.equal(res.acked, 1, JSON.stringify(res.errors));
    const failed = B.page.getByTestId('decrypt-failed');
    await failed.waitFor();
    // Locked keys say so; once unlocked, the damaged ciphertext is reported as such.
    assert.match(await failed.textContent(), /unlock your encryption keys to read it/);
    const form = B.page.getByTestId('unlock-form');
    await form.getByLabel('Password').fill(PW);
    await form.getByRole('button', { name: 'Unlock' }).click();
    await form.waitFor({ state: 'detached' });
    await failed.filter({ hasText: /could not be decrypted: its ciphertext is damaged/ }).waitFor();
    await B.page.locator('.composer').waitFor();
    // The server refuses plaintext in an E2E channel anyway.
    const refused = await rawSend(A.page, t, ids.dm, [{ kind: 'text', text: 'plain' }]);
    assert.equal(refused.acked, 0);
    assert.equal(refused.errors[0]?.code, 'invalid_request');

    // Anna finds the conversation in her direct messages.
    await A.page.goto(`${base}/dm`);
    await A.page.getByTestId('channel-link').first().click();
    await A.page.waitForURL(`${base}/dm/${ids.dm}`);
    await A.page.getByTestId('decrypt-failed').waitFor();
    assertClean(B, 'dm');
  });

  it('moves between messages from the keyboard', async () => {
    const { page } = A;
    await page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await messageWith(page, 'sent while Boris was offline').waitFor();
    const last = messageWith(page, 'sent while Boris was offline');
    await last.focus();
    // The actions of the focused message are reachable.
    assert.equal(await last.getByRole('button', { name: 'Reply' }).isVisible(), true);
    await page.keyboard.press('ArrowUp');
    assert.match(await page.evaluate(() => document.activeElement?.textContent ?? ''), /numbered message 70/);
    await page.keyboard.press('ArrowDown');
    assert.match(await page.evaluate(() => document.activeElement?.textContent ?? ''), /sent while Boris was offline/);
    // Reply from the keyboard: Tab to the action, Enter, type, Enter; Escape would cancel.
    await last.getByRole('button', { name: 'Reply' }).focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'TEXTAREA');
    await page.keyboard.press('Escape');
    assert.equal(await page.getByTestId('replying').count(), 0);
  });

  it('keeps the keystore locked after a reload until the password is given', async () => {
    const { page } = B;
    await page.goto(`${base}/settings/security`);
    // "Opening…" while the page load looks for a wrapped key (there is none with "Lock on every reload").
    await page.getByTestId('keys-status').filter({ hasText: /Locked/ }).waitFor();
    await page.getByLabel('Password', { exact: true }).fill('not the password at all');
    await page.getByRole('button', { name: 'Open keys' }).click();
    await page.locator('#keys-password-error').waitFor();
    assert.match(await page.locator('#keys-password-error').textContent(), /does not open/);
    await page.getByLabel('Password', { exact: true }).fill(PW);
    await page.getByRole('button', { name: 'Open keys' }).click();
    await page.getByTestId('keys-status').filter({ hasText: 'Open.' }).waitFor();
    assertClean(B, 'keystore');
  });

  it('renders a hostile corpus in messages and names as text and executes nothing (A8)', async () => {
    const corpus = [
      '<img src=x onerror="window.__xss=1">',
      '<script>window.__xss=2</script>',
      '"><svg onload=window.__xss=3>',
      "'><iframe srcdoc='<script>parent.__xss=4</script>'>",
      '[click](javascript:window.__xss=5)',
      '[data](data:text/html,<script>window.__xss=6</script>)',
      '<a href="javascript:window.__xss=7">x</a>',
      '**<b onmouseover=window.__xss=8>bold</b>**',
      '[x](java\tscript:window.__xss=9) [y]( javascript:window.__xss=10)',
      '`<img src=x onerror=window.__xss=11>`',
      '```\n<script>window.__xss=12</script>\n```',
      '> <style>*{display:none}</style>',
      '[![img](x)](https://ok.example/) <math><mtext><table><mglyph><style><img src=x onerror=window.__xss=13>',
      '{@html "<b onmouseover=window.__xss=14>"} ${window.__xss=15}',
    ];
    const t = await token('anna');
    const hostileCommunity = await api('POST', '/communities', { name: corpus[0], visibility: 'public', e2e: false }, t);
    assert.equal(hostileCommunity.status, 201);
    const hostileChannel = await api(
      'POST',
      `/communities/${hostileCommunity.body.id}/channels`,
      { name: corpus[2], topic: corpus[3], e2e: false },
      t,
    );
    assert.equal(hostileChannel.status, 201);
    const general = (await api('GET', '/channels', undefined, t)).body.channels.find(
      (c) => c.community_id === hostileCommunity.body.id && c.name === 'general',
    );
    const res = await rawSend(A.page, t, general.id, corpus.map((text) => ({ kind: 'text', text })));
    assert.equal(res.acked, corpus.length, JSON.stringify(res.errors));

    // The corpus in a profile's status, pronouns and about text as well.
    const prof = await api('PATCH', '/users/me/profile', { custom_status: corpus[0], pronouns: corpus[2].slice(0, 40), bio: corpus.join(' ').replace(/[\u0000-\u001f]/g, ' ') }, t);
    assert.equal(prof.status, 200, JSON.stringify(prof.body));

    const { page } = B;
    await page.goto(`${base}/join/${hostileCommunity.body.id}`);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.waitForURL(`${base}/c/${hostileCommunity.body.id}/${general.id}`);
    await messageWith(page, '${window.__xss=15}').waitFor();
    assert.equal(await page.getByTestId('community-name').textContent(), corpus[0]);
    assert.ok((await page.getByTestId('channel-list').textContent()).includes(corpus[2]));
    // Hover and focus everything, as a user would.
    for (const m of await messages(page).getByTestId('message').all()) await m.hover();
    await page.getByRole('link', { name: new RegExp(corpus[2].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }).click();
    await page.getByTestId('channel-start').waitFor();
    assert.equal(await page.getByTestId('channel-title').textContent(), `#${corpus[2]}`);
    await page.goBack();
    await messageWith(page, '${window.__xss=15}').waitFor();

    await page.getByText(/^Members/).click();
    await page.getByTestId('member').filter({ hasText: 'Anna Karenina' }).getByRole('button').click();
    const card = page.getByTestId('profile-card');
    await card.getByTestId('profile-status').filter({ hasText: corpus[0] }).waitFor();
    assert.equal(await card.locator('img, script, iframe, svg, style, math, table, b, a').count(), 0, 'no element made from the profile');
    assert.ok((await card.textContent()).includes('${window.__xss=15}'));

    const found = await page.evaluate(() => {
      const root = document.querySelector('[data-testid=messages]');
      const bad = root.querySelectorAll('img, script, iframe, svg:not(.icon), style, math, table, object, embed, b, form, input');
      const links = Array.from(root.querySelectorAll('a')).map((a) => ({ href: a.getAttribute('href'), rel: a.rel }));
      const handlers = Array.from(document.querySelectorAll('#app *')).filter((e) =>
        Array.from(e.attributes).some((a) => a.name.startsWith('on')),
      ).length;
      return { bad: bad.length, links, handlers, xss: window.__xss };
    });
    assert.equal(found.bad, 0, 'no element made from the corpus');
    assert.equal(found.handlers, 0, 'no inline event handler attribute');
    assert.equal(found.xss, undefined, 'a payload ran');
    for (const l of found.links) {
      assert.match(l.href, /^(https?|mailto):/);
      assert.equal(l.rel, 'noopener noreferrer');
    }
    assert.deepEqual(found.links.map((l) => l.href), ['https://ok.example/']);
    // The raw text is shown as it was written.
    assert.equal(await messageWith(page, 'onerror="window.__xss=1"').count(), 1);
    assertClean(B, 'hostile');
    await assertNoCsp(page, 'hostile');
  });

  it('announcement channels are read-only for members, and slow mode shows', async () => {
    const t = await token('anna');
    const news = await api('POST', '/communities', { name: 'News desk', visibility: 'public', e2e: false }, t);
    ids.news = news.body.id;
    const ann = await api('POST', `/communities/${ids.news}/channels`, { name: 'news', kind: 'announcement', e2e: false }, t);
    assert.equal(ann.status, 201);
    ids.announce = ann.body.id;
    const slow = await api('POST', `/communities/${ids.news}/channels`, { name: 'slow', e2e: false, slow_mode_secs: 30 }, t);
    assert.equal(slow.status, 201);
    ids.slow = slow.body.id;
    assert.equal((await api('POST', `/communities/${ids.news}/members`, undefined, await token('boris'))).status, 201);
    const { page } = B;
    await page.goto(`${base}/c/${ids.news}/${ids.announce}`);
    await page.getByTestId('send-blocked').filter({ hasText: 'This is an announcement channel: only moderators and above post here.' }).waitFor();
    assert.equal(await page.locator('.composer').count(), 0);
    await A.page.goto(`${base}/c/${ids.news}/${ids.announce}`);
    await A.page.locator('.composer textarea').waitFor();
    await page.goto(`${base}/c/${ids.news}/${ids.slow}`);
    assert.match(await page.getByTestId('slow-mode').textContent(), /one message every 30 s/);
    assertClean(B, 'announcement');
  });

  it('takes screenshots of the chat, light and dark, desktop and phone', async () => {

    // A short conversation to show: markdown, a reply, an edit and reactions.
    await A.page.goto(`${base}/c/${ids.community}/${ids.offTopic}`);
    await A.page.getByTestId('channel-start').waitFor();
    await send(A.page, 'Reading list for December:\n- *Anna Karenina*\n- **Dead Souls**\n\nNotes at https://example.org/notes');
    await B.page.goto(`${base}/c/${ids.community}/${ids.offTopic}`);
    const list = messageWith(B.page, 'Reading list');
    await list.waitFor();
    await list.hover();
    await list.getByRole('button', { name: 'Reply' }).click();
    await send(B.page, 'Count me in. I will bring `tea` and snacks.');
    await list.hover();
    await list.getByRole('button', { name: 'Add a reaction' }).click();
    await list.getByRole('button', { name: 'React with 🎉' }).click();
    await messageWith(A.page, 'Count me in').waitFor();
    await send(A.page, 'Great, see you on Friday');
    await A.page.locator('.composer textarea').press('ArrowUp');
    await A.page.getByLabel('Edit message').fill('Great, see you on Friday at 7');
    await A.page.getByLabel('Edit message').press('Enter');
    await messageWith(B.page, 'Friday at 7').waitFor();
    for (const [vpName, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ]) {
      for (const scheme of ['light', 'dark']) {
        const p = await person(viewport, scheme);
        await p.page.goto(`${base}/login`);
        await p.page.getByLabel('Username').fill('boris');
        await p.page.getByLabel('Password').fill(PW);
        await p.page.getByRole('button', { name: 'Sign in' }).click();
        await p.page.getByTestId('signed-in').waitFor();
        const shot = async (name) => {
          await p.page.waitForTimeout(150);
          await p.page.screenshot({ path: join(SCREENSHOTS, `chat-${name}-${vpName}-${scheme}.png`) });
          const overflow = await p.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 0, `${name} ${vpName}: ${overflow}px wider than the viewport`);
        };
        await shot('home');
        await p.page.goto(`${base}/c/${ids.community}/${ids.offTopic}`);
        await messageWith(p.page, 'Friday at 7').waitFor();
        await shot('channel');
        if (vpName === 'phone') {
          await p.page.getByRole('button', { name: 'Back to channels' }).click();
          await p.page.getByTestId('channel-list').waitFor();
          await shot('channel-list');
        }
        await p.page.goto(`${base}/c/${ids.community}/${ids.secrets}`);
        await p.page.getByTestId('send-blocked').waitFor();
        await shot('e2e-channel');
        await p.page.goto(`${base}/c/${ids.news}/${ids.announce}`);
        await p.page.getByTestId('send-blocked').waitFor();
        await shot('announcement');
        await p.page.goto(`${base}/dm/${ids.dm}`);
        await p.page.getByTestId('decrypt-failed').waitFor();
        await shot('dm');
        await p.page.goto(`${base}/`);
        await p.page.getByRole('button', { name: 'Create a community' }).first().click();
        await shot('create-community');
        assertClean(p, `screens ${vpName} ${scheme}`);
        await assertNoCsp(p.page, `screens ${vpName} ${scheme}`);
        await p.ctx.close();
      }
    }
  });
});
