// Restoring a device from the recovery key and reading its history, in the browser (docs/e2e.md
// 18.3, 18.4; docs/performance.md, "restore in the browser"). The web app's own modules (the bench
// page, bench/restore/main.ts, built by Vite into bench/dist) run in headless Chromium against the
// real server binary, which serves that page as its web root:
//
//   1. two people, each in their own browser, write M encrypted messages through the chat store,
//      a quarter each way in a DM and in an end-to-end channel (as `chatalot-load restore`);
//      the first person's browser reads the DM (its own messages and the other's, which is when
//      it keeps their bodies for the backup) and backs up every 500 messages read, then once more;
//   2. after "log out everywhere", a new browser context (no storage) of the first person signs
//      in, restores from the recovery key alone, starts the chat store and reads both
//      conversations whole, as the timeline does (newest page of 50, then older pages, every
//      message through `E2e.decrypt`), or from the first message forward. Every message must be
//      read, every text sent once; restore and read are timed apart. Repeated `--runs` times,
//      each in a new context (a new device of the account), with the median printed.
//
// Usage (from frontend/; builds the page first):
//   npm run bench:restore -- [--messages 10000] [--runs 3] [--orders timeline,forward]
//                            [--window 64] [--profile FILE]
// The server binary is CHATALOT_SERVER_BIN (else target/debug, else target/release); Chromium
// as for the browser tests (CHROMIUM_PATH, else /usr/bin/chromium). `--window`: sends in flight
// per browser while writing. `--profile FILE`: the first run's reading as a CPU profile
// (FILE-ORDER.cpuprofile, for the DevTools' Performance panel) and its top functions printed;
// build with BENCH_MINIFY=0 for readable names.

import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { FRONTEND, launchBrowser, startServer } from '../tests/browser/harness.mjs';

const USAGE =
  'usage: node bench/restore.mjs [--messages M (10000)] [--runs N (3)] [--orders timeline,forward (timeline)] [--window W (64)] [--profile FILE.cpuprofile]';

function parseArgs(argv) {
  const o = { messages: 10_000, runs: 3, orders: ['timeline'], window: 64, profile: null };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--messages') o.messages = Number(v);
    else if (k === '--runs') o.runs = Number(v);
    else if (k === '--window') o.window = Number(v);
    else if (k === '--orders') o.orders = v.split(',');
    else if (k === '--profile') o.profile = v;
    else throw new Error(`${USAGE}\nunknown argument ${k}`);
  }
  if (!(o.messages >= 8 && o.messages % 4 === 0)) throw new Error('--messages: a multiple of 4, at least 8');
  if (!(o.runs >= 1)) throw new Error('--runs: at least 1');
  for (const x of o.orders) if (x !== 'timeline' && x !== 'forward') throw new Error(`--orders: timeline or forward, not ${x}`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const WEB = join(FRONTEND, 'bench/dist');
if (!existsSync(join(WEB, 'index.html'))) throw new Error("bench/dist is missing: run 'npm run bench:restore' (it builds the page)");
const PW = 'the bench person’s passphrase';

/**
 * The server's limits raised for one person sending thousands of messages a minute (as
 * chatalot-load's relaxed configuration); the rest is the default.
 */
const CONFIG = {
  limits: { user_burst: 1_000_000, user_per_minute: 1_000_000, messages_per_day: 1_000_000 },
  realtime: { frames_burst: 100_000, frames_per_sec: 100_000, outbox_frames: 65_536, outbox_bytes: 256 << 20 },
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x) => `${Math.round(x)} ms`;

let server;
let browser;

async function api(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${server.base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A browser (a new context: no storage) on the bench page; `b(name, ...args)` calls `window.bench[name]`. */
async function browserOf(label) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`${label}: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`${label}: ${e.message}`));
  await page.goto(`${server.base}/`);
  await page.waitForFunction(() => window.bench !== undefined);
  await page.evaluate(() => window.bench.init());
  const b = (name, ...args) => page.evaluate(({ name, args }) => window.bench[name](...args), { name, args });
  return { ctx, page, b, problems };
}

/**
 * The page's CPU profile (Chrome DevTools protocol) from now until `stop`, which writes it (open
 * it in the DevTools' Performance panel) and prints the functions taking the most time.
 */
async function startProfile(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await cdp.send('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      const dt = new Map();
      for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
      const self = new Map();
      for (const n of profile.nodes) {
        const f = n.callFrame;
        const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
        self.set(name, (self.get(name) ?? 0) + (dt.get(n.id) ?? 0));
      }
      const total = [...self.values()].reduce((a, b) => a + b, 0);
      console.log(`profile: ${file}, ${ms(total / 1000)} sampled; most self time:`);
      for (const [name, us] of [...self].sort((x, y) => y[1] - x[1]).slice(0, 15)) {
        console.log(`  ${((100 * us) / total).toFixed(1).padStart(5)} %  ${name}`);
      }
      await cdp.detach();
    },
  };
}

async function main() {
  const M = opts.messages;
  console.log(`restore in the browser: ${M} messages, ${opts.runs} runs, order ${opts.orders.join(' and ')}; ${cpus().length} cores, load average ${loadavg()[0].toFixed(2)}`);
  server = await startServer({ webRoot: WEB, config: CONFIG });
  browser = await launchBrowser();
  const A = await browserOf('writer a');
  const B = await browserOf('writer b');
  const a = await A.b('register', 'restore-a', PW, -1);
  const b = await B.b('register', 'restore-b', PW);
  const dm = await A.b('call', 'openDm', [b.id]);
  const community = await A.b('call', 'createCommunity', { name: 'Backup' });
  const channel = await A.b('call', 'createChannel', community.id, { name: 'history', e2e: true });
  const invite = await A.b('call', 'createCommunityInvite', community.id);
  await B.b('call', 'joinByCode', invite.code);
  await A.b('startChat');
  await B.b('startChat');

  // 1. Writing: message i goes A→DM, B→DM, A→channel, B→channel for i mod 4 = 0, 1, 2, 3.
  const expected = { [dm.id]: [], [channel.id]: [] };
  const sends = { a: [], b: [] };
  for (let i = 0; i < M; i++) {
    const text = `restore message ${i} from the browser bench`;
    const where = i % 4 < 2 ? dm.id : channel.id;
    expected[where].push(text);
    sends[i % 2 === 0 ? 'a' : 'b'].push({ channel: where, text });
  }
  let t = Date.now();
  const [sa, sb] = await Promise.all([A.b('send', sends.a, opts.window), B.b('send', sends.b, opts.window)]);
  assert.equal(sa.acked + sb.acked, M);
  const writeMs = Date.now() - t;
  // The first browser reads the DM (keeping its bodies for the backup), backing up every 500.
  t = Date.now();
  const shown = await A.b('read', dm.id, 'forward', 500);
  assert.equal(shown.ok, M / 2, `the writer read the DM: ${JSON.stringify(shown.reasons)}`);
  const last = await A.b('backUp');
  const backupMs = shown.backupMs + last.ms;
  const chunksWritten = shown.backupChunks + last.chunks;
  const info = await A.b('accountInfo');
  assert.equal(info.pending, 0, 'everything backed up');
  assert.equal(info.dropped, 0, 'nothing dropped from the backup');
  const state = await A.b('call', 'keyBackup');
  console.log(
    `written: ${M} messages in ${ms(writeMs)} (${(writeMs / M).toFixed(2)} ms each, two browsers at once); the DM read by the writer in ${ms(Date.now() - t)} ` +
      `(decrypting ${ms(shown.decryptMs)}); backup: ${state.chunk_count} chunks (${chunksWritten} by this run), ${state.chunk_bytes} bytes ` +
      `(${Math.round((state.chunk_bytes * 1000) / M)} per 1,000 messages, ${Math.round((state.chunk_bytes * 1000) / (M / 2))} per 1,000 DM messages), ` +
      `uploading ${ms(backupMs)} (${((backupMs * 1000) / M).toFixed(0)} µs per message, ${((backupMs * 1000) / (M / 2)).toFixed(0)} µs per DM message)`,
  );
  for (const p of [A, B]) assert.deepEqual(p.problems, []);
  await A.ctx.close();
  await B.ctx.close();
  const token = (await api('POST', '/sessions', { username: 'restore-a', password: PW })).body.access_token;
  assert.equal((await api('DELETE', '/sessions', undefined, token)).status, 200, 'log out everywhere');

  // 2. Restoring and reading, each run in a new browser context.
  const rows = [];
  for (let run = 1; run <= opts.runs; run++) {
    for (const order of opts.orders) {
      const R = await browserOf(`restore ${run}`);
      const login = await R.b('login', 'restore-a', PW);
      assert.equal(login.code, 'other_browser', `a browser without keys: ${JSON.stringify(login)}`);
      const restored = await R.b('restore', a.recoveryKey);
      assert.equal(restored.backupError, null);
      assert.equal(restored.device, 'ready');
      const chatMs = await R.b('startChat');
      const reads = [];
      const profiler = opts.profile && run === 1 ? await startProfile(R.page) : null;
      for (const id of [dm.id, channel.id]) {
        const r = await R.b('read', id, order);
        assert.equal(r.failed, 0, `unreadable: ${JSON.stringify(r.reasons)}`);
        assert.equal(r.ok, expected[id].length, 'every message read');
        assert.deepEqual([...r.texts].sort(), [...expected[id]].sort(), 'every text sent, once');
        reads.push(r);
      }
      if (profiler) await profiler.stop(opts.profile.replace(/(\.cpuprofile)?$/, `-${order}.cpuprofile`));
      const read = reads.reduce((s, r) => s + r.ms, 0);
      const row = {
        run,
        order,
        login: login.loginMs,
        unlock: login.unlockMs,
        restore: restored.restoreMs + restored.reopenMs,
        entries: restored.entries,
        chat: chatMs,
        dm: reads[0].ms,
        channel: reads[1].ms,
        fetch: reads[0].fetchMs + reads[1].fetchMs,
        decrypt: reads[0].decryptMs + reads[1].decryptMs,
        read,
        total: restored.restoreMs + restored.reopenMs + read,
        readCount: reads[0].ok + reads[1].ok,
        unreadable: reads[0].failed + reads[1].failed,
      };
      rows.push(row);
      console.log(
        `run ${run} (${order}): sign-in ${ms(row.login)}, keystore ${ms(row.unlock)}; restore ${ms(row.restore)} (${row.entries} entries); chat store ${ms(row.chat)}; ` +
          `read ${row.readCount} (DM ${ms(row.dm)}, channel ${ms(row.channel)}; pages ${ms(row.fetch)}, decrypting ${ms(row.decrypt)}) in ${ms(row.read)}; ` +
          `restore and read ${ms(row.total)}; ${row.unreadable} unreadable`,
      );
      assert.deepEqual(R.problems, []);
      await R.ctx.close();
    }
  }
  for (const order of opts.orders) {
    const rs = rows.filter((r) => r.order === order);
    const m = (k) => ms(median(rs.map((r) => r[k])));
    console.log(
      `median of ${rs.length} (${order}): restore ${m('restore')}, read ${m('read')} (DM ${m('dm')}, channel ${m('channel')}; pages ${m('fetch')}, decrypting ${m('decrypt')}), restore and read ${m('total')}`,
    );
  }
}

try {
  await main();
} finally {
  await browser?.close();
  const res = await server?.stop();
  if (res && res.code !== 0) console.error(server.log());
}
