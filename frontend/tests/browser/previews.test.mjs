// Link previews against the real server binary: a small web site on loopback (allowed by the
// server's `link_previews.allow`, as an intranet site would be) serves a page with Open Graph
// tags. In a plaintext channel one person posts its address and the other sees the preview card
// under the message; with previews turned off in Appearance it is gone. In an end-to-end channel
// the same kind of link gets no card and the site receives no request at all: the reader's web
// app never tells the server an encrypted message's link. Screenshots at 1280×800 and 390×844
// go to /tmp/shots. Steps run in order.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a passphrase for the preview test';

let server;
let site;
let siteBase;
let browser;
let base;
let A;
let B;
const hits = [];
const env = { password: PW };
const { api, person, register, token, messageWith, send, assertClean, screenshot } = chatHelpers(env);

/** A community of Petra's that Quinn joined, both with its general channel open; its ids. */
async function openCommunity(name, e2e) {
  const t = await token('petra');
  const c = await api('POST', '/communities', { name, visibility: 'public', e2e }, t);
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const joined = await api('POST', `/communities/${c.body.id}/members`, {}, await token('quinn'));
  assert.ok(joined.status === 200 || joined.status === 201, JSON.stringify(joined.body));
  const channels = await api('GET', '/channels', undefined, t);
  const general = channels.body.channels.find((x) => x.community_id === c.body.id).id;
  for (const p of [A, B]) {
    await p.page.goto(`${base}/c/${c.body.id}/${general}`);
    await p.page.locator('.composer textarea').waitFor();
  }
  return { community: c.body.id, general };
}

describe('web app: link previews', { timeout: 600_000 }, () => {
  before(async () => {
    mkdirSync('/tmp/shots', { recursive: true });
    site = createServer((req, res) => {
      hits.push(req.url);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<html><head><title>fallback</title>
        <meta property="og:title" content="The Crab Gazette: ${req.url}">
        <meta property="og:description" content="Weekly news about &lt;rust&gt; &amp; its friends.">
        <meta property="og:site_name" content="Crab Gazette"></head><body>hello</body></html>`);
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
  });

  after(async () => {
    await browser?.close();
    site?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('a link in a plaintext channel shows its page’s title, site and description to the reader', async () => {
    await register(A, 'petra', 'Petra');
    await register(B, 'quinn', 'Quinn');
    const { community, general } = await openCommunity('News', false);
    await send(A.page, `Read this: ${siteBase}/issue/42.`);
    const card = messageWith(B.page, 'Read this:').getByTestId('link-preview');
    await card.waitFor({ timeout: 30_000 });
    const link = card.getByRole('link', { name: 'The Crab Gazette: /issue/42' });
    assert.equal(await link.getAttribute('href'), `${siteBase}/issue/42`);
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.match((await link.getAttribute('rel')) ?? '', /noopener/);
    assert.match((await link.getAttribute('rel')) ?? '', /noreferrer/);
    await card.getByText('Crab Gazette', { exact: true }).waitFor();
    await card.getByText('Weekly news about <rust> & its friends.').waitFor();
    await messageWith(A.page, 'Read this:').getByTestId('link-preview').waitFor({ timeout: 30_000 });
    // fetched once by the server for both readers (its cache)
    assert.deepEqual(hits.filter((h) => h === '/issue/42'), ['/issue/42']);

    await screenshot(B.page, 'previews-desktop', DESKTOP);
    await screenshot(B.page, 'previews-phone', PHONE);
    await B.page.setViewportSize(DESKTOP);

    // Turned off in Appearance: no card.
    await B.page.goto(`${base}/settings/appearance`);
    const box = B.page.getByTestId('pref-link-previews');
    assert.equal(await box.isChecked(), true, 'on by default');
    await box.uncheck();
    await B.page.goto(`${base}/c/${community}/${general}`);
    await messageWith(B.page, 'Read this:').waitFor();
    await B.page.waitForTimeout(500);
    assert.equal(await messageWith(B.page, 'Read this:').getByTestId('link-preview').count(), 0);
    await B.page.goto(`${base}/settings/appearance`);
    await B.page.getByTestId('pref-link-previews').check();
    assertClean(A, 'plaintext channel');
    assertClean(B, 'plaintext channel');
  });

  it('a link in an end-to-end channel gets no preview and the site hears nothing', async () => {
    await openCommunity('Secret news', true);
    await send(A.page, `Quietly: ${siteBase}/secret/7`);
    await messageWith(B.page, 'Quietly:').waitFor({ timeout: 30_000 });
    await B.page.waitForTimeout(1000);
    assert.equal(await messageWith(B.page, 'Quietly:').getByTestId('link-preview').count(), 0);
    assert.equal(await messageWith(A.page, 'Quietly:').getByTestId('link-preview').count(), 0);
    assert.equal(hits.filter((h) => h.startsWith('/secret')).length, 0, 'the site was never asked');
    assertClean(A, 'encrypted channel');
    assertClean(B, 'encrypted channel');
  });
});
