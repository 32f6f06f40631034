// Custom emoji against the real server binary, two people in an end-to-end encrypted community
// channel: the owner adds an emoji in the community settings (a name the server would refuse is
// refused in the form first), and the member, whose page is open all along, gets it live
// (`emoji_changed`): he types `:part`, takes the suggestion, adds a standard emoji from the
// picker and sends; the owner sees the picture inline (the message itself is ciphertext on the
// server), a message of the emoji alone large, and an emoji whose image is gone as its name.
// She reacts with the custom emoji and he sees its picture on the chip; she removes it and his
// suggestions follow. Screenshots at 1280×800 and 390×844 go to `CHATALOT_EMOJI_SHOTS`, else
// /tmp/shots (emoji-*.png). Steps run in order.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';
import { encodePng } from './png.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a passphrase for the emoji test';
const SHOTS = process.env.CHATALOT_EMOJI_SHOTS ?? '/tmp/shots';
/** In the message with the emoji: the server must never see it. */
const CANARY = 'canary-emoji-5e2f90';
/** Waits of a shared, slow machine. */
const LONG = 90_000;

let server;
let browser;
let base;
let A; // Mira: owns the community, adds the emoji
let B; // Tomas: a member who uses it
const ids = {};
const env = { password: PW };
const { api, person, register, token, messageWith, assertClean } = chatHelpers(env);

/**
 * A PNG of `size` × `size` with transparency: a yellow face (a disc, two eyes and a smile) on
 * nothing, as an emoji would be.
 */
function facePng(size) {
  const c = size / 2;
  return encodePng(
    size,
    size,
    (x, y) => {
      const dx = x - c + 0.5;
      const dy = y - c + 0.5;
      const r = Math.hypot(dx, dy);
      const eye = Math.hypot(Math.abs(dx) - size * 0.17, dy + size * 0.12) < size * 0.07;
      const smile = dy > size * 0.08 && Math.abs(r - size * 0.27) < size * 0.04;
      if (r < size * 0.46) return eye || smile ? [60, 40, 20, 255] : [255, 200, 40, 255];
      if (r < size * 0.49) return [200, 130, 20, 255];
      return [0, 0, 0, 0];
    },
    { alpha: true },
  );
}

/** Waits until the `<img>` has loaded; its natural and shown sizes and its reference. */
async function loaded(img) {
  await img.waitFor({ timeout: LONG });
  await img.page().waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: LONG });
  return img.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { w: el.naturalWidth, h: el.naturalHeight, shownW: Math.round(r.width), shownH: Math.round(r.height), ref: (el.getAttribute('src') ?? '').split('/').pop() };
  });
}

/** A screenshot at `viewport` into SHOTS; the page must not be wider than it. */
async function shot(page, name, viewport) {
  await page.setViewportSize(viewport);
  // Two frames after the resize: the layout is the new one.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name}: ${overflow}px wider than the viewport`);
}

/** Leaves out of a person's problems the console lines of answers the test asked for (a 404). */
function allow(p, status) {
  p.problems.splice(0, p.problems.length, ...p.problems.filter((m) => !m.includes(String(status))));
}

async function waitFor(cond, what, ms = LONG) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function keysReady(p) {
  const r = await api('GET', `/users/${p.id}/devices`, undefined, await token(p.username));
  return r.status === 200 && r.body.devices.length > 0;
}

const composer = (page) => page.locator('.composer textarea');
const suggestions = (page) => page.getByRole('listbox', { name: 'Emoji' });

describe('web app: custom emoji', { timeout: 900_000 }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer();
    base = server.base;
    browser = await launchBrowser();
    Object.assign(env, { base, browser });
    A = await person(DESKTOP, 'light');
    B = await person(DESKTOP, 'dark');
    for (const p of [A, B]) p.page.setDefaultTimeout(LONG);
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('two people register; she opens an encrypted community he joins', async () => {
    await register(A, 'mira', 'Mira Holm');
    await register(B, 'tomas', 'Tomas');
    await waitFor(() => keysReady(A), 'Mira publishes her keys');
    await waitFor(() => keysReady(B), 'Tomas publishes his keys');
    const t = await token('mira');
    const c = await api('POST', '/communities', { name: 'Emoji Lab', visibility: 'public' }, t);
    assert.equal(c.status, 201, JSON.stringify(c.body));
    ids.community = c.body.id;
    const joined = await api('POST', `/communities/${ids.community}/members`, {}, await token('tomas'));
    assert.ok(joined.status === 200 || joined.status === 201, JSON.stringify(joined.body));
    const channels = await api('GET', '/channels', undefined, t);
    const general = channels.body.channels.find((x) => x.community_id === ids.community);
    assert.equal(general.e2e, true, 'the first channel is end-to-end encrypted');
    ids.channel = general.id;
    for (const p of [A, B]) {
      await p.page.goto(`${base}/c/${ids.community}/${ids.channel}`);
      await composer(p.page).waitFor();
      assert.match(await p.page.getByTestId('e2e-badge').textContent(), /End-to-end encrypted/);
    }
    // No emoji yet: his suggestions are the standard ones only.
    await composer(B.page).click();
    await composer(B.page).pressSequentially(':part');
    await suggestions(B.page).waitFor();
    assert.equal(await suggestions(B.page).getByRole('option', { name: /party_blob/ }).count(), 0);
    await composer(B.page).fill('');
  });

  it('she adds a custom emoji in the community settings; a name the server would refuse is refused first', async () => {
    const { page } = A;
    await page.getByTestId('community-settings-open').click();
    const section = page.getByTestId('emoji-settings');
    await section.waitFor();
    assert.equal((await section.getByTestId('emoji-count').textContent()).trim(), '0 of 100');
    await section.getByText('No custom emoji yet.').waitFor();

    // Without an image, and with a bad name: said under the fields, nothing sent.
    let posts = 0;
    page.on('request', (r) => {
      if (r.method() === 'POST' && /\/api\/v1\/(images|communities\/[^/]+\/emoji)/.test(new URL(r.url()).pathname)) posts += 1;
    });
    await section.getByLabel('Emoji name').fill('Party Blob!');
    await section.getByRole('button', { name: 'Add emoji' }).click();
    await section.getByText('Use no spaces: join words with _ (party_cat).').waitFor();
    await section.getByText('Choose an image for the emoji.').waitFor();
    assert.equal(await section.getByLabel('Emoji name').getAttribute('aria-invalid'), 'true');
    await section.getByLabel('Emoji name').fill('x');
    await section.getByRole('button', { name: 'Add emoji' }).click();
    await section.getByText('Use 2 to 32 characters.').waitFor();
    assert.equal(posts, 0, 'nothing is sent before the form is right');

    // The picture picked names itself from the file; the name is checked, the image goes up.
    await section.getByLabel('Emoji name').fill('');
    await page.getByTestId('emoji-input').setInputFiles({ name: 'Party Blob.png', mimeType: 'image/png', buffer: facePng(160) });
    assert.equal(await section.getByLabel('Emoji name').inputValue(), 'party_blob');
    await section.locator('.emoji-new-preview img').waitFor();
    await section.getByRole('button', { name: 'Add emoji' }).click();
    await section.getByTestId('emoji-status').filter({ hasText: 'Added :party_blob:.' }).waitFor();
    const item = section.getByTestId('emoji-item').filter({ hasText: ':party_blob:' });
    const img = await loaded(item.getByRole('img', { name: ':party_blob:' }));
    assert.ok(img.w <= 128 && img.h <= 128, `within 128 × 128 (${img.w}×${img.h})`);
    assert.deepEqual([img.shownW, img.shownH], [32, 32]);
    assert.equal((await section.getByTestId('emoji-count').textContent()).trim(), '1 of 100');
    assert.equal(await section.getByLabel('Emoji name').inputValue(), '', 'the form is ready for the next one');
    ids.ref = img.ref;
    assert.match(ids.ref, /^[0-9a-f]{64}$/);
    await shot(page, 'emoji-settings-desktop', DESKTOP);
    await item.scrollIntoViewIfNeeded();
    await shot(page, 'emoji-settings-phone', PHONE);
    await page.setViewportSize(DESKTOP);

    // The same name again: refused here, since the community has it.
    await section.getByLabel('Emoji name').fill('party_blob');
    await section.getByRole('button', { name: 'Add emoji' }).click();
    await section.getByText('This community has an emoji called :party_blob: already.').waitFor();
    await section.getByLabel('Emoji name').fill('');

    // The server lists it, and serves its picture to anyone.
    const list = await api('GET', `/communities/${ids.community}/emoji`, undefined, await token('tomas'));
    assert.deepEqual(list.body.map((e) => [e.name, e.image_ref]), [['party_blob', ids.ref]]);
    const res = await fetch(`${base}/api/v1/images/${ids.ref}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^image\/(webp|jpeg)$/);

    await page.getByTestId('community-settings').getByRole('button', { name: 'Close', exact: true }).click();
    await composer(page).waitFor();
    assertClean(A, 'settings');
  });

  it('his open page gets it live: he types :part, takes it, adds a standard emoji from the picker and sends', async () => {
    const { page } = B;
    const box = composer(page);
    await box.click();
    await box.pressSequentially(`Look ${CANARY} :part`);
    // Live: his page was open before the emoji existed (`emoji_changed`), no reload.
    const option = suggestions(page).getByRole('option', { name: /:party_blob:/ });
    await option.waitFor();
    const first = suggestions(page).getByRole('option').first();
    assert.match(await first.textContent(), /:party_blob:/, 'the community emoji comes first');
    assert.equal(await first.getAttribute('aria-selected'), 'true');
    assert.equal(await box.getAttribute('aria-activedescendant'), await first.getAttribute('id'));
    await loaded(first.locator('img'));
    await shot(page, 'emoji-suggest-desktop', DESKTOP);
    await shot(page, 'emoji-suggest-phone', PHONE);
    await page.setViewportSize(DESKTOP);
    await box.press('ArrowDown');
    assert.equal(await suggestions(page).getByRole('option').nth(1).getAttribute('aria-selected'), 'true');
    await box.press('ArrowUp');
    await box.press('Enter');
    await suggestions(page).waitFor({ state: 'detached' });
    assert.equal(await box.inputValue(), `Look ${CANARY} :party_blob: `);

    // The picker: the community's own tab first; a search finds 🎉.
    await page.getByRole('button', { name: 'Add an emoji' }).click();
    const dialog = page.getByRole('dialog', { name: 'Emoji' });
    await dialog.waitFor();
    assert.equal(await dialog.getByRole('tab', { name: 'This community' }).getAttribute('aria-selected'), 'true');
    await loaded(dialog.getByRole('tabpanel').getByRole('button', { name: ':party_blob:' }).locator('img'));
    await dialog.getByRole('tab', { name: 'Smileys and people' }).click();
    await dialog.getByRole('tabpanel').getByRole('button', { name: 'grinning face', exact: true }).waitFor();
    await shot(page, 'emoji-picker-desktop', DESKTOP);
    await shot(page, 'emoji-picker-phone', PHONE);
    await page.setViewportSize(DESKTOP);
    await dialog.getByLabel('Search emoji').fill('tada');
    await dialog.getByRole('group', { name: 'Emoji matching tada' }).getByRole('button', { name: 'party popper' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await box.inputValue(), `Look ${CANARY} :party_blob: 🎉`);
    await box.press('Enter');

    // Both see the picture inline, at the size of the text around it.
    const mine = messageWith(page, CANARY);
    await mine.waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-message]').length === 0, null, { timeout: LONG });
    const hers = messageWith(A.page, CANARY);
    await hers.waitFor({ timeout: LONG });
    const inline = hers.getByTestId('message-body').getByRole('img', { name: ':party_blob:' });
    const pic = await loaded(inline);
    assert.equal(pic.ref, ids.ref);
    assert.deepEqual([pic.shownW, pic.shownH], [22, 22]);
    assert.equal(await inline.getAttribute('title'), ':party_blob:');
    assert.equal(await inline.getAttribute('loading'), 'lazy');
    assert.match(await hers.getByTestId('message-body').textContent(), /🎉/);
    await loaded(mine.getByRole('img', { name: ':party_blob:' }));

    // The server holds the message as ciphertext only.
    const dump = server.pgDump();
    assert.ok(dump.includes('party_blob'), 'the dump is of the right database (the emoji is listed)');
    assert.equal(dump.includes(CANARY), false, 'the message is in the database in the clear');
    const page1 = await api('GET', `/channels/${ids.channel}/messages`, undefined, await token('mira'));
    assert.ok(page1.body.messages.length > 0 && page1.body.messages.every((m) => m.content.kind === 'encrypted'));
    for (const p of [A, B]) assertClean(p, `message ${p.username}`);
  });

  it('a message of the emoji alone shows it large; an emoji whose picture is gone shows its name', async () => {
    const { page } = B;
    await composer(page).fill(':party_blob:');
    await composer(page).press('Enter');
    const ghost = `<:ghost_emoji:${'0'.repeat(64)}>`;
    await composer(page).fill(`gone ${ghost}`);
    await composer(page).press('Enter');

    const big = A.page
      .getByTestId('messages')
      .getByTestId('message-body')
      .filter({ has: A.page.locator('.md-jumbo') })
      .getByRole('img', { name: ':party_blob:' });
    const large = await loaded(big.last());
    assert.deepEqual([large.shownW, large.shownH], [44, 44]);
    const gone = messageWith(A.page, 'gone');
    await gone.getByTestId('custom-emoji-missing').filter({ hasText: ':ghost_emoji:' }).waitFor({ timeout: LONG });
    assert.equal(await gone.getByRole('img').count(), 0);
    for (const p of [A, B]) allow(p, 404);
    for (const p of [A, B]) assertClean(p, `large ${p.username}`);
  });

  it('she reacts with the custom emoji; he sees its picture on the chip', async () => {
    const target = messageWith(A.page, CANARY);
    await target.hover();
    await target.getByRole('button', { name: 'Add a reaction' }).click();
    const quick = target.getByRole('group', { name: 'Pick a reaction' });
    await loaded(quick.getByRole('button', { name: 'React with :party_blob:' }).locator('img'));
    // The whole picker, in the message, for the emoji beyond the quick ones.
    await quick.getByRole('button', { name: 'More reactions…' }).click();
    const whole = target.getByRole('dialog', { name: 'Pick a reaction' });
    await whole.getByRole('tab', { name: 'This community', selected: true }).waitFor();
    await whole.scrollIntoViewIfNeeded();
    await shot(A.page, 'emoji-react-desktop', DESKTOP);
    await shot(A.page, 'emoji-react-phone', PHONE);
    await whole.scrollIntoViewIfNeeded();
    await shot(A.page, 'emoji-react-phone', PHONE);
    await A.page.setViewportSize(DESKTOP);
    await whole.getByLabel('Search emoji').press('Escape');
    await whole.waitFor({ state: 'detached' });
    await quick.getByRole('button', { name: 'React with :party_blob:' }).click();
    const chip = messageWith(B.page, CANARY).getByRole('button', { name: /^:party_blob: 1: react too$/ });
    await chip.waitFor({ timeout: LONG });
    const face = await loaded(chip.locator('img'));
    assert.equal(face.ref, ids.ref);
    assert.equal(await chip.locator('img').getAttribute('alt'), '', 'the chip is named by its label');
    assert.equal(await chip.getAttribute('aria-pressed'), 'false');
    await messageWith(A.page, CANARY).getByRole('button', { name: /^:party_blob: 1: take back your reaction$/ }).waitFor();
    // The server holds the reaction in its wire form.
    const msgs = await api('GET', `/channels/${ids.channel}/messages`, undefined, await token('tomas'));
    const held = msgs.body.messages.flatMap((m) => m.reactions.map((r) => r.emoji));
    assert.ok(held.includes(`<:party_blob:${ids.ref}>`), JSON.stringify(held));

    await B.page.getByTestId('messages').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await shot(B.page, 'emoji-channel-desktop', DESKTOP);
    await shot(B.page, 'emoji-channel-phone', PHONE);
    await B.page.setViewportSize(DESKTOP);
    await shot(A.page, 'emoji-channel-owner-desktop', DESKTOP);
    for (const p of [A, B]) assertClean(p, `reaction ${p.username}`);
  });

  it('she removes the emoji; his suggestions follow live, and its messages keep their text', async () => {
    await A.page.getByTestId('community-settings-open').click();
    const section = A.page.getByTestId('emoji-settings');
    await section.getByRole('button', { name: 'Remove :party_blob:' }).click();
    await section.getByText('No custom emoji yet.').waitFor();
    assert.equal((await section.getByTestId('emoji-count').textContent()).trim(), '0 of 100');

    const box = composer(B.page);
    await box.fill('');
    await box.click();
    await box.pressSequentially(':party');
    await suggestions(B.page).getByRole('option').first().waitFor();
    await waitFor(async () => (await suggestions(B.page).getByRole('option', { name: /party_blob/ }).count()) === 0, 'the emoji leaves his suggestions');
    const list = await api('GET', `/communities/${ids.community}/emoji`, undefined, await token('tomas'));
    assert.deepEqual(list.body, []);
    // Typed now, :party_blob: stays text.
    await box.fill('no more :party_blob:');
    await box.press('Enter');
    await messageWith(B.page, 'no more :party_blob:').waitFor();
    for (const p of [A, B]) assertClean(p, `removed ${p.username}`);
  });
});
