// Attachment encryption in the browser (docs/performance.md, "files in the browser"): the bench
// page (bench/restore/main.ts, built by Vite into bench/dist and served by the real server as its
// web root, under its Content-Security-Policy) encrypts MiB of random bytes with the composer's
// `encryptFile` (chunks of 64 KiB, ChaCha20-Poly1305) and decrypts them back through
// `decryptStream`, as a download is read, in headless Chromium; each run in a new page.
//
// Usage (from frontend/; builds the page first):
//   npm run bench:files -- [--size MIB (100)] [--runs N (3)]

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { FRONTEND, launchBrowser, startServer } from '../tests/browser/harness.mjs';

const o = { size: 100, runs: 3 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  if (argv[i] === '--size') o.size = Number(argv[i + 1]);
  else if (argv[i] === '--runs') o.runs = Number(argv[i + 1]);
  else throw new Error(`usage: node bench/files.mjs [--size MIB (100)] [--runs N (3)]; unknown ${argv[i]}`);
}
assert.ok(o.size >= 1 && o.size <= 512 && o.runs >= 1, '--size 1 to 512, --runs at least 1');
const WEB = join(FRONTEND, 'bench/dist');
if (!existsSync(join(WEB, 'index.html'))) throw new Error("bench/dist is missing: run 'npm run bench:files' (it builds the page)");

const server = await startServer({ webRoot: WEB });
const browser = await launchBrowser();
const mb = (o.size * 1024 * 1024) / 1e6;
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(`files in the browser: ${o.size} MiB, ${o.runs} runs; ${cpus().length} cores, load average ${loadavg()[0].toFixed(2)}`);
console.log('| run | encrypt ms | encrypt MB/s | decrypt ms | decrypt MB/s |');
console.log('|---|---|---|---|---|');
const enc = [];
const dec = [];
try {
  for (let r = 1; r <= o.runs; r++) {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${server.base}/`);
    await page.waitForFunction(() => window.bench !== undefined);
    const res = await page.evaluate((mib) => window.bench.files(mib), o.size);
    assert.ok(res.same, 'the bytes came back');
    assert.deepEqual(problems, []);
    enc.push(mb / (res.encryptMs / 1000));
    dec.push(mb / (res.decryptMs / 1000));
    console.log(`| ${r} | ${res.encryptMs.toFixed(0)} | ${enc.at(-1).toFixed(0)} | ${res.decryptMs.toFixed(0)} | ${dec.at(-1).toFixed(0)} |`);
    await page.close();
  }
  console.log(`| median | | ${median(enc).toFixed(0)} | | ${median(dec).toFixed(0)} |`);
} finally {
  await browser.close();
  await server.stop();
}
