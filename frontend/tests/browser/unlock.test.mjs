// Unlocked reloads (docs/e2e.md 18.7) against the real server binary: a reload, a new tab and a
// typed address open the keys without the password and read an encrypted DM; tabs follow one
// another's lock and unlock; "Lock on every reload" asks for the password again; logout, a
// session revoked from elsewhere and "remove this device" delete every key of the browser. And
// three things of encrypted channels: the newest message stays in full view after switching
// back to the channel, ↑ edits the last own message, and replies quote the decrypted text.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, startServer, watchedPage } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'war and peace passphrase';
const SHOTS = process.env.CHATALOT_UNLOCK_SHOTS ?? '/tmp/shots';
const CANARY = 'canary-unlocked-dm-4e7c21';

let server;
let browser;
let base;
let A; // Natasha: the default, unlocked reloads
let B; // Andrei: his session is revoked from elsewhere
let C; // Pierre: removes this device
const ids = {};
const env = { password: PW };
const { api, person, register, token, messageWith, send: sendNow, assertClean } = chatHelpers(env);

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

/** Counts, in every page of the context, how often the password was asked for (the unlock form appeared). */
async function watchUnlockForm(ctx) {
  await ctx.addInitScript(() => {
    window.__unlockAsked = 0;
    let shown = false;
    new MutationObserver(() => {
      const now = document.querySelector('[data-testid=unlock-form]') !== null;
      if (now && !shown) window.__unlockAsked++;
      shown = now;
    }).observe(document, { childList: true, subtree: true });
  });
}

/**
 * The keys this browser holds: the IndexedDB databases, the records of the stores `keys` and
 * `msgcache` of `chatalot`, and the wrapped keys (the database `chatalot-unlock` is opened only
 * when it exists, so that looking does not create it).
 */
async function keyState(page) {
  return page.evaluate(async () => {
    const databases = (await indexedDB.databases()).map((d) => d.name).sort();
    const open = (name) =>
      new Promise((resolve, reject) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    const count = (db, store) =>
      new Promise((resolve) => {
        if (!db.objectStoreNames.contains(store)) return resolve(0);
        const r = db.transaction(store).objectStore(store).count();
        r.onsuccess = () => resolve(r.result);
      });
    const main = await open('chatalot');
    const out = { databases, keys: await count(main, 'keys'), msgcache: await count(main, 'msgcache'), wraps: 0, devices: await count(main, 'devices') };
    main.close();
    if (databases.includes('chatalot-unlock')) {
      // Opened without ever creating it: an open that would (it was deleted meanwhile) is aborted.
      const db = await new Promise((resolve) => {
        const r = indexedDB.open('chatalot-unlock');
        r.onupgradeneeded = () => r.transaction.abort();
        r.onsuccess = () => resolve(r.result);
        r.onerror = (e) => {
          e.preventDefault();
          resolve(null);
        };
      });
      if (db) {
        out.wraps = await count(db, 'wraps');
        db.close();
      }
    }
    return out;
  });
}

async function waitForNoKeys(page, what) {
  let last = null;
  await waitFor(async () => {
    const s = await keyState(page).catch((e) => ({ error: String(e) }));
    last = s;
    return s.keys === 0 && s.msgcache === 0 && !s.databases.includes('chatalot-unlock');
  }, what, 20_000).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(last)}`);
  });
}

/** How far the newest message's bottom is below the visible bottom of the message list (px; > 0 is cut off). */
function bottomGap(page) {
  return page.evaluate(() => {
    const list = document.querySelector('[data-testid=messages]');
    const all = list.querySelectorAll('[data-testid=message]');
    const last = all[all.length - 1];
    return last.getBoundingClientRect().bottom - list.getBoundingClientRect().bottom;
  });
}

/** The id of the session this browser keeps (store `auth`). */
function sessionId(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const r = indexedDB.open('chatalot');
        r.onsuccess = () => {
          const get = r.result.transaction('auth').objectStore('auth').get('session');
          get.onsuccess = () => {
            resolve(get.result?.session_id ?? null);
            r.result.close();
          };
        };
      }),
  );
}

async function shot(page, name, locator) {
  await page.waitForTimeout(200);
  const path = join(SHOTS, `${name}.png`);
  if (locator) await locator.screenshot({ path });
  else await page.screenshot({ path });
}

describe('web app: unlocked reloads and encrypted channels', { timeout: 900_000 }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer();
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'dark');
    C = await person(DESKTOP, 'light');
    await watchUnlockForm(A.ctx);
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('two people register and write in an encrypted DM', async () => {
    await register(A, 'natasha', 'Natasha Rostova');
    await register(B, 'andrei', 'Andrei Bolkonsky');
    await waitFor(() => keysReady(A), 'Natasha publishes her keys');
    await waitFor(() => keysReady(B), 'Andrei publishes his keys');
    await B.page.getByRole('link', { name: /^Direct messages/ }).click();
    await B.page.getByRole('button', { name: 'New direct message' }).first().click();
    await B.page.getByLabel('Username').fill('natasha');
    await B.page.getByRole('button', { name: 'Open conversation' }).click();
    await B.page.waitForURL(/\/dm\/[0-9a-f-]{36}$/);
    ids.dm = B.page.url().split('/').pop();
    await send(B.page, `Only for you: ${CANARY}`);
    await messageWith(B.page, CANARY).waitFor();
    // The wrapped key of her browser: one, its key not extractable.
    const wrap = await A.page.evaluate(
      (id) =>
        new Promise((resolve) => {
          const r = indexedDB.open('chatalot-unlock');
          r.onsuccess = () => {
            const get = r.result.transaction('wraps').objectStore('wraps').get(id);
            get.onsuccess = () => {
              const rec = get.result;
              resolve(rec && { extractable: rec.key.extractable, algorithm: rec.key.algorithm.name, length: rec.key.algorithm.length, usages: rec.key.usages });
              r.result.close();
            };
          };
        }),
      A.id,
    );
    assert.deepEqual(wrap, { extractable: false, algorithm: 'AES-GCM', length: 256, usages: ['encrypt', 'decrypt'] });
    assert.equal(await A.page.evaluate(() => localStorage.length + sessionStorage.length), 0);
  });

  it('a typed address, a reload and a new tab open the keys without the password and read the DM', async () => {
    const { page } = A;
    await page.goto(`${base}/dm/${ids.dm}`);
    await messageWith(page, CANARY).waitFor();
    await page.locator('.composer textarea').waitFor();
    await page.reload();
    await messageWith(page, CANARY).waitFor();
    await page.locator('.composer textarea').waitFor();
    assert.equal(await page.evaluate(() => window.__unlockAsked), 0, 'no password asked after the reload');
    await shot(page, 'unlocked-reload-desktop');
    await page.setViewportSize(PHONE);
    await page.reload();
    await messageWith(page, CANARY).waitFor();
    await page.locator('.composer textarea').waitFor();
    await shot(page, 'unlocked-reload-phone');
    await page.setViewportSize(DESKTOP);

    const tab = await watchedPage(A.ctx);
    await tab.page.goto(`${base}/dm/${ids.dm}`);
    await messageWith(tab.page, CANARY).waitFor();
    assert.equal(await tab.page.evaluate(() => window.__unlockAsked), 0, 'no password asked in the new tab');
    await send(tab.page, 'written from a second tab');
    await messageWith(B.page, 'written from a second tab').waitFor();
    await messageWith(page, 'written from a second tab').waitFor();
    assert.equal(await page.evaluate(() => window.__unlockAsked), 0);

    // "Lock now" in one tab locks the other; the password in that one opens both again.
    await tab.page.goto(`${base}/settings/security`);
    await tab.page.getByTestId('lock-now').click();
    await tab.page.getByTestId('keys-status').filter({ hasText: 'Locked.' }).waitFor();
    const form = page.getByTestId('unlock-form');
    await form.waitFor();
    await form.getByLabel('Password').fill(PW);
    await form.getByRole('button', { name: 'Unlock' }).click();
    await form.waitFor({ state: 'detached' });
    await tab.page.getByTestId('keys-status').filter({ hasText: 'Open.' }).waitFor();
    assertClean(tab, 'second tab');
    await tab.page.close();
    // The password unlock kept a new wrapped copy: the next load opens by itself again.
    const asked = await page.evaluate(() => window.__unlockAsked);
    await page.reload();
    await messageWith(page, CANARY).waitFor();
    await page.locator('.composer textarea').waitFor();
    assert.equal(await page.evaluate(() => window.__unlockAsked), 0, `no password after the reload (before it: ${asked})`);
    assertClean(A, 'unlocked reloads');
  });

  it('with "Lock on every reload" a reload asks for the password; turned off, reloads open by themselves again', async () => {
    const { page } = A;
    await page.goto(`${base}/settings/security`);
    const box = page.getByTestId('lock-on-reload');
    await page.waitForFunction(() => document.querySelector('[data-testid=lock-on-reload]')?.disabled === false);
    assert.equal(await box.isChecked(), false, 'off by default');
    await box.click();
    await page.waitForFunction(() => document.querySelector('[data-testid=lock-on-reload]')?.checked === true);
    assert.equal((await keyState(page)).wraps, 0, 'the wrapped copy is dropped');
    const panel = page.locator('section[aria-labelledby=keys-title]');
    await shot(page, 'settings-lock-on-reload-desktop', panel);
    await page.setViewportSize(PHONE);
    await page.getByTestId('lock-on-reload').scrollIntoViewIfNeeded();
    await shot(page, 'settings-lock-on-reload-phone');
    await page.setViewportSize(DESKTOP);

    await page.goto(`${base}/dm/${ids.dm}`);
    const form = page.getByTestId('unlock-form');
    await form.waitFor();
    await page.getByTestId('decrypt-failed').filter({ hasText: 'unlock your encryption keys' }).first().waitFor();
    await form.getByLabel('Password').fill(PW);
    await form.getByRole('button', { name: 'Unlock' }).click();
    await form.waitFor({ state: 'detached' });
    await messageWith(page, CANARY).waitFor();
    assert.equal((await keyState(page)).wraps, 0, 'no wrapped copy after a password unlock while the setting is on');
    await page.reload();
    await page.getByTestId('unlock-form').waitFor();
    await page.getByTestId('unlock-form').getByLabel('Password').fill(PW);
    await page.getByTestId('unlock-form').getByRole('button', { name: 'Unlock' }).click();
    await messageWith(page, CANARY).waitFor();

    // Off again, while the keys are open: the copy comes back at once.
    await page.goto(`${base}/settings/security`);
    await page.getByLabel('Password', { exact: true }).fill(PW);
    await page.getByRole('button', { name: 'Open keys' }).click();
    await page.getByTestId('keys-status').filter({ hasText: 'Open.' }).waitFor();
    await page.getByTestId('lock-on-reload').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=lock-on-reload]')?.checked === false);
    await waitFor(async () => (await keyState(page)).wraps === 1, 'the wrapped copy is back');
    await page.evaluate(() => (window.__unlockAsked = 0));
    await page.goto(`${base}/dm/${ids.dm}`);
    await messageWith(page, CANARY).waitFor();
    await page.locator('.composer textarea').waitFor();
    assert.equal(await page.evaluate(() => window.__unlockAsked), 0);
    assertClean(A, 'lock on every reload');
  });

  it('in an encrypted channel: ↑ edits the last own message, replies quote the text, the newest message stays in view', async () => {
    const { page } = A;
    await page.goto(`${base}/`);
    await page.getByRole('button', { name: 'Create a community' }).first().click();
    await page.getByLabel('Name', { exact: true }).fill('Reading room');
    await page.getByLabel('Public: anyone with the link').check();
    await page.getByRole('button', { name: 'Create community' }).click();
    await page.waitForURL(/\/c\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/);
    const [, community, channel] = /\/c\/([0-9a-f-]{36})\/([0-9a-f-]{36})$/.exec(page.url());
    ids.community = community;
    ids.channel = channel;
    assert.match(await page.getByTestId('e2e-badge').textContent(), /End-to-end encrypted/);
    await page.getByRole('button', { name: 'Create a channel' }).click();
    await page.getByLabel('Channel name').fill('lobby');
    await page.getByRole('checkbox', { name: 'End-to-end encrypted' }).uncheck();
    await page.getByRole('button', { name: 'Create channel' }).click();
    await page.waitForURL((u) => u.pathname.startsWith(`/c/${community}/`) && !u.pathname.endsWith(channel));
    ids.lobby = page.url().split('/').pop();
    await B.page.goto(`${base}/join/${community}`);
    await B.page.getByRole('button', { name: 'Join', exact: true }).click();
    await B.page.waitForURL(`${base}/c/${community}/${channel}`);
    await B.page.locator('.composer textarea').waitFor();

    await page.getByTestId('channel-link').filter({ hasText: 'general' }).click();
    await page.waitForURL(`${base}/c/${community}/${channel}`);
    // Enough to scroll, some of it long: decrypted bodies are taller or shorter than "Decrypting…".
    for (let i = 1; i <= 40; i++) {
      await send(page, i % 5 === 0 ? `Chapter ${i}: ${'a longer passage that wraps '.repeat(12)}` : `Chapter ${i} of the first volume`);
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0);
    }
    await send(page, 'The last of mine,\nwritten on three lines,\nso that it is tall');
    await messageWith(B.page, 'so that it is tall').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0);

    // ↑ in the empty composer edits her last message, from its decrypted text.
    await page.locator('.composer textarea').focus();
    await page.locator('.composer textarea').press('ArrowUp');
    const edit = page.getByLabel('Edit message');
    await edit.waitFor();
    assert.equal(await edit.inputValue(), 'The last of mine,\nwritten on three lines,\nso that it is tall');
    await edit.fill('The last of mine,\nwritten on three lines,\nso that it is tall (edited)');
    await edit.press('Enter');
    await messageWith(B.page, 'so that it is tall (edited)').waitFor();

    // He replies to it: his composer and both timelines quote the text, not "encrypted message".
    const hers = messageWith(B.page, 'so that it is tall (edited)');
    await hers.hover();
    await hers.getByRole('button', { name: 'Reply' }).click();
    const replying = B.page.getByTestId('replying');
    await replying.waitFor();
    assert.match(await replying.textContent(), /The last of mine/);
    assert.doesNotMatch(await replying.textContent(), /encrypted message/);
    await send(B.page, 'A reply of his,\nalso on\nthree lines');
    for (const p of [A, B]) {
      const reply = messageWith(p.page, 'A reply of his');
      await reply.waitFor();
      const quote = reply.getByTestId('reply-ref');
      await p.page.waitForFunction((el) => /The last of mine/.test(el.textContent), await quote.elementHandle());
      assert.doesNotMatch(await quote.textContent(), /encrypted message/);
    }

    // Away to the plaintext channel and back: the newest message is in full view each time.
    for (let round = 0; round < 3; round++) {
      await page.getByTestId('channel-link').filter({ hasText: 'lobby' }).click();
      await page.waitForURL(`${base}/c/${community}/${ids.lobby}`);
      await page.getByTestId('channel-start').waitFor();
      await page.getByTestId('channel-link').filter({ hasText: 'general' }).click();
      await page.waitForURL(`${base}/c/${community}/${channel}`);
      await messageWith(page, 'A reply of his').waitFor();
      await page.waitForTimeout(800);
      const gap = await bottomGap(page);
      assert.ok(gap <= 1, `round ${round}: the newest message is cut off by ${gap.toFixed(1)} px`);
      const scrolled = await page.evaluate(() => {
        const l = document.querySelector('[data-testid=messages]');
        return l.scrollHeight - l.scrollTop - l.clientHeight;
      });
      assert.ok(scrolled <= 1, `round ${round}: the list is ${scrolled} px above its bottom`);
    }
    // The same after a reload, where the bodies are read from the sealed cache after the first render.
    await page.reload();
    await messageWith(page, 'A reply of his').waitFor();
    await page.waitForTimeout(800);
    const gap = await bottomGap(page);
    assert.ok(gap <= 1, `after the reload the newest message is cut off by ${gap.toFixed(1)} px`);
    assertClean(A, 'encrypted channel A');
    assertClean(B, 'encrypted channel B');
  });

  it('a session revoked from elsewhere signs the browser out and deletes its keys', async () => {
    const before = await keyState(B.page);
    assert.ok(before.keys > 0 && before.wraps === 1, JSON.stringify(before));
    // Andrei, signed in elsewhere, revokes the browser's session.
    const id = await sessionId(B.page);
    const t = await token('andrei');
    const list = await api('GET', '/sessions', undefined, t);
    assert.ok(list.body.some((s) => s.id === id && !s.current), JSON.stringify(list.body));
    const r = await api('DELETE', `/sessions/${id}`, undefined, t);
    assert.equal(r.status, 204);
    await B.page.waitForURL(`${base}/login`, { timeout: 30_000 });
    await waitForNoKeys(B.page, 'the revoked browser deletes its keys');
    const after = await keyState(B.page);
    assert.equal(after.devices, 1, 'the device credentials stay: the next sign-in is the same device');
    // What failed on the way there (the refused refresh) is expected; nothing else.
    B.problems.splice(0, B.problems.length, ...B.problems.filter((m) => !/401|Unauthorized/.test(m)));
    assertClean(B, 'revoked');
  });

  it('logging out deletes every key of the browser', async () => {
    const { page } = A;
    const before = await keyState(page);
    assert.ok(before.keys > 0 && before.msgcache > 0 && before.wraps === 1, JSON.stringify(before));
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.waitForURL(`${base}/login`);
    await waitForNoKeys(page, 'the keys are deleted at logout');
    // Nothing opens them again: a page load stays signed out with no key database.
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const after = await keyState(page);
    assert.deepEqual([after.keys, after.msgcache, after.wraps], [0, 0, 0]);
    assert.ok(!after.databases.includes('chatalot-unlock'), JSON.stringify(after.databases));
    assertClean(A, 'logout');
  });

  it('"remove this device" removes it from the account, deletes every key, forgets the device and signs out', async () => {
    const { page } = C;
    await register(C, 'pierre', 'Pierre Bezukhov');
    await waitFor(() => keysReady(C), 'Pierre publishes his keys');
    await page.goto(`${base}/settings/security`);
    await page.getByTestId('keys-status').filter({ hasText: 'Open.' }).waitFor();
    const before = await keyState(page);
    assert.ok(before.keys > 0 && before.wraps === 1 && before.devices === 1, JSON.stringify(before));
    const id = await sessionId(page);
    await page.getByTestId('remove-device').click();
    await page.getByTestId('remove-device-confirm').click();
    await page.waitForURL(`${base}/login`);
    await waitForNoKeys(page, 'the keys are deleted');
    assert.equal((await keyState(page)).devices, 0, 'the device credentials are gone');
    const t = await token('pierre');
    const sessions = await api('GET', '/sessions', undefined, t);
    assert.equal(sessions.body.some((s) => s.id === id), false, 'the browser session ended');
    const listed = await api('GET', `/users/${C.id}/devices`, undefined, t);
    assert.deepEqual(listed.body.devices, [], 'its published keys are gone from the directory');
    // Signed out as asked, not as a session that ended by itself.
    assert.equal(await page.getByText('Your session has ended').count(), 0);
    assertClean(C, 'remove this device');
  });
});
