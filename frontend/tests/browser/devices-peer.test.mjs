// The account's devices across the two clients (docs/e2e.md 18): a browser signs in as a user of
// the Rust client (tests/src/bin/chatalot-e2e-peer.rs) and is linked by it, reading the history
// the Rust device backed up (its own and a browser person's sender keys, and the DM bodies); then
// a second Rust device restores from the account's recovery key and reads what the linked
// browser wrote before it existed, from the browser's backup.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, startPeer as startRustPeer, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PW = 'a passphrase for the browser person';

let server;
let browser;
let base;
const env = { password: PW };
const { api, person, register, login, token, messageWith, send, assertClean: clean } = chatHelpers(env);
const peers = [];
const ids = {};

/** Only the answers the app expects: 409 of compare and swap when two devices back up at once. */
function assertClean(p, where) {
  p.problems = p.problems.filter((x) => !/status of 409 \(Conflict\)/.test(x));
  clean(p, where);
}

function startPeer() {
  const peer = startRustPeer(base);
  peers.push(peer);
  return peer;
}

/** Every message of the open channel read or refused; what the page shows. */
async function settle(page, expected) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await page.evaluate(() => {
      const all = [...document.querySelectorAll('[data-testid=messages] [data-testid=message]')];
      return {
        total: all.length,
        waiting: all.filter((m) => /Decrypting…|unlock your encryption keys/.test(m.textContent)).length,
        failed: all.filter((m) => m.querySelector('[data-testid=decrypt-failed]')).map((m) => m.textContent.trim()),
        texts: all.map((m) => m.querySelector('[data-testid=message-body]')?.textContent.trim() ?? ''),
      };
    });
    if ((r.waiting === 0 && r.total >= expected) || Date.now() > deadline) return r;
    await page.waitForTimeout(200);
  }
}

describe('web app and Rust client: the devices of one account', { timeout: 900_000 }, () => {
  before(async () => {
    server = await startServer();
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
  });

  after(async () => {
    for (const p of peers) p.stop();
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('a browser signed in as the Rust client’s user is linked by it and reads the history it backed up', async () => {
    const Z = await person(DESKTOP, 'light');
    await register(Z, 'zinaida', 'Zinaida');
    ids.z = Z;
    const rust = startPeer();
    const me = await rust.ok({ cmd: 'register', username: 'pyotr' });
    ids.pyotr = me;
    // A community of Zinaida's that the Rust client joins with an invite code.
    const zt = await token('zinaida');
    const c = await api('POST', '/communities', { name: 'Reading room' }, zt);
    assert.equal(c.status, 201);
    const ch = await api('POST', `/communities/${c.body.id}/channels`, { name: 'novels', e2e: true }, zt);
    ids.community = c.body.id;
    ids.channel = ch.body.id;
    const inv = await api('POST', `/communities/${c.body.id}/invites`, {}, zt);
    await rust.ok({ cmd: 'join', code: inv.body.code });
    const dm = await rust.ok({ cmd: 'open_dm', user_id: Z.id });
    ids.dm = dm.channel_id;
    const texts = { channel: [], dm: [] };
    for (let i = 0; i < 5; i++) {
      await rust.ok({ cmd: 'send_channel', channel_id: ids.channel, text: `rust in the channel ${i}` });
      texts.channel.push(`rust in the channel ${i}`);
      await rust.ok({ cmd: 'send_direct', channel_id: ids.dm, text: `rust in the dm ${i}` });
      texts.dm.push(`rust in the dm ${i}`);
    }
    // Zinaida answers in both; the Rust device reads her (attested key, DM bodies).
    await Z.page.goto(`${base}/c/${ids.community}/${ids.channel}`);
    await messageWith(Z.page, 'rust in the channel 4').waitFor();
    for (let i = 0; i < 3; i++) {
      await send(Z.page, `zinaida in the channel ${i}`);
      await messageWith(Z.page, `zinaida in the channel ${i}`).waitFor();
      texts.channel.push(`zinaida in the channel ${i}`);
    }
    await Z.page.goto(`${base}/dm/${ids.dm}`);
    await messageWith(Z.page, 'rust in the dm 4').waitFor();
    for (let i = 0; i < 3; i++) {
      await send(Z.page, `zinaida in the dm ${i}`);
      await messageWith(Z.page, `zinaida in the dm ${i}`).waitFor();
      texts.dm.push(`zinaida in the dm ${i}`);
    }
    await Z.page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0);
    for (const id of [ids.channel, ids.dm]) {
      const s = await rust.ok({ cmd: 'sync', channel_id: id });
      assert.deepEqual(s.errors, []);
    }
    ids.texts = texts;

    // Pyotr signs in on a browser and links it from the Rust device by the code it shows.
    const P = await person(DESKTOP, 'dark');
    ids.P = P;
    await login(P, 'pyotr', me.password);
    await P.page.getByTestId('setup-keys').click();
    await P.page.getByTestId('start-link').click();
    const code = (await P.page.getByTestId('link-code').getAttribute('aria-label')).replace('Link code: ', '');
    await rust.ok({ cmd: 'answer_link', code });
    await P.page.getByTestId('setup-done').waitFor();
    assert.doesNotMatch(await P.page.getByTestId('keys-setup').textContent(), /refused/);
    await P.page.getByRole('button', { name: 'Done' }).click();
    for (const [id, path, list] of [
      [ids.channel, `/c/${ids.community}/${ids.channel}`, texts.channel],
      [ids.dm, `/dm/${ids.dm}`, texts.dm],
    ]) {
      await P.page.goto(`${base}${path}`);
      await P.page.locator('.composer textarea').waitFor();
      const r = await settle(P.page, list.length);
      assert.deepEqual(r.failed, [], `undecryptable in ${id}`);
      for (const t of list) assert.ok(r.texts.includes(t), `${t} is read`);
    }
    // The linked browser writes; Zinaida and the Rust device read it.
    await send(P.page, 'pyotr from the browser');
    await messageWith(P.page, 'pyotr from the browser').waitFor();
    texts.dm.push('pyotr from the browser');
    await messageWith(Z.page, 'pyotr from the browser').waitFor();
    const s = await rust.ok({ cmd: 'sync', channel_id: ids.dm });
    assert.ok(s.messages.some((m) => m.text === 'pyotr from the browser'), JSON.stringify(s));
    assertClean(Z, 'zinaida');
    assertClean(P, 'pyotr browser');
  });

  it('a Rust device restored from the recovery key reads what the linked browser wrote, from its backup', async () => {
    const rust = peers[0];
    const { recovery_key } = await rust.ok({ cmd: 'recovery_key' });
    // The browser's backup runs a few seconds after its last entry: wait until the head rests.
    const pt = (await api('POST', '/sessions', { username: 'pyotr', password: ids.pyotr.password })).body.access_token;
    let last = -1;
    let since = Date.now();
    const deadline = Date.now() + 90_000;
    for (;;) {
      const seq = (await api('GET', '/users/me/key_backup', undefined, pt)).body.head_seq;
      if (seq !== last) {
        last = seq;
        since = Date.now();
      }
      if (Date.now() - since > 6000) break;
      if (Date.now() > deadline) throw new Error('the backup head kept moving');
      await new Promise((r) => setTimeout(r, 500));
    }
    const again = startPeer();
    await again.ok({ cmd: 'restore', username: 'pyotr', password: ids.pyotr.password, recovery_key });
    const s = await again.ok({ cmd: 'sync', channel_id: ids.dm });
    assert.deepEqual(s.errors, []);
    const read = s.messages.map((m) => m.text);
    for (const text of ids.texts.dm) assert.ok(read.includes(text), `${text} read by the restored Rust device: ${JSON.stringify(read)}`);
    const c = await again.ok({ cmd: 'sync', channel_id: ids.channel });
    assert.deepEqual(c.errors, []);
    assertClean(ids.P, 'pyotr browser');
  });
});
