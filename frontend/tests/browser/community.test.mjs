// Community administration in the browser, against the real server binary: settings, the
// directory, roles, bans, groups, leaving and deleting, each seen live by the other people.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, launchBrowser, startServer } from './harness.mjs';
import { chatHelpers } from './people.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW = 'a third long passphrase';

let server;
let browser;
let O; // owner
let P; // becomes a moderator
let Q; // gets banned
const ids = {};
const env = { password: PW };
const { person, register, assertClean } = chatHelpers(env);

function settingsOf(page) {
  return page.getByTestId('community-settings');
}

async function openSettings(page) {
  await page.getByTestId('community-settings-open').click();
  await settingsOf(page).waitFor();
}

async function joinFromDirectory(p, search, name) {
  await p.page.getByRole('button', { name: 'Browse communities' }).click();
  await p.page.getByLabel('Search communities by name').fill(search);
  await p.page.getByRole('button', { name: 'Search', exact: true }).click();
  const entry = p.page.getByTestId('directory-entry').filter({ hasText: name });
  await entry.waitFor();
  await entry.getByRole('button', { name: `Join ${name}` }).click();
  await p.page.waitForURL(new RegExp(`/c/${ids.community}/[0-9a-f-]{36}$`));
}

describe('web app: community administration', { timeout: 900_000 }, () => {
  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startServer();
    browser = await launchBrowser();
    Object.assign(env, { base: server.base, browser });
    O = await person(DESKTOP, 'light');
    P = await person(DESKTOP, 'dark');
    Q = await person(PHONE, 'light');
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('the owner creates a community and lists it in the directory from its settings', async () => {
    await register(O, 'olga', 'Olga Ilyinskaya');
    await register(P, 'pavel', 'Pavel Kirsanov');
    await register(Q, 'quentin', 'Quentin Durward');
    const { page } = O;
    await page.getByRole('button', { name: 'Create a community' }).first().click();
    await page.getByLabel('Name', { exact: true }).fill('Guild');
    await page.getByLabel('Encrypt the first channel end-to-end').uncheck();
    await page.getByRole('button', { name: 'Create community' }).click();
    await page.waitForURL(/\/c\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/);
    ids.community = /\/c\/([0-9a-f-]{36})\//.exec(page.url())[1];
    await openSettings(page);
    const s = settingsOf(page);
    await s.getByLabel('Name', { exact: true }).fill('Guild hall');
    await s.getByLabel('Description').fill('Where the guild meets');
    await s.getByLabel('Public: anyone with the link').check();
    await s.getByLabel('List it in the community directory').check();
    await s.getByLabel('Welcome message (optional)').fill('Welcome, traveller');
    await s.getByRole('button', { name: 'Save settings' }).click();
    await s.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await page.getByTestId('community-name').filter({ hasText: 'Guild hall' }).waitFor();
    // An empty name is refused in the form and nothing changes.
    await s.getByLabel('Name', { exact: true }).fill(' ');
    await s.getByRole('button', { name: 'Save settings' }).click();
    assert.equal(await page.getByTestId('community-name').textContent(), 'Guild hall');
    await page.screenshot({ path: join(SCREENSHOTS, 'community-settings-desktop-light.png'), fullPage: true });
    assertClean(O, 'settings');
  });

  it('others find it in the directory and join', async () => {
    await joinFromDirectory(P, 'hall', 'Guild hall');
    await P.page.getByTestId('community-name').filter({ hasText: 'Guild hall' }).waitFor();
    await Q.page.getByRole('button', { name: 'Browse communities' }).click();
    await Q.page.getByTestId('directory-entry').filter({ hasText: /2 members/ }).waitFor();
    await Q.page.screenshot({ path: join(SCREENSHOTS, 'directory-phone-light.png') });
    await Q.page.getByTestId('directory-entry').getByRole('button', { name: 'Join Guild hall' }).click();
    await Q.page.waitForURL(new RegExp(`/c/${ids.community}/[0-9a-f-]{36}$`));
    // No match: said so.
    await P.page.getByRole('button', { name: 'Browse communities' }).click();
    await P.page.getByLabel('Search communities by name').fill('no such place');
    await P.page.getByRole('button', { name: 'Search', exact: true }).click();
    await P.page.getByText('No listed community matches this name.').waitFor();
    await P.page.getByRole('button', { name: 'Close' }).click();
    assertClean(P, 'directory P');
    assertClean(Q, 'directory Q');
  });

  it('a profile edited in the settings shows in the member panel of others', async () => {
    const { page } = O;
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    const form = page.getByRole('form', { name: 'Edit profile' });
    await form.getByRole('button', { name: 'Save profile' }).and(page.locator(':enabled')).waitFor();
    await form.getByLabel('Display name').fill('Olga S. Ilyinskaya');
    await form.getByLabel('Pronouns (optional)').fill('she/her');
    await form.getByLabel('Status (optional)').fill('Reading in the garden');
    await form.getByLabel('About you (optional)').fill('Founder of the guild.');
    await form.getByRole('button', { name: 'Save profile' }).click();
    await form.getByRole('status').filter({ hasText: 'Profile saved.' }).waitFor();
    await page.getByTestId('profile-display-name').filter({ hasText: 'Olga S. Ilyinskaya' }).waitFor();
    await page.goBack();
    await P.page.getByText(/^Members/).click();
    // The card is fetched when opened, so it shows the profile as it is now.
    await P.page.getByTestId('member').filter({ hasText: 'owner' }).getByRole('button').click();
    const card = P.page.getByTestId('profile-card');
    await card.filter({ hasText: 'Olga S. Ilyinskaya' }).filter({ hasText: 'she/her' }).waitFor();
    await card.getByTestId('profile-status').filter({ hasText: 'Reading in the garden' }).waitFor();
    assert.match(await card.textContent(), /Founder of the guild\./);
    await P.page.getByText(/^Members/).click();
    await openSettings(O.page);
    assertClean(O, 'profile');
  });

  it('the owner makes one a moderator, who can then act on members only', async () => {
    const s = settingsOf(O.page);
    const row = s.getByTestId('admin-member').filter({ hasText: '@pavel' });
    await row.waitFor();
    await row.getByLabel('Role of pavel').selectOption('moderator');
    await s.getByTestId('admin-member').filter({ hasText: '@pavel · moderator' }).waitFor();
    await P.page.getByText('you are moderator').waitFor();
    await openSettings(P.page);
    const ps = settingsOf(P.page);
    await ps.getByTestId('admin-member').filter({ hasText: '@quentin' }).getByRole('button', { name: 'Ban quentin' }).waitFor();
    // Nothing to do over the owner, and no settings section below admin.
    assert.equal(await ps.getByTestId('admin-member').filter({ hasText: '@olga' }).getByRole('button').count(), 0);
    assert.equal(await ps.getByRole('button', { name: 'Save settings' }).count(), 0);
    assertClean(P, 'moderator');
  });

  it('a moderator bans a member with a reason; the owner lifts the ban', async () => {
    const ps = settingsOf(P.page);
    await ps.getByRole('button', { name: 'Ban quentin' }).click();
    await ps.getByLabel('Reason (optional, seen by moderators)').fill('spam');
    await ps.getByRole('button', { name: 'Ban quentin', exact: true }).last().click();
    await ps.getByTestId('ban').filter({ hasText: '@quentin · spam' }).waitFor();
    // Quentin is out at once, and cannot come back through the directory.
    await Q.page.waitForURL(`${server.base}/`);
    await Q.page.getByRole('button', { name: 'Browse communities' }).click();
    await Q.page.getByRole('button', { name: 'Join Guild hall' }).click();
    await Q.page.getByRole('alert').first().waitFor();
    Q.problems.splice(0, Q.problems.length, ...Q.problems.filter((m) => !m.includes('403')));
    // The owner's settings show the ban after a reload of the lists; lifting it lets him in.
    await O.page.getByRole('button', { name: 'Close' }).click();
    await openSettings(O.page);
    const os = settingsOf(O.page);
    await os.getByRole('button', { name: 'Lift the ban of quentin' }).click();
    await os.getByText('Nobody is banned.').waitFor();
    await Q.page.getByRole('button', { name: 'Join Guild hall' }).click();
    await Q.page.waitForURL(new RegExp(`/c/${ids.community}/[0-9a-f-]{36}$`));
    assertClean(Q, 'ban');
  });

  it('groups: created, a channel moved in, renamed; the sidebar of a member follows', async () => {
    const os = settingsOf(O.page);
    await os.getByLabel('New group').fill('Projects');
    await os.getByRole('button', { name: 'Create group' }).click();
    await os.getByTestId('group').filter({ hasText: 'Projects' }).waitFor();
    await os.getByLabel('#general').selectOption({ label: 'Projects' });
    await P.page.getByTestId('group-title').filter({ hasText: 'Projects' }).waitFor({ timeout: 15_000 });
    await os.getByTestId('group').filter({ hasText: 'Projects' }).getByRole('button', { name: 'Rename' }).click();
    await os.getByLabel('New name of Projects').fill('Workshops');
    await os.getByRole('button', { name: 'Save', exact: true }).click();
    await P.page.getByTestId('group-title').filter({ hasText: 'Workshops' }).waitFor({ timeout: 15_000 });
    await P.page.screenshot({ path: join(SCREENSHOTS, 'community-groups-desktop-dark.png') });
    assertClean(O, 'groups O');
    assertClean(P, 'groups P');
  });

  it('a moderator sets a channel topic and slow mode, then archives it; members see it live', async () => {
    await P.page.getByRole('button', { name: 'Close' }).click();
    await P.page.getByRole('link', { name: /^general/ }).click();
    await P.page.getByRole('button', { name: 'Channel settings' }).click();
    const form = P.page.getByTestId('channel-settings');
    // A moderator may not rename: no name field.
    assert.equal(await form.getByLabel('Channel name').count(), 0);
    await form.getByLabel('Topic').fill('Plans and notes');
    await form.getByLabel('Slow mode').selectOption('10');
    await form.getByRole('button', { name: 'Save channel' }).click();
    await form.waitFor({ state: 'detached' });
    await O.page.getByRole('button', { name: 'Close' }).click();
    await O.page.getByRole('link', { name: /^general/ }).click();
    await O.page.getByText('Plans and notes').waitFor();
    await Q.page.getByTestId('slow-mode').filter({ hasText: 'one message every 10 s' }).waitFor();
    await P.page.getByRole('button', { name: 'Channel settings' }).click();
    await form.getByLabel('Archived: read-only for everyone').check();
    await form.getByRole('button', { name: 'Save channel' }).click();
    await Q.page.getByTestId('send-blocked').filter({ hasText: 'archived' }).waitFor();
    assertClean(P, 'channel settings');
  });

  it('a member leaves; the owner deletes the community and it disappears for everyone', async () => {
    // On a phone the channel fills the screen: back to the channel list first.
    await Q.page.getByRole('button', { name: 'Back to channels' }).click();
    await O.page.getByTestId('community-settings-open').click();
    await openSettings(Q.page);
    await settingsOf(Q.page).getByRole('button', { name: 'Leave community' }).click();
    await Q.page.waitForURL(`${server.base}/`);
    await O.page.getByTestId('admin-member').filter({ hasText: '@quentin' }).waitFor({ state: 'detached' });
    const os = settingsOf(O.page);
    const del = os.getByRole('button', { name: 'Delete community' });
    assert.equal(await del.isDisabled(), true);
    await os.getByLabel('Community name').fill('Guild hall');
    await del.click();
    await O.page.waitForURL(`${server.base}/`);
    await P.page.getByTestId('community-name').waitFor({ state: 'detached' });
    assertClean(O, 'delete');
    assertClean(Q, 'leave');
  });
});
