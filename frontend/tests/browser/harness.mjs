// Shared pieces of the browser tests: the real server binary over its embedded PostgreSQL in a
// temporary data directory, Debian's Chromium driven through playwright-core, the Rust
// end-to-end client as a peer, and TOTP codes.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const FRONTEND = resolve(here, '../..');
export const REPO = resolve(FRONTEND, '..');
export const SCREENSHOTS = join(here, 'screenshots');
/**
 * The setup token every test server starts with (`CHATALOT_SETUP_TOKEN`): the server then prints
 * no random one, and the account that presents this one becomes the instance owner.
 */
export const SETUP_TOKEN = '7K2M-Q9XD-4HPA-ZR1T-8C3V-W5NB';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function serverBinary() {
  const candidates = [
    process.env.CHATALOT_SERVER_BIN,
    join(REPO, 'target/debug/chatalot-server'),
    join(REPO, 'target/release/chatalot-server'),
  ].filter(Boolean);
  // A relative path is taken from the working directory (the server starts in another one).
  const found = candidates.map((p) => resolve(p)).find((p) => existsSync(p));
  if (!found) throw new Error(`no server binary: build it with 'cargo build -p chatalot-server' (looked at ${candidates.join(', ')})`);
  return found;
}

/** The PostgreSQL program directory (as the server finds it). */
function pgBinDir() {
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (r.status === 0 && existsSync(join(r.stdout.trim(), 'pg_dump'))) return r.stdout.trim();
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(a) - Number(b));
  return join('/usr/lib/postgresql', versions.at(-1), 'bin');
}

/**
 * Runs a PostgreSQL client program against the server's embedded database (as `postgres` when
 * the tests run as root: the cluster's directory is private to that user); its output.
 */
function pgClient(dataDir, program, args) {
  const socket = join(dataDir, 'data', 'postgres', 'run');
  const cmd = join(pgBinDir(), program);
  const full = ['-h', socket, '-U', 'postgres', '-d', 'chatalot', ...args];
  const r =
    process.getuid?.() === 0
      ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...full], { encoding: 'utf8', cwd: '/', maxBuffer: 256 << 20 })
      : spawnSync(cmd, full, { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${program} failed: ${r.stderr}`);
  return r.stdout;
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/**
 * Starts the server with the built web app (or the pages in `webRoot`). Limits are raised so
 * that one test run can register a dozen accounts from 127.0.0.1; the instance starts without an
 * owner and with the known setup token `SETUP_TOKEN`; everything else is the server's default,
 * or as `config` (sections of the configuration file, `{ realtime: { frames_per_sec: 1000 } }`)
 * and `env` (`CHATALOT_*` settings) say.
 */
export async function startServer({ env = {}, config: settings = {}, webRoot = join(FRONTEND, 'dist') } = {}) {
  const dist = webRoot;
  if (!existsSync(join(dist, 'index.html'))) {
    throw new Error(`${dist}/index.html is missing: run 'npm run build' first`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'chatalot-web-'));
  // The embedded cluster runs as `postgres` when we are root: its path must be searchable.
  chmodSync(dataDir, 0o755);
  const config = join(dataDir, 'config.toml');
  const sections = {
    // no fetching of outside pages from tests (a test that wants previews names its own site)
    link_previews: { enabled: false },
    ...settings,
    limits: { auth_ip_burst: 1000, auth_ip_per_minute: 1000, register_ip_burst: 100, register_ip_per_hour: 100, ...settings.limits },
  };
  writeFileSync(
    config,
    Object.entries(sections)
      .map(([name, keys]) => [`[${name}]`, ...Object.entries(keys).map(([k, v]) => `${k} = ${JSON.stringify(v)}`), ''].join('\n'))
      .join('\n'),
  );
  const port = await freePort();
  const bin = serverBinary();
  const child = spawn(bin, ['--config', config], {
    cwd: dataDir,
    env: {
      ...process.env,
      DATABASE_URL: '',
      CHATALOT_DATABASE_URL: '',
      CHATALOT_DATA_DIR: join(dataDir, 'data'),
      CHATALOT_WEB_ROOT: dist,
      CHATALOT_BIND: `127.0.0.1:${port}`,
      CHATALOT_REGISTRATION_MODE: 'open',
      CHATALOT_SETUP_TOKEN: SETUP_TOKEN,
      CHATALOT_LOG: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited at start (${child.exitCode}):\n${log}`);
    try {
      const r = await fetch(`${base}/api/v1/ready`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`server not ready after 90 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    base,
    bin,
    /** The server's data directory (its file store is `files/`). */
    dataDir: join(dataDir, 'data'),
    log: () => log,
    /** A plain-SQL dump of the whole database. */
    pgDump: () => pgClient(dataDir, 'pg_dump', []),
    /** Runs SQL through psql; its unaligned output. */
    sql: (query) => pgClient(dataDir, 'psql', ['-tAc', query]).trim(),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const res = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 30_000))]);
      if (res === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      return res;
    },
  };
}

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium`);
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A page that records what must never happen: console errors, uncaught exceptions, CSP
 * violations, and dialogs (alert/confirm/prompt) opened by injected script.
 */
export async function watchedPage(context) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.on('dialog', async (d) => {
    problems.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { page, problems };
}

// ---- TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps)

export function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of s.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function totpAt(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 1_000_000).padStart(6, '0');
}

/**
 * Hands out codes the server accepts once each: it allows one step of skew either way and
 * refuses a step at or before the last one used, so successive codes take increasing steps,
 * waiting for the clock when they would run ahead of it.
 */
export class TotpClock {
  constructor(secret) {
    this.secret = secret;
    this.last = -Infinity;
  }

  async next() {
    for (;;) {
      const nowSecs = Date.now() / 1000;
      const current = Math.floor(nowSecs / 30);
      const left = 30 - (nowSecs % 30);
      // Near a step boundary the server may already be one step further: keep a margin.
      const lowest = left < 4 ? current : current - 1;
      const step = Math.max(this.last + 1, lowest);
      // The server's step is `current`, or `current + 1` if the boundary passes meanwhile.
      if (step <= current + 1) {
        this.last = step;
        return totpAt(this.secret, step);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * The Rust end-to-end client (tests/src/bin/chatalot-e2e-peer.rs) against the server at `base`,
 * driven one JSON line at a time: `call` answers the raw reply, `ok` asserts `ok: true`.
 */
export function startPeer(base) {
  const bin = [process.env.CHATALOT_E2E_PEER_BIN, join(REPO, 'target/debug/chatalot-e2e-peer')].filter(Boolean).find((p) => existsSync(p));
  if (!bin) throw new Error("no chatalot-e2e-peer: build it with 'cargo build -p chatalot-tests --bins'");
  const child = spawn(bin, [base], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  return {
    call(cmd) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`peer: no answer to ${cmd.cmd}\n${stderr}`)), 90_000);
        waiting.push((l) => {
          clearTimeout(timer);
          resolve(JSON.parse(l));
        });
        child.stdin.write(`${JSON.stringify(cmd)}\n`);
      });
    },
    async ok(cmd) {
      const r = await this.call(cmd);
      assert.equal(r.ok, true, `peer ${cmd.cmd}: ${JSON.stringify(r)}`);
      return r;
    },
    stop() {
      child.stdin.end();
      child.kill('SIGTERM');
    },
  };
}
