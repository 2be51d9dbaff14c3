// The mini-program build in a sandbox like WeChat's: no TextEncoder, TextDecoder, fetch, URL or
// WebAssembly global, no import.meta (the glue is CommonJS); a `WXWebAssembly.instantiate(path)`
// shim that reads a .wasm.br from the "code package", and `wx` storage and `wx.request` shims.
// The example's placement component is rendered by miniprogram-simulate in jsdom's DOM.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { request as httpRequest, createServer } from 'node:http';
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
/** When the sandboxes' clocks start: a weekday afternoon in China. */
const START = Date.parse('2026-11-20T14:20:00+08:00');

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

function sandbox(files = {}, storage = new Map()) {
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
  // The sandbox's clock starts at a fixed afternoon in China (UTC+8) and runs from there, outside
  // the model's quiet hours and festival dates: what the example shows does not depend on when the
  // test runs.
  vm.runInContext(`{ const real = Date.now; const shift = ${START} - real(); Date.now = () => real() + shift; }`, ctx);
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

const example = join(root, 'examples', 'miniprogram');
const launched = [];
// A failed assertion must not leave a sync's timers holding the process open.
after(() => { for (const app of launched) if (app.sync) app.sync.stop(); });

/**
 * One launch of the example mini-program (its own files, with `kairos/` as `make
 * miniprogram-example` fills it) in a fresh sandbox over `storage`: a cold start when `storage`
 * comes from an earlier launch. `bundled`: the snapshot of kairos/model.js (none: the module is
 * missing).
 */
function launch({ url, publicKey, bundled, storage = new Map(), wasm = true }) {
  const box = sandbox({}, storage);
  if (!wasm) vm.runInContext('delete globalThis.WXWebAssembly;', box.ctx);
  const network = [];
  box.ctx.wx.onNetworkStatusChange = (f) => network.push(f);
  const config = { url, publicKey };
  const pages = {};
  let app;
  const run = (file) => {
    const src = readFileSync(join(example, file), 'utf8');
    const fn = vm.runInContext(`(function (module, exports, require) {${src}\n})`, box.ctx, { filename: file });
    const module = { exports: {} };
    fn(module, module.exports, (p) => {
      if (p === './kairos/index.js') return box.requireIn('index.js');
      if (p === './kairos/config.js') return config;
      if (p === './kairos/model.js') {
        if (!bundled) throw new Error('module "kairos/model.js" is not defined');
        return Buffer.from(bundled).toString('base64');
      }
      if (p === '../../catalog.js') return run('catalog.js');
      throw new Error(`unexpected require ${p}`);
    });
    return module.exports;
  };
  box.ctx.App = (def) => { app = def; };
  box.ctx.getApp = () => app;
  for (const page of ['index', 'product']) {
    box.ctx.Page = (def) => { pages[page] = def; };
    run(`pages/${page}/index.js`);
  }
  run('app.js');
  /** A page instance as WeChat makes one: the definition's methods, `data` and `setData`. */
  const open = (name) => {
    const p = Object.assign(Object.create(pages[name]), { data: { ...pages[name].data } });
    p.setData = (d) => Object.assign(p.data, d);
    return p;
  };
  return { ...box, network, app: () => app, open, launched: () => { app.onLaunch(); launched.push(app); return app; } };
}

/** A sandbox value as plain data (its objects have the sandbox's prototypes). */
const plain = (v) => JSON.parse(JSON.stringify(v));

/** The reports the server accepted into its outbox file, as sent (the time it took each is checked and taken off). */
const received = (server) => (existsSync(server.outbox) ? readFileSync(server.outbox, 'utf8').split('\n').filter(Boolean).map((l) => {
  const { received_at: at, ...report } = JSON.parse(l);
  assert.ok(Number.isSafeInteger(at) && Math.abs(at - Date.now()) < 3_600_000, `received_at ${at}: the server's clock`);
  return report;
}) : []);

/** Resolves on the sync event `type` (with `version`, if given). */
const next = (app, type, version) => new Promise((resolve) => {
  const off = app.sync.on((e) => { if (e.type === type && (version === undefined || e.version === version)) { off(); resolve(e); } });
});

/** Lets promise chains already started run to their end (no timer: a turn of the event loop). */
const settled = () => new Promise((r) => setImmediate(r));

test('the example mini-program: consent asked once, product views tracked, the placement decides and re-decides on an update, the outbox sent once', async (t) => {
  const brand = makeBrand();
  const server = await brand.serve(1);
  t.after(() => server.stop());
  const first = launch({ url: server.url, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = first.launched();
  const engine = await app.engine();
  assert.equal(engine.modelVersion, 1, 'starts at once on the bundled snapshot (kairos/model.js)');
  await next(app, 'current'); // the server has the same version

  // No consent until the shopper answers the page's prompt (finding 6).
  assert.equal(engine.consent, false, 'nothing is profiled before she answers');
  const home = first.open('index');
  await home.onLoad();
  assert.equal(home.data.askConsent, true);
  assert.equal(home.data.settled, false, 'the hero waits for her answer');
  await home.onAllow();
  assert.equal(engine.consent, true);
  assert.deepEqual([home.data.askConsent, home.data.settled], [false, true]);

  // Home shows are not product views (finding 7); a product page's load is one.
  const views = () => engine.features().views_7d;
  for (let i = 0; i < 3; i++) if (home.onShow) home.onShow();
  await settled();
  assert.equal(views(), 0, 'home shows are not counted as product views');
  // The product page's WXML holds its pdp_offer placement, rendered once the page has tracked its
  // view, so that decision sees the view (finding 13).
  globalThis.getApp = () => app;
  const placementId = simulate.load(join(example, 'components', 'kairos-placement', 'index'), { rootPath: example });
  const productView = simulate.render(simulate.load({
    template: readFileSync(join(example, 'pages', 'product', 'index.wxml'), 'utf8'),
    usingComponents: { 'kairos-placement': placementId },
    data: { product: null, viewed: false },
  }));
  productView.attach(document.createElement('parent-wrapper'));
  const decisions = []; // [placement, views_7d when it decided]
  const decide = engine.decide.bind(engine);
  engine.decide = (placement, context, now) => { decisions.push([placement, views()]); return decide(placement, context, now); };
  await settled(); // whatever the template decides before the page's onLoad runs is done
  const product = first.open('product');
  product.setData = (d) => { Object.assign(product.data, d); productView.setData(d); };
  await product.onLoad({ id: 'su-001' });
  assert.equal(views(), 1, 'the product page tracked one view');
  await until(() => decisions.length > 0);
  assert.deepEqual(decisions, [['pdp_offer', 1]], 'the offer placement decided once, after the view');

  // The hero is the <kairos-placement> component, rendered from its WXML by miniprogram-simulate
  // (WeChat's own template compiler) in a DOM: it decides when it enters the page, again when the
  // page is shown after being hidden, never twice for one view, and again on a model update.
  const decided = () => engine.outbox().filter((e) => e.type === 'exposure').length;
  const exposures = decided();
  const hero = simulate.render(placementId, { placement: 'home_hero', page: 'home' });
  hero.attach(document.createElement('parent-wrapper'));
  await until(() => hero.data.reason !== '');
  await settled();
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
  await settled();
  assert.equal(decided(), exposures + 1, 'a show without a hide is the same view');
  hero.triggerPageLifeTime('hide');
  hero.triggerPageLifeTime('show');
  await until(() => decided() > exposures + 1);
  assert.equal(decided(), exposures + 2, 'shown again: decided again');

  // A pushed model: the engine object stays the same, and the visible placement paints the same
  // view again with `refresh`: the new model's content at once, no second exposure (the same offer).
  const v2 = next(app, 'update', 2);
  const reworded = 'Reworded in version 2';
  server.publish(2, (m) => {
    const offer = m.offers.find((o) => o.id === hero.data.offer);
    for (const c of [offer.content, ...(offer.variants ?? []).map((v) => v.content)]) if (c) c.title = reworded;
    return m;
  });
  await v2;
  assert.equal((await app.engine()).modelVersion, 2);
  assert.equal(await app.engine(), engine);
  await until(() => hero.data.title === reworded);
  assert.equal(hero.querySelector('.title').dom.textContent, reworded, 'the update repainted the visible placement');
  await settled();
  const heroExposures = () => engine.outbox().filter((e) => e.type === 'exposure' && e.placement === 'home_hero').length;
  assert.equal(heroExposures(), 2, 'the same view: no second exposure');
  // Detached: no listener is left behind.
  hero.detach();
  const v3 = next(app, 'update', 3);
  server.publish(3);
  await v3;
  await settled();
  assert.equal(hero.data.title, reworded, 'a detached placement does not paint');
  assert.equal(heroExposures(), 2, 'nor decide');

  // Back online: the app revalidates at once (finding 14).
  assert.equal(first.network.length, 1, 'app.js listens to wx.onNetworkStatusChange');
  const checks = () => first.requests.filter((q) => q.path === '/v1/channels/model/latest').length;
  const before = checks();
  const current = next(app, 'current');
  first.network[0]({ isConnected: true, networkType: 'wifi' });
  await current;
  assert.equal(checks(), before + 1, 'one revalidation when the network came back');
  // Back from the background: the app revalidates too (WeChat suspends its timers there).
  await settled(); // the check above has ended (not joined by the next)
  assert.equal((await app.onShow()).type, 'current');
  assert.equal(checks(), before + 2, 'one revalidation when the app came back to the foreground');

  // Hiding the app sends the outbox as NDJSON and drains it after the 202; what stays in storage
  // has no sent events (finding 1).
  const sent = engine.outbox();
  assert.equal(await app.onHide(), true, 'the server accepted the batch');
  app.sync.stop();
  assert.ok(first.requests.some((q) => q.method === 'POST' && q.path === '/v1/outbox'));
  assert.deepEqual(received(server), plain(sent), 'the server got the outbox once');
  assert.deepEqual(plain(engine.outbox()), [], 'drained after the 202');
  assert.ok(first.storage.get('kairos.install').match(/^[0-9a-f]{16}$/));

  // A cold start on the same storage (WeChat ended the app in the background), hidden at once:
  // nothing is sent again, consent and the profile are as she left them.
  const second = launch({ url: server.url, publicKey: brand.publicKey, bundled: brand.snapshot(1), storage: first.storage });
  const app2 = second.launched();
  const engine2 = await app2.engine();
  assert.deepEqual(plain(engine2.outbox()), [], 'the stored state holds no sent events');
  assert.equal(engine2.consent, true);
  assert.equal(engine2.features().views_7d, 1);
  const home2 = second.open('index');
  await home2.onLoad();
  assert.equal(home2.data.askConsent, false, 'answered once: not asked again');
  assert.equal(home2.data.settled, true, 'the hero renders at once');
  await app2.onHide();
  app2.sync.stop();
  assert.equal(received(server).length, sent.length, 'a cold restart resends nothing');
  // A report is told by all its fields (one decision can expose two offers of a placement).
  assert.equal(new Set(received(server).map((e) => JSON.stringify(e))).size, received(server).length, 'no report sent twice');
});

test('the example mini-program: a withdrawn consent stays withdrawn after a cold start', async () => {
  const brand = makeBrand();
  const dead = 'http://127.0.0.1:9'; // nothing listens: sync fails, the bundled snapshot runs
  const first = launch({ url: dead, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = first.launched();
  const home = first.open('index');
  await home.onLoad();
  await home.onAllow();
  assert.equal((await app.engine()).consent, true);
  await home.onDecline(); // "Stop personalizing"
  assert.equal((await app.engine()).consent, false);
  app.onHide();
  app.sync.stop();

  const second = launch({ url: dead, publicKey: brand.publicKey, bundled: brand.snapshot(1), storage: first.storage });
  const app2 = second.launched();
  const engine2 = await app2.engine();
  assert.equal(engine2.consent, false, 'the withdrawal survived the restart');
  const home2 = second.open('index');
  await home2.onLoad();
  assert.equal(home2.data.askConsent, false, 'her answer is kept: no prompt');
  app2.sync.stop();
});

test('the example mini-program: a refused or failed send keeps the events, in the outbox and in storage, until a 202; a new server address keeps the profile', async (t) => {
  const brand = makeBrand();
  // A server that answers 500 to everything: wx.request calls `success` for it.
  const failing = createServer((req, res) => { req.resume(); req.on('end', () => { res.statusCode = 500; res.end('down'); }); });
  await new Promise((r) => failing.listen(0, '127.0.0.1', r));
  t.after(() => { failing.closeAllConnections(); failing.close(); });
  const down = `http://127.0.0.1:${failing.address().port}`;
  const first = launch({ url: down, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = first.launched();
  const engine = await app.engine();
  await app.answerConsent(true);
  engine.track({ type: 'follow', channel: 'wechat_oa' });
  engine.decide('home_hero', { page: 'home' });
  const pending = engine.outbox();
  assert.ok(pending.length >= 2, 'a stage change and an exposure');
  assert.equal(await app.onHide(), false, 'HTTP 500 is not an acceptance');
  assert.ok(first.requests.some((q) => q.method === 'POST' && q.path === '/v1/outbox'));
  assert.deepEqual(plain(engine.outbox()), plain(pending), 'the refused batch stays in the outbox');
  app.sync.stop();

  // Cold start, now at the real server's address (finding 14: the store's keys do not include it).
  const server = await brand.serve(1);
  t.after(() => server.stop());
  const second = launch({ url: server.url, publicKey: brand.publicKey, bundled: brand.snapshot(1), storage: first.storage });
  const app2 = second.launched();
  const engine2 = await app2.engine();
  assert.equal(engine2.consent, true, 'the profile survived the new address');
  assert.equal(engine2.stage(), 'window');
  assert.deepEqual(plain(engine2.outbox()), plain(pending), 'the unsent events were stored');
  // An exposure recorded while the batch is in flight is not in it: kept for the next flush.
  const hidden = app2.onHide();
  const late = engine2.decide('home_hero', { page: 'home' });
  assert.equal(await hidden, true);
  assert.deepEqual(received(server), plain(pending), 'sent once, when the server took them');
  assert.deepEqual(plain(engine2.outbox()), []);
  assert.equal(JSON.parse(second.storage.get('kairos.unsent')).decision, late.id, 'the late exposure is stored apart');
  assert.equal(await app2.flushOutbox(), true);
  assert.deepEqual(received(server).slice(pending.length).map((e) => e.type), ['exposure'], 'the late exposure went in the next batch');
  assert.equal(second.storage.get('kairos.unsent'), '');
  app2.sync.stop();
});

test('the example mini-program: without a bundled snapshot it starts from the server, and with no server either its engine() rejects and the placement shows nothing', async (t) => {
  const brand = makeBrand();
  const server = await brand.serve(2);
  t.after(() => server.stop());
  const fromServer = launch({ url: server.url, publicKey: brand.publicKey });
  const app = fromServer.launched();
  assert.equal((await app.engine()).modelVersion, 2, 'the missing kairos/model.js does not stop sync');
  app.sync.stop();

  const nowhere = launch({ url: 'http://127.0.0.1:9', publicKey: brand.publicKey });
  const lost = nowhere.launched();
  await assert.rejects(lost.engine(), (e) => e.code === 'NO_SNAPSHOT', 'ready settles with an error');
  lost.sync.stop();

  // No WXWebAssembly (a base library below 2.13): onLaunch does not throw, engine() rejects, and
  // the placement's catch gets it.
  const old = launch({ url: server.url, publicKey: brand.publicKey, bundled: brand.snapshot(1), wasm: false });
  const oldApp = old.launched();
  await assert.rejects(oldApp.engine());
  globalThis.getApp = () => oldApp;
  const id = simulate.load(join(example, 'components', 'kairos-placement', 'index'), { rootPath: example });
  const hero = simulate.render(id, { placement: 'home_hero', page: 'home' });
  hero.attach(document.createElement('parent-wrapper'));
  await until(() => hero.data.reason !== '');
  assert.equal(hero.data.reason, 'unavailable');
  assert.ok(!hero.querySelector('.placement'), 'nothing shown');
});

test('the example mini-program: a withdrawal while a batch is in flight sends none of her reports later, only the erasure request', async (t) => {
  const brand = makeBrand();
  // A server that holds the first POST until released, then takes every batch.
  const batches = [];
  let release = null;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const answer = () => { batches.push(body.split('\n').filter(Boolean).map((l) => JSON.parse(l))); res.statusCode = 202; res.end('{}'); };
      if (req.method === 'POST' && batches.length === 0 && !release) release = answer;
      else if (req.method === 'POST') answer();
      else { res.statusCode = 404; res.end(); }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const url = `http://127.0.0.1:${server.address().port}`;
  const mp = launch({ url, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = mp.launched();
  const engine = await app.engine();
  await app.answerConsent(true);
  engine.track({ type: 'follow', channel: 'wechat_oa' });
  engine.decide('home_hero', { page: 'home' });
  const pid = engine.pid;
  const flushing = app.flushOutbox();
  while (!release) await new Promise((r) => setTimeout(r, 5));
  const late = engine.decide('home_hero', { page: 'home' }); // made while the batch is in flight
  assert.notEqual(late.id, '0000000000000000');
  await app.answerConsent(false); // she withdraws before the server answers
  release();
  assert.equal(await flushing, true);
  const unsent = (mp.storage.get('kairos.unsent') || '').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(unsent.map((e) => [e.type, e.pid]), [['forgotten', pid]], 'only her erasure request waits');
  assert.equal(await app.flushOutbox(), true);
  const sent = batches[1].map((e) => e.type);
  assert.deepEqual(sent, ['forgotten'], 'the late exposure is not sent after the withdrawal');
  assert.ok(!batches.flat().some((e) => e.decision === late.id));
  app.sync.stop();
});
