// End-to-end encryption in the browser, against the real server binary: two people chat in an
// encrypted community channel and in a DM, edit and react, reload and read their history again
// (one opens her keys without the password, the other, with "Lock on every reload", after giving
// it); the database holds only ciphertext for those messages; they
// compare safety numbers; a browser and the Rust client (tests/src/bin/chatalot-e2e-peer.rs)
// exchange encrypted messages both ways; a changed user key stays on screen until accepted.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, launchBrowser, startPeer as startRustPeer, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'another long passphrase';
// Words that must never reach the server in the clear.
const CANARY = {
  channel: 'canary-channel-7f3a91',
  reply: 'canary-reply-c02e55',
  edited: 'canary-edited-5b1d08',
  dm: 'canary-dm-9e4471',
  dmReply: 'canary-dmreply-33a6fd',
  fromRust: 'canary-rust-d1c9e2',
  toRust: 'canary-torust-0a7b34',
};

let server;
let browser;
let base;
let A;
let B;
let peer;
const ids = {};
const env = { password: PW };
const { api, person, register, token, lockOnEveryReload, messageWith, send: sendNow, assertClean } = chatHelpers(env);

async function send(page, text) {
  await page.locator('.composer textarea').waitFor();
  await sendNow(page, text);
}

/**
 * Kirsanov has "Lock on every reload": a full page load leaves his keys locked, and this gives
 * the password to the unlock form.
 */
async function unlock(page) {
  const form = page.getByTestId('unlock-form');
  await form.waitFor();
  await form.getByLabel('Password').fill(PW);
  await form.getByRole('button', { name: 'Unlock' }).click();
  await form.waitFor({ state: 'detached' });
}

/** Vera keeps the default: a page load opens her keys without the password. */
async function keysOpen(page) {
  await page.locator('.composer textarea').waitFor();
  assert.equal(await page.getByTestId('unlock-form').count(), 0, 'no password asked');
}

/** Waits until the browser's keys are set up (the device published). */
async function keysReady(p) {
  const r = await api('GET', `/users/${p.id}/devices`, undefined, await token(p.username));
  return r.status === 200 && r.body.devices.length > 0;
}

async function waitFor(cond, what, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The Rust end-to-end client, driven one JSON line at a time. */
const startPeer = () => startRustPeer(base);

describe('web app: end-to-end encryption', { timeout: 900_000 }, () => {
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
    peer?.stop();
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('two people register and their browsers publish verified device keys', async () => {
    await register(A, 'vera', 'Vera Pavlovna');
    await register(B, 'kirsanov', 'Alexander Kirsanov');
    await waitFor(() => keysReady(A), 'Vera publishes her keys');
    await waitFor(() => keysReady(B), 'Kirsanov publishes his keys');
    const dir = await api('GET', `/users/${A.id}/devices`, undefined, await token('kirsanov'));
    assert.equal(typeof dir.body.user_key, 'string');
    assert.equal(dir.body.devices.length, 1);
    // Private keys never reach localStorage or sessionStorage.
    assert.equal(await A.page.evaluate(() => localStorage.length + sessionStorage.length), 0);
    await lockOnEveryReload(B);
  });

  it('they chat in an encrypted community channel: send, reply, edit, react', async () => {
    const { page } = A;
    await page.getByRole('button', { name: 'Create a community' }).first().click();
    await page.getByLabel('Name', { exact: true }).fill('Workshop');
    await page.getByLabel('Public: anyone with the link').check();
    await page.getByRole('button', { name: 'Create community' }).click();
    await page.waitForURL(/\/c\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/);
    const [, community, channel] = /\/c\/([0-9a-f-]{36})\/([0-9a-f-]{36})$/.exec(page.url());
    ids.community = community;
    ids.channel = channel;
    assert.match(await page.getByTestId('e2e-badge').textContent(), /End-to-end encrypted/);
    await B.page.goto(`${base}/join/${community}`);
    await B.page.getByRole('button', { name: 'Join', exact: true }).click();
    await B.page.waitForURL(`${base}/c/${community}/${channel}`);
    await unlock(B.page);

    await send(A.page, `Welcome, **friend**: ${CANARY.channel}`);
    const first = messageWith(B.page, CANARY.channel);
    await first.waitFor();
    assert.equal(await first.locator('strong').textContent(), 'friend');
    await messageWith(A.page, CANARY.channel).waitFor();
    await A.page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0);

    await first.hover();
    await first.getByRole('button', { name: 'Reply' }).click();
    await send(B.page, `Thank you! ${CANARY.reply}`);
    const reply = messageWith(A.page, CANARY.reply);
    await reply.waitFor();

    // Edit: the new text is encrypted too.
    const mine = messageWith(A.page, CANARY.channel);
    await mine.hover();
    await mine.getByRole('button', { name: 'Edit' }).click();
    const edit = A.page.getByLabel('Edit message');
    await edit.fill(`Welcome, *friend*: ${CANARY.edited}`);
    await edit.press('Enter');
    const edited = messageWith(B.page, CANARY.edited);
    await edited.waitFor();
    assert.match(await edited.textContent(), /\(edited\)/);

    // React.
    await edited.hover();
    await edited.getByRole('button', { name: 'Add a reaction' }).click();
    await edited.getByRole('button', { name: 'React with 🎉' }).click();
    const chip = messageWith(A.page, CANARY.edited).getByRole('button', { name: /^🎉 1/ });
    await chip.waitFor();
    // She reacts too, then he takes his back: the counts change live and the body stays read.
    await chip.click();
    await messageWith(B.page, CANARY.edited).getByRole('button', { name: /^🎉 2/ }).waitFor();
    await messageWith(B.page, CANARY.edited).getByRole('button', { name: /^🎉 2/ }).click();
    const back = messageWith(A.page, CANARY.edited).getByRole('button', { name: /^🎉 1/ });
    await back.waitFor();
    assert.equal(await back.getAttribute('aria-pressed'), 'true');
    await back.click();
    await messageWith(B.page, CANARY.edited).getByRole('list', { name: 'Reactions' }).waitFor({ state: 'detached' });
    await messageWith(A.page, CANARY.edited).getByRole('list', { name: 'Reactions' }).waitFor({ state: 'detached' });
    assert.equal(await messageWith(A.page, CANARY.edited).locator('em').textContent(), 'friend');
    assert.equal(await messageWith(B.page, CANARY.edited).locator('em').textContent(), 'friend');
    assertClean(A, 'channel A');
    assertClean(B, 'channel B');
  });

  it('they chat in an encrypted DM', async () => {
    await B.page.getByRole('link', { name: /^Direct messages/ }).click();
    await B.page.getByRole('button', { name: 'New direct message' }).first().click();
    await B.page.getByLabel('Username').fill('vera');
    await B.page.getByRole('button', { name: 'Open conversation' }).click();
    await B.page.waitForURL(/\/dm\/[0-9a-f-]{36}$/);
    ids.dm = B.page.url().split('/').pop();
    await send(B.page, `Just between us: ${CANARY.dm}`);
    await messageWith(B.page, CANARY.dm).waitFor();
    await A.page.goto(`${base}/dm/${ids.dm}`);
    await keysOpen(A.page);
    await messageWith(A.page, CANARY.dm).waitFor();
    await send(A.page, `Agreed. ${CANARY.dmReply}`);
    await messageWith(B.page, CANARY.dmReply).waitFor();
    assertClean(A, 'dm A');
    assertClean(B, 'dm B');
  });

  it('the database and the API hold only ciphertext for those messages', async () => {
    const dump = server.pgDump();
    assert.ok(dump.includes('vera'), 'the dump is of the right database');
    for (const [what, word] of Object.entries(CANARY)) {
      if (what === 'fromRust' || what === 'toRust') continue;
      assert.equal(dump.includes(word), false, `${what} is in the database in the clear`);
    }
    const rows = server.sql(
      `SELECT count(*) FILTER (WHERE body_cipher IS NOT NULL AND body_text IS NULL), count(*) FROM messages WHERE channel_id IN ('${ids.channel}', '${ids.dm}') AND deleted_at IS NULL`,
    );
    const [encrypted, total] = rows.split('|').map(Number);
    assert.ok(total >= 4, `messages stored: ${rows}`);
    assert.equal(encrypted, total, 'every message of the encrypted channel and the DM is ciphertext');
    const page = await api('GET', `/channels/${ids.channel}/messages`, undefined, await token('kirsanov'));
    assert.ok(page.body.messages.every((m) => m.content.kind === 'encrypted'));
  });

  it('with "Lock on every reload", a reload keeps the keys locked until the password is given, then the history reads', async () => {
    const { page } = B;
    await page.goto(`${base}/c/${ids.community}/${ids.channel}`);
    const form = page.getByTestId('unlock-form');
    await form.waitFor();
    await page.getByTestId('decrypt-failed').first().waitFor();
    assert.match(await page.getByTestId('send-blocked').textContent(), /locked/);
    await form.getByLabel('Password').fill('not the password');
    await form.getByRole('button', { name: 'Unlock' }).click();
    await form.getByRole('alert').filter({ hasText: 'does not open' }).waitFor();
    await form.getByLabel('Password').fill(PW);
    await form.getByRole('button', { name: 'Unlock' }).click();
    await form.waitFor({ state: 'detached' });
    await messageWith(page, CANARY.edited).waitFor();
    await messageWith(page, CANARY.reply).waitFor();
    await page.goto(`${base}/dm/${ids.dm}`);
    await unlock(page);
    await messageWith(page, CANARY.dm).waitFor();
    await messageWith(page, CANARY.dmReply).waitFor();
    // And it still sends.
    await send(page, 'after the reload');
    await messageWith(A.page, 'after the reload').waitFor();
    assertClean(B, 'reload');
  });

  it('they compare safety numbers and mark each other verified', async () => {
    await A.page.getByTestId('safety-toggle').click();
    const na = (await A.page.getByTestId('safety-number').textContent()).trim();
    await B.page.getByTestId('safety-toggle').click();
    const nb = (await B.page.getByTestId('safety-number').textContent()).trim();
    assert.match(na, /^(\d{5} ){11}\d{5}$/);
    assert.equal(na, nb, 'both sides show the same safety number');
    await A.page.getByTestId('mark-verified').click();
    await A.page.getByTestId('verified').waitFor();
    await A.page.screenshot({ path: join(SCREENSHOTS, 'e2e-dm-safety-number-desktop-light.png') });
    await B.page.setViewportSize(PHONE);
    await B.page.screenshot({ path: join(SCREENSHOTS, 'e2e-dm-phone-dark.png') });
    await B.page.setViewportSize(DESKTOP);
  });

  it('a browser and the Rust client exchange encrypted messages both ways', async () => {
    peer = startPeer();
    const me = await peer.ok({ cmd: 'register', username: 'rusty' });
    ids.rusty = me.user_id;
    // What was written before the Rust client joined: the channel lets new members read its
    // history, so Vera's browser hands the Rust client the keys to it (docs/e2e.md 18.5).
    const before = await api('GET', `/channels/${ids.channel}/messages`, undefined, await token('vera'));
    const earlier = before.body.messages.map((m) => m.id);
    assert.ok(earlier.length >= 2);
    const invite = await api('POST', `/communities/${ids.community}/invites`, {}, await token('vera'));
    assert.equal(invite.status, 201);
    await peer.ok({ cmd: 'join', code: invite.body.code });
    // Channel: the browser's sender key reaches the Rust client in an envelope.
    await A.page.goto(`${base}/c/${ids.community}/${ids.channel}`);
    await keysOpen(A.page);
    await send(A.page, `Hello Rust: ${CANARY.toRust}`);
    await messageWith(A.page, CANARY.toRust).waitFor();
    await A.page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0);
    // A reader who was not there at Vera's earlier sends is shown to her.
    await A.page.getByTestId('e2e-flag').filter({ hasText: 'rusty' }).filter({ hasText: 'now receives the messages you send here' }).waitFor();
    let got = [];
    const refused = [];
    const channelRead = new Set();
    await waitFor(async () => {
      const r = await peer.ok({ cmd: 'sync', channel_id: ids.channel });
      got.push(...r.messages);
      for (const m of r.messages) channelRead.add(m.id);
      refused.push(...r.errors);
      return got.some((m) => m.text?.includes(CANARY.toRust));
    }, 'the Rust client decrypts the browser channel message').catch(async (e) => {
      throw new Error(`${e.message}: refused ${JSON.stringify(refused)}, warnings ${JSON.stringify(await peer.call({ cmd: 'warnings' }))}`);
    });
    assert.equal(got.find((m) => m.text?.includes(CANARY.toRust)).sender_id, A.id);
    await peer.ok({ cmd: 'send_channel', channel_id: ids.channel, text: `Hello browsers: ${CANARY.fromRust}` });
    await messageWith(A.page, CANARY.fromRust).waitFor();

    // DM: the Rust client starts it (X3DH against the browser's bundle), the browser answers.
    const dm = await peer.ok({ cmd: 'open_dm', user_id: A.id });
    ids.rustDm = dm.channel_id;
    await peer.ok({ cmd: 'send_direct', channel_id: dm.channel_id, text: `Private from Rust ${CANARY.fromRust}` });
    await A.page.goto(`${base}/dm/${dm.channel_id}`);
    await keysOpen(A.page);
    await messageWith(A.page, `Private from Rust ${CANARY.fromRust}`).waitFor();
    await send(A.page, `Private to Rust ${CANARY.toRust}`);
    got = [];
    await waitFor(async () => {
      const r = await peer.ok({ cmd: 'sync', channel_id: dm.channel_id });
      got.push(...r.messages);
      return got.some((m) => m.text?.includes(`Private to Rust ${CANARY.toRust}`));
    }, 'the Rust client decrypts the browser DM');
    const warnings = await peer.ok({ cmd: 'warnings' });
    const unexpected = warnings.warnings.filter((w) => /Rejected|Untrusted|BadBundle/.test(w));
    assert.deepEqual(unexpected, []);
    const readIds = new Set((await peer.ok({ cmd: 'sync', channel_id: ids.channel })).messages.map((m) => m.id));
    for (const m of got) readIds.add(m.id);
    for (const id of earlier) assert.ok(readIds.has(id) || channelRead.has(id), `the Rust client read ${id}, written before it joined`);
    const dump = server.pgDump();
    assert.equal(dump.includes(CANARY.fromRust), false);
    assert.equal(dump.includes(CANARY.toRust), false);
    assertClean(A, 'rust');
  });

  it('a changed user key is shown until it is accepted, also after a reload', async () => {
    // The server (or whoever controls it) swaps the Rust user's key in the directory.
    server.sql(`UPDATE user_keys SET public_key = decode(repeat('ab', 32), 'hex') WHERE user_id = '${ids.rusty}'`);
    await A.page.reload();
    await keysOpen(A.page);
    const warning = A.page.getByTestId('key-change');
    await warning.waitFor();
    assert.match(await warning.textContent(), /encryption key has changed/);
    await A.page.reload();
    await keysOpen(A.page);
    await A.page.getByTestId('key-change').waitFor();
    await A.page.screenshot({ path: join(SCREENSHOTS, 'e2e-key-change-desktop-light.png') });
    await A.page.getByTestId('key-change').getByRole('button', { name: 'Accept the new key' }).click();
    await A.page.getByTestId('key-change').waitFor({ state: 'detached' });
    assertClean(A, 'key change');
  });
});
