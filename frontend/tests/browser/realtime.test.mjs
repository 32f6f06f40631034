// The WebSocket outlives its access tokens: with 30-second tokens, two people stay connected
// for more than a minute on one socket each. The app renews the token on the open socket
// (`authenticate` with a newer token of the same session, answered `reauthenticated`), so the
// server never closes it, nobody shows as offline, and messages still arrive at the end.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PW = 'a long enough passphrase';
const TOKEN_SECS = 30;
const WATCH_MS = 75_000;

let server;
let browser;
let base;
let A;
let B;
const env = { password: PW };
const { person, register, messageWith, send, assertClean } = chatHelpers(env);

/** Records every WebSocket of the page and the frames it carries. */
function watchSockets(p) {
  p.sockets = [];
  p.page.on('websocket', (ws) => {
    const rec = { url: ws.url(), sent: [], received: [], last: 0 };
    p.sockets.push(rec);
    const parse = (payload) => {
      try {
        return JSON.parse(typeof payload === 'string' ? payload : payload.toString());
      } catch {
        return null;
      }
    };
    ws.on('framesent', ({ payload }) => rec.sent.push(parse(payload)));
    ws.on('framereceived', ({ payload }) => {
      rec.received.push(parse(payload));
      rec.last = Date.now();
    });
  });
}

describe('web app: the WebSocket renews its token', { timeout: 300_000 }, () => {
  before(async () => {
    server = await startServer({ env: { CHATALOT_ACCESS_TOKEN_TTL_SECS: String(TOKEN_SECS) } });
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'light');
    watchSockets(A);
    watchSockets(B);
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('keeps one socket per person past several token lifetimes', async () => {
    await register(A, 'rita', 'Rita Skeeter');
    await register(B, 'sam', 'Sam Vimes');
    const { page } = A;
    await page.getByRole('button', { name: 'Create a community' }).first().click();
    await page.getByLabel('Name', { exact: true }).fill('Night watch');
    await page.getByLabel('Public: anyone with the link').check();
    await page.getByLabel('Encrypt the first channel end-to-end').uncheck();
    await page.getByRole('button', { name: 'Create community' }).click();
    await page.waitForURL(/\/c\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/);
    const [, community, general] = /\/c\/([0-9a-f-]{36})\/([0-9a-f-]{36})$/.exec(page.url());
    await B.page.goto(`${base}/join/${community}`);
    await B.page.getByRole('button', { name: 'Join', exact: true }).click();
    await B.page.waitForURL(`${base}/c/${community}/${general}`);
    await page.getByTestId('channel-start').waitFor();
    await B.page.getByTestId('channel-start').waitFor();

    // From here on, only the app's own sockets (one each) and their renewals.
    const opened = { a: A.sockets.length, b: B.sockets.length };
    const started = Date.now();
    await new Promise((r) => setTimeout(r, WATCH_MS));
    const elapsed = Date.now() - started;

    for (const [p, name, before] of [
      [A, 'rita', opened.a],
      [B, 'sam', opened.b],
    ]) {
      // Sockets of pages left behind by navigation say nothing more; one socket carried it all.
      const live = p.sockets.filter((s) => s.last > started);
      assert.equal(live.length, 1, `${name}: one socket in use`);
      assert.equal(p.sockets.length, before, `${name}: no socket opened while watching`);
      const ws = live[0];
      const received = ws.received.filter(Boolean);
      const ready = received.find((f) => f.type === 'ready');
      assert.ok(ready?.token_expires_at, `${name}: ready names the deadline`);
      assert.equal(received.filter((f) => f.type === 'closing').length, 0, `${name}: the server closed nothing`);
      const renewals = received.filter((f) => f.type === 'reauthenticated');
      // Over 75 s of 30-second tokens renewed halfway: at least four renewals.
      assert.ok(renewals.length >= Math.floor(elapsed / (TOKEN_SECS * 1000)) + 1, `${name}: ${renewals.length} renewals`);
      const deadlines = [ready, ...renewals].map((f) => Date.parse(f.token_expires_at));
      for (let i = 1; i < deadlines.length; i++) assert.ok(deadlines[i] > deadlines[i - 1], `${name}: the deadline moves on`);
      assert.ok(deadlines.at(-1) > Date.now(), `${name}: the deadline is ahead`);
      // Each renewal sent a token that had not been sent before.
      const tokens = ws.sent.filter((f) => f?.type === 'authenticate').map((f) => f.token);
      assert.equal(tokens.length, renewals.length + 1);
      assert.equal(new Set(tokens).size, tokens.length, `${name}: every token is new`);
      assert.equal(received.filter((f) => f.type === 'error' && f.frame === 'authenticate').length, 0);
    }
    // Nobody dropped out of the channel's presence meanwhile.
    const offline = B.sockets
      .flatMap((s) => s.received)
      .filter((f) => f?.type === 'presence_changed' && f.user_id === A.id && f.presence === 'offline');
    assert.deepEqual(offline, [], 'rita never showed as offline');

    // The connection still carries messages both ways.
    await send(A.page, 'still here after the tokens expired');
    await messageWith(B.page, 'still here after the tokens expired').waitFor();
    await send(B.page, 'so am I');
    await messageWith(A.page, 'so am I').waitFor();
    assertClean(A, 'rita');
    assertClean(B, 'sam');
  });
});
