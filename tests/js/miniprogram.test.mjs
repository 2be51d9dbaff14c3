// The mini-program build in a sandbox like WeChat's: no TextEncoder, TextDecoder, fetch, URL or
// WebAssembly global, no import.meta (the glue is CommonJS); a `WXWebAssembly.instantiate(path)`
// shim that reads a .wasm.br from the "code package", and `wx` storage and `wx.request` shims.
// The example's placement component is rendered by miniprogram-simulate in jsdom's DOM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { request as httpRequest } from 'node:http';
import { root } from './paths.mjs';
import { makeBrand } from './brand.mjs';

// miniprogram-simulate (CommonJS) renders into `window` and `document` when it loads: jsdom's.
const require = createRequire(import.meta.url);
const { window } = new (require('jsdom').JSDOM)('<!doctype html><body></body>');
globalThis.window = window;
globalThis.document = window.document;
const simulate = require('miniprogram-simulate');

/** Waits (up to a second) until `done()` holds. */
async function until(done) {
  for (let i = 0; i < 200 && !done(); i++) await simulate.sleep(5);
}

const dir = join(root, 'pkg', 'miniprogram');

/** `wx.request` over node:http, as the mini-program runtime answers (recorded in `requests`). */
function wxRequest(requests) {
  return ({ url, method = 'GET', header, data, responseType, dataType, success = () => {}, fail = () => {} }) => {
    requests.push({ path: new URL(url).pathname, method, responseType, dataType });
    const req = httpRequest(url, { method, headers: header }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const data = responseType === 'arraybuffer' ? buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) : buf.toString('utf8');
        success({ statusCode: res.statusCode, header: res.headers, data });
      });
    });
    req.on('error', (e) => fail({ errMsg: `request:fail ${e.message}` }));
    req.end(data);
    return { abort: () => req.destroy() };
  };
}

function sandbox(files = {}) {
  const storage = new Map();
  const loaded = [];
  const requests = [];
  const ctx = vm.createContext({
    console,
    setTimeout,
    clearTimeout,
    WXWebAssembly: {
      instantiate(path, imports) {
        loaded.push(path);
        assert.match(path, /^\/kairos\/kairos_wasm\.wasm\.br$/);
        const bytes = brotliDecompressSync(readFileSync(join(dir, 'kairos_wasm.wasm.br')));
        return WebAssembly.instantiate(bytes, imports).then((r) => ({ instance: r.instance }));
      },
    },
    wx: {
      getStorageSync: (k) => storage.get(k) ?? '',
      setStorageSync: (k, v) => { assert.equal(typeof v, 'string'); storage.set(k, v); },
      request: wxRequest(requests),
      getFileSystemManager: () => ({
        readFileSync(path) {
          const b = files[path];
          if (!b) throw new Error(`readFileSync:fail no such file ${path}`);
          return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
        },
      }),
    },
  });
  vm.runInContext('delete globalThis.WebAssembly;', ctx);
  for (const g of ['WebAssembly', 'TextEncoder', 'TextDecoder', 'fetch', 'URL', 'Request', 'Response']) {
    assert.equal(vm.runInContext(`typeof ${g}`, ctx), 'undefined', `${g} is absent in the sandbox`);
  }
  const modules = new Map();
  const requireIn = (file) => {
    if (modules.has(file)) return modules.get(file).exports;
    const module = { exports: {} };
    modules.set(file, module);
    const src = readFileSync(join(dir, file), 'utf8');
    const fn = vm.runInContext(`(function (module, exports, require) {${src}\n})`, ctx, { filename: file });
    fn(module, module.exports, (p) => requireIn(p.replace(/^\.\//, '')));
    return module.exports;
  };
  return { ctx, storage, loaded, requests, requireIn, kairos: requireIn('index.js') };
}

test('the mini-program build loads through WXWebAssembly and decides, without the missing globals', async () => {
  const { ctx, storage, loaded, kairos } = sandbox();
  await kairos.init('/kairos/kairos_wasm.wasm.br');
  assert.deepEqual(loaded, ['/kairos/kairos_wasm.wasm.br']);
  ctx.kairos = kairos;
  ctx.snapshotBytes = Array.from(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
  const result = vm.runInContext(`
    const snap = Uint8Array.from(snapshotBytes);
    const engine = new kairos.Engine(snap, '00000000000000b2');
    engine.setConsent(true);
    const now = Date.parse('2026-11-20T14:20:00+08:00');
    engine.track({ type: 'follow', channel: 'wechat_oa' }, now);
    engine.track({ type: 'view', category: '旗袍 qipao 🙂', product: '\\uD800' }, now);
    const d = engine.decide('home_hero', { page: 'home' }, now + 1000);
    let code = null, message = null;
    try { engine.track({ type: '未知事件' }, now); } catch (e) { code = e.code; message = e.message; }
    const store = new kairos.SafeStore(kairos.wxStorageBackend(wx));
    store.saveSnapshot(snap);
    store.saveState(engine.exportState());
    const again = new kairos.Engine(store.loadSnapshot(kairos.Engine.snapshotVersion), '0000000000000001');
    again.importState(store.loadState());
    JSON.stringify({ stage: engine.stage(), offer: d.items[0].offer, reason: d.reason, code, message,
      restored: again.stage(), hash: kairos.murmur3('日本語'), outbox: engine.drainOutbox().map((e) => e.type) });
  `, ctx);
  const r = JSON.parse(result);
  assert.equal(r.stage, 'window');
  assert.equal(r.offer, 'brand_story');
  assert.equal(r.reason, 'chosen');
  assert.equal(r.code, 'EVENT_INVALID');
  assert.ok(r.message.includes('unknown event type `未知事件`'), r.message);
  assert.equal(r.restored, 'window');
  assert.equal(r.hash, 2779017879, 'non-ASCII strings cross the boundary as UTF-8');
  assert.deepEqual(r.outbox, ['stage_changed', 'exposure']);
  assert.equal(storage.size, 2);
});

test('init called again while it loads (App.onLaunch and a page) shares the one instance', async () => {
  const { ctx, loaded, kairos } = sandbox();
  const first = kairos.init('/kairos/kairos_wasm.wasm.br');
  const second = kairos.init('/kairos/kairos_wasm.wasm.br');
  assert.equal(await first, await second);
  assert.deepEqual(loaded, ['/kairos/kairos_wasm.wasm.br'], 'instantiated once');
  ctx.kairos = kairos;
  ctx.snapshotBytes = Array.from(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
  // An engine made after the first init still works after the second resolved: one module.
  const r = await vm.runInContext(`(async () => {
    const engine = new kairos.Engine(Uint8Array.from(snapshotBytes), '00000000000000b3');
    engine.setConsent(true);
    await kairos.init('/kairos/kairos_wasm.wasm.br');
    const now = Date.parse('2026-11-20T14:20:00+08:00');
    engine.track({ type: 'follow', channel: 'wechat_oa' }, now);
    return engine.stage();
  })()`, ctx);
  assert.equal(r, 'window');
  assert.equal(loaded.length, 1);
});

test('the mini-program glue and sync have no import.meta, fetch, WebAssembly global or module syntax', () => {
  for (const file of ['kairos_wasm.js', 'sync.js']) {
    const src = readFileSync(join(dir, file), 'utf8');
    assert.doesNotMatch(src, /import\.meta/, file);
    assert.doesNotMatch(src, /\bfetch\(|globalThis\.fetch/, file);
    assert.doesNotMatch(src.replace(/WXWebAssembly/g, ''), /WebAssembly/, file);
    assert.doesNotMatch(src, /^\s*(import|export)\s/m, file);
  }
  assert.doesNotMatch(readFileSync(join(dir, 'sync.js'), 'utf8'), /TextDecoder|TextEncoder/, 'sync reads text through wx.request');
});

test('sync in the mini-program: wx storage and wx.request long-poll by default; a foreign stored snapshot is refused', async (t) => {
  const brand = makeBrand();
  const server = await brand.serve(2);
  t.after(() => server.stop());
  const { ctx, requests, kairos } = sandbox();
  await kairos.init('/kairos/kairos_wasm.wasm.br');
  ctx.kairos = kairos;
  ctx.input = { url: server.url, publicKey: brand.publicKey, bundled: [...brand.snapshot(1)], forged: [...brand.snapshot(9, 'other')] };
  const r = JSON.parse(await vm.runInContext(`(async () => {
    const store = new kairos.SafeStore(kairos.wxStorageBackend(wx));
    store.saveSnapshot(Uint8Array.from(input.forged));
    const s = kairos.sync({ url: input.url, publicKey: input.publicKey, bundled: Uint8Array.from(input.bundled), pollWaitMs: 2000 });
    const start = { version: s.engine.modelVersion, source: s.status.source, rejected: s.status.rejected.map((r) => r.code), push: s.status.push };
    await new Promise((resolve) => s.on((e) => { if (e.type === 'update') resolve(); }));
    // sync's own keys are per server and channel (the forged copy above sits under an earlier release's).
    const own = new kairos.SafeStore(kairos.wxStorageBackend(wx), 'kairos:' + input.url.replace('http://', '') + '/model');
    const after = { version: s.engine.modelVersion, stored: kairos.Engine.snapshotVersion(own.loadSnapshot()) };
    s.stop();
    return JSON.stringify({ start, after });
  })()`, ctx));
  assert.deepEqual(r.start, { version: 1, source: 'bundled', rejected: ['SNAPSHOT_SIGNATURE'], push: 'poll' });
  assert.deepEqual(r.after, { version: 2, stored: 2 });
  const latest = requests.find((q) => q.path === '/v1/channels/model/latest');
  const poll = requests.find((q) => q.path === '/v1/channels/model/poll');
  assert.deepEqual([latest.responseType, latest.dataType], ['arraybuffer', 'other']);
  assert.deepEqual([poll.responseType, poll.dataType], ['text', 'other']);
});

test('the example mini-program: app.js syncs, the page tracks each view, the placement component decides and the outbox is flushed', async (t) => {
  const brand = makeBrand();
  const server = await brand.serve(2);
  t.after(() => server.stop());
  const { ctx, requests, requireIn } = sandbox({ '/kairos/model.kairos': brand.snapshot(1) });
  // The example's own files, with `kairos/` as `make miniprogram-example` fills it.
  const example = join(root, 'examples', 'miniprogram');
  const config = { url: server.url, publicKey: brand.publicKey };
  const run = (file) => {
    const src = readFileSync(join(example, file), 'utf8');
    const fn = vm.runInContext(`(function (module, exports, require) {${src}\n})`, ctx, { filename: file });
    const module = { exports: {} };
    fn(module, module.exports, (p) => {
      if (p === './kairos/index.js') return requireIn('index.js');
      if (p === './kairos/config.js') return config;
      throw new Error(`unexpected require ${p}`);
    });
  };
  let app;
  let pageDef;
  ctx.App = (def) => { app = def; };
  ctx.Page = (def) => { pageDef = def; };
  ctx.getApp = () => app;
  run('app.js');
  run('pages/index/index.js');
  app.onLaunch();
  const engine = await app.engine();
  assert.equal(engine.modelVersion, 1, 'starts at once on the bundled snapshot');
  const updated = new Promise((resolve) => app.sync.on((e) => { if (e.type === 'update') resolve(); }));

  // The page tracks each view; consent was given in app.js.
  assert.equal(engine.consent, true);
  const views = () => engine.features().views_7d;
  const before = views();
  pageDef.onShow();
  await until(() => views() > before);
  assert.equal(views(), before + 1, 'onShow tracked a view');

  // The hero is the <kairos-placement> component, rendered from its WXML by miniprogram-simulate
  // (WeChat's own template compiler) in a DOM: it decides when it enters the page, and again when
  // the page is shown after being hidden, never twice for one view.
  const decided = () => engine.outbox().filter((e) => e.type === 'exposure').length;
  const exposures = decided();
  ctx.getApp = globalThis.getApp = () => app;
  const id = simulate.load(join(example, 'components', 'kairos-placement', 'index'), { rootPath: example });
  const hero = simulate.render(id, { placement: 'home_hero', page: 'home' });
  hero.attach(document.createElement('parent-wrapper'));
  await until(() => hero.data.reason !== '');
  await simulate.sleep(0);
  const view = hero.querySelector('.placement');
  assert.ok(view, `the placement rendered: ${hero.dom.innerHTML}`);
  assert.equal(hero.data.reason, 'chosen');
  assert.equal(view.dom.getAttribute('data-reason'), 'chosen');
  assert.ok(hero.data.offer.length > 0, 'an offer was chosen');
  assert.equal(view.dom.getAttribute('data-offer'), hero.data.offer);
  assert.ok(hero.data.title.length > 0, 'the hero shows a title');
  assert.equal(hero.querySelector('.title').dom.textContent, hero.data.title);
  assert.equal(decided(), exposures + 1, 'one exposure for the first view');
  hero.triggerPageLifeTime('show');
  await simulate.sleep(10);
  assert.equal(decided(), exposures + 1, 'a show without a hide is the same view');
  hero.triggerPageLifeTime('hide');
  hero.triggerPageLifeTime('show');
  await until(() => decided() > exposures + 1);
  assert.equal(decided(), exposures + 2, 'shown again: decided again');

  // The long-poll brings version 2; the engine object stays the same.
  await updated;
  assert.equal((await app.engine()).modelVersion, 2);
  assert.equal(await app.engine(), engine);

  // Hiding the app stores the profile and sends the outbox as NDJSON.
  app.onHide();
  app.sync.stop();
  const deadline = Date.now() + 5000;
  let lines = [];
  while (Date.now() < deadline) {
    lines = existsSync(server.outbox) ? readFileSync(server.outbox, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.some((l) => JSON.parse(l).type === 'exposure')) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(lines.some((l) => JSON.parse(l).type === 'exposure'), `outbox received: ${lines.join(' | ')}`);
  assert.ok(requests.some((q) => q.method === 'POST' && q.path === '/v1/outbox'));
  assert.ok(ctx.wx.getStorageSync('kairos.install').match(/^[0-9a-f]{16}$/));
});
