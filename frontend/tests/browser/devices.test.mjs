// Every device of an account in the browser (docs/e2e.md 18), against the real server binary:
// the first browser shows its recovery key once; a second browser of the same person is linked
// from the first by typing the code it shows (a wrong code refused) and reads the history of an
// encrypted channel and a DM, and sends; after "log out everywhere", a fresh browser restores
// from the recovery key alone (a wrong key refused) and reads every message of several channels
// and DMs; a person who joins later reads the last 200 messages of a channel whose setting lets
// new members read its history (handed over by an online member's browser), and sees why earlier
// messages cannot be read in one whose setting does not; and a reset shows the contact the key
// change. Screenshots of the link code, the recovery key, the devices page and
// an unreadable message, at desktop and phone sizes.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, launchBrowser, startPeer, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a passphrase for every device';

let server;
let browser;
let base;
const env = { password: PW };
const { api, person, register, login, screenshot, token, messageWith, send, assertClean: clean } = chatHelpers(env);

/**
 * No console errors but the answers the app expects and handles: 409 from compare-and-swap when
 * two browsers of the account write the backup at once (the later one tries again), and 403 for a
 * password the reset refuses.
 */
function assertClean(p, where) {
  p.problems = p.problems.filter((x) => !/status of (409 \(Conflict\)|403 \(Forbidden\))/.test(x));
  clean(p, where);
}
const ids = {};
/** What was sent where: channel id → texts. */
const sent = new Map();
let A; // Vera's first browser
let A2; // Vera's second browser, linked
let B; // Lopukhov
let C; // Mertsalova, who joins later
let recoveryKey;

function note(channel, text) {
  if (!sent.has(channel)) sent.set(channel, []);
  sent.get(channel).push(text);
}

function shot(page, name, viewport) {
  return screenshot(page, `devices-${name}-${viewport === PHONE ? 'phone' : 'desktop'}`, viewport);
}

async function openChannel(page, path) {
  await page.goto(`${base}${path}`);
  await page.locator('.composer textarea').waitFor();
}

async function say(p, channel, path, text) {
  if (!p.page.url().endsWith(path)) await openChannel(p.page, path);
  await send(p.page, text);
  await messageWith(p.page, text).waitFor();
  note(channel, text);
}

/** Waits until every message of the open channel is read or refused; their counts. */
async function settle(page, expected) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await page.evaluate(() => {
      const list = document.querySelector('[data-testid=messages]');
      const all = list ? [...list.querySelectorAll('[data-testid=message]')] : [];
      // "Unlock your keys" shows while the keys open at a page load; they are tried again then.
      const decrypting = all.filter((m) => m.textContent.includes('Decrypting…') || m.textContent.includes('unlock your encryption keys')).length;
      const failed = all.filter((m) => m.querySelector('[data-testid=decrypt-failed]')).length;
      return { total: all.length, decrypting, failed, texts: all.map((m) => m.querySelector('[data-testid=message-body]')?.textContent ?? '') };
    });
    if (r.decrypting === 0 && (expected === undefined || r.total >= expected)) return r;
    if (Date.now() > deadline) return r;
    await page.waitForTimeout(200);
  }
}

async function waitFor(cond, what, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the account's backup head stops moving (the browsers' debounced backups ran). */
async function backupSettled(username) {
  const t = await token(username);
  let last = -1;
  let stableSince = Date.now();
  await waitFor(async () => {
    const r = await api('GET', '/users/me/key_backup', undefined, t);
    if (r.body.head_seq !== last) {
      last = r.body.head_seq;
      stableSince = Date.now();
    }
    return last > 0 && Date.now() - stableSince > 6000;
  }, 'the backup head settles', 90_000);
  return last;
}

describe('web app: every device of an account', { timeout: 1_200_000 }, () => {
  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startServer();
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'dark');
    C = await person(DESKTOP, 'light');
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('the first browser makes the recovery key and shows it once, grouped, until it is saved', async () => {
    await register(A, 'vera', 'Vera Pavlovna');
    await register(B, 'lopukhov', 'Dmitry Lopukhov');
    await register(C, 'mertsalova', 'Natalya Mertsalova');
    const { page } = A;
    await page.getByTestId('recovery-key-banner').waitFor();
    await page.getByTestId('show-recovery-key').click();
    const card = page.getByTestId('recovery-key-card');
    await card.waitFor();
    const label = await page.getByTestId('recovery-key').getAttribute('aria-label');
    recoveryKey = label.replace('Recovery key: ', '');
    assert.match(recoveryKey, /^([0-9A-Z]{4}-){12}[0-9A-Z]{4}$/);
    assert.equal(await page.getByTestId('recovery-key').locator('code').count(), 13);
    await shot(page, 'recovery-key', DESKTOP);
    await shot(page, 'recovery-key', PHONE);
    await page.setViewportSize(DESKTOP);
    // Continue waits for the confirmation.
    assert.equal(await page.getByTestId('recovery-key-done').isDisabled(), true);
    await page.getByTestId('recovery-key-saved').check();
    await page.getByTestId('recovery-key-done').click();
    await card.waitFor({ state: 'detached' });
    await page.reload();
    await page.getByTestId('signed-in').waitFor();
    await page.waitForTimeout(1000);
    assert.equal(await page.getByTestId('recovery-key-banner').count(), 0, 'shown once');
    // The server holds version 1 of the secret storage: opaque bytes.
    const s = await api('GET', '/users/me/secret_storage', undefined, await token('vera'));
    assert.equal(s.status, 200);
    assert.equal(s.body.version, 1);
    for (const p of [B, C]) {
      await p.page.getByTestId('recovery-key-banner').waitFor();
      await p.page.getByTestId('show-recovery-key').click();
      await p.page.getByTestId('recovery-key-saved').check();
      await p.page.getByTestId('recovery-key-done').click();
    }
    assertClean(A, 'recovery key');
  });

  it('they write in an encrypted channel and a DM', async () => {
    const { page } = A;
    await page.goto(`${base}/`);
    await page.getByRole('button', { name: 'Create a community' }).first().click();
    await page.getByLabel('Name', { exact: true }).fill('Sewing workshop');
    await page.getByLabel('Public: anyone with the link').check();
    await page.getByRole('button', { name: 'Create community' }).click();
    await page.waitForURL(/\/c\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/);
    const [, community, channel] = /\/c\/([0-9a-f-]{36})\/([0-9a-f-]{36})$/.exec(page.url());
    Object.assign(ids, { community, channel });
    ids.paths = { [channel]: `/c/${community}/${channel}` };
    await B.page.goto(`${base}/join/${community}`);
    await B.page.getByRole('button', { name: 'Join', exact: true }).click();
    await B.page.waitForURL(`${base}/c/${community}/${channel}`);
    await say(A, channel, ids.paths[channel], 'The workshop opens on Monday');
    await say(B, channel, ids.paths[channel], 'I will bring the cloth');
    await messageWith(A.page, 'I will bring the cloth').waitFor();
    // The DM.
    await B.page.getByRole('link', { name: /^Direct messages/ }).click();
    await B.page.getByRole('button', { name: 'New direct message' }).first().click();
    await B.page.getByLabel('Username').fill('vera');
    await B.page.getByRole('button', { name: 'Open conversation' }).click();
    await B.page.waitForURL(/\/dm\/[0-9a-f-]{36}$/);
    ids.dm = B.page.url().split('/').pop();
    ids.paths[ids.dm] = `/dm/${ids.dm}`;
    await say(B, ids.dm, ids.paths[ids.dm], 'A word between us');
    await openChannel(A.page, ids.paths[ids.dm]);
    await messageWith(A.page, 'A word between us').waitFor();
    await say(A, ids.dm, ids.paths[ids.dm], 'Of course');
    await messageWith(B.page, 'Of course').waitFor();
    assertClean(A, 'write A');
    assertClean(B, 'write B');
  });

  it('a second browser is linked by typing its code on the first; a wrong code is refused', async () => {
    A2 = await person(DESKTOP, 'dark');
    await login(A2, 'vera');
    const { page } = A2;
    await page.getByTestId('keyless-banner').waitFor();
    await page.getByTestId('setup-keys').click();
    await page.getByTestId('keys-setup').waitFor();
    await page.getByTestId('start-link').click();
    const codeEl = page.getByTestId('link-code');
    await codeEl.waitFor();
    await page.getByTestId('link-qr').waitFor();
    const code = (await codeEl.getAttribute('aria-label')).replace('Link code: ', '');
    assert.match(code, /^([0-9A-Z]{4}-){6}[0-9A-Z]{2}$/);
    await shot(page, 'link-code', DESKTOP);
    await shot(page, 'link-code', PHONE);
    await page.setViewportSize(DESKTOP);
    // The first browser hears the request and asks for the code.
    const prompt = A.page.getByTestId('link-prompt');
    await prompt.waitFor();
    const wrong = code.startsWith('0') ? `1${code.slice(1)}` : `0${code.slice(1)}`;
    await prompt.getByLabel('Code shown on the new device').fill(wrong);
    await prompt.getByTestId('link-submit').click();
    await prompt.getByText('This code does not match a request of this account').waitFor();
    const t0 = Date.now();
    await prompt.getByLabel('Code shown on the new device').fill(code.toLowerCase());
    await prompt.getByTestId('link-submit').click();
    await prompt.waitFor({ state: 'detached' });
    await page.getByTestId('setup-done').waitFor();
    const linkedMs = Date.now() - t0;
    assert.match(await page.getByTestId('setup-done').textContent(), /linked|reads and sends/);
    console.log(`# linked and read the backup in ${linkedMs} ms`);
    await page.getByRole('button', { name: 'Done' }).click();
    // It reads the channel's and the DM's history, and sends.
    for (const id of [ids.channel, ids.dm]) {
      await openChannel(page, ids.paths[id]);
      const r = await settle(page, sent.get(id).length);
      assert.equal(r.failed, 0, `undecryptable in ${id}: ${JSON.stringify(r.texts)}`);
      for (const t of sent.get(id)) await messageWith(page, t).waitFor();
    }
    await say(A2, ids.channel, ids.paths[ids.channel], 'Hello from my second browser');
    await openChannel(A.page, ids.paths[ids.channel]);
    await messageWith(A.page, 'Hello from my second browser').waitFor();
    await openChannel(B.page, ids.paths[ids.channel]);
    await messageWith(B.page, 'Hello from my second browser').waitFor();
    await say(A2, ids.dm, ids.paths[ids.dm], 'The second browser writes too');
    await openChannel(B.page, ids.paths[ids.dm]);
    await messageWith(B.page, 'The second browser writes too').waitFor();
    await openChannel(A.page, ids.paths[ids.dm]);
    await messageWith(A.page, 'The second browser writes too').waitFor();
    for (const p of [A, A2, B]) assertClean(p, 'link');
  });

  it('the devices page lists both browsers with their key fingerprints, renames and removes', async () => {
    const { page } = A;
    await page.goto(`${base}/settings/devices`);
    // Both browsers, with keys; the test's own API logins are devices too, without keys.
    const rows = page.getByTestId('device-row').filter({ has: page.getByTestId('device-fingerprint') });
    await waitFor(async () => (await rows.count()) === 2, 'two devices with keys listed');
    assert.equal(await page.getByTestId('this-device').count(), 1);
    const other = rows.filter({ hasNot: page.getByTestId('this-device') });
    await other.getByRole('button', { name: 'Rename' }).click();
    await other.getByLabel('Device name').fill('Vera’s laptop');
    await other.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('device-name').filter({ hasText: 'Vera’s laptop' }).waitFor();
    await shot(page, 'devices', DESKTOP);
    await shot(page, 'devices', PHONE);
    await page.setViewportSize(DESKTOP);
    assertClean(A, 'devices');
  });

  it('more channels and conversations fill the history', async () => {
    // Two more encrypted channels and a group DM with the three of them.
    const t = await token('vera');
    // New members read the history of #patterns (the default), not of #orders.
    for (const name of ['patterns', 'orders']) {
      const r = await api('POST', `/communities/${ids.community}/channels`, { name, e2e: true, history_for_new_members: name !== 'orders' }, t);
      assert.equal(r.status, 201);
      assert.equal(r.body.history_for_new_members, name !== 'orders');
      ids[name] = r.body.id;
      ids.paths[r.body.id] = `/c/${ids.community}/${r.body.id}`;
    }
    const g = await api('POST', '/dms', { user_ids: [B.id, C.id] }, t);
    assert.ok(g.status === 200 || g.status === 201, JSON.stringify(g.body));
    ids.group = g.body.id;
    ids.paths[ids.group] = `/dm/${ids.group}`;
    const rounds = [
      [A, ids.patterns],
      [B, ids.patterns],
      [A2, ids.orders],
      [B, ids.orders],
      [A, ids.group],
      [B, ids.group],
      [A2, ids.dm],
      [B, ids.dm],
      [A, ids.channel],
    ];
    for (const [p, id] of rounds) {
      for (let i = 0; i < 6; i++) await say(p, id, ids.paths[id], `${p.username} in ${id.slice(-4)} #${i}`);
    }
    // Vera's browsers read what the others wrote (so that it is in her backup).
    for (const id of [ids.patterns, ids.orders, ids.group, ids.dm, ids.channel]) {
      for (const p of [A, A2]) {
        await openChannel(p.page, ids.paths[id]);
        const r = await settle(p.page, sent.get(id).length);
        assert.equal(r.failed, 0, `${p.username} in ${id}: ${JSON.stringify(r.texts)}`);
      }
    }
    for (const p of [A, A2, B]) assertClean(p, 'volume');
  });

  it('after logging out everywhere, a fresh browser restores from the recovery key alone and reads everything', async () => {
    await backupSettled('vera');
    const t = await token('vera');
    const out = await api('DELETE', '/sessions', undefined, t);
    assert.equal(out.status, 200);
    await A.ctx.close();
    await A2.ctx.close();
    const A3 = await person(PHONE, 'light');
    await login(A3, 'vera');
    const { page } = A3;
    await page.getByTestId('keyless-banner').waitFor();
    await page.getByTestId('setup-keys').click();
    await page.getByTestId('use-recovery-key').click();
    // A wrong key is refused and changes nothing.
    const wrong = `${recoveryKey.slice(0, 5)}${recoveryKey[5] === 'A' ? 'B' : 'A'}${recoveryKey.slice(6)}`;
    await page.locator('#recovery-key-input').fill(wrong);
    await page.getByTestId('restore-submit').click();
    await page.getByText('This recovery key does not open your account’s keys').waitFor();
    await page.locator('#recovery-key-input').fill(recoveryKey.toLowerCase());
    await shot(page, 'recovery-entry', PHONE);
    await shot(page, 'recovery-entry', DESKTOP);
    const t0 = Date.now();
    await page.getByTestId('restore-submit').click();
    await page.getByTestId('setup-done').waitFor();
    const restoreMs = Date.now() - t0;
    assert.doesNotMatch(await page.getByTestId('keys-setup').textContent(), /refused|Nothing was restored/);
    await page.getByRole('button', { name: 'Done' }).click();
    let total = 0;
    let failed = 0;
    const t1 = Date.now();
    for (const id of [ids.channel, ids.patterns, ids.orders, ids.dm, ids.group]) {
      await openChannel(page, ids.paths[id]);
      const r = await settle(page, sent.get(id).length);
      total += r.total;
      failed += r.failed;
      assert.equal(r.failed, 0, `undecryptable in ${id}: ${JSON.stringify(r.texts.filter((x) => !sent.get(id).includes(x)))}`);
      for (const text of sent.get(id)) assert.ok(r.texts.some((x) => x.includes(text)), `${text} is read`);
    }
    console.log(`# restored in ${restoreMs} ms; read ${total} messages of 5 channels and DMs in ${Date.now() - t1} ms, ${failed} undecryptable`);
    assert.equal(failed, 0);
    // It sends, and the others read it.
    await say(A3, ids.group, ids.paths[ids.group], 'Back with my recovery key');
    await openChannel(B.page, ids.paths[ids.group]);
    await messageWith(B.page, 'Back with my recovery key').waitFor();
    // Signing out deletes the keys of this browser and removes its device from the account;
    // signing in here again, the browser is a new device and restores at once.
    const before = (await api('GET', '/devices', undefined, await token('vera'))).body.devices.length;
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/login`);
    await page.waitForFunction(
      () =>
        new Promise((resolve) => {
          const req = indexedDB.open('chatalot');
          req.onsuccess = () => {
            const all = req.result.transaction('keys').objectStore('keys').count();
            all.onsuccess = () => resolve(all.result === 0);
            req.result.close();
          };
        }),
    );
    const afterLogout = (await api('GET', '/devices', undefined, await token('vera'))).body.devices.length;
    // (`token` signs in once more through the API: one device more, the browser's one less.)
    assert.equal(afterLogout, before, 'the browser’s device went at logout');
    await login(A3, 'vera');
    await page.getByTestId('setup-keys').click();
    assert.equal(await page.getByTestId('stale-device').count(), 0);
    await page.getByTestId('use-recovery-key').click();
    await page.locator('#recovery-key-input').fill(recoveryKey);
    await page.getByTestId('restore-submit').click();
    await page.getByTestId('setup-done').waitFor();
    await page.getByRole('button', { name: 'Done' }).click();
    await openChannel(page, ids.paths[ids.dm]);
    const again = await settle(page, sent.get(ids.dm).length);
    assert.equal(again.failed, 0);
    assertClean(A3, 'restore');
    await A3.ctx.close();
  });

  it('someone who joins later reads the last 200 messages where history is on, and sees why not where it is off', async () => {
    // A Rust client fills the workshop channel to 200 messages first; Lopukhov's browser is
    // online and has every sender's key.
    const rust = startPeer(base);
    try {
      await rust.ok({ cmd: 'register', username: 'kirsanov' });
      const inv = await api('POST', `/communities/${ids.community}/invites`, {}, await token('vera'));
      assert.equal(inv.status, 201, JSON.stringify(inv.body));
      await rust.ok({ cmd: 'join', code: inv.body.code });
      const fill = 200 - sent.get(ids.channel).length;
      for (let i = 0; i < fill; i++) {
        const text = `Kirsanov's note ${i}`;
        await rust.ok({ cmd: 'send_channel', channel_id: ids.channel, text });
        note(ids.channel, text);
        // Under the socket's 20 frames a second.
        await new Promise((r) => setTimeout(r, 60));
      }
      await openChannel(B.page, ids.paths[ids.channel]);
      await messageWith(B.page, `Kirsanov's note ${fill - 1}`).waitFor();
    } finally {
      rust.stop();
    }
    const { page } = C;
    await page.goto(`${base}/join/${ids.community}`);
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.waitForURL(`${base}/c/${ids.community}/${ids.channel}`);
    await page.locator('.composer textarea').waitFor();
    // Lopukhov's browser hands her the channel's history keys: the newest page reads, then every
    // older one as she scrolls up, to the start of the channel.
    const list = page.getByTestId('messages');
    await waitFor(async () => (await settle(page, 1)).failed === 0 && (await settle(page, 1)).total > 0, 'the newest page reads', 60_000);
    const readMs = Date.now() - t0;
    for (let i = 0; i < 20 && (await page.getByTestId('channel-start').count()) === 0; i++) {
      await list.evaluate((el) => el.scrollTo(0, 0));
      await page.waitForTimeout(400);
    }
    await page.getByTestId('channel-start').waitFor();
    const all = await settle(page, sent.get(ids.channel).length);
    assert.ok(all.total >= 200, `${all.total} messages listed`);
    assert.equal(all.failed, 0, `undecryptable: ${JSON.stringify(all.texts.filter((x) => !sent.get(ids.channel).some((t) => x.includes(t))).slice(0, 5))}`);
    for (const text of sent.get(ids.channel)) assert.ok(all.texts.some((x) => x.includes(text)), `${text} is read`);
    console.log(`# a new member read the newest page ${readMs} ms after joining; ${all.total} messages, ${all.failed} undecryptable`);
    await shot(page, 'new-member-history', DESKTOP);
    await shot(page, 'new-member-history', PHONE);
    await page.setViewportSize(DESKTOP);
    // Those do not count as unread.
    const lists = await api('GET', '/channels', undefined, await token('mertsalova'));
    const mine = lists.body.channels.find((c) => c.id === ids.channel);
    assert.equal(mine.unread, 0);
    assert.ok(mine.joined_at);
    // #orders does not hand its history to new members: its earlier messages say why.
    await openChannel(page, ids.paths[ids.orders]);
    const r = await settle(page, sent.get(ids.orders).length);
    assert.equal(r.failed, r.total, 'nothing from before she joined reads');
    const failed = page.getByTestId('decrypt-failed');
    assert.match(await failed.first().textContent(), /Sent before you joined this community/);
    assert.equal(await page.getByTestId('decrypt-failed').filter({ hasText: /no key/i }).count(), 0);
    const orders = lists.body.channels.find((c) => c.id === ids.orders);
    assert.equal(orders.unread, 0);
    // Nor are they under a "New messages" divider.
    assert.equal(await page.getByTestId('new-divider').count(), 0);
    await shot(page, 'unreadable-reason', DESKTOP);
    await shot(page, 'unreadable-reason', PHONE);
    await page.setViewportSize(DESKTOP);
    // What is sent after she joined reads.
    await say(B, ids.orders, ids.paths[ids.orders], 'Welcome, Natalya');
    await messageWith(page, 'Welcome, Natalya').waitFor();
    // The divider goes before what is new to her.
    const next = await page.evaluate(() => document.querySelector('[data-testid=new-divider]')?.nextElementSibling?.textContent ?? '');
    assert.match(next, /Welcome, Natalya/);
    assertClean(C, 'before joined');
  });

  it('with every device and the recovery key lost, a reset starts over and the contact sees the key change', async () => {
    const t = await token('vera');
    await api('DELETE', '/sessions', undefined, t);
    const A4 = await person(DESKTOP, 'light');
    await login(A4, 'vera');
    const { page } = A4;
    await page.getByTestId('setup-keys').click();
    await page.getByTestId('start-over').click();
    await page.getByText('Messages encrypted before stay unreadable for good').waitFor();
    await page.getByLabel('Password').fill('not the password');
    await page.getByTestId('reset-submit').click();
    await page.getByRole('alert').waitFor();
    // Refused: the account's keys are still there.
    const still = await api('GET', `/users/${B.id}/devices`, undefined, await token('lopukhov'));
    assert.equal(still.status, 200);
    assert.equal(typeof (await api('GET', `/users/${(await api('GET', '/users/me', undefined, await token('vera'))).body.id}/devices`, undefined, await token('lopukhov'))).body.user_key, 'string');
    await page.getByLabel('Password').fill(PW);
    await page.getByTestId('reset-submit').click();
    await page.getByTestId('recovery-key-card').waitFor();
    await page.getByTestId('recovery-key-saved').check();
    await page.getByTestId('recovery-key-done').click();
    // The contact sees the key change in their DM before anything more is encrypted for her.
    await openChannel(B.page, ids.paths[ids.dm]);
    await B.page.getByTestId('key-change').waitFor();
    await B.page.getByRole('button', { name: 'Accept the new key' }).click();
    await B.page.getByTestId('key-change').waitFor({ state: 'detached' });
    await say(B, ids.dm, ids.paths[ids.dm], 'Welcome back, Vera');
    await openChannel(page, ids.paths[ids.dm]);
    await messageWith(page, 'Welcome back, Vera').waitFor();
    // The old messages say why they cannot be read.
    const old = page.getByTestId('decrypt-failed').first();
    await old.waitFor();
    assert.match(await old.textContent(), /keys your account no longer has/);
    await say(A4, ids.dm, ids.paths[ids.dm], 'Thank you');
    await messageWith(B.page, 'Thank you').waitFor();
    assertClean(A4, 'reset');
    assertClean(B, 'reset B');
  });
});
