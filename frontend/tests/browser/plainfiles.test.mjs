// Files in a plaintext community channel, against the real server binary (docs/web.md
// "Files"): the sender's browser uploads each file as it is, named and typed, and sends it as a
// message of its own; the server makes an image's thumbnail. The other person sees the
// thumbnail (served by `GET /files/{id}/thumbnail`) in a box of the image's proportions, the
// file's name and size, opens the image whole in the viewer and downloads the files, byte for
// byte the same; a reload shows the same from history. An upload shows its progress and can be
// cancelled, leaving no message; files dropped on the pane or pasted into the composer go the
// same way. Steps run in order.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';
import { gradientPng } from './png.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a passphrase for the plaintext file test';

let server;
let browser;
let base;
let A; // Nadia: sends
let B; // Oleg: receives
const ids = {};
const env = { password: PW };
const { api, person, register, token, screenshot, assertClean } = chatHelpers(env);

const sha = (b) => createHash('sha256').update(b).digest('hex');

/** Attaches files through the composer's file input, and waits until they are all sent. */
async function attach(page, files) {
  await page.getByTestId('file-input').setInputFiles(files);
  // (an upload on this machine may be over before its row could be seen)
  for (const f of files) await fileMessage(page, f.name).waitFor({ timeout: 120_000 });
  await sent(page);
}

/** Waits until no file is on its way and no message is pending. */
async function sent(page) {
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

/** Records the thumbnails the page fetches from the server: file id → [status, type]. */
function watchThumbnails(page) {
  const seen = new Map();
  page.on('response', (r) => {
    const m = new URL(r.url()).pathname.match(/^\/api\/v1\/files\/([^/]+)\/thumbnail$/);
    if (m) seen.set(m[1], [r.status(), r.headers()['content-type'] ?? '']);
  });
  return seen;
}

/**
 * The thumbnail of the image of that message, once shown: its pixels, the box it is shown in,
 * and the box reserved before it loaded (the same: the timeline does not jump).
 */
async function shownThumbnail(page, name) {
  const frame = fileMessage(page, name).getByTestId('file-image');
  await frame.waitFor();
  const reserved = await frame.evaluate((el) => ({ w: el.getBoundingClientRect().width, h: el.getBoundingClientRect().height }));
  const img = frame.locator('img');
  await img.waitFor({ timeout: 60_000 });
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: 60_000 });
  const shown = await img.evaluate((el) => ({
    src: el.src,
    w: el.naturalWidth,
    h: el.naturalHeight,
    bw: el.parentElement.getBoundingClientRect().width,
    bh: el.parentElement.getBoundingClientRect().height,
  }));
  return { reserved, ...shown };
}

describe('web app: files in a plaintext community channel', { timeout: 900_000 }, () => {
  const photo = { name: 'harbour at dusk.png', mimeType: 'image/png', buffer: gradientPng(1200, 800, 140, 'plaintext photo') };
  const data = {
    name: 'measurements 3 MiB.bin',
    mimeType: 'application/octet-stream',
    buffer: randomBytes(3 * 1024 * 1024),
  };
  let thumbsB;

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startServer();
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'dark');
    thumbsB = watchThumbnails(B.page);
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('she sends a PNG and a 3 MiB file as they are; he sees the thumbnail, the names, the image whole, the same bytes', async () => {
    await register(A, 'nadia', 'Nadia');
    await register(B, 'oleg', 'Oleg');
    const t = await token('nadia');
    const c = await api('POST', '/communities', { name: 'Workshop', visibility: 'public', e2e: false }, t);
    assert.equal(c.status, 201, JSON.stringify(c.body));
    ids.community = c.body.id;
    const joined = await api('POST', `/communities/${ids.community}/members`, {}, await token('oleg'));
    assert.ok(joined.status === 200 || joined.status === 201, JSON.stringify(joined.body));
    const channels = await api('GET', '/channels', undefined, t);
    const general = channels.body.channels.find((x) => x.community_id === ids.community);
    assert.equal(general.e2e, false, 'a plaintext channel');
    ids.general = general.id;
    await A.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await B.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await A.page.locator('.composer textarea').waitFor();
    await B.page.locator('.composer textarea').waitFor();
    assert.match(await A.page.getByTestId('e2e-badge').textContent(), /Plaintext/);

    // The paperclip is there, saying the server can read what is attached.
    const clip = A.page.getByRole('button', { name: 'Attach files' });
    await clip.waitFor();
    assert.match(await clip.getAttribute('title'), /plaintext/);
    // No GIF provider is set up on this server: no GIF button, the emoji one is there.
    assert.equal((await api('GET', '/instance')).body.gifs, false);
    await A.page.getByRole('button', { name: 'Add an emoji' }).waitFor();
    assert.equal(await A.page.getByRole('button', { name: 'Add a GIF' }).count(), 0, 'no GIF button');
    // The 3 MiB file shows its progress while it uploads (the upload slowed to about 1 MB/s to
    // be seen), then the image; each goes as a message of its own.
    const cdp = await A.ctx.newCDPSession(A.page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1_000_000 });
    await A.page.getByTestId('file-input').setInputFiles([data]);
    const up = A.page.getByTestId('upload').filter({ hasText: data.name });
    await up.filter({ hasText: /Uploading [1-9]\d? %/ }).waitFor({ timeout: 30_000 });
    assert.equal(await up.getByRole('button', { name: `Cancel ${data.name}` }).count(), 1);
    await screenshot(A.page, 'plainfiles-uploading-desktop-light', DESKTOP, 0);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await fileMessage(A.page, data.name).waitFor({ timeout: 120_000 });
    await sent(A.page);
    // One cancelled while it uploads is gone, and no message names it (counted below).
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1_000_000 });
    await A.page.getByTestId('file-input').setInputFiles([{ ...data, name: 'never sent.bin' }]);
    const cut = A.page.getByTestId('upload').filter({ hasText: 'never sent.bin' });
    await cut.filter({ hasText: /Uploading/ }).waitFor({ timeout: 30_000 });
    await cut.getByRole('button', { name: 'Cancel never sent.bin' }).click();
    await cut.waitFor({ state: 'detached' });
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
    await attach(A.page, [photo]);
    assert.equal(await fileMessage(A.page, 'never sent.bin').count(), 0);

    // The server holds each as a message with no text naming one file, described in plaintext.
    const page = await api('GET', `/channels/${ids.general}/messages`, undefined, await token('oleg'));
    assert.equal(page.status, 200);
    const withFiles = page.body.messages.filter((m) => m.attachments);
    assert.equal(withFiles.length, 2, JSON.stringify(page.body.messages));
    for (const m of withFiles) {
      assert.deepEqual(m.content, { kind: 'text', text: '' });
      assert.equal(m.attachments.length, 1);
      assert.deepEqual(m.files, [m.attachments[0].id]);
    }
    const [binAtt, pngAtt] = withFiles.map((m) => m.attachments[0]);
    assert.equal(binAtt.name, data.name);
    assert.equal(binAtt.size, data.buffer.length);
    assert.equal(binAtt.thumbnail, false);
    assert.equal(pngAtt.name, photo.name);
    assert.equal(pngAtt.content_type, 'image/png');
    assert.equal(pngAtt.size, photo.buffer.length);
    assert.deepEqual([pngAtt.width, pngAtt.height, pngAtt.thumbnail], [1200, 800, true]);
    ids.png = pngAtt.id;
    ids.bin = binAtt.id;

    // Oleg: the server's thumbnail at the image's proportions, in the box kept for it.
    const thumb = await shownThumbnail(B.page, photo.name);
    assert.ok(thumb.src.startsWith('blob:'), thumb.src);
    assert.ok(Math.max(thumb.w, thumb.h) <= 320, `a thumbnail, not the image: ${thumb.w}×${thumb.h}`);
    assert.ok(Math.abs(thumb.w / thumb.h - 1.5) < 0.02, `the thumbnail's proportions: ${thumb.w}×${thumb.h}`);
    assert.ok(Math.abs(thumb.bw / thumb.bh - 1.5) < 0.02, `shown at its proportions (${thumb.bw}×${thumb.bh})`);
    assert.ok(Math.abs(thumb.reserved.w - thumb.bw) < 1 && Math.abs(thumb.reserved.h - thumb.bh) < 1, 'the box did not change as it loaded');
    assert.ok(thumb.bw >= 300 && thumb.bw <= 324, `the box of a 320 px thumbnail: ${thumb.bw}`);
    const got = thumbsB.get(ids.png);
    assert.ok(got, 'the thumbnail came from /files/{id}/thumbnail');
    assert.equal(got[0], 200);
    assert.match(got[1], /^image\/(webp|jpeg)/);
    assert.equal(thumbsB.has(ids.bin), false, 'no thumbnail is asked of a file without one');

    // The names and sizes on the cards.
    const binCard = fileMessage(B.page, data.name).getByTestId('file-card');
    assert.match(await binCard.textContent(), /3\.1 MB/);
    assert.equal(await fileMessage(B.page, photo.name).getByTestId('file-name').textContent(), photo.name);

    // The files, byte for byte.
    const bin = await download(B.page, data.name);
    assert.equal(bin.length, data.buffer.length);
    assert.equal(sha(bin), sha(data.buffer), 'the same 3 MiB');
    assert.equal(sha(await download(B.page, photo.name)), sha(photo.buffer), 'the same PNG');

    // The viewer: the image whole, its name; Escape closes.
    await fileMessage(B.page, photo.name).getByTestId('file-image').click();
    const box = B.page.getByTestId('lightbox');
    await box.waitFor();
    const whole = box.getByTestId('lightbox-image');
    await whole.waitFor();
    await B.page.waitForFunction((el) => el.complete && el.naturalWidth === 1200 && el.naturalHeight === 800, await whole.elementHandle());
    assert.match(await box.textContent(), /harbour at dusk\.png.*1 of 1/s);
    await screenshot(B.page, 'plainfiles-lightbox-desktop-dark', DESKTOP);
    await screenshot(B.page, 'plainfiles-lightbox-phone-dark', PHONE);
    await B.page.setViewportSize(DESKTOP);
    await B.page.keyboard.press('Escape');
    await box.waitFor({ state: 'detached' });

    await screenshot(B.page, 'plainfiles-channel-desktop-dark', DESKTOP);
    await screenshot(B.page, 'plainfiles-channel-phone-dark', PHONE);
    await B.page.setViewportSize(DESKTOP);
    // The sender sees her image from the server's thumbnail too.
    await shownThumbnail(A.page, photo.name);
    await screenshot(A.page, 'plainfiles-channel-desktop-light', DESKTOP);
    await screenshot(A.page, 'plainfiles-channel-phone-light', PHONE);
    await A.page.setViewportSize(DESKTOP);
    for (const p of [A, B]) assertClean(p, `channel ${p.username}`);
  });

  it('after a reload he sees the same from history', async () => {
    thumbsB.clear();
    await B.page.reload();
    await B.page.locator('.composer textarea').waitFor();
    const thumb = await shownThumbnail(B.page, photo.name);
    assert.ok(Math.abs(thumb.bw / thumb.bh - 1.5) < 0.02, `shown at its proportions (${thumb.bw}×${thumb.bh})`);
    assert.ok(Math.abs(thumb.reserved.w - thumb.bw) < 1 && Math.abs(thumb.reserved.h - thumb.bh) < 1, 'the box did not change as it loaded');
    assert.equal(thumbsB.get(ids.png)?.[0], 200, 'fetched again from /files/{id}/thumbnail');
    assert.equal(await fileMessage(B.page, data.name).getByTestId('file-name').textContent(), data.name);
    assert.equal(sha(await download(B.page, data.name)), sha(data.buffer), 'the same 3 MiB after the reload');
    await fileMessage(B.page, photo.name).getByTestId('file-image').click();
    const whole = B.page.getByTestId('lightbox').getByTestId('lightbox-image');
    await whole.waitFor();
    await B.page.waitForFunction((el) => el.complete && el.naturalWidth === 1200, await whole.elementHandle());
    await B.page.keyboard.press('Escape');
    await B.page.getByTestId('lightbox').waitFor({ state: 'detached' });
    await screenshot(B.page, 'plainfiles-history-phone-dark', PHONE);
    await B.page.setViewportSize(DESKTOP);
    assertClean(B, 'history');
  });

  it('a file dropped on the pane or pasted into the composer goes the same way; the typed text stays for its own message', async () => {
    const drop = (name, text) =>
      A.page.evaluate(
        ([n, t]) => {
          const dt = new DataTransfer();
          dt.items.add(new File([t], n, { type: 'text/plain' }));
          const pane = document.querySelector('.channel-pane');
          pane.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
          pane.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        },
        [name, text],
      );
    const box = A.page.locator('.composer textarea');
    await box.fill('the notes are attached');
    await drop('dropped notes.txt', 'Dropped in the plaintext channel\n');
    await fileMessage(A.page, 'dropped notes.txt').waitFor();
    await sent(A.page);
    await A.page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['pasted'], 'pasted.txt', { type: 'text/plain' }));
      document.querySelector('.composer textarea').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await fileMessage(A.page, 'pasted.txt').waitFor();
    await sent(A.page);
    assert.equal(await box.inputValue(), 'the notes are attached', 'the text typed is not taken by a file');
    await box.press('Enter');
    assert.equal((await download(B.page, 'dropped notes.txt')).toString(), 'Dropped in the plaintext channel\n');
    assert.equal((await download(B.page, 'pasted.txt')).toString(), 'pasted');
    await B.page.getByTestId('message-body').filter({ hasText: 'the notes are attached' }).waitFor();
    const texts = (await api('GET', `/channels/${ids.general}/messages`, undefined, await token('oleg'))).body.messages.map((m) => [
      m.content?.text,
      (m.attachments ?? []).map((a) => [a.name, a.content_type]),
    ]);
    assert.deepEqual(texts.slice(-3), [
      ['', [['dropped notes.txt', 'text/plain']]],
      ['', [['pasted.txt', 'text/plain']]],
      ['the notes are attached', []],
    ]);
    for (const p of [A, B]) assertClean(p, `drop and paste ${p.username}`);
  });

  it('a video plays where it is, in a box kept for it', async () => {
    // a 2 s WebM recorded in the page from a canvas (MediaRecorder), as a phone's clip would be
    const b64 = await A.page.evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 240;
      const ctx = canvas.getContext('2d');
      const rec = new MediaRecorder(canvas.captureStream(25), { mimeType: 'video/webm' });
      const parts = [];
      rec.ondataavailable = (e) => parts.push(e.data);
      const stopped = new Promise((r) => (rec.onstop = r));
      rec.start(100);
      const t0 = performance.now();
      while (performance.now() - t0 < 2000) {
        const t = (performance.now() - t0) / 2000;
        ctx.fillStyle = `rgb(40, ${Math.round(200 * t)}, 160)`;
        ctx.fillRect(0, 0, 320, 240);
        ctx.fillStyle = '#fff';
        ctx.fillRect(20 + 240 * t, 100, 40, 40);
        await new Promise((r) => setTimeout(r, 40));
      }
      rec.stop();
      await stopped;
      const buf = new Uint8Array(await new Blob(parts, { type: 'video/webm' }).arrayBuffer());
      let out = '';
      for (const b of buf) out += String.fromCharCode(b);
      return btoa(out);
    });
    const clip = { name: 'workbench.webm', mimeType: 'video/webm', buffer: Buffer.from(b64, 'base64') };
    await attach(A.page, [clip]);
    const last = (await api('GET', `/channels/${ids.general}/messages`, undefined, await token('oleg'))).body.messages.at(-1);
    assert.deepEqual(
      last.attachments.map((a) => [a.name, a.content_type, a.size, a.thumbnail]),
      [[clip.name, 'video/webm', clip.buffer.length, false]],
    );
    const player = fileMessage(B.page, clip.name).getByTestId('file-video');
    await player.waitFor();
    const before = await player.evaluate((el) => ({ w: el.getBoundingClientRect().width, h: el.getBoundingClientRect().height }));
    assert.ok(Math.abs(before.w / before.h - 16 / 9) < 0.02, `a box of its own before it plays: ${before.w}×${before.h}`);
    await player.getByRole('button', { name: `Play video ${clip.name}` }).click();
    const video = player.locator('video');
    await video.waitFor({ timeout: 60_000 });
    await B.page.waitForFunction((el) => el.readyState >= 1 && el.videoWidth === 320 && el.videoHeight === 240, await video.elementHandle(), {
      timeout: 60_000,
    });
    const playing = await player.evaluate((el) => ({ w: el.getBoundingClientRect().width, h: el.getBoundingClientRect().height }));
    assert.ok(Math.abs(playing.w - before.w) < 1 && Math.abs(playing.h - before.h) < 1, 'the box did not change as it played');
    // The player, its controls included, is within the box (a 4:3 video letterboxed in it).
    const fits = await video.evaluate((el) => {
      const v = el.getBoundingClientRect();
      const b = el.parentElement.getBoundingClientRect();
      return v.top >= b.top - 0.5 && v.bottom <= b.bottom + 0.5 && v.left >= b.left - 0.5 && v.right <= b.right + 0.5;
    });
    assert.ok(fits, 'the video is cut by its box');
    await screenshot(B.page, 'plainfiles-video-desktop-dark', DESKTOP);
    await screenshot(B.page, 'plainfiles-video-phone-dark', PHONE);
    await B.page.setViewportSize(DESKTOP);
    for (const p of [A, B]) assertClean(p, `video ${p.username}`);
  });
});
