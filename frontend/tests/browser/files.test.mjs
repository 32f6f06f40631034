// Files in end-to-end conversations, against the real server binary (docs/e2e.md 19): two
// people exchange images and a 20 MiB file in a DM and in an encrypted community channel. The
// sender's browser encrypts and uploads with progress; the receiver sees the thumbnail at the
// image's proportions, opens the image whole in the viewer (arrow keys move, Escape closes) and
// downloads the file, byte for byte the same. A cancelled upload leaves no message; the server's
// file store and database never hold a file's name or content. Steps run in order.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, SETUP_TOKEN, launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';
import { gradientPng } from './png.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a passphrase for the file test';
/** In every file name and content: must never reach the server in the clear. */
const CANARY = 'CANARY-7f3e9b21-files';

let server;
let browser;
let base;
let A; // Nadia: sends
let B; // Oleg: receives
const ids = {};
const env = { password: PW };
const { api, person, register, token, messageWith, screenshot, assertClean } = chatHelpers(env);

/** A gradient PNG with the canary in its metadata. */
const png = (w, h, hue) => gradientPng(w, h, hue, CANARY);

const sha = (b) => createHash('sha256').update(b).digest('hex');

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

/** Attaches files through the composer's file input, and waits until they are all sent. */
async function attach(page, files) {
  await page.getByTestId('file-input').setInputFiles(files);
  await page.getByTestId('upload').first().waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=upload]').length === 0, null, { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0, null, { timeout: 60_000 });
}

/** The message showing a file of this name. */
function fileMessage(page, name) {
  return page.getByTestId('message').filter({ has: page.getByTestId('file-name').filter({ hasText: name }) });
}

/** Downloads the file of that message through its button; its bytes. */
async function download(page, name) {
  const msg = fileMessage(page, name);
  await msg.waitFor();
  const [d] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), msg.getByTestId('file-download').click()]);
  assert.equal(d.suggestedFilename(), name);
  return readFileSync(await d.path());
}

/** Every file under `dir`, recursively. */
function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

describe('web app: files in end-to-end conversations', { timeout: 900_000 }, () => {
  const image1 = { name: `beach ${CANARY}.png`, mimeType: 'image/png', buffer: png(1200, 800, 90) };
  const image2 = { name: 'tall.png', mimeType: 'image/png', buffer: png(300, 600, 200) };
  const big = {
    name: `dataset ${CANARY}.bin`,
    mimeType: 'application/octet-stream',
    buffer: Buffer.concat([Buffer.from(CANARY), randomBytes(20 * 1024 * 1024 - CANARY.length)]),
  };
  const notes = { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(`Meeting notes\n${CANARY}\n`) };

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

  it('in a DM, images and a 20 MiB file go encrypted, with progress; the other sees thumbnails and gets the same bytes', async () => {
    await register(A, 'nadia', 'Nadia', { setup: SETUP_TOKEN });
    await register(B, 'oleg', 'Oleg');
    for (const p of [A, B]) await waitFor(() => keysReady(p), `${p.username} publishes keys`);
    const dm = await api('POST', '/dms', { user_ids: [B.id] }, await token('nadia'));
    assert.ok(dm.status === 200 || dm.status === 201, JSON.stringify(dm.body));
    ids.dm = dm.body.id;
    await A.page.goto(`${base}/dm/${ids.dm}`);
    await B.page.goto(`${base}/dm/${ids.dm}`);
    await A.page.locator('.composer textarea').waitFor();
    await B.page.locator('.composer textarea').waitFor();

    // The big file shows its progress while it encrypts and uploads.
    await A.page.getByTestId('file-input').setInputFiles([big]);
    const up = A.page.getByTestId('upload');
    await up.filter({ hasText: /Encrypting|Uploading/ }).waitFor();
    await screenshot(A.page, 'files-uploading-desktop', DESKTOP, 0);
    await A.page.waitForFunction(() => document.querySelectorAll('[data-testid=upload]').length === 0, null, { timeout: 120_000 });
    await attach(A.page, [image1, image2]);
    for (const f of [big, image1, image2]) await fileMessage(A.page, f.name).waitFor();

    // Oleg: the thumbnails at the images' proportions, then the whole file, byte for byte.
    for (const f of [image1, image2]) {
      const msg = fileMessage(B.page, f.name);
      await msg.waitFor();
      const img = msg.getByTestId('file-image').locator('img');
      await img.waitFor();
      await B.page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
      const dims = await img.evaluate((el) => ({ w: el.naturalWidth, h: el.naturalHeight, bw: el.getBoundingClientRect().width, bh: el.getBoundingClientRect().height }));
      assert.ok(Math.max(dims.w, dims.h) <= 320, `a thumbnail, not the image: ${dims.w}×${dims.h}`);
      const ratio = f === image1 ? 1.5 : 0.5;
      assert.ok(Math.abs(dims.bw / dims.bh - ratio) < 0.02, `${f.name} shown at its proportions (${dims.bw}×${dims.bh})`);
    }
    const got = await download(B.page, big.name);
    assert.equal(got.length, big.buffer.length);
    assert.equal(sha(got), sha(big.buffer), 'the same 20 MiB');
    await screenshot(B.page, 'files-dm-desktop-dark', DESKTOP);
    await screenshot(B.page, 'files-dm-phone-dark', PHONE);
    await B.page.setViewportSize(DESKTOP);

    // The viewer: the image whole; → goes to the next one, Escape closes.
    await fileMessage(B.page, image1.name).getByTestId('file-image').click();
    const box = B.page.getByTestId('lightbox');
    await box.waitFor();
    const whole = box.getByTestId('lightbox-image');
    await whole.waitFor();
    await B.page.waitForFunction((el) => el.complete && el.naturalWidth === 1200, await whole.elementHandle());
    await screenshot(B.page, 'files-lightbox-desktop-dark', DESKTOP);
    await B.page.keyboard.press('ArrowRight');
    await B.page.waitForFunction(() => document.querySelector('[data-testid=lightbox-image]')?.naturalWidth === 300, null, { timeout: 30_000 });
    assert.match(await box.textContent(), /tall\.png.*2 of 2/s);
    await B.page.keyboard.press('Escape');
    await box.waitFor({ state: 'detached' });

    // The server names the files of each message (ids only): the big one, each image and its thumbnail.
    const page = await api('GET', `/channels/${ids.dm}/messages`, undefined, await token('oleg'));
    const named = page.body.messages.map((m) => (m.files ?? []).length).sort();
    assert.deepEqual(named, [1, 2, 2]);
    for (const p of [A, B]) assertClean(p, `dm ${p.username}`);
  });

  it('a cancelled upload leaves no message and nothing named', async () => {
    const before = (await api('GET', `/channels/${ids.dm}/messages`, undefined, await token('nadia'))).body.messages.length;
    await A.page.getByTestId('file-input').setInputFiles([{ ...big, name: 'never sent.bin' }]);
    const up = A.page.getByTestId('upload');
    await up.waitFor();
    await up.getByRole('button', { name: /^Cancel/ }).click();
    await up.waitFor({ state: 'detached' });
    await A.page.waitForTimeout(1500);
    const after = (await api('GET', `/channels/${ids.dm}/messages`, undefined, await token('nadia'))).body.messages.length;
    assert.equal(after, before);
    assert.equal(await fileMessage(A.page, 'never sent.bin').count(), 0);
    // Whatever reached the store unnamed is reclaimed after a day (files.unclaimed_secs).
    assert.ok(Number(server.sql('SELECT count(*) FROM files WHERE message_id IS NULL')) <= 1, 'at most the one cut off');
    assertClean(A, 'cancel');
  });

  it('in an encrypted community channel too; the store and the database never hold a name or content', async () => {
    const t = await token('nadia');
    const c = await api('POST', '/communities', { name: 'Field notes', visibility: 'public' }, t);
    assert.equal(c.status, 201, JSON.stringify(c.body));
    ids.community = c.body.id;
    const joined = await api('POST', `/communities/${ids.community}/members`, {}, await token('oleg'));
    assert.ok(joined.status === 200 || joined.status === 201);
    const channels = await api('GET', '/channels', undefined, t);
    const general = channels.body.channels.find((x) => x.community_id === ids.community);
    assert.equal(general.e2e, true, 'encrypted by default');
    ids.general = general.id;
    await A.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await B.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await A.page.locator('.composer textarea').waitFor();
    await B.page.locator('.composer textarea').waitFor();
    await attach(A.page, [notes, image2]);
    const got = await download(B.page, notes.name);
    assert.equal(got.toString(), notes.buffer.toString());
    await fileMessage(B.page, image2.name).getByTestId('file-image').locator('img').waitFor();
    await screenshot(B.page, 'files-channel-desktop-dark', DESKTOP);
    await screenshot(B.page, 'files-channel-phone-dark', PHONE);
    await B.page.setViewportSize(DESKTOP);

    // Neither the file store nor the database holds a name, a content or the image's metadata.
    const store = walk(join(server.dataDir, 'files'));
    assert.ok(store.length >= 8, `${store.length} objects`);
    const needle = Buffer.from(CANARY);
    for (const f of store) assert.equal(readFileSync(f).indexOf(needle), -1, `${f} holds the canary`);
    const dump = server.pgDump();
    assert.equal(dump.includes(CANARY), false, 'the database dump holds the canary');
    assert.equal(server.log().includes(CANARY), false, 'the server log holds the canary');
    assert.equal(dump.includes('beach'), false, 'a file name in the database');
    for (const p of [A, B]) assertClean(p, `channel ${p.username}`);
  });

  it('her storage in the settings counts what she sent', async () => {
    const usage = await api('GET', '/users/me/files', undefined, await token('nadia'));
    assert.equal(usage.status, 200);
    assert.ok(usage.body.files >= 4 && usage.body.bytes > 20 * 1024 * 1024, JSON.stringify(usage.body));
    await A.page.goto(`${base}/settings/account`);
    const storage = A.page.getByTestId('storage');
    await storage.getByTestId('storage-used').waitFor();
    const used = await storage.getByTestId('storage-used').textContent();
    assert.match(used ?? '', /^\d+(\.\d)? MB$/);
    assert.equal(await storage.getByTestId('storage-quota').textContent(), '1.1 GB');
    await storage.getByText(`(${usage.body.files} files)`, { exact: false }).waitFor();
    assert.ok((await storage.locator('progress').evaluate((el) => el.value)) > 0, 'the bar shows some use');
    // the instance's files, to its owner (A, through the setup link) and admins only
    const all = await storage.getByTestId('storage-instance-used').textContent();
    assert.match(all ?? '', /^\d+(\.\d)? MB$/);
    await storage.getByTestId('storage-instance').getByText('their bound is the disk’s size', { exact: false }).waitFor();
    for (const [name, size] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await A.page.setViewportSize(size);
      await storage.evaluate((el) => el.scrollIntoView({ block: 'center' }));
      await screenshot(A.page, `files-storage-${name}`, size);
    }
    await A.page.setViewportSize(DESKTOP);
    await B.page.goto(`${base}/settings/account`);
    await B.page.getByTestId('storage').getByTestId('storage-used').waitFor();
    assert.equal(await B.page.getByTestId('storage-instance').count(), 0, 'a member sees only their own');
    assertClean(A, 'settings');
  });

  it('a video goes with its poster and duration; the other plays it where it is', async () => {
    // a 2 s WebM recorded in the page from a canvas (MediaRecorder), as a phone's clip would be
    const b64 = await A.page.evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 180;
      const ctx = canvas.getContext('2d');
      const stream = canvas.captureStream(25);
      const rec = new MediaRecorder(stream, { mimeType: 'video/webm' });
      const parts = [];
      rec.ondataavailable = (e) => parts.push(e.data);
      const stopped = new Promise((r) => (rec.onstop = r));
      rec.start(100);
      const t0 = performance.now();
      while (performance.now() - t0 < 2000) {
        const t = (performance.now() - t0) / 2000;
        ctx.fillStyle = `rgb(${Math.round(255 * t)}, 80, ${Math.round(255 * (1 - t))})`;
        ctx.fillRect(0, 0, 320, 180);
        ctx.fillStyle = '#fff';
        ctx.fillRect(20 + 260 * t, 70, 40, 40);
        await new Promise((r) => setTimeout(r, 40));
      }
      rec.stop();
      await stopped;
      const buf = new Uint8Array(await new Blob(parts, { type: 'video/webm' }).arrayBuffer());
      let s = '';
      for (const b of buf) s += String.fromCharCode(b);
      return btoa(s);
    });
    const clip = { name: 'clip.webm', mimeType: 'video/webm', buffer: Buffer.from(b64, 'base64') };
    await A.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await B.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await A.page.locator('.composer textarea').waitFor();
    await attach(A.page, [clip]);
    const msg = fileMessage(B.page, 'clip.webm');
    const player = msg.getByTestId('file-video');
    await player.locator('img').waitFor({ timeout: 60_000 });
    await B.page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await player.locator('img').elementHandle(), { timeout: 60_000 });
    const shown = await player.getByTestId('file-duration').textContent();
    assert.match(shown ?? '', /^0:0[1-3]$/, `the duration said: ${shown}`);
    await player.getByRole('button', { name: 'Play video clip.webm' }).click();
    const video = player.locator('video');
    await video.waitFor({ timeout: 60_000 });
    await B.page.waitForFunction((el) => el.readyState >= 1 && el.videoWidth === 320, await video.elementHandle(), { timeout: 60_000 });
    await screenshot(B.page, 'files-video-desktop', DESKTOP);
    await screenshot(B.page, 'files-video-phone', PHONE);
    await B.page.setViewportSize(DESKTOP);
    for (const p of [A, B]) assertClean(p, `video ${p.username}`);
  });
});
