// The account screens end to end: the built web app served by the real server binary over its
// embedded PostgreSQL, driven in Chromium. Steps run in order and share one server.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SCREENSHOTS, SETUP_TOKEN, TotpClock, launchBrowser, startServer, watchedPage } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PW1 = 'correct horse battery staple';
const PW2 = 'a different long passphrase';
const PW3 = 'recovered with the saved code';
/** A second directory for the screenshots of the setup and leave screens, when given. */
const SHOTS2 = process.env.CHATALOT_SHOTS2 ?? null;

let server;
let browser;
let a; // the main page: { page, problems }
let base;
const state = { recoveryCode: '', backupCodes: [], totp: null };

async function idb(page, store, key) {
  return page.evaluate(
    ([store, key]) =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open('chatalot');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const tx = req.result.transaction(store, 'readonly');
          const get = tx.objectStore(store).get(key);
          get.onsuccess = () => {
            resolve(get.result ?? null);
            req.result.close();
          };
          get.onerror = () => reject(get.error);
        };
      }),
    [store, key],
  );
}

async function heading(page) {
  return (await page.locator('h1').first().textContent())?.trim();
}

async function login(page, username, password, code) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (code !== undefined) {
    await page.getByLabel('Authentication code').fill(await (typeof code === 'function' ? code() : code));
    await page.getByRole('button', { name: 'Verify' }).click();
  }
  await page.getByTestId('signed-in').waitFor();
}

async function logout(page) {
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.waitForURL(`${base}/login`);
}

async function api(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function assertClean(p, where) {
  assert.deepEqual(p.problems, [], `${where}: console errors, exceptions or dialogs`);
}

async function assertNoCsp(page, where) {
  assert.deepEqual(await page.evaluate(() => window.__csp), [], `${where}: CSP violations`);
}

/**
 * A revoked session's next API call fails and the app returns to sign-in. That call is a click
 * on Settings → Sessions unless the app made one of its own first (the end-to-end key setup
 * after a sign-in may be it): either way the page must land on sign-in.
 */
async function untilSignedOut(page) {
  const clicks = (async () => {
    await page.getByRole('link', { name: 'Settings', exact: true }).click({ timeout: 10_000 });
    await page.getByRole('link', { name: 'Sessions' }).click({ timeout: 10_000 });
  })().catch(() => {});
  await page.waitForURL(`${base}/login`);
  await clicks;
}

describe('web app: accounts', { timeout: 600_000 }, () => {
  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    if (SHOTS2) mkdirSync(SHOTS2, { recursive: true });
    server = await startServer();
    base = server.base;
    browser = await launchBrowser();
    const ctx = await browser.newContext({ viewport: DESKTOP, colorScheme: 'light' });
    a = await watchedPage(ctx);
  });

  after(async () => {
    await browser?.close();
    const res = await server?.stop();
    if (res && res.code !== 0) console.error(server.log());
  });

  it('loads under the server CSP and measures the first render', async () => {
    const res = await a.page.goto(`${base}/`);
    const csp = res.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self';/);
    await a.page.waitForURL(`${base}/login`);
    await a.page.getByRole('button', { name: 'Sign in' }).waitFor();
    const t = await a.page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const mark = (n) => performance.getEntriesByName(n)[0]?.startTime ?? null;
      const fcp = performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint');
      return {
        domContentLoaded: nav.domContentLoadedEventEnd,
        firstRender: mark('chatalot:first-render'),
        ready: mark('chatalot:ready'),
        firstContentfulPaint: fcp?.startTime ?? null,
      };
    });
    const fmt = (v) => (v === null ? 'n/a' : `${v.toFixed(1)} ms`);
    console.log(
      `# first render: mount ${fmt(t.firstRender)}, first contentful paint ${fmt(t.firstContentfulPaint)}, ` +
        `sign-in form ready ${fmt(t.ready)}, DOMContentLoaded ${fmt(t.domContentLoaded)}`,
    );
    assert.ok(t.firstRender !== null && t.firstRender < 5000);
    assert.equal(await a.page.evaluate(() => document.querySelectorAll('script:not([src])').length), 0);
    await assertNoCsp(a.page, 'load');
    assertClean(a, 'load');
    await a.page.screenshot({ path: join(SCREENSHOTS, 'login-desktop-light.png') });
  });

  it('a fresh instance asks for its owner: the setup link opens registration, a wrong token is refused', async () => {
    const { page } = a;
    assert.equal((await api('GET', '/instance')).body.setup_pending, true);
    // The link lands on registration with the token filled in, and leaves the address bar.
    const wrong = 'AAAA-BBBB-CCCC-DDDD-EEEE-FFFF';
    await page.goto(`${base}/#setup=${wrong}`);
    await page.waitForURL(`${base}/register`);
    assert.equal(await page.evaluate(() => location.hash), '');
    const notice = page.getByTestId('setup-notice');
    await notice.waitFor();
    assert.match(await notice.textContent(), /needs its owner account first/);
    assert.equal(await page.getByLabel('Setup token').inputValue(), wrong);
    for (const [name, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ]) {
      await page.setViewportSize(viewport);
      if (SHOTS2) await page.screenshot({ path: join(SHOTS2, `register-setup-${name}.png`), fullPage: true });
      await page.screenshot({ path: join(SCREENSHOTS, `register-setup-${name}-light.png`), fullPage: true });
      assert.ok((await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0, `${name}: too wide`);
    }
    await page.setViewportSize(DESKTOP);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password', { exact: true }).fill(PW1);
    await page.getByLabel('Repeat the password').fill(PW1);
    await page.getByRole('button', { name: 'Create account' }).click();
    const error = page.locator('#reg-setup-error');
    await error.waitFor();
    assert.match(await error.textContent(), /setup token is wrong/);
    assert.equal(await page.getByLabel('Setup token').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'reg-setup');
    if (SHOTS2) await page.screenshot({ path: join(SHOTS2, 'register-setup-wrong-desktop.png'), fullPage: true });
    // Nothing was created: the instance still waits for its owner, and alice is free.
    assert.equal((await api('GET', '/instance')).body.setup_pending, true);
    assert.equal(await page.getByRole('heading', { name: 'Save your recovery code' }).count(), 0);
    // The refused registration is a 403 in the console.
    a.problems.splice(0, a.problems.length, ...a.problems.filter((m) => !m.includes('403')));
    assertClean(a, 'setup');
  });

  it('registers, shows the recovery code once, and keeps secrets in IndexedDB only', async () => {
    const { page } = a;
    // The owner registers through the setup link (case and dashes of the token do not matter).
    await page.goto(`${base}/#setup=${SETUP_TOKEN.toLowerCase()}`);
    await page.waitForURL(`${base}/register`);
    assert.equal(await page.getByLabel('Setup token').inputValue(), SETUP_TOKEN.toLowerCase());
    // Bad input is explained next to the fields before anything is sent.
    await page.getByRole('button', { name: 'Create account' }).click();
    assert.equal(await page.getByLabel('Username').getAttribute('aria-invalid'), 'true');
    assert.match(await page.locator('#reg-username-error').textContent(), /Enter a username/);

    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Display name (optional)').fill('Alice Liddell');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByLabel('Repeat the password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    assert.match(await page.locator('#reg-password-error').textContent(), /at least 10/);

    await page.getByLabel('Password', { exact: true }).fill(PW1);
    await page.getByLabel('Repeat the password').fill(PW1);
    await page.getByLabel('Repeat the password').press('Enter');
    const code = page.getByTestId('recovery-code').locator('code');
    await code.waitFor();
    state.recoveryCode = (await code.textContent()).trim();
    assert.match(state.recoveryCode, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    await page.screenshot({ path: join(SCREENSHOTS, 'recovery-code-desktop-light.png') });
    const cont = page.getByRole('button', { name: 'Continue' });
    assert.equal(await cont.isDisabled(), true);
    await page.getByLabel('I have saved my recovery code').check();
    await cont.click();
    await page.waitForURL(`${base}/`);
    assert.equal(await heading(page), 'Welcome, Alice Liddell');
    // The setup token made her the owner; the instance no longer waits, and the token is spent.
    assert.equal((await api('GET', '/instance')).body.setup_pending, false);
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await page.waitForURL(/\/settings(\/account)?$/);
    await page.locator('dd').filter({ hasText: /^owner$/ }).waitFor();
    await page.getByRole('link', { name: 'Home' }).click();
    await page.getByTestId('signed-in').waitFor();
    const again = await api('POST', '/accounts', { username: 'mallory', password: 'another long password', setup_token: SETUP_TOKEN });
    assert.equal(again.status, 403);
    assert.equal(again.body.code, 'invalid_setup_token');
    // Registration no longer shows the setup notice or the token field.
    const other = await watchedPage(await browser.newContext({ viewport: DESKTOP }));
    await other.page.goto(`${base}/#setup=${SETUP_TOKEN}`);
    await other.page.waitForURL(`${base}/register`);
    await other.page.getByRole('button', { name: 'Create account' }).waitFor();
    // The instance information has arrived once the app marks itself ready.
    await other.page.waitForFunction(() => performance.getEntriesByName('chatalot:ready').length > 0);
    assert.equal(await other.page.evaluate(() => location.hash), '');
    assert.equal(await other.page.getByTestId('setup-notice').count(), 0);
    await other.page.getByTestId('setup-done').filter({ hasText: 'has its owner already' }).waitFor();
    assert.equal(await other.page.getByLabel('Setup token').count(), 0);
    assertClean(other, 'after setup');
    await other.page.context().close();

    const session = await idb(page, 'auth', 'session');
    assert.equal(session.username, 'alice');
    assert.ok(session.refresh_token.length > 20);
    const device = await idb(page, 'devices', 'alice');
    assert.ok(device.device_id && device.device_secret);
    const web = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length }));
    assert.deepEqual(web, { local: 0, session: 0 }, 'nothing in localStorage or sessionStorage');
    assertClean(a, 'register');
  });

  it('resumes the session after a reload with a rotated refresh token', async () => {
    const { page } = a;
    const before = (await idb(page, 'auth', 'session')).refresh_token;
    await page.reload();
    await page.getByTestId('signed-in').waitFor();
    const afterToken = (await idb(page, 'auth', 'session')).refresh_token;
    assert.notEqual(afterToken, before);
    // The old refresh token is spent: the server refuses it.
    const r = await api('POST', '/sessions/refresh', { refresh_token: before });
    // Presenting a used token revokes the session; that is the server's theft rule. Sign in
    // again below rather than relying on this session.
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'invalid_refresh_token');
  });

  it('sends a revoked session back to sign-in with a notice', async () => {
    const { page } = a;
    // The reuse above revoked the session: the next API call fails to refresh.
    await untilSignedOut(page);
    assert.match(await page.getByRole('status').first().textContent(), /session has ended/);
    assert.equal(await idb(page, 'auth', 'session'), null);
    assert.ok(await idb(page, 'devices', 'alice'), 'the device credentials stay');
    a.problems.length = 0; // the failed refresh logs a 401 in the console
  });

  it('logs in by keyboard, shows API errors, logs out', async () => {
    const { page } = a;
    await page.goto(`${base}/login`);
    await page.getByLabel('Username').focus();
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type('not the password');
    await page.keyboard.press('Enter');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.equal(await alert.getAttribute('data-code'), 'invalid_credentials');
    assert.match(await alert.textContent(), /username or password is wrong/);
    await page.getByLabel('Password').fill('');
    await page.getByLabel('Password').focus();
    await page.keyboard.type(PW1);
    await page.keyboard.press('Enter');
    await page.getByTestId('signed-in').waitFor();
    assert.equal(await page.getByTestId('who-name').textContent(), 'Alice Liddell');
    await logout(page);
    assert.equal(await idb(page, 'auth', 'session'), null);
    a.problems.length = 0; // the refused login is a 401 in the console
    await login(page, 'alice', PW1);
  });

  it('changes the password', async () => {
    const { page } = a;
    await page.goto(`${base}/settings/account`);
    assert.equal(await page.getByTestId('profile-display-name').textContent(), 'Alice Liddell');
    await page.getByLabel('Current password').fill('wrong password here');
    await page.getByLabel('New password', { exact: true }).fill(PW2);
    await page.getByLabel('Repeat the new password').fill(PW2);
    await page.getByRole('button', { name: 'Change password' }).click();
    assert.equal(await page.getByRole('alert').getAttribute('data-code'), 'wrong_password');
    await page.getByLabel('Current password').fill(PW1);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed.').waitFor();
    a.problems.length = 0;
  });

  it('turns on two-factor authentication with the password, from the shown secret', async () => {
    const { page } = a;
    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    // The password comes first: no secret is shown before it is right.
    const password = page.locator('#totp-password');
    await password.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'totp-password');
    assert.equal(await page.getByTestId('totp-secret').count(), 0);
    await page.screenshot({ path: join(SCREENSHOTS, 'totp-password-desktop-light.png') });
    await password.fill('not my password at all');
    await page.getByRole('button', { name: 'Continue' }).click();
    const wrong = page.locator('#totp-password-error');
    await wrong.waitFor();
    assert.match(await wrong.textContent(), /password is wrong/);
    assert.equal(await password.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByTestId('totp-secret').count(), 0);
    await page.screenshot({ path: join(SCREENSHOTS, 'totp-password-wrong-desktop-light.png') });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: join(SCREENSHOTS, 'totp-password-wrong-phone-light.png'), fullPage: true });
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0);
    await page.setViewportSize(DESKTOP);
    await password.fill(PW2);
    await password.press('Enter');
    const shown = (await page.getByTestId('totp-secret').textContent()).replace(/\s/g, '');
    assert.match(shown, /^[A-Z2-7]{32}$/);
    assert.ok((await page.getByTestId('otpauth-url').textContent()).includes(`secret=${shown}`));
    await page.screenshot({ path: join(SCREENSHOTS, 'totp-setup-desktop-light.png') });
    state.totp = new TotpClock(shown);
    await page.getByLabel('Authentication code').fill('12345');
    await page.getByRole('button', { name: 'Turn on' }).click();
    assert.match(await page.locator('#totp-code-error').textContent(), /6-digit/);
    await page.getByLabel('Authentication code').fill(await state.totp.next());
    await page.getByRole('button', { name: 'Turn on' }).click();
    const codes = page.getByTestId('backup-codes').locator('code');
    await codes.first().waitFor();
    state.backupCodes = (await codes.allTextContents()).map((c) => c.trim());
    assert.equal(state.backupCodes.length, 10);
    await page.screenshot({ path: join(SCREENSHOTS, 'backup-codes-desktop-light.png') });
    await page.getByRole('button', { name: 'I have saved them' }).click();
    assert.match(await page.getByTestId('totp-status').textContent(), /is on/);
    // The refused password is a 403 in the console.
    a.problems.splice(0, a.problems.length, ...a.problems.filter((m) => !m.includes('403')));
    assertClean(a, '2fa');
  });

  it('signs in with a TOTP code, and with a backup code', async () => {
    const { page } = a;
    await logout(page);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PW2);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Authentication code').waitFor();
    // The code field takes the focus.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'login-code');
    await page.keyboard.type('000000');
    await page.keyboard.press('Enter');
    assert.equal(await page.getByRole('alert').getAttribute('data-code'), 'invalid_totp');
    await page.getByLabel('Authentication code').fill(await state.totp.next());
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByTestId('signed-in').waitFor();
    await logout(page);
    await login(page, 'alice', PW2, state.backupCodes[0]);
    a.problems.length = 0;
  });

  it('revokes another session, which then returns to sign-in', async () => {
    const ctx = await browser.newContext({ viewport: PHONE, colorScheme: 'dark' });
    const b = await watchedPage(ctx);
    await login(b.page, 'alice', PW2, state.backupCodes[1]);

    const { page } = a;
    await page.goto(`${base}/settings/sessions`);
    const rows = page.getByTestId('sessions').locator('li');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 2);
    await page.screenshot({ path: join(SCREENSHOTS, 'sessions-two-desktop-light.png') });
    await page.locator('li[data-current="false"]').getByRole('button', { name: /Revoke session/ }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=sessions] li').length === 1);

    await untilSignedOut(b.page);
    assert.match(await b.page.getByRole('status').first().textContent(), /session has ended/);
    await ctx.close();
  });

  it('recovers the account with the recovery code', async () => {
    const { page } = a;
    await logout(page);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.waitForURL(`${base}/recover`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Recovery code').fill(state.recoveryCode.toLowerCase());
    await page.getByLabel('New password', { exact: true }).fill(PW3);
    await page.getByLabel('Repeat the new password').fill(PW3);
    await page.getByRole('button', { name: 'Reset password' }).click();
    const fresh = page.getByTestId('new-recovery-code').locator('code');
    await fresh.waitFor();
    const newCode = (await fresh.textContent()).trim();
    assert.notEqual(newCode, state.recoveryCode);
    assert.match(await page.getByRole('status').first().textContent(), /Two-factor authentication is off/);
    await page.screenshot({ path: join(SCREENSHOTS, 'recovered-desktop-light.png') });

    // The spent code is refused, with the API's error shown.
    await page.goto(`${base}/recover`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Recovery code').fill(state.recoveryCode);
    await page.getByLabel('New password', { exact: true }).fill(PW1);
    await page.getByLabel('Repeat the new password').fill(PW1);
    await page.getByRole('button', { name: 'Reset password' }).click();
    assert.equal(await page.getByRole('alert').getAttribute('data-code'), 'invalid_credentials');

    // Recovery turned 2FA off: the password alone signs in, and the settings say so.
    await login(page, 'alice', PW3);
    await page.goto(`${base}/settings/security`);
    await page.getByTestId('totp-status').filter({ hasText: /is off/ }).waitFor();
    state.recoveryCode = newCode;
    a.problems.length = 0;
  });

  it('keeps appearance preferences in IndexedDB', async () => {
    const { page } = a;
    await page.goto(`${base}/settings/appearance`);
    await page.getByLabel('Dark').check();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await page.getByLabel('Compact').check();
    await page.getByLabel('12-hour').check();
    await page.getByLabel('Teal').check();
    await page.getByLabel('Font size').selectOption('18');
    await page.waitForFunction(
      () =>
        new Promise((resolve) => {
          const req = indexedDB.open('chatalot');
          req.onsuccess = () => {
            const get = req.result.transaction('prefs').objectStore('prefs').get('appearance');
            get.onsuccess = () => {
              resolve(get.result?.fontSize === 18);
              req.result.close();
            };
          };
        }),
    );
    await page.reload();
    await page.getByRole('heading', { name: 'Appearance' }).waitFor();
    const applied = await page.evaluate(() => ({
      theme: document.documentElement.dataset.theme,
      density: document.documentElement.dataset.density,
      accent: document.documentElement.style.getPropertyValue('--accent'),
      font: document.documentElement.style.fontSize,
    }));
    assert.deepEqual(applied, { theme: 'dark', density: 'compact', accent: '#0f8a7e', font: '18px' });
    assert.match(await page.locator('.hint', { hasText: 'Example:' }).textContent(), /PM|pm/);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    await page.screenshot({ path: join(SCREENSHOTS, 'appearance-custom-desktop.png') });
    await page.getByLabel('System').check();
    await page.getByLabel('Cozy').check();
    await page.getByLabel('24-hour').check();
    await page.getByLabel('Blurple').check();
    await page.getByLabel('Font size').selectOption('15');
    assertClean(a, 'appearance');
  });

  it('takes screenshots of the main screens, light and dark, desktop and phone', async () => {
    const reg = await api('POST', '/accounts', {
      username: 'carol',
      password: 'a long password for her',
      display_name: 'Carol Danvers',
      device_name: 'Firefox on Linux',
    });
    assert.equal(reg.status, 201);
    for (const [vpName, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ]) {
      for (const scheme of ['light', 'dark']) {
        const ctx = await browser.newContext({ viewport, colorScheme: scheme });
        const p = await watchedPage(ctx);
        const shot = async (name) => {
          await p.page.screenshot({ path: join(SCREENSHOTS, `${name}-${vpName}-${scheme}.png`), fullPage: true });
          const overflow = await p.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 0, `${name} ${vpName}: ${overflow}px wider than the viewport`);
        };
        await p.page.goto(`${base}/login`);
        await p.page.getByRole('button', { name: 'Sign in' }).waitFor();
        await shot('login');
        await p.page.goto(`${base}/register`);
        await p.page.getByRole('button', { name: 'Create account' }).click();
        await shot('register-errors');
        await p.page.goto(`${base}/recover`);
        await p.page.getByRole('button', { name: 'Reset password' }).waitFor();
        await shot('recover');
        await login(p.page, 'carol', 'a long password for her');
        await shot('home');
        for (const section of ['account', 'security', 'sessions', 'appearance']) {
          await p.page.getByRole('link', { name: 'Settings', exact: true }).click();
          await p.page.getByRole('link', { name: section[0].toUpperCase() + section.slice(1) }).click();
          await p.page.waitForURL(`${base}/settings/${section}`);
          if (section === 'sessions') await p.page.getByTestId('sessions').waitFor();
          await shot(`settings-${section}`);
          if (section === 'security') {
            await p.page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
            await p.page.locator('#totp-password').waitFor();
            await shot('totp-password');
            await p.page.getByRole('button', { name: 'Cancel' }).click();
          }
        }
        assertClean(p, `screens ${vpName} ${scheme}`);
        await assertNoCsp(p.page, `screens ${vpName} ${scheme}`);
        await ctx.close();
      }
    }
    // The narrowest supported phone.
    const ctx = await browser.newContext({ viewport: { width: 360, height: 740 } });
    const p = await watchedPage(ctx);
    await login(p.page, 'carol', 'a long password for her');
    for (const path of ['/', '/settings/account', '/settings/security', '/settings/sessions', '/settings/appearance']) {
      await p.page.goto(`${base}${path}`);
      await p.page.locator('.panel').first().waitFor();
      const overflow = await p.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} at 360 px: ${overflow}px too wide`);
    }
    await ctx.close();
  });

  it('renders hostile names as text and executes nothing (A8)', async () => {
    const corpus = [
      '<img src=x onerror="window.__xss=1">',
      '<script>window.__xss=2</script>',
      '"><svg onload=window.__xss=3>',
      "'><iframe srcdoc='<script>parent.__xss=4</script>'>",
      'javascript:window.__xss=5',
      '{@html "<b onmouseover=window.__xss=6>"}',
      '<a href="javascript:window.__xss=7">x</a>',
      '${window.__xss=8}{{constructor.constructor("window.__xss=9")()}}',
      '<style>*{display:none}</style>&lt;b&gt;&amp;',
      'Ev\u202eil\u200b name \u{1F600}',
    ];
    const ctx = await browser.newContext({ viewport: DESKTOP });
    const p = await watchedPage(ctx);
    let i = 0;
    for (const name of corpus) {
      i += 1;
      const username = `hostile${i}`;
      const reg = await api('POST', '/accounts', {
        username,
        password: 'hostile long password',
        display_name: name,
        device_name: name.slice(0, 64),
      });
      if (/[\u202a-\u202e\u2066-\u2069\u200b]/u.test(name)) {
        // The server refuses text direction controls and invisible characters in names.
        assert.equal(reg.status, 400, `${name}: ${JSON.stringify(reg.body)}`);
        assert.equal(reg.body.code, 'invalid_request');
        continue;
      }
      assert.equal(reg.status, 201, `${name}: ${JSON.stringify(reg.body)}`);
      await login(p.page, username, 'hostile long password');
      assert.equal(await p.page.getByTestId('home-display-name').textContent(), name.trim());
      assert.equal(await p.page.getByTestId('who-name').textContent(), name.trim());
      await p.page.goto(`${base}/settings/account`);
      assert.equal(await p.page.getByTestId('profile-display-name').textContent(), name.trim());
      await p.page.goto(`${base}/settings/sessions`);
      await p.page.getByTestId('sessions').waitFor();
      assert.ok((await p.page.getByTestId('sessions').textContent()).includes(name.trim()));
      // Nothing the names describe became an element.
      const injected = await p.page.evaluate(
        () => document.querySelectorAll('#app img, #app script, #app iframe, #app svg:not(.logo):not(.icon), #app style, #app b').length,
      );
      assert.equal(injected, 0, `${name}: elements injected`);
      await logout(p.page);
    }
    // Hostile usernames never reach the server from the form, and the login screen shows the
    // server's refusal as text.
    await p.page.goto(`${base}/register`);
    await p.page.getByLabel('Username').fill('<img src=x onerror=alert(1)>');
    await p.page.getByRole('button', { name: 'Create account' }).click();
    assert.match(await p.page.locator('#reg-username-error').textContent(), /Use only letters/);
    await p.page.goto(`${base}/login`);
    await p.page.getByLabel('Username').fill(corpus[1]);
    await p.page.getByLabel('Password').fill('whatever it is');
    await p.page.getByRole('button', { name: 'Sign in' }).click();
    await p.page.getByRole('alert').waitFor();

    // The instance name, set by the owner, is shown on every page.
    const owner = await api('POST', '/sessions', { username: 'alice', password: PW3 });
    assert.equal(owner.status, 201);
    const patch = await api('PATCH', '/instance', { name: corpus[0] }, owner.body.access_token);
    assert.equal(patch.status, 200);
    await p.page.goto(`${base}/login`);
    await p.page.getByRole('button', { name: 'Sign in' }).waitFor();
    await p.page.waitForFunction((n) => document.querySelector('.brand')?.textContent === n, corpus[0]);

    const flags = await p.page.evaluate(() => window.__xss);
    assert.equal(flags, undefined, 'a payload ran');
    p.problems.splice(0, p.problems.length, ...p.problems.filter((m) => !m.includes('401')));
    assertClean(p, 'hostile');
    await assertNoCsp(p.page, 'hostile');
    await ctx.close();
  });
});
