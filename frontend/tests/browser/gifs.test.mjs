// GIFs in the composer, against the real server binary with GIF search set up (`[gifs]`) over a
// provider served here on 127.0.0.1 that speaks the Tenor v2 API (docs/web.md "GIFs"). She
// searches, sees the previews at their proportions, pages on, moves from the keyboard, and
// picks one in an end-to-end DM and one in a plaintext channel; each goes as a file (encrypted
// in the DM, the server making the plaintext one's thumbnail). He sees each GIF whole and
// animated in the timeline: the image shown is the GIF's own bytes. A provider that fails is
// said so. Neither browser ever reaches the provider: every request it got came from the
// server's fetcher. Steps run in order.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';
import { movingSquareGif } from './gif.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a passphrase for the GIF test';
const KEY = 'test-provider-key-5e1f';

let server;
let browser;
let base;
let A; // Nadia: picks GIFs
let B; // Oleg: receives them
const ids = {};
const env = { password: PW };
const { api, person, register, token, screenshot, assertClean } = chatHelpers(env);

const sha = (b) => createHash('sha256').update(b).digest('hex');

/** The GIFs the provider knows: 30 cats of a few proportions, with a small preview each. */
const GIFS = Array.from({ length: 30 }, (_, i) => {
  const [w, h] = [[240, 160], [200, 200], [280, 140], [150, 210]][i % 4];
  return {
    id: `cat-${i}`,
    title: `cat ${i}`,
    description: `a cat waving ${i}`,
    w,
    h,
    full: movingSquareGif(w, h, i),
    preview: movingSquareGif(Math.round(w / 2), Math.round(h / 2), i),
  };
});

/**
 * The provider on 127.0.0.1: `/v2/search` in the Tenor v2 shape (24 a page, `next` for the
 * rest; `q=broken` answers 500), the GIFs at `/media/…`. Every request is logged with its
 * `User-Agent`.
 */
async function startProvider() {
  const log = [];
  const srv = createServer((req, res) => {
    log.push({ url: req.url, ua: req.headers['user-agent'] ?? '' });
    const url = new URL(req.url, 'http://provider');
    const me = `http://127.0.0.1:${srv.address().port}`;
    if (url.pathname === '/v2/search') {
      if (url.searchParams.get('key') !== KEY) return res.writeHead(401).end('{}');
      if (url.searchParams.get('q') === 'broken') return res.writeHead(500).end('{"error":"down"}');
      const from = url.searchParams.get('pos') === 'page-2' ? 24 : 0;
      const page = GIFS.slice(from, from + 24);
      const body = {
        results: page.map((g) => ({
          id: g.id,
          title: g.title,
          content_description: g.description,
          media_formats: {
            gif: { url: `${me}/media/${g.id}.gif`, dims: [g.w, g.h], size: g.full.length },
            tinygif: { url: `${me}/media/${g.id}-tiny.gif`, dims: [Math.round(g.w / 2), Math.round(g.h / 2)], size: g.preview.length },
          },
        })),
        next: from === 0 ? 'page-2' : '',
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(body));
    }
    const m = /^\/media\/(cat-\d+)(-tiny)?\.gif$/.exec(url.pathname);
    const g = m && GIFS.find((x) => x.id === m[1]);
    if (!g) return res.writeHead(404).end('no');
    const bytes = m[2] ? g.preview : g.full;
    res.writeHead(200, { 'content-type': 'image/gif', 'content-length': bytes.length });
    res.end(bytes);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, log, port: srv.address().port };
}

let provider;

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

/** Requests a page makes to the provider's port (there must be none). */
function watchProvider(page, seen) {
  page.on('request', (r) => {
    if (new URL(r.url()).port === String(provider.port)) seen.push(r.url());
  });
}

function fileMessage(page, name) {
  return page.getByTestId('message').filter({ has: page.getByTestId('file-name').filter({ hasText: name }) });
}

/** Opens the picker and searches `q`; the panel once the first page is shown. */
async function searchGifs(page, q) {
  await page.getByRole('button', { name: 'Add a GIF' }).click();
  const panel = page.getByTestId('composer-gif-picker');
  await panel.waitFor();
  await panel.getByRole('searchbox', { name: 'Search GIFs' }).fill(q);
  return panel;
}

/** Waits until the previews of the first `n` results are shown; their boxes and pictures. */
async function previewsShown(page, n) {
  await page.waitForFunction(
    (k) => {
      const imgs = [...document.querySelectorAll('[data-testid=gif-result] img')].slice(0, k);
      return imgs.length === k && imgs.every((i) => i.complete && i.naturalWidth > 0);
    },
    n,
    { timeout: 60_000 },
  );
  return page.evaluate((k) =>
    [...document.querySelectorAll('[data-testid=gif-result]')].slice(0, k).map((b) => {
      const r = b.getBoundingClientRect();
      const img = b.querySelector('img');
      return { label: b.getAttribute('aria-label'), w: r.width, h: r.height, nw: img.naturalWidth, nh: img.naturalHeight, src: img.src };
    }),
  n);
}

/** Waits until no file is on its way and no message is pending. */
async function sent(page) {
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=upload]').length === 0, null, { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0, null, { timeout: 60_000 });
}

/**
 * The pictures a page loads from object URLs (the page's CSP keeps its own script from reading
 * them back): URL → its type and bytes, as the browser's network layer saw them.
 */
function watchBlobs(page) {
  const seen = new Map();
  page.on('response', (r) => {
    if (r.url().startsWith('blob:')) seen.set(r.url(), { type: r.headers()['content-type'] ?? '', body: r.body() });
  });
  return seen;
}

/**
 * The GIF shown in the timeline in that message once the whole one replaced its thumbnail: the
 * type and bytes of the object URL it shows, its pixel size, and its box.
 */
async function shownGif(p, name) {
  const { page } = p;
  const frame = fileMessage(page, name).getByTestId('file-image');
  await frame.waitFor({ timeout: 60_000 });
  const img = frame.locator('img[data-whole=true]');
  await img.waitFor({ timeout: 60_000 });
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: 60_000 });
  const shown = await img.evaluate((el) => {
    const box = el.parentElement.getBoundingClientRect();
    return { src: el.src, w: el.naturalWidth, h: el.naturalHeight, bw: box.width, bh: box.height };
  });
  await waitFor(async () => p.blobs.has(shown.src), `the load of ${shown.src}`, 10_000);
  const loaded = p.blobs.get(shown.src);
  // It moves: pictures of it taken a moment apart differ (its frames last 0.4 s).
  const frames = new Set();
  for (let i = 0; i < 8 && frames.size < 2; i++) {
    frames.add(sha(await img.screenshot({ animations: 'allow' })));
    await page.waitForTimeout(150);
  }
  return { ...shown, type: loaded.type, bytes: await loaded.body, moves: frames.size > 1 };
}

describe('web app: GIFs through the server', { timeout: 900_000 }, () => {
  const fromBrowsers = [];

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    provider = await startProvider();
    const at = `127.0.0.1:${provider.port}`;
    server = await startServer({
      config: { gifs: { api_key: KEY, base_url: `http://${at}/v2`, media_origins: [`http://${at}`], allow: [at] } },
    });
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'dark');
    watchProvider(A.page, fromBrowsers);
    watchProvider(B.page, fromBrowsers);
    A.blobs = watchBlobs(A.page);
    B.blobs = watchBlobs(B.page);
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
    provider?.srv.close();
  });

  it('in an end-to-end DM she searches, pages on, moves from the keyboard and sends one; he sees it animated', async () => {
    const instance = await api('GET', '/instance');
    assert.equal(instance.body.gifs, true, 'GIF search is on');
    await register(A, 'nadia', 'Nadia');
    await register(B, 'oleg', 'Oleg');
    for (const p of [A, B]) await waitFor(() => keysReady(p), `${p.username} publishes keys`);
    const dm = await api('POST', '/dms', { user_ids: [B.id] }, await token('nadia'));
    assert.ok(dm.status === 200 || dm.status === 201, JSON.stringify(dm.body));
    ids.dm = dm.body.id;
    await A.page.goto(`${base}/dm/${ids.dm}`);
    await B.page.goto(`${base}/dm/${ids.dm}`);
    await A.page.locator('.composer textarea').waitFor();
    await B.page.locator('.composer textarea').waitFor();

    const panel = await searchGifs(A.page, 'cat');
    assert.match(await panel.getByTestId('gif-hint').textContent(), /configured GIF provider.*an encrypted file/s);
    await panel.getByTestId('gif-result').nth(23).waitFor({ timeout: 30_000 });
    assert.equal(await panel.getByTestId('gif-result').count(), 24, 'the first page');
    await A.page.waitForFunction(() => document.querySelector('[data-testid=gif-status]')?.textContent === '24 GIFs for “cat”.');
    // The previews: fetched through the server, shown at their proportions, named by their titles.
    const shown = await previewsShown(A.page, 6);
    for (const [i, s] of shown.entries()) {
      const g = GIFS[i];
      assert.equal(s.label, g.description);
      assert.ok(s.src.startsWith('blob:'), s.src);
      assert.deepEqual([s.nw, s.nh], [Math.round(g.w / 2), Math.round(g.h / 2)], 'the preview rendition');
      assert.ok(Math.abs(s.w / s.h - g.w / g.h) < 0.03, `${g.id} at its proportions: ${s.w}×${s.h}`);
    }
    // The rows are filled: the previews of a row share a height.
    const rows = await A.page.evaluate(() => {
      const tops = new Map();
      for (const b of document.querySelectorAll('[data-testid=gif-result]')) {
        const r = b.getBoundingClientRect();
        const key = Math.round(r.top);
        tops.set(key, [...(tops.get(key) ?? []), Math.round(r.height)]);
      }
      return [...tops.values()];
    });
    for (const r of rows.slice(0, -1)) assert.ok(Math.max(...r) - Math.min(...r) <= 1, `one row, one height: ${r}`);
    // Only the previews near the view are fetched; the others when the panel scrolls to them.
    await A.page.waitForTimeout(1000);
    const early = provider.log.filter((r) => /-tiny\.gif$/.test(r.url)).length;
    assert.ok(early >= 6 && early < 24, `previews fetched before scrolling: ${early}`);
    await panel.locator('.gif-grid').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await previewsShown(A.page, 24);
    await panel.locator('.gif-grid').evaluate((el) => el.scrollTo(0, 0));
    await screenshot(A.page, 'gifs-picker-desktop-light', DESKTOP);
    await screenshot(A.page, 'gifs-picker-phone-light', PHONE);
    await A.page.setViewportSize(DESKTOP);

    // More GIFs: the second page, then no more.
    await panel.getByRole('button', { name: 'More GIFs' }).click();
    await panel.getByTestId('gif-result').nth(29).waitFor();
    assert.equal(await panel.getByTestId('gif-result').count(), 30);
    assert.equal(await panel.getByRole('button', { name: 'More GIFs' }).count(), 0);
    // From the keyboard: ↓ from the field to the first, → along, ↓ a row down, ↑ back, Escape.
    const field = panel.getByRole('searchbox', { name: 'Search GIFs' });
    await field.focus();
    await A.page.keyboard.press('ArrowDown');
    const focused = () => A.page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
    assert.equal(await focused(), GIFS[0].description);
    await A.page.keyboard.press('ArrowRight');
    assert.equal(await focused(), GIFS[1].description);
    await A.page.keyboard.press('ArrowDown');
    const below = await focused();
    assert.ok(below && below !== GIFS[1].description && below !== GIFS[2].description, `a row down: ${below}`);
    await A.page.keyboard.press('ArrowUp');
    assert.equal(await focused(), GIFS[1].description);
    await A.page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached' });
    assert.equal(await focused(), 'Add a GIF', 'the focus back on the button');

    // Picked with Enter: sent as an encrypted file.
    const again = await searchGifs(A.page, 'cat');
    await again.getByTestId('gif-result').nth(23).waitFor({ timeout: 30_000 });
    await again.getByRole('searchbox').press('ArrowDown');
    await A.page.keyboard.press('ArrowRight');
    await A.page.keyboard.press('ArrowRight');
    assert.equal(await focused(), GIFS[2].description);
    await A.page.keyboard.press('Enter');
    await again.waitFor({ state: 'detached', timeout: 60_000 });
    const name = `${GIFS[2].description}.gif`;
    await fileMessage(A.page, name).waitFor({ timeout: 120_000 });
    await sent(A.page);

    // The server has a message it cannot read naming two blobs (the GIF and its thumbnail).
    const msgs = (await api('GET', `/channels/${ids.dm}/messages`, undefined, await token('oleg'))).body.messages;
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].content.kind, 'encrypted');
    assert.equal(msgs[0].files.length, 2);
    assert.equal(JSON.stringify(msgs[0]).includes('cat'), false, 'nothing of the GIF in the clear');

    // Oleg: the GIF itself, animated, in the box of its proportions.
    const got = await shownGif(B, name);
    assert.ok(got.src.startsWith('blob:'));
    assert.equal(got.type, 'image/gif');
    assert.ok(got.moves, 'it is animated');
    assert.deepEqual([got.w, got.h], [GIFS[2].w, GIFS[2].h]);
    assert.equal(sha(got.bytes), sha(GIFS[2].full), 'the GIF’s own bytes');
    assert.ok(Math.abs(got.bw / got.bh - GIFS[2].w / GIFS[2].h) < 0.03, `its proportions: ${got.bw}×${got.bh}`);
    await screenshot(B.page, 'gifs-dm-desktop-dark', DESKTOP);
    await screenshot(B.page, 'gifs-dm-phone-dark', PHONE);
    await B.page.setViewportSize(DESKTOP);
    // and the sender sees it the same way
    assert.equal((await shownGif(A, name)).type, 'image/gif');
    for (const p of [A, B]) assertClean(p, `dm ${p.username}`);
  });

  it('in a plaintext channel she picks one with the pointer: uploaded named and typed, the server makes its thumbnail', async () => {
    const t = await token('nadia');
    const c = await api('POST', '/communities', { name: 'Cat pictures', visibility: 'public', e2e: false }, t);
    assert.equal(c.status, 201, JSON.stringify(c.body));
    ids.community = c.body.id;
    const joined = await api('POST', `/communities/${ids.community}/members`, {}, await token('oleg'));
    assert.ok(joined.status === 200 || joined.status === 201, JSON.stringify(joined.body));
    const general = (await api('GET', '/channels', undefined, t)).body.channels.find((x) => x.community_id === ids.community);
    assert.equal(general.e2e, false);
    ids.general = general.id;
    await A.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await B.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await A.page.locator('.composer textarea').waitFor();
    await B.page.locator('.composer textarea').waitFor();

    const panel = await searchGifs(A.page, 'waving cat');
    assert.doesNotMatch(await panel.getByTestId('gif-hint').textContent(), /encrypted/);
    await previewsShown(A.page, 6);
    const g = GIFS[5];
    await panel.getByRole('button', { name: g.description }).click();
    await panel.waitFor({ state: 'detached', timeout: 60_000 });
    const name = `${g.description}.gif`;
    await fileMessage(A.page, name).waitFor({ timeout: 120_000 });
    await sent(A.page);

    const last = (await api('GET', `/channels/${ids.general}/messages`, undefined, await token('oleg'))).body.messages.at(-1);
    assert.deepEqual(last.content, { kind: 'text', text: '' });
    assert.equal(last.attachments.length, 1);
    const a = last.attachments[0];
    assert.deepEqual([a.name, a.content_type, a.size, a.width, a.height, a.thumbnail], [name, 'image/gif', g.full.length, g.w, g.h, true]);
    // the stored file is the provider's GIF, byte for byte
    const res = await fetch(`${base}/api/v1/files/${a.id}`, { headers: { authorization: `Bearer ${await token('oleg')}` } });
    assert.equal(sha(Buffer.from(await res.arrayBuffer())), sha(g.full));

    const got = await shownGif(B, name);
    assert.equal(got.type, 'image/gif');
    assert.ok(got.moves, 'it is animated');
    assert.deepEqual([got.w, got.h], [g.w, g.h]);
    assert.equal(sha(got.bytes), sha(g.full), 'the GIF’s own bytes, not the thumbnail');
    await screenshot(B.page, 'gifs-channel-desktop-dark', DESKTOP);
    await screenshot(B.page, 'gifs-channel-phone-dark', PHONE);
    await B.page.setViewportSize(DESKTOP);
    for (const p of [A, B]) assertClean(p, `channel ${p.username}`);
  });

  it('a provider that fails is said so', async () => {
    const panel = await searchGifs(A.page, 'broken');
    const err = panel.getByTestId('gif-error');
    await err.waitFor({ timeout: 30_000 });
    assert.equal(await err.textContent(), 'The GIF provider is not answering right now: try again in a moment.');
    assert.equal(await panel.getByTestId('gif-result').count(), 0);
    await screenshot(A.page, 'gifs-picker-error-phone-light', PHONE);
    await A.page.setViewportSize(DESKTOP);
    await A.page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached' });
    // The server's 503 is logged on the console as a failed load: nothing else went wrong.
    A.problems.splice(0, A.problems.length, ...A.problems.filter((p) => !/status of 503/.test(p)));
    assertClean(A, 'provider down');
  });

  it('no browser reached the provider: everything it got came from the server', async () => {
    assert.deepEqual(fromBrowsers, [], 'requests of the pages to the provider');
    const log = provider.log;
    assert.ok(log.some((r) => r.url.startsWith('/v2/search')), 'searched');
    assert.ok(log.some((r) => /^\/media\/cat-\d+-tiny\.gif$/.test(r.url)), 'previews fetched');
    assert.ok(log.some((r) => r.url === '/media/cat-2.gif') && log.some((r) => r.url === '/media/cat-5.gif'), 'the GIFs picked fetched');
    for (const r of log) {
      assert.doesNotMatch(r.ua, /Mozilla|Chrome|HeadlessChrome|AppleWebKit/, `a browser asked ${r.url}`);
      assert.match(r.ua, /Chatalot/, `${r.url}: the server's fetcher`);
    }
    // the key went to the provider only
    assert.ok(log.filter((r) => r.url.startsWith('/v2/search')).every((r) => r.url.includes(`key=${KEY}`)));
  });
});
