// Helpers of the chat browser tests: people in browser contexts, the REST API, and the
// messages of the open channel. `env` is filled in by the test's `before` hook
// ({ base, browser, password }).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SCREENSHOTS, watchedPage } from './harness.mjs';

export function chatHelpers(env) {
  async function api(method, path, body, token) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${env.base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  async function person(viewport, scheme) {
    const ctx = await env.browser.newContext({ viewport, colorScheme: scheme });
    const p = await watchedPage(ctx);
    return { ...p, ctx };
  }

  /** Signs in through the form (with `env.password` unless another is given). */
  async function login(p, username, password = env.password) {
    const { page } = p;
    await page.goto(`${env.base}/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('signed-in').waitFor();
    p.username = username;
  }

  /** A screenshot at `viewport` into `SCREENSHOTS/<file>.png`; the page must not be wider than it. */
  async function screenshot(page, file, viewport, settleMs = 200) {
    await page.setViewportSize(viewport);
    await page.waitForTimeout(settleMs);
    await page.screenshot({ path: join(SCREENSHOTS, `${file}.png`) });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${file}: ${overflow}px wider than the viewport`);
  }

  /**
   * Registers through the form; the person gets `username` and `id`. With `setup` (the server's
   * setup token) through the setup link: the person becomes the instance's owner.
   */
  async function register(p, username, displayName, { setup } = {}) {
    const { page } = p;
    if (setup) {
      await page.goto(`${env.base}/#setup=${setup}`);
      await page.waitForURL(`${env.base}/register`);
    } else {
      await page.goto(`${env.base}/register`);
    }
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Display name (optional)').fill(displayName);
    await page.getByLabel('Password', { exact: true }).fill(env.password);
    await page.getByLabel('Repeat the password').fill(env.password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByLabel('I have saved my recovery code').check();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByTestId('signed-in').waitFor();
    const session = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const req = indexedDB.open('chatalot');
          req.onsuccess = () => {
            const get = req.result.transaction('auth').objectStore('auth').get('session');
            get.onsuccess = () => resolve(get.result);
          };
        }),
    );
    p.username = username;
    p.id = session.user_id;
  }

  /** An access token of the user, from a separate login. */
  async function token(username) {
    const r = await api('POST', '/sessions', { username, password: env.password });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.access_token;
  }

  /**
   * Sets "Lock on every reload" in this person's browser (Settings → Security), once the keys
   * made at registration are stored; leaves the page on the settings.
   */
  async function lockOnEveryReload(p, on = true) {
    const { page } = p;
    await page.waitForFunction(
      (id) =>
        new Promise((resolve) => {
          const req = indexedDB.open('chatalot');
          req.onsuccess = () => {
            const get = req.result.transaction('keys').objectStore('keys').get(id);
            get.onsuccess = () => resolve(Boolean(get.result?.check));
            req.result.close();
          };
        }),
      p.id,
    );
    await page.goto(`${env.base}/settings/security`);
    const box = page.getByTestId('lock-on-reload');
    await page.waitForFunction(() => document.querySelector('[data-testid=lock-on-reload]')?.disabled === false);
    if ((await box.isChecked()) !== on) await box.click();
    await page.waitForFunction(
      (want) => {
        const b = document.querySelector('[data-testid=lock-on-reload]');
        return b?.checked === want && b.disabled === false;
      },
      on,
    );
  }

  function messages(page) {
    return page.getByTestId('messages');
  }

  /** The message whose own body (not a quoted reply) contains the text. */
  function messageWith(page, text) {
    return messages(page)
      .getByTestId('message')
      .filter({ has: page.getByTestId('message-body').filter({ hasText: text }) });
  }

  async function send(page, text) {
    const box = page.locator('.composer textarea');
    await box.fill(text);
    await box.press('Enter');
  }

  function assertClean(p, where) {
    assert.deepEqual(p.problems, [], `${where}: console errors, exceptions or dialogs`);
  }

  return { login, screenshot, api, person, register, token, lockOnEveryReload, messages, messageWith, send, assertClean };
}
