// First personalized render of the storefront, in ms after DOMContentLoaded and from the
// navigation's start, from Chromium's own performance timing: `make bench-www`. A first visit fetches the snapshot; a return visit starts
// from the stored one. Over loopback as it is, then with 100 ms added to every request's answer
// (Chromium's network emulation), as a shopper's network adds its round trips. Runs `kairos serve` on a free loopback port and stops it at the end.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '../tests/js/node_modules/playwright-core/index.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const KAIROS = join(root, 'target/release/kairos');
const RUNS = Number(process.env.RUNS || 15);
const dir = mkdtempSync(join(tmpdir(), 'kairos-bench-www-'));
execFileSync(KAIROS, ['keygen', '-o', join(dir, 'brand')]);
// The storefront's files with the brand's public key beside them, as `make demo` does.
const www = join(dir, 'www');
cpSync(join(root, 'www'), www, { recursive: true });
cpSync(join(dir, 'brand.pub'), join(www, 'brand.pub'));
const server = spawn(KAIROS, ['serve', '--models', join(root, 'examples/taste-of-su'), '--key', join(dir, 'brand.key'),
  '--addr', '127.0.0.1:0', '--outbox', join(dir, 'outbox.ndjson'), '--state', join(dir, 'published'), '--www', www,
  '--pkg', join(root, 'pkg')],
{ stdio: ['ignore', 'pipe', 'ignore'] });
const url = await new Promise((resolve) => {
  let out = '';
  server.stdout.on('data', (d) => { out += d; const m = out.match(/listening on (http:\/\/[0-9.:]+)/); if (m) resolve(m[1]); });
});

const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const p90 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * 0.9))]; };

async function measure(page) {
  await page.waitForFunction(() => performance.getEntriesByName('kairos-first-render').length > 0, null, { timeout: 15000 });
  // After DOMContentLoaded (what the page's own work takes), and from the navigation's start (what
  // the shopper waits, the round trips before DOMContentLoaded included).
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const at = performance.getEntriesByName('kairos-first-render')[0].startTime;
    return { dcl: at - nav.domContentLoadedEventStart, nav: at };
  });
}

/**
 * `RUNS` first and return visits, each in a fresh browser profile; `latency`: ms added to every
 * request's answer by Chromium's network emulation (0: loopback as it is).
 */
async function visits(latency) {
  const first = [];
  const again = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'pw-')), { executablePath: '/usr/bin/chromium', headless: true, args });
    const page = ctx.pages()[0] ?? await ctx.newPage();
    if (latency) {
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency, downloadThroughput: -1, uploadThroughput: -1 });
    }
    await page.goto(`${url}/www/index.html`);
    first.push(await measure(page));
    await page.reload();
    again.push(await measure(page));
    await ctx.close();
  }
  return { first, again };
}

const LATENCY = 100;
const loopback = await visits(0);
const far = await visits(LATENCY);
server.kill();
const fmt = (x) => x.toFixed(1).padStart(6);
const line = (name, xs) => {
  const dcl = xs.map((x) => x.dcl);
  const nav = xs.map((x) => x.nav);
  console.log(`${name.padEnd(46)} median ${fmt(median(dcl))}  p90 ${fmt(p90(dcl))}  | median ${fmt(median(nav))}  p90 ${fmt(p90(nav))}`);
};
console.log(`first personalized render, ms (${RUNS} runs each, headless Chromium): after DOMContentLoaded | from the navigation's start`);
line('first visit (snapshot fetched):', loopback.first);
line('return visit (stored snapshot):', loopback.again);
line(`first visit, ${LATENCY} ms added to each request:`, far.first);
line(`return visit, ${LATENCY} ms added to each request:`, far.again);
