// Downloads that break off, against the real server binary (docs/web.md "Files"): the pages
// reach the server through a proxy of this test that passes every byte both ways (WebSockets
// included) but cuts the connection of a file's first download in the middle of its body. The
// web app goes on from the bytes it had with `Range: bytes=N-` (the server answers 206), its
// progress going on rather than starting again, and the file downloaded is the one sent, byte
// for byte: a 12 MiB file in an end-to-end DM (decrypted, its digest checked), and a 6 MiB one
// in a plaintext channel, where the proxy also drops the `Range` of the second try, so that the
// server answers the whole file (200) and the download starts over. Steps run in order.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PW = 'a passphrase for the download test';
/** Where the first download of a file is cut: bytes of the answer, headers included. */
const CUT_AFTER = 3 * 1024 * 1024;

let server;
let proxy;
let browser;
let A; // Nadia: sends
let B; // Oleg: downloads
const ids = {};
const env = { password: PW };
const { api, person, register, token, screenshot, assertClean } = chatHelpers(env);

const sha = (b) => createHash('sha256').update(b).digest('hex');

/**
 * A TCP proxy to `port` on 127.0.0.1. `plan` names the files to break: file id → 'resume'
 * (the first download cut mid-body) or 'restart' (cut, and the second try's `Range` dropped).
 * `seen` lists every download of a file: its id, the range asked and the status answered.
 */
async function startProxy(port) {
  const plan = new Map();
  const tries = new Map();
  const seen = [];
  const srv = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    /** The download of a file this connection carries, while its answer is under way. */
    let current = null;
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (d) => {
      let chunk = d;
      const head = d.toString('latin1');
      const m = /^GET \/api\/v1\/files\/([0-9a-f-]{36}) HTTP\/1\.1\r\n/.exec(head);
      if (m && plan.has(m[1])) {
        const id = m[1];
        const n = (tries.get(id) ?? 0) + 1;
        tries.set(id, n);
        const range = /\r\nrange: *([^\r]*)/i.exec(head)?.[1] ?? null;
        const entry = { id, try: n, range, status: null, forwarded: range };
        if (n === 2 && range && plan.get(id) === 'restart') {
          chunk = Buffer.from(head.replace(/\r\nrange: *[^\r]*/i, ''), 'latin1');
          entry.forwarded = null;
        }
        seen.push(entry);
        current = { entry, cut: n === 1 ? CUT_AFTER : null, sent: 0 };
      }
      upstream.write(chunk);
    });
    upstream.on('data', (d) => {
      const c = current;
      if (!c) return client.write(d);
      if (c.entry.status === null) c.entry.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1] ?? 0);
      if (c.cut === null) return client.write(d);
      const room = c.cut - c.sent;
      if (d.length < room) {
        c.sent += d.length;
        return client.write(d);
      }
      current = null;
      c.entry.cutAt = c.cut;
      client.write(d.subarray(0, room), () => drop());
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${srv.address().port}`, plan, seen, close: () => srv.close() };
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

function fileMessage(page, name) {
  return page.getByTestId('message').filter({ has: page.getByTestId('file-name').filter({ hasText: name }) });
}

async function attach(page, files) {
  await page.getByTestId('file-input').setInputFiles(files);
  for (const f of files) await fileMessage(page, f.name).waitFor({ timeout: 120_000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=upload]').length === 0, null, { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0, null, { timeout: 60_000 });
}

/**
 * Downloads the file of that message through its button, slowed down to be seen, noting the
 * percentages the button shows; its bytes and those percentages.
 */
async function download(p, name, shot = null) {
  const msg = fileMessage(p.page, name);
  await msg.waitFor();
  const button = msg.getByTestId('file-download');
  await button.evaluate((el) => {
    window.__percent = [];
    new MutationObserver(() => {
      const m = /(\d+) %/.exec(el.textContent ?? '');
      if (m && Number(m[1]) !== window.__percent.at(-1)) window.__percent.push(Number(m[1]));
    }).observe(el, { childList: true, subtree: true, characterData: true });
  });
  const cdp = await p.ctx.newCDPSession(p.page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: 8_000_000, uploadThroughput: -1 });
  const saved = p.page.waitForEvent('download', { timeout: 120_000 });
  await button.click();
  if (shot) {
    // under way: the percentage on the button, Cancel beside it
    await msg.getByTestId('file-cancel').waitFor();
    await screenshot(p.page, shot, DESKTOP, 0);
  }
  const d = await saved;
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await cdp.detach();
  assert.equal(d.suggestedFilename(), name);
  return { bytes: readFileSync(await d.path()), percent: await p.page.evaluate(() => window.__percent) };
}

/** The console's note of the load that was cut is expected; anything else is a problem. */
function assertCleanButTheCut(p, where) {
  const rest = p.problems.filter((x) => !/Failed to load resource: net::ERR_(CONTENT_LENGTH_MISMATCH|CONNECTION_RESET|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING)/.test(x));
  p.problems.length = 0;
  p.problems.push(...rest);
  assertClean(p, where);
}

describe('web app: downloads that break off', { timeout: 900_000 }, () => {
  const secret = { name: 'survey 12 MiB.bin', mimeType: 'application/octet-stream', buffer: randomBytes(12 * 1024 * 1024) };
  const plain = { name: 'logs 6 MiB.bin', mimeType: 'application/octet-stream', buffer: randomBytes(6 * 1024 * 1024) };

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startServer();
    proxy = await startProxy(Number(new URL(server.base).port));
    browser = await launchBrowser();
    Object.assign(env, { base: proxy.base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'dark');
  });

  after(async () => {
    await browser?.close();
    proxy?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('an end-to-end file cut mid-way goes on from where it stopped, and is the one sent', async () => {
    await register(A, 'nadia', 'Nadia');
    await register(B, 'oleg', 'Oleg');
    for (const p of [A, B]) await waitFor(() => keysReady(p), `${p.username} publishes keys`);
    const dm = await api('POST', '/dms', { user_ids: [B.id] }, await token('nadia'));
    assert.ok(dm.status === 200 || dm.status === 201, JSON.stringify(dm.body));
    ids.dm = dm.body.id;
    await A.page.goto(`${proxy.base}/dm/${ids.dm}`);
    await B.page.goto(`${proxy.base}/dm/${ids.dm}`);
    await A.page.locator('.composer textarea').waitFor();
    await B.page.locator('.composer textarea').waitFor();
    await attach(A.page, [secret]);
    const msg = (await api('GET', `/channels/${ids.dm}/messages`, undefined, await token('oleg'))).body.messages.at(-1);
    assert.equal(msg.files.length, 1);
    const fileId = msg.files[0];
    proxy.plan.set(fileId, 'resume');

    const got = await download(B, secret.name, 'downloads-under-way-desktop-dark');
    assert.equal(got.bytes.length, secret.buffer.length);
    assert.equal(sha(got.bytes), sha(secret.buffer), 'the same 12 MiB, decrypted and checked');
    const tries = proxy.seen.filter((s) => s.id === fileId);
    assert.equal(tries.length, 2, JSON.stringify(tries));
    assert.equal(tries[0].range, null);
    assert.equal(tries[0].cutAt, CUT_AFTER, 'the first answer was cut');
    const from = Number(/^bytes=(\d+)-$/.exec(tries[1].range)?.[1]);
    assert.ok(from > 0 && from < CUT_AFTER, `the rest asked from the bytes received: ${tries[1].range}`);
    assert.equal(tries[1].status, 206);
    // the percentage went on through the break, never back
    assert.ok(got.percent.length >= 3, `progress seen: ${got.percent}`);
    assert.ok(got.percent.every((v, i) => i === 0 || v > got.percent[i - 1]), `progress went on: ${got.percent}`);
    assert.ok(got.percent.some((v) => v > 0 && v < 100));
    assertCleanButTheCut(B, 'resumed e2e download');
    assertClean(A, 'sender');
  });

  it('a plaintext file cut mid-way, the server then answering the whole file, starts over and is the one sent', async () => {
    const t = await token('nadia');
    const c = await api('POST', '/communities', { name: 'Workshop', visibility: 'public', e2e: false }, t);
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const joined = await api('POST', `/communities/${c.body.id}/members`, {}, await token('oleg'));
    assert.ok(joined.status === 200 || joined.status === 201, JSON.stringify(joined.body));
    const general = (await api('GET', '/channels', undefined, t)).body.channels.find((x) => x.community_id === c.body.id);
    await A.page.goto(`${proxy.base}/c/${c.body.id}/${general.id}`);
    await B.page.goto(`${proxy.base}/c/${c.body.id}/${general.id}`);
    await A.page.locator('.composer textarea').waitFor();
    await B.page.locator('.composer textarea').waitFor();
    await attach(A.page, [plain]);
    const msg = (await api('GET', `/channels/${general.id}/messages`, undefined, await token('oleg'))).body.messages.at(-1);
    const fileId = msg.attachments[0].id;
    proxy.plan.set(fileId, 'restart');

    const got = await download(B, plain.name);
    assert.equal(sha(got.bytes), sha(plain.buffer), 'the same 6 MiB');
    const tries = proxy.seen.filter((s) => s.id === fileId);
    assert.equal(tries.length, 2, JSON.stringify(tries));
    assert.equal(tries[0].cutAt, CUT_AFTER);
    assert.match(tries[1].range ?? '', /^bytes=\d+-$/, 'the app asked for the rest');
    assert.equal(tries[1].forwarded, null, 'the proxy dropped the range');
    assert.equal(tries[1].status, 200, 'the server sent the whole file');
    // the percentage went back once: the download started over
    const backs = got.percent.filter((v, i) => i > 0 && v < got.percent[i - 1]);
    assert.equal(backs.length, 1, `started over once: ${got.percent}`);
    assertCleanButTheCut(B, 'restarted plaintext download');
    assertClean(A, 'sender');
  });
});
