// Conversations between people, against the real server binary: three people in a group
// conversation opened by usernames; a block between two of them keeps each one's messages from
// the other while both still write to the third, and closes their own DM (the composer says
// so on both sides); one leaves the group after a confirmation, the others go on without her,
// and opening the same people again brings her back with the history. Steps run in order.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'three sisters passphrase';
/** A second directory for the screenshots of the setup and leave screens, when given. */
const SHOTS2 = process.env.CHATALOT_SHOTS2 ?? null;

let server;
let browser;
let base;
let A; // Olga: opens the group
let B; // Masha: blocks Irina
let C; // Irina: is blocked, leaves the group and comes back
const ids = {};
const env = { password: PW };
const { api, person, register, token, messages, messageWith, send: sendNow, assertClean } = chatHelpers(env);

async function send(page, text) {
  await page.locator('.composer textarea').waitFor();
  await sendNow(page, text);
}

async function waitFor(cond, what, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function keysReady(p) {
  const r = await api('GET', `/users/${p.id}/devices`, undefined, await token(p.username));
  return r.status === 200 && r.body.devices.length > 0;
}

/** Opens a conversation from the DM list, in the page (no reload: the keys stay open). */
async function openConversation(p, channelId) {
  await p.page.getByRole('link', { name: /^Direct messages/ }).click();
  await p.page.locator(`a[href="/dm/${channelId}"]`).click();
  await p.page.waitForURL(`${base}/dm/${channelId}`);
}

/** Opens a conversation with these usernames through the "New direct message" form. */
async function startConversation(p, usernames) {
  await p.page.getByRole('link', { name: /^Direct messages/ }).click();
  await p.page.getByRole('button', { name: 'New direct message' }).first().click();
  await p.page.getByLabel('Username').fill(usernames);
  await p.page.getByRole('button', { name: 'Open conversation' }).click();
  await p.page.waitForURL(/\/dm\/[0-9a-f-]{36}$/);
  return p.page.url().split('/').pop();
}

/** Waits a moment and checks that the text did not arrive. */
async function neverArrives(page, text) {
  await page.waitForTimeout(1500);
  assert.equal(await messageWith(page, text).count(), 0, `"${text}" must not arrive`);
}

describe('web app: conversations, blocks and leaving', { timeout: 900_000 }, () => {
  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    if (SHOTS2) mkdirSync(SHOTS2, { recursive: true });
    server = await startServer();
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'light');
    C = await person(DESKTOP, 'dark');
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('three people register; one opens a group conversation with the two others by username', async () => {
    await register(A, 'olga', 'Olga Prozorova');
    await register(B, 'masha', 'Masha Prozorova');
    await register(C, 'irina', 'Irina Prozorova');
    for (const p of [A, B, C]) await waitFor(() => keysReady(p), `${p.username} publishes her keys`);
    // A DM between Irina and Masha, from before anything else (it reaches Masha live).
    ids.dm = await startConversation(C, 'masha');
    await C.page.getByTestId('channel-title').filter({ hasText: 'Masha Prozorova' }).waitFor();
    await B.page.getByRole('link', { name: /^Direct messages/ }).click();
    await B.page.locator(`a[href="/dm/${ids.dm}"]`).waitFor();

    ids.group = await startConversation(A, 'masha, @irina');
    const list = await api('GET', '/channels', undefined, await token('olga'));
    assert.equal(list.body.channels.find((c) => c.id === ids.group).kind, 'group_dm');
    await A.page.getByTestId('channel-title').filter({ hasText: /Masha Prozorova.*Irina Prozorova|Irina Prozorova.*Masha Prozorova/ }).waitFor();
    await send(A.page, 'Hello, sisters: to Moscow!');
    await messageWith(A.page, 'to Moscow').waitFor();
    // The two others find it in their lists (it arrived live) and read it.
    for (const p of [B, C]) {
      await openConversation(p, ids.group);
      await messageWith(p.page, 'to Moscow').waitFor();
    }
    for (const p of [A, B, C]) assertClean(p, `group ${p.username}`);
  });

  it('a block keeps two members apart while both still write to the third', async () => {
    // Masha blocks Irina.
    const blocked = await api('PUT', `/users/me/blocks/${C.id}`, undefined, await token('masha'));
    assert.equal(blocked.status, 204);
    // Irina has no session with Masha's browser yet: its keys are refused to her, and her
    // message still goes to Olga.
    await send(C.page, 'Irina writes to those who read her');
    await messageWith(C.page, 'Irina writes').waitFor();
    await messageWith(A.page, 'Irina writes').waitFor();
    await neverArrives(B.page, 'Irina writes');
    await send(B.page, 'Masha writes to Olga');
    await messageWith(A.page, 'Masha writes').waitFor();
    await neverArrives(C.page, 'Masha writes');
    assert.equal(await C.page.getByTestId('chat-notice').count(), 0, 'no "not sent" for Irina');
    // The refused claim of Masha's keys is a 403 in Irina's console.
    C.problems.splice(0, C.problems.length, ...C.problems.filter((m) => !m.includes('403')));
    for (const p of [A, B, C]) assertClean(p, `block ${p.username}`);
  });

  it('in the DM of the two, neither can send, and the composer says so', async () => {
    // Irina, blocked: her browser is refused Masha's keys, and says why without sending.
    await openConversation(C, ids.dm);
    await send(C.page, 'Masha, are you there?');
    await C.page.getByTestId('send-blocked').filter({ hasText: "You can't send messages in this conversation" }).waitFor();
    assert.equal(await C.page.locator('.composer').count(), 0);
    // Masha, who blocked: the server refuses the send; no retrying, the composer says so.
    await openConversation(B, ids.dm);
    await send(B.page, 'You will not read this');
    await B.page.getByTestId('send-blocked').filter({ hasText: "You can't send messages in this conversation" }).waitFor();
    const failed = B.page.getByTestId('pending-message');
    await failed.filter({ hasText: 'Not sent' }).waitFor();
    assert.equal(await failed.getByRole('button', { name: 'Retry' }).count(), 0);
    await failed.getByRole('button', { name: 'Discard' }).click();
    await failed.waitFor({ state: 'detached' });
    // The block is lifted again.
    assert.equal((await api('DELETE', `/users/me/blocks/${C.id}`, undefined, await token('masha'))).status, 204);
    for (const p of [A, B, C]) assertClean(p, `dm ${p.username}`);
  });

  it('one leaves the group after a confirmation; the others go on without her', async () => {
    const { page } = C;
    await openConversation(C, ids.group);
    await messageWith(page, 'to Moscow').waitFor();
    await page.getByRole('button', { name: 'Leave conversation…' }).click();
    const confirm = page.getByTestId('leave-confirm');
    await confirm.waitFor();
    assert.match(await confirm.textContent(), /Leave this conversation with .*\?.*the others stay in it.*whole history/s);
    // Both others are named, Masha too, whose presence the block hid from Irina.
    assert.match(await confirm.textContent(), /with (Masha Prozorova, Olga Prozorova|Olga Prozorova, Masha Prozorova)\?/);
    for (const [name, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ]) {
      await page.setViewportSize(viewport);
      if (SHOTS2) await page.screenshot({ path: join(SHOTS2, `leave-confirm-${name}.png`) });
      await page.screenshot({ path: join(SCREENSHOTS, `leave-confirm-${name}-dark.png`) });
      assert.ok((await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0, `${name}: too wide`);
    }
    await page.setViewportSize(DESKTOP);
    // Cancel keeps it; confirming leaves.
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Leave conversation…' }).click();
    await page.getByTestId('leave-confirm-button').click();
    await page.waitForURL(`${base}/dm`);
    await page.getByTestId('dm-notice').filter({ hasText: 'You left the conversation.' }).waitFor();
    assert.equal(await page.locator(`a[href="/dm/${ids.group}"]`).count(), 0);
    assert.equal(await page.locator(`a[href="/dm/${ids.dm}"]`).count(), 1, 'the other DM stays');
    // The server no longer lets her read it; the others still have it.
    const t = await token('irina');
    assert.equal((await api('GET', `/channels/${ids.group}/messages`, undefined, t)).status, 404);
    const listed = await api('GET', '/channels', undefined, t);
    assert.equal(listed.body.channels.some((c) => c.id === ids.group), false);
    await openConversation(B, ids.group);
    await send(A.page, 'Irina has gone to the telegraph office');
    await messageWith(B.page, 'telegraph office').waitFor();
    if (SHOTS2) await page.screenshot({ path: join(SHOTS2, 'left-desktop.png') });
    for (const p of [A, B, C]) assertClean(p, `leave ${p.username}`);
  });

  it('opening the same people again brings her back, with the history', async () => {
    const back = await startConversation(C, 'olga, masha');
    assert.equal(back, ids.group, 'the same conversation');
    const { page } = C;
    // What she read before is read again (from this browser's cache); what was sent while she was
    // away was not encrypted for her.
    await messageWith(page, 'to Moscow').waitFor();
    await messageWith(page, 'Irina writes').waitFor();
    const away = messages(page).getByTestId('message').filter({ has: page.getByTestId('decrypt-failed') });
    await away.first().waitFor();
    assert.match(await away.first().textContent(), /not encrypted for this device: it was sent while this device was not among/);
    // New messages reach her again.
    await send(A.page, 'Welcome back, Irina');
    await messageWith(page, 'Welcome back').waitFor();
    await send(page, 'Thank you, Olga');
    await messageWith(A.page, 'Thank you, Olga').waitFor();
    await messageWith(B.page, 'Thank you, Olga').waitFor();
    for (const p of [A, B, C]) assertClean(p, `back ${p.username}`);
  });

  it('a 1:1 conversation can be left too; the other person keeps it', async () => {
    const { page } = B;
    await openConversation(B, ids.dm);
    await page.getByRole('button', { name: 'Leave conversation…' }).click();
    assert.match(await page.getByTestId('leave-confirm').textContent(), /the other person keeps it/);
    await page.getByTestId('leave-confirm-button').click();
    await page.waitForURL(`${base}/dm`);
    assert.equal(await page.locator(`a[href="/dm/${ids.dm}"]`).count(), 0);
    // Irina still has it.
    await C.page.getByRole('link', { name: /^Direct messages/ }).click();
    await C.page.locator(`a[href="/dm/${ids.dm}"]`).waitFor();
    for (const p of [A, B, C]) assertClean(p, `leave dm ${p.username}`);
  });
});
