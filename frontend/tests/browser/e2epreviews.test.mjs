// Link previews in end-to-end conversations against the real server binary (docs/e2e.md 19.5):
// a small web site on loopback (allowed by the server's `link_previews.allow`) serves pages
// with Open Graph tags and counts the requests it gets. In an encrypted DM a link goes without
// a preview by default and the site hears nothing. With "Link previews in encrypted
// conversations" turned on, the sender's browser asks the fetcher while the link is being
// written, and the preview travels inside the encrypted message: the reader sees the card, the
// site is asked once, the reader's page never asks `/link_preview`, and a reload of the reader
// shows the card again from its history without any fetch. An edit carries the new link's
// preview; in an encrypted channel a link sent at once waits for its preview. The database
// holds none of it in the clear. Screenshots at 1280×800 and 390×844 go to
// tests/browser/screenshots. Steps run in order.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a passphrase for encrypted previews';

let server;
let site;
let siteBase;
let browser;
let base;
let A; // Nadia: sends links
let B; // Oskar: reads them
let dm;
const hits = [];
const env = { password: PW };
const { api, person, register, token, messageWith, send, assertClean, screenshot } = chatHelpers(env);

/** How often the site was asked for `path`. */
const hitsOf = (path) => hits.filter((h) => h === path).length;

/** Records every `/link_preview` request a person's page makes (across reloads). */
function watchPreviews(p) {
  p.previewRequests = [];
  p.page.on('request', (r) => {
    if (new URL(r.url()).pathname.endsWith('/link_preview')) p.previewRequests.push(r.url());
  });
}

async function waitFor(cond, what, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the browser's keys are set up (the device published). */
async function keysReady(p) {
  const r = await api('GET', `/users/${p.id}/devices`, undefined, await token(p.username));
  return r.status === 200 && r.body.devices.length > 0;
}

async function noPending(page) {
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0, null, { timeout: 30_000 });
}

describe('web app: link previews in encrypted conversations', { timeout: 600_000 }, () => {
  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    site = createServer((req, res) => {
      hits.push(req.url);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<html><head><title>fallback</title>
        <meta property="og:title" content="Night Train Timetable ${req.url}">
        <meta property="og:description" content="Sleeper services across the continent, with &lt;times&gt; &amp; platforms.">
        <meta property="og:site_name" content="Rail Notes"></head><body>hello</body></html>`);
    });
    await new Promise((r) => site.listen(0, '127.0.0.1', r));
    const addr = `127.0.0.1:${site.address().port}`;
    siteBase = `http://${addr}`;
    server = await startServer({ config: { link_previews: { allow: [addr] } } });
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'dark');
    watchPreviews(A);
    watchPreviews(B);
  });

  after(async () => {
    await browser?.close();
    site?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('off by default: a link in an encrypted DM goes without a preview and nothing is fetched', async () => {
    await register(A, 'nadia', 'Nadia');
    await register(B, 'oskar', 'Oskar');
    await waitFor(() => keysReady(A), 'Nadia publishes her keys');
    await waitFor(() => keysReady(B), 'Oskar publishes his keys');
    await A.page.getByRole('link', { name: /^Direct messages/ }).click();
    await A.page.getByRole('button', { name: 'New direct message' }).first().click();
    await A.page.getByLabel('Username').fill('oskar');
    await A.page.getByRole('button', { name: 'Open conversation' }).click();
    await A.page.waitForURL(/\/dm\/[0-9a-f-]{36}$/);
    dm = A.page.url().split('/').pop();
    await B.page.goto(`${base}/dm/${dm}`);
    await B.page.locator('.composer textarea').waitFor();

    await A.page.locator('.composer textarea').waitFor();
    await send(A.page, `Off by default: ${siteBase}/off/1`);
    await messageWith(B.page, 'Off by default').waitFor({ timeout: 30_000 });
    await noPending(A.page);
    await B.page.waitForTimeout(1500);
    assert.equal(await messageWith(B.page, 'Off by default').getByTestId('link-preview').count(), 0);
    assert.equal(await messageWith(A.page, 'Off by default').getByTestId('link-preview').count(), 0);
    assert.equal(hits.filter((h) => h.startsWith('/off')).length, 0, 'the site was never asked');
    assert.deepEqual(A.previewRequests, []);
    assert.deepEqual(B.previewRequests, []);
    assertClean(A, 'off');
    assertClean(B, 'off');
  });

  it('turned on, the sender’s browser fetches the preview once and the reader sees it from the encrypted message', async () => {
    await A.page.goto(`${base}/settings/appearance`);
    const box = A.page.getByTestId('pref-e2e-link-previews');
    assert.equal(await box.isChecked(), false, 'off by default');
    const hint = (await A.page.locator('#e2e-link-previews-hint').textContent()).replace(/\s+/g, ' ');
    assert.match(hint, /the server's fetcher reads the page of a link you write .*, so the server sees its address/);
    await box.check();
    for (const [name, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await A.page.setViewportSize(viewport);
      await A.page.locator('#e2e-link-previews-hint').scrollIntoViewIfNeeded();
      await screenshot(A.page, `e2epreviews-setting-${name}`, viewport);
    }
    await A.page.setViewportSize(DESKTOP);

    await A.page.goto(`${base}/dm/${dm}`);
    const composer = A.page.locator('.composer textarea');
    await composer.waitFor();
    // Asked for while the link is in the composer, before it is sent.
    const asked = A.page.waitForRequest((r) => new URL(r.url()).pathname.endsWith('/link_preview'), { timeout: 10_000 });
    await composer.fill(`Tonight's train: ${siteBase}/train/42 (platform 3)`);
    await asked;
    await waitFor(async () => hitsOf('/train/42') === 1, 'the site is asked');
    await composer.press('Enter');

    const card = messageWith(B.page, "Tonight's train").getByTestId('link-preview');
    await card.waitFor({ timeout: 30_000 });
    const link = card.getByRole('link', { name: 'Night Train Timetable /train/42' });
    assert.equal(await link.getAttribute('href'), `${siteBase}/train/42`);
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.match((await link.getAttribute('rel')) ?? '', /noopener/);
    await card.getByText('Rail Notes', { exact: true }).waitFor();
    await card.getByText('Sleeper services across the continent, with <times> & platforms.').waitFor();
    // The sender sees her own card too, from her own copy.
    await messageWith(A.page, "Tonight's train").getByTestId('link-preview').waitFor();
    await noPending(A.page);

    assert.equal(hitsOf('/train/42'), 1, 'the site was asked once');
    assert.deepEqual(A.previewRequests, [`${base}/api/v1/link_preview?url=${encodeURIComponent(`${siteBase}/train/42`)}`]);
    assert.deepEqual(B.previewRequests, [], "the reader's page never asks");

    await screenshot(B.page, 'e2epreviews-dm-desktop', DESKTOP);
    await screenshot(B.page, 'e2epreviews-dm-phone', PHONE);
    await B.page.setViewportSize(DESKTOP);
    assertClean(A, 'on');
    assertClean(B, 'on');
  });

  it('a reload of the reader shows the card from its history, with no fetch', async () => {
    await B.page.reload();
    const card = messageWith(B.page, "Tonight's train").getByTestId('link-preview');
    await card.waitFor({ timeout: 30_000 });
    await card.getByRole('link', { name: 'Night Train Timetable /train/42' }).waitFor();
    await B.page.waitForTimeout(500);
    assert.deepEqual(B.previewRequests, []);
    assert.equal(hitsOf('/train/42'), 1);
    assertClean(B, 'reload');
  });

  it('an edit carries the new link’s preview', async () => {
    const mine = messageWith(A.page, "Tonight's train");
    await mine.hover();
    await mine.getByRole('button', { name: 'Edit' }).click();
    const edit = A.page.getByLabel('Edit message');
    await edit.fill(`Changed train: ${siteBase}/train/43`);
    await edit.press('Enter');
    const card = messageWith(B.page, 'Changed train').getByTestId('link-preview');
    await card.getByRole('link', { name: 'Night Train Timetable /train/43' }).waitFor({ timeout: 30_000 });
    assert.match(await messageWith(B.page, 'Changed train').textContent(), /\(edited\)/);
    assert.equal(hitsOf('/train/43'), 1);
    assert.deepEqual(B.previewRequests, []);
    assertClean(A, 'edit');
    assertClean(B, 'edit');
  });

  it('in an encrypted channel a link sent at once waits for its preview; the database holds none of it in the clear', async () => {
    const t = await token('nadia');
    const c = await api('POST', '/communities', { name: 'Timetables', visibility: 'public', e2e: true }, t);
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const joined = await api('POST', `/communities/${c.body.id}/members`, {}, await token('oskar'));
    assert.ok(joined.status === 200 || joined.status === 201, JSON.stringify(joined.body));
    const channels = await api('GET', '/channels', undefined, t);
    const general = channels.body.channels.find((x) => x.community_id === c.body.id).id;
    for (const p of [A, B]) {
      await p.page.goto(`${base}/c/${c.body.id}/${general}`);
      await p.page.locator('.composer textarea').waitFor();
    }
    // typed and sent at once: the send asks for the preview itself and waits for it
    await send(A.page, `Channel notice ${siteBase}/board/7`);
    const card = messageWith(B.page, 'Channel notice').getByTestId('link-preview');
    await card.getByRole('link', { name: 'Night Train Timetable /board/7' }).waitFor({ timeout: 30_000 });
    await noPending(A.page);
    assert.equal(hitsOf('/board/7'), 1);
    assert.deepEqual(B.previewRequests, []);
    await screenshot(B.page, 'e2epreviews-channel-desktop', DESKTOP);
    await screenshot(B.page, 'e2epreviews-channel-phone', PHONE);
    await B.page.setViewportSize(DESKTOP);

    const dump = server.pgDump();
    assert.ok(dump.includes('nadia'), 'the dump is of the right database');
    for (const word of ['Night Train Timetable', 'Sleeper services', 'Rail Notes', '/train/42', '/train/43', '/board/7']) {
      assert.equal(dump.includes(word), false, `${word} is in the database in the clear`);
    }
    assertClean(A, 'channel');
    assertClean(B, 'channel');
  });
});
