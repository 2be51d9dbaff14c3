// The real package in headless Chromium (playwright-core, the system's /usr/bin/chromium): a page
// imports pkg/index.js, `init()` fetches the .wasm, decides, and persists to localStorage; a
// reload restores from storage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize, extname } from 'node:path';
import { root } from './paths.mjs';
import { launchContext } from './chromium.mjs';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

test('the package runs in a real page in headless Chromium', async () => {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = url.pathname === '/' ? '/tests/js/page.html' : url.pathname;
    const file = normalize(join(root, path));
    if (!file.startsWith(root) || !/^\/(pkg|tests\/js|target)\//.test(path)) { res.writeHead(404).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch { res.writeHead(404).end(); }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const ctx = await launchContext();
  try {
    const page = ctx.pages()[0] ?? await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    const url = `http://127.0.0.1:${server.address().port}/`;
    for (const visit of [1, 2]) {
      await page.goto(url);
      await page.waitForFunction(() => window.kairosResult !== undefined, null, { timeout: 20000 });
      const r = await page.evaluate(() => window.kairosResult);
      assert.equal(r.error, undefined, r.error);
      assert.equal(r.stage, 'window', `visit ${visit}`);
      assert.equal(r.reason, 'chosen');
      assert.equal(r.offer, 'brand_story');
      assert.equal(r.code, 'EVENT_INVALID');
      assert.equal(await page.textContent('#hero'), 'Tailored in Suzhou since 1998');
      if (visit === 2) {
        const stored = await page.evaluate(() => Object.keys(localStorage).sort());
        // Both snapshot slots; one profile copy, the older one removed once the newer read back.
        assert.deepEqual(stored.filter((k) => !k.startsWith('kairos.state.')), ['kairos.snapshot.a', 'kairos.snapshot.b']);
        assert.equal(stored.filter((k) => k.startsWith('kairos.state.')).length, 1, stored.join());
      }
    }
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
    server.close();
  }
});
