// Avatars, banners and community icons against the real server binary: one person sets a
// profile picture and banner in Settings → Account (a file over 10 MiB is refused before it is
// sent, bytes that are no image by the server) and an icon and a banner for her community; the
// other sees the icon arrive live in the rail and the banner above the channel list, her avatar
// at the head of her run of messages (not on the grouped ones) and in the member list, and her
// banner on her profile card; she removes the picture and, after a reload, he sees her initials.
// The server stores what it made of each image (square avatars and icons, metadata gone) and
// serves it without a token. Screenshots at 1280×800 and 390×844 go to `CHATALOT_IMAGES_SHOTS`,
// else /tmp/shots. Steps run in order.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';
import { gradientPng } from './png.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a passphrase for the picture test';
const SHOTS = process.env.CHATALOT_IMAGES_SHOTS ?? '/tmp/shots';
/** In a text chunk of every PNG sent: the server's re-encoding must drop it. */
const CANARY = 'CANARY-4b8d1f60-images';

let server;
let browser;
let base;
let A; // Nadia Petrova: sets the pictures
let B; // Oleg: sees them
const ids = {};
const env = { password: PW };
const { api, person, register, token, messageWith, send, assertClean } = chatHelpers(env);

/** A gradient PNG with the canary in its metadata. */
const png = (w, h, hue) => gradientPng(w, h, hue, CANARY);

/** Waits until the `<img>` has loaded; its natural size and its reference (from its address). */
async function loaded(img) {
  await img.waitFor();
  await img.page().waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: 30_000 });
  return img.evaluate((el) => {
    const src = el.getAttribute('src') ?? '';
    return { w: el.naturalWidth, h: el.naturalHeight, src, ref: src.split('/').pop() };
  });
}

/** A screenshot at `viewport` into SHOTS; the page must not be wider than it. */
async function shot(page, name, viewport) {
  await page.setViewportSize(viewport);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name}: ${overflow}px wider than the viewport`);
}

/** The image as the server serves it, without a token. */
async function fetchImage(ref) {
  const res = await fetch(`${base}/api/v1/images/${ref}`);
  return { status: res.status, type: res.headers.get('content-type'), cache: res.headers.get('cache-control'), bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Leaves out of a person's problems the console lines of answers the test asked for (e.g. a 415). */
function allow(p, status) {
  p.problems.splice(0, p.problems.length, ...p.problems.filter((m) => !m.includes(String(status))));
}

describe('web app: avatars, banners and community icons', { timeout: 600_000 }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
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

  it('she sets a profile picture and a banner in the settings; a file too large or no image is refused', async () => {
    await register(A, 'nadia', 'Nadia Petrova');
    await register(B, 'oleg', 'Oleg');
    const { page } = A;
    let posts = 0;
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/images') posts += 1;
    });
    await page.goto(`${base}/settings/account`);
    const avatar = page.getByTestId('avatar-picker');
    await avatar.getByRole('button', { name: 'Upload profile picture…' }).waitFor();
    // Without a picture: the initials, also in the top bar.
    assert.equal(await page.getByTestId('who-avatar').getAttribute('data-initials'), 'NP');

    // Over 10 MiB: said at once, nothing sent.
    await page.getByTestId('avatar-picker-input').setInputFiles({ name: 'huge.png', mimeType: 'image/png', buffer: Buffer.alloc(11 * 1024 * 1024, 1) });
    await avatar.getByRole('alert').filter({ hasText: 'the most is 10 MiB' }).waitFor();
    assert.equal(posts, 0, 'a file too large is not sent');

    // Bytes that are no image the server reads: its refusal, in plain words.
    await page.getByTestId('avatar-picker-input').setInputFiles({ name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture at all') });
    await avatar.getByRole('alert').filter({ hasText: 'This file is not a PNG, JPEG, GIF or WebP image.' }).waitFor();
    assert.equal(posts, 1);
    allow(A, 415);

    // A picture 800×600: saved at once, cut to a square of at most 512 px.
    await page.getByTestId('avatar-picker-input').setInputFiles({ name: `me ${CANARY}.png`, mimeType: 'image/png', buffer: png(800, 600, 60) });
    await page.getByTestId('avatar-picker-status').filter({ hasText: 'Profile picture saved.' }).waitFor();
    assert.equal(await avatar.getByRole('alert').count(), 0, 'the earlier refusal is gone');
    const own = await loaded(page.getByTestId('who-avatar').locator('img'));
    assert.equal(own.w, own.h, `a square (${own.w}×${own.h})`);
    assert.ok(own.w <= 512 && own.w >= 256, `at most 512 px (${own.w})`);
    assert.match(own.ref, /^[0-9a-f]{64}$/);
    await avatar.getByRole('button', { name: 'Change profile picture…' }).waitFor();
    await avatar.getByRole('button', { name: 'Remove profile picture' }).waitFor();

    // A banner 1600×400: within 1920×640, so as large as it was.
    await page.getByTestId('banner-picker-input').setInputFiles({ name: 'banner.png', mimeType: 'image/png', buffer: png(1600, 400, 180) });
    await page.getByTestId('banner-picker-status').filter({ hasText: 'Profile banner saved.' }).waitFor();
    const banner = await loaded(page.getByTestId('banner-picker-image'));
    assert.ok(banner.w <= 1920 && banner.h <= 640 && Math.abs(banner.w / banner.h - 4) < 0.05, `${banner.w}×${banner.h}`);

    // The profile names both; the server serves them to anyone, re-encoded without the metadata.
    const profile = await api('GET', `/users/${A.id}/profile`, undefined, await token('nadia'));
    assert.equal(profile.body.avatar_ref, own.ref);
    assert.equal(profile.body.banner_ref, banner.ref);
    ids.avatar = own.ref;
    for (const ref of [own.ref, banner.ref]) {
      const img = await fetchImage(ref);
      assert.equal(img.status, 200, 'served without a token');
      assert.match(img.type ?? '', /^image\/(webp|jpeg)$/);
      assert.match(img.cache ?? '', /immutable/);
      assert.equal(img.bytes.includes(Buffer.from(CANARY)), false, 'the metadata is not kept');
    }
    assert.equal((await fetchImage('0'.repeat(64))).status, 404);

    await shot(page, 'images-settings-desktop', DESKTOP);
    await shot(page, 'images-settings-phone', PHONE);
    await page.setViewportSize(DESKTOP);
    allow(A, 415);
    assertClean(A, 'settings');
  });

  it('she sets the community icon and banner; he sees them arrive in his rail and sidebar', async () => {
    const t = await token('nadia');
    const c = await api('POST', '/communities', { name: 'Gallery', visibility: 'public', e2e: false }, t);
    assert.equal(c.status, 201, JSON.stringify(c.body));
    ids.community = c.body.id;
    const joined = await api('POST', `/communities/${ids.community}/members`, {}, await token('oleg'));
    assert.ok(joined.status === 200 || joined.status === 201, JSON.stringify(joined.body));
    const channels = await api('GET', '/channels', undefined, t);
    ids.general = channels.body.channels.find((x) => x.community_id === ids.community).id;

    // He is in the community already, with its initials in the rail.
    await B.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await B.page.locator('.composer textarea').waitFor();
    const rail = B.page.getByRole('navigation', { name: 'Communities' });
    await rail.getByRole('link', { name: 'Gallery' }).waitFor();
    assert.equal(await rail.getByTestId('community-icon').count(), 0);

    await A.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    await A.page.locator('.composer textarea').waitFor();
    await A.page.getByTestId('community-settings-open').click();
    const settings = A.page.getByTestId('community-settings');
    await settings.waitFor();
    await A.page.getByTestId('icon-picker-input').setInputFiles({ name: 'icon.png', mimeType: 'image/png', buffer: png(300, 300, 120) });
    await A.page.getByTestId('icon-picker-status').filter({ hasText: 'Community icon saved.' }).waitFor();
    await A.page.getByTestId('community-banner-picker-input').setInputFiles({ name: 'wide.png', mimeType: 'image/png', buffer: png(1200, 400, 20) });
    await A.page.getByTestId('community-banner-picker-status').filter({ hasText: 'Community banner saved.' }).waitFor();
    const mine = await loaded(A.page.getByRole('navigation', { name: 'Communities' }).getByTestId('community-icon'));
    assert.equal(mine.w, mine.h);

    // Live on his side (`community_updated`): the icon in the rail, the banner above the channels.
    const icon = await loaded(rail.getByTestId('community-icon'));
    assert.equal(icon.ref, mine.ref);
    assert.ok(icon.w === icon.h && icon.w <= 512, `a square of at most 512 px (${icon.w}×${icon.h})`);
    const banner = await loaded(B.page.getByTestId('community-banner'));
    const community = await api('GET', `/communities/${ids.community}`, undefined, await token('oleg'));
    assert.equal(community.body.icon_ref, icon.ref);
    assert.equal(community.body.banner_ref, banner.ref);
    await shot(A.page, 'images-community-settings-desktop', DESKTOP);
    await shot(A.page, 'images-community-settings-phone', PHONE);
    await A.page.setViewportSize(DESKTOP);
    for (const p of [A, B]) assertClean(p, `community ${p.username}`);
  });

  it('he sees her avatar at the head of her messages, in the member list and her banner on her card', async () => {
    await A.page.getByTestId('community-settings').getByRole('button', { name: 'Close', exact: true }).click();
    await send(A.page, 'A picture is worth a thousand words');
    await messageWith(A.page, 'A picture is worth a thousand words').waitFor();
    await send(A.page, 'and this one says hello');
    await messageWith(A.page, 'and this one says hello').waitFor();
    await send(B.page, 'Nice icon!');
    await messageWith(B.page, 'Nice icon!').waitFor();

    // His page loads again: her avatar from the member list (his own is initials).
    await B.page.reload();
    const first = messageWith(B.page, 'A picture is worth a thousand words');
    const face = await loaded(first.getByTestId('avatar').locator('img'));
    assert.equal(face.ref, ids.avatar);
    assert.equal(await first.getByTestId('avatar').locator('img').getAttribute('alt'), '', 'her name is beside it');
    const box = await first.getByTestId('avatar').boundingBox();
    assert.deepEqual([Math.round(box.width), Math.round(box.height)], [36, 36]);
    // The second of her run is grouped under the first: no avatar, no name.
    const second = messageWith(B.page, 'and this one says hello');
    assert.equal(await second.getByTestId('avatar').count(), 0);
    assert.equal(await second.getByTestId('sender').count(), 0);
    const his = messageWith(B.page, 'Nice icon!').getByTestId('avatar');
    assert.equal(await his.getAttribute('data-image'), 'false');
    assert.equal(await his.getAttribute('data-initials'), 'OL');

    // The member list, and her profile card with its banner.
    await B.page.getByText(/^Members/).click();
    const row = B.page.getByTestId('member').filter({ hasText: 'Nadia Petrova' });
    assert.equal((await loaded(row.getByTestId('avatar').locator('img'))).ref, ids.avatar);
    await row.getByRole('button', { name: 'Nadia Petrova' }).click();
    const card = B.page.getByTestId('profile-card');
    await loaded(card.getByTestId('profile-banner'));
    await loaded(card.getByTestId('avatar').locator('img'));

    await shot(B.page, 'images-desktop', DESKTOP);
    await shot(B.page, 'images-phone', PHONE);
    // On a phone the channel list shows alone: the rail with the icon, the banner above the channels.
    await B.page.getByRole('button', { name: 'Back to channels' }).click();
    await B.page.getByTestId('community-banner').waitFor();
    await shot(B.page, 'images-phone-list', PHONE);
    await B.page.setViewportSize(DESKTOP);
    for (const p of [A, B]) assertClean(p, `messages ${p.username}`);
  });

  it('she removes her picture; after a reload he sees her initials', async () => {
    const { page } = A;
    await page.goto(`${base}/settings/account`);
    const avatar = page.getByTestId('avatar-picker');
    await avatar.getByRole('button', { name: 'Remove profile picture' }).click();
    await page.getByTestId('avatar-picker-status').filter({ hasText: 'Profile picture removed.' }).waitFor();
    await avatar.getByRole('button', { name: 'Upload profile picture…' }).waitFor();
    assert.equal(await avatar.getByRole('button', { name: 'Remove profile picture' }).count(), 0);
    await page.waitForFunction(() => document.querySelector('[data-testid=who-avatar]')?.getAttribute('data-image') === 'false');
    const profile = await api('GET', `/users/${A.id}/profile`, undefined, await token('nadia'));
    assert.equal(profile.body.avatar_ref ?? null, null);
    assert.notEqual(profile.body.banner_ref ?? null, null, 'the banner stays');

    await B.page.goto(`${base}/c/${ids.community}/${ids.general}`);
    const head = messageWith(B.page, 'A picture is worth a thousand words').getByTestId('avatar');
    await head.waitFor();
    await B.page.waitForFunction(
      (el) => el.getAttribute('data-image') === 'false' && el.getAttribute('data-initials') === 'NP',
      await head.elementHandle(),
    );
    assert.equal(await head.locator('img').count(), 0);
    await shot(B.page, 'images-removed-desktop', DESKTOP);
    for (const p of [A, B]) assertClean(p, `removed ${p.username}`);
  });
});
