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
import './load.mjs'; // the web build, whose murmur3 reads strings through the platform's TextEncoder
import { murmur3 as webMurmur3 } from '../../pkg/index.js';
import { fromBase64 as webFromBase64 } from '../../pkg/storage.js';

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

function sandbox(files = {}, storage = new Map(), wxMore = {}) {
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
      ...wxMore,
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

// Mutation audit: the sandbox's UTF-8 fallbacks were run with astral characters and lone
// surrogates, but nothing read what crossed. Strings to the module hash as the web build's do (the
// platform's TextEncoder: a lone surrogate as U+FFFD), and text from the module (a message naming
// what it was given) comes back as it went.
// Mutation audit: the base64 decoder for runtimes without atob (the sandbox has none) was run
// only on what the package wrote itself; a character outside the alphabet was read as a digit.
test('without atob, fromBase64 reads and refuses exactly what the web build reads and refuses', () => {
  const { ctx, kairos } = sandbox();
  assert.equal(vm.runInContext('typeof atob', ctx), 'undefined');
  const texts = ['', 'SGVsbG8=', 'SGVsbG8h', 'AA==', 'AAA=', '////', 'A=AA', 'SGV!bG8=', 'SGVs bG8', 'SGVsbG8', 'SGVsé8=', 'SGVs\nbG8=', '-_AA'];
  ctx.texts = texts;
  ctx.fromBase64 = kairos.fromBase64;
  const got = JSON.parse(vm.runInContext('JSON.stringify(texts.map((t) => { const b = fromBase64(t); return b && Array.from(b); }))', ctx));
  assert.deepEqual(got, texts.map((t) => { const b = webFromBase64(t); return b && Array.from(b); }));
  assert.deepEqual(got[1], Array.from(Buffer.from('Hello')));
  assert.equal(got.filter((b) => b === null).length, 6, JSON.stringify(got));
});

test('without TextEncoder and TextDecoder, text crosses both ways as UTF-8, astral characters and lone surrogates too', async () => {
  const { ctx, kairos } = sandbox();
  await kairos.init('/kairos/kairos_wasm.wasm.br');
  ctx.kairos = kairos;
  ctx.snapshotBytes = Array.from(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
  const strings = ['旗袍🙂', '😀😀x', 'a\uD800b', '\uDC00', 'z\uD83D', 'é€𐍈'];
  ctx.strings = strings;
  const r = JSON.parse(vm.runInContext(`
    const engine = new kairos.Engine(Uint8Array.from(snapshotBytes), '00000000000000b2');
    const messages = ['事件🙂', '𐍈x'].map((type) => {
      try { engine.track({ type }, Date.parse('2026-11-20T14:20:00+08:00')); return null; } catch (e) { return e.message; }
    });
    JSON.stringify({ hashes: strings.map((s) => kairos.murmur3(s)), messages });
  `, ctx));
  assert.deepEqual(r.hashes, strings.map((x) => webMurmur3(x)));
  assert.ok(r.messages[0].includes('unknown event type `事件🙂`'), r.messages[0]);
  assert.ok(r.messages[1].includes('unknown event type `𐍈x`'), r.messages[1]);
});

// Mini-program review: `init` is asynchronous, and a `sync()` or `new Engine` before it resolved
// reported good snapshots as SNAPSHOT_CORRUPT ("Cannot read properties of undefined (reading 'Q')")
// and left sync without an engine offline; now each says to await init first, and works after.
test('before init has loaded the module, Engine, murmur3 and sync say so (NOT_LOADED), and work once it has', async () => {
  const { ctx, kairos } = sandbox();
  ctx.kairos = kairos;
  ctx.snapshotBytes = Array.from(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
  const attempt = () => JSON.parse(vm.runInContext(`(() => {
    const snap = Uint8Array.from(snapshotBytes);
    const codes = [];
    for (const f of [() => new kairos.Engine(snap, '00000000000000b2'), () => kairos.murmur3('a'),
      () => kairos.Engine.fromSignedSnapshot(snap, [], '00000000000000b2', { allowUnsigned: true }),
      () => kairos.sync({ url: 'http://127.0.0.1:9', publicKey: 'x', bundled: snap, push: 'none' })]) {
      try { const r = f(); codes.push(r instanceof kairos.Engine ? 'engine' : typeof r); if (r && r.stop) r.stop(); }
      catch (e) { codes.push(kairos.isKairosError(e) ? e.code + ': ' + e.message : String(e)); }
    }
    return JSON.stringify(codes);
  })()`, ctx));
  const init = kairos.init('/kairos/kairos_wasm.wasm.br');
  assert.deepEqual(attempt(), [
    'NOT_LOADED: new Engine: await init() first (initSync in Node)',
    'NOT_LOADED: murmur3: await init() first (initSync in Node)',
    'NOT_LOADED: Engine.fromSignedSnapshot: await init() first (initSync in Node)',
    'NOT_LOADED: sync: await init() first (initSync in Node)',
  ]);
  await init;
  const after = attempt();
  assert.deepEqual(after.slice(0, 3), ['engine', 'number', 'KEY_INVALID: give at least one public key']);
  assert.match(after[3], /^KEY_INVALID: /, 'sync checks its options once loaded');
});

// Diff review: `globalThis` is ES2020, which older WeChat engines lack: the build reads it only
// behind `typeof`, and the wx adapters take the global `wx` by default without it.
test('without globalThis the mini-program build loads, and the wx adapters default to the global wx', async () => {
  const { ctx, kairos, storage } = sandbox();
  vm.runInContext('delete globalThis.globalThis;', ctx);
  assert.equal(vm.runInContext('typeof globalThis', ctx), 'undefined');
  await kairos.init('/kairos/kairos_wasm.wasm.br');
  ctx.kairos = kairos;
  const r = JSON.parse(vm.runInContext(`(() => {
    const store = new kairos.SafeStore(kairos.wxStorageBackend());
    const saved = store.saveState(Uint8Array.of(1, 2, 3));
    return JSON.stringify({ saved, loaded: Array.from(store.loadState()), transport: typeof kairos.wxTransport().get });
  })()`, ctx));
  assert.deepEqual(r, { saved: true, loaded: [1, 2, 3], transport: 'function' });
  assert.ok([...storage.keys()].some((k) => k.startsWith('kairos.state.')), 'written through the global wx');
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

// Mutation audit: a load that failed (a missing file, a truncated package) could not be tried
// again without a test noticing.
test('init after a failed load tries again, and shares the instance once loaded', async () => {
  const { ctx, loaded, kairos } = sandbox();
  const real = ctx.WXWebAssembly.instantiate;
  let fail = true;
  ctx.WXWebAssembly.instantiate = (path, imports) => {
    if (fail) {
      loaded.push(path);
      return Promise.reject(new Error('WXWebAssembly.instantiate:fail file not found'));
    }
    return real(path, imports);
  };
  await assert.rejects(kairos.init('/kairos/kairos_wasm.wasm.br'), /file not found/);
  fail = false;
  const instance = await kairos.init('/kairos/kairos_wasm.wasm.br');
  assert.equal(await kairos.init('/kairos/kairos_wasm.wasm.br'), instance, 'once loaded, the same instance');
  assert.equal(loaded.length, 2, 'the failed load, then one that worked');
  assert.equal(kairos.murmur3('a'), webMurmur3('a'));
});

test('the package draws the ids it draws itself ahead from wx.getRandomValues, and draws more as they run low', async () => {
  let asked = 0;
  let next = 0;
  // As WeChat answers: later, with an ArrayBuffer.
  const getRandomValues = ({ length, success }) => {
    asked += 1;
    const b = Uint8Array.from({ length }, () => next++ & 255);
    setTimeout(() => success({ randomValues: b.buffer, errMsg: 'getRandomValues:ok' }), 0);
  };
  const fresh = sandbox({}, new Map(), { getRandomValues });
  const mp = fresh.kairos;
  await mp.init('/kairos/kairos_wasm.wasm.br');
  await new Promise((r) => setTimeout(r, 5));
  fresh.ctx.mp = mp;
  fresh.ctx.snapshotBytes = Array.from(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
  const pids = JSON.parse(vm.runInContext(`
    const e = new mp.Engine(Uint8Array.from(snapshotBytes), '00000000000000b2');
    const out = [];
    for (let i = 0; i < 8; i++) { e.setConsent(true); e.forget(); out.push(e.pid); }
    JSON.stringify(out);
  `, fresh.ctx));
  const hex = (from) => Array.from({ length: 8 }, (_, i) => ((from + i) & 255).toString(16).padStart(2, '0')).join('');
  // All 8 ids of the first draw (64 bytes), in turn, before the second draw has answered.
  assert.deepEqual(pids, [0, 8, 16, 24, 32, 40, 48, 56].map(hex), 'the ids drawn ahead, in turn');
  assert.equal(asked, 2, 'drawn again once they ran low, not again while that draw is on its way');
  await new Promise((r) => setTimeout(r, 5));
  assert.match(vm.runInContext('e.forget(); e.pid', fresh.ctx), /^[0-9a-f]{16}$/);
});

test('a draw of random values that fails, or answers with something else than the bytes, is tried again', async () => {
  const answers = [
    ({ fail }) => setTimeout(() => fail({ errMsg: 'getRandomValues:fail' }), 0),
    ({ success }) => setTimeout(() => success({ randomValues: 64 }), 0), // not an ArrayBuffer: no ids of zeros
    () => { throw new Error('no'); },
  ];
  let asked = 0;
  const getRandomValues = (o) => {
    const answer = answers[asked++];
    if (answer) return answer(o);
    setTimeout(() => o.success({ randomValues: new Uint8Array(64).fill(0xc7).buffer }), 0);
  };
  const box = sandbox({}, new Map(), { getRandomValues });
  await box.kairos.init('/kairos/kairos_wasm.wasm.br');
  box.ctx.mp = box.kairos;
  box.ctx.snapshotBytes = Array.from(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
  vm.runInContext('var e = new mp.Engine(Uint8Array.from(snapshotBytes), "00000000000000b2");', box.ctx);
  const erase = () => vm.runInContext('e.setConsent(true); e.forget(); e.pid', box.ctx);
  const tick = () => new Promise((r) => setTimeout(r, 5));
  const pids = [];
  for (let i = 0; i < 4; i++) {
    await tick();
    pids.push(erase());
  }
  assert.ok(pids.slice(0, 3).every((p) => /^[0-9a-f]{16}$/.test(p) && p !== '0'.repeat(16)), pids.join());
  assert.equal(pids[3], 'c7'.repeat(8), 'the fourth try answered: its ids are used');
  assert.equal(asked, 4);
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
 * missing). `stack` is WeChat's page stack as `getCurrentPages()` returns it, top last: a test
 * pushes and pops pages (any objects) as the shopper navigates.
 */
function launch({ url, publicKey, bundled, storage = new Map(), wasm = true, random }) {
  const box = sandbox({}, storage);
  if (random) box.ctx.wx.getRandomValues = random;
  if (!wasm) vm.runInContext('delete globalThis.WXWebAssembly;', box.ctx);
  const network = [];
  box.ctx.wx.onNetworkStatusChange = (f) => network.push(f);
  const stack = [];
  box.ctx.getCurrentPages = () => stack.slice();
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
      if (p === '../../consent.js') return run('consent.js');
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
  return { ...box, network, stack, app: () => app, open, launched: () => { app.onLaunch(); launched.push(app); return app; } };
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

/**
 * The product page's WXML (with its <kairos-placement>) rendered by miniprogram-simulate for `mp`'s
 * app; a test mirrors the page instance's `setData` into it.
 */
function productTemplate(mp) {
  globalThis.getApp = () => mp.app();
  const placementId = simulate.load(join(example, 'components', 'kairos-placement', 'index'), { rootPath: example });
  const view = simulate.render(simulate.load({
    template: readFileSync(join(example, 'pages', 'product', 'index.wxml'), 'utf8'),
    usingComponents: { 'kairos-placement': placementId },
    data: { product: null, settled: false },
  }));
  view.attach(document.createElement('parent-wrapper'));
  return view;
}

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
  assert.equal(home.data.settled, true, 'the hero renders at once (decided without consent until she answers)');
  await home.onAllow();
  assert.equal(engine.consent, true);
  assert.deepEqual([home.data.askConsent, home.data.settled], [false, true]);

  // A product page's load is a product view (finding 7); home shows are not (below).
  const views = () => engine.features().views_7d;
  assert.equal(views(), 0);
  // The product page's WXML holds its pdp_offer placement, rendered once the page has tracked its
  // view, so that decision sees the view (finding 13).
  const productView = productTemplate(first);
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
  // shopper navigates back to the page, never twice for one view, and paints the view again on a
  // model update. (Back from the background is the same view: the next test.)
  const decided = () => engine.outbox().filter((e) => e.type === 'exposure').length;
  const exposures = decided();
  const hero = placement(first, { placement: 'home_hero', page: 'home' });
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
  // A navigation to another page and back: WeChat hides and shows the page, the app stays in front.
  hero.triggerPageLifeTime('hide');
  hero.triggerPageLifeTime('show');
  await until(() => decided() > exposures + 1);
  await settled();
  assert.equal(decided(), exposures + 2, 'navigated back to: a new view, decided again');
  assert.equal(views(), 1, 'home shows are not counted as product views');

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

/** The example's <kairos-placement> for miniprogram-simulate, shown on the page of `mp`'s app. */
function placement(mp, props) {
  globalThis.getApp = () => mp.app();
  const id = simulate.load(join(example, 'components', 'kairos-placement', 'index'), { rootPath: example });
  const view = simulate.render(id, props);
  view.attach(document.createElement('parent-wrapper'));
  return view;
}

/** Nothing listens there: sync and outbox requests fail at once, and the bundled snapshot runs. */
const DEAD = 'http://127.0.0.1:9';

test('the example mini-program: back from the background the placement keeps its view (no new exposure, no cap used); navigating back to the page is a new view', async () => {
  const brand = makeBrand();
  const mp = launch({ url: DEAD, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = mp.launched();
  const engine = await app.engine();
  await app.answerConsent(true);
  // She signs up and buys: the hero's `thank_you`, at most 3 exposures in 3 days.
  engine.track({ type: 'signup', channel: 'store' });
  engine.track({ type: 'purchase', order: 'o1', amount: 1299 });
  const home = { route: 'pages/index/index' };
  const product = { route: 'pages/product/index' };
  mp.stack.push(home);
  const hero = placement(mp, { placement: 'home_hero', page: 'home' });
  await until(() => hero.data.reason !== '');
  const exposures = () => engine.outbox().filter((e) => e.type === 'exposure' && e.placement === 'home_hero').length;
  assert.deepEqual([hero.data.offer, exposures()], ['thank_you', 1]);
  const title = hero.data.title;

  // A switch to a chat and back, as WeChat orders it: the page hides, then the app; the app shows,
  // then the page. (The outbox cannot be sent to DEAD, so it keeps every exposure.)
  const background = async () => {
    hero.triggerPageLifeTime('hide');
    assert.equal(await app.onHide(), false);
    await app.onShow();
    hero.triggerPageLifeTime('show');
    await settled();
  };
  for (let i = 1; i <= 3; i++) {
    await background();
    assert.equal(exposures(), 1, `back from the background (${i}): the same view, no new exposure`);
    assert.deepEqual([hero.data.offer, hero.data.title], ['thank_you', title], `back from the background (${i}): the same offer on screen`);
  }

  // To a product page and back (navigateBack): a new view, also when the app went to the background
  // on the product page meanwhile.
  const away = async (inBackground) => {
    hero.triggerPageLifeTime('hide');
    mp.stack.push(product);
    if (inBackground) {
      await app.onHide();
      await app.onShow();
    }
    mp.stack.pop();
    const before = exposures();
    hero.triggerPageLifeTime('show');
    await until(() => exposures() > before);
    await settled();
  };
  await away(false);
  assert.deepEqual([hero.data.offer, exposures()], ['thank_you', 2], 'navigated back: decided again');
  await away(true);
  assert.deepEqual([hero.data.offer, exposures()], ['thank_you', 3], 'navigated back after a background on the product page: decided again');

  // Her third exposure filled the cap: the view on screen keeps the offer through a return from the
  // background, and the next view is decided without it.
  await background();
  assert.deepEqual([hero.data.offer, exposures()], ['thank_you', 3], 'a full cap does not change the view on screen');
  await away(false);
  assert.notEqual(hero.data.offer, 'thank_you', 'the next view: capped');
  assert.equal(exposures(), 4);
  hero.detach();
  app.sync.stop();
});

test('the example mini-program: "Stop personalizing" and "Personalize what I see" repaint the hero on screen', async () => {
  const brand = makeBrand();
  const mp = launch({ url: DEAD, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = mp.launched();
  const engine = await app.engine();
  const home = mp.open('index');
  await home.onLoad();
  await home.onAllow();
  engine.track({ type: 'signup', channel: 'store' });
  engine.track({ type: 'purchase', order: 'o1', amount: 1299 });
  const hero = placement(mp, { placement: 'home_hero', page: 'home' });
  await until(() => hero.data.reason !== '');
  assert.deepEqual([hero.data.offer, hero.data.reason], ['thank_you', 'chosen'], 'drawn from her purchase');

  // The withdrawal erases her profile: the hero stops showing what came from it, at once.
  await home.onDecline();
  assert.equal(home.data.consent, false);
  const generic = engine.peek('home_hero', { page: 'home' });
  assert.notEqual(generic.items[0].offer, 'thank_you');
  assert.equal(hero.data.offer, generic.items[0].offer, 'repainted without her profile');
  assert.equal(hero.querySelector('.title').dom.textContent, generic.items[0].content.title);
  assert.deepEqual(plain(engine.outbox()).map((e) => e.type), ['forgotten'], 'the repaint without consent reports nothing');

  // A yes again: the hero drawn without consent is decided anew, now as an exposure.
  await home.onAllow();
  assert.equal(home.data.consent, true);
  assert.equal(hero.data.reason, 'chosen');
  const exposed = plain(engine.outbox()).filter((e) => e.type === 'exposure');
  assert.deepEqual(exposed.map((e) => [e.placement, e.offer]), [['home_hero', hero.data.offer]], 'one exposure, for the hero on screen');
  hero.detach();
  app.sync.stop();
});

test('the example mini-program: a session that starts on a product page (a shared card) is asked there, and her answer reaches the home page', async () => {
  const brand = makeBrand();
  const mp = launch({ url: DEAD, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = mp.launched();
  const engine = await app.engine();
  const views = () => engine.features().views_7d;
  const product = mp.open('product');
  await product.onLoad({ id: 'su-002' });
  assert.equal(product.data.askConsent, true, 'asked on the page she came in on');
  assert.equal(product.data.settled, true, 'its offer shows at once, decided without consent');
  assert.equal(views(), 0, 'the view is not tracked before her answer');
  await product.onAllow();
  assert.deepEqual([product.data.askConsent, product.data.consent, product.data.settled], [false, true, true]);
  assert.equal(views(), 1, 'with her yes, the view she came in for counts');
  const home = mp.open('index');
  await home.onLoad();
  assert.deepEqual([home.data.askConsent, home.data.settled], [false, true], 'not asked twice in one session');
  product.onUnload();
  app.sync.stop();

  // Another install: the home page asks, she opens a product without answering, and says no there.
  const other = launch({ url: DEAD, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app2 = other.launched();
  const engine2 = await app2.engine();
  const home2 = other.open('index');
  await home2.onLoad();
  const product2 = other.open('product');
  await product2.onLoad({ id: 'su-001' });
  assert.equal(product2.data.askConsent, true, 'unanswered: asked on the product page too');
  await product2.onDecline();
  assert.deepEqual([product2.data.askConsent, product2.data.settled], [false, true]);
  assert.equal(engine2.features().views_7d, 0, 'no consent: the view is not profiled');
  assert.deepEqual([home2.data.askConsent, home2.data.consent, home2.data.settled], [false, false, true], 'the home page under it follows her answer');
  product2.onUnload();
  app2.sync.stop();
});

test('the example mini-program: before her answer the placements show what the model shows without consent; her yes on a product page counts the view first and exposes only what is on screen', async () => {
  const brand = makeBrand();
  const mp = launch({ url: DEAD, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = mp.launched();
  const engine = await app.engine();
  const views = () => engine.features().views_7d;
  const exposed = () => plain(engine.outbox()).filter((e) => e.type === 'exposure').map((e) => e.placement);
  const decisions = []; // [placement, consent, views_7d] at each decision (a refresh of a view decided before consent decides anew)
  const decide = engine.decide.bind(engine);
  engine.decide = (p, c, now) => { decisions.push([p, engine.consent, views()]); return decide(p, c, now); };
  const refresh = engine.refresh.bind(engine);
  engine.refresh = (shown, c, now) => { decisions.push([shown.placement, engine.consent, views()]); return refresh(shown, c, now); };

  // Home, unanswered: the prompt and, at once, the hero as the model shows it without consent.
  const home = mp.open('index');
  const homePage = { route: 'pages/index/index' };
  mp.stack.push(homePage);
  await home.onLoad();
  home.onShow();
  assert.deepEqual([home.data.askConsent, home.data.settled], [true, true]);
  const hero = placement(mp, { placement: 'home_hero', page: 'home' });
  await until(() => hero.data.reason !== '');
  await settled();
  assert.ok(hero.data.title.length > 0, 'the hero shows content before her answer');
  assert.deepEqual(decisions, [['home_hero', false, 0]]);

  // She opens a product without answering: home hides, the product page asks and shows its offer.
  hero.triggerPageLifeTime('hide');
  home.onHide();
  mp.stack.push({ route: 'pages/product/index' });
  const productView = productTemplate(mp);
  await settled();
  const product = mp.open('product');
  product.setData = (d) => { Object.assign(product.data, d); productView.setData(d); };
  await product.onLoad({ id: 'su-001' });
  product.onShow();
  assert.deepEqual([product.data.askConsent, product.data.settled], [true, true]);
  await until(() => decisions.length === 2);
  await settled();
  assert.deepEqual(decisions[1], ['pdp_offer', false, 0], 'the offer decided without consent, at once');
  assert.equal(views(), 0);
  assert.deepEqual(exposed(), [], 'nothing recorded before her answer');

  // Her yes on the product page: the view she came in for is tracked first, then the visible
  // offer is decided anew with it; the hidden home hero waits for its page. The page's tracking
  // is made slow here: the placement must wait for it (answerConsent calls the page and then its
  // placements, in turn), not decide beside it.
  const track = product.consentKnown;
  product.consentKnown = () => new Promise((r) => setTimeout(r, 30)).then(() => track.call(product));
  await product.onAllow();
  await until(() => decisions.length === 3);
  await settled();
  assert.equal(views(), 1, 'her yes counts the view');
  assert.deepEqual(decisions[2], ['pdp_offer', true, 1], 'decided anew after the view');
  assert.deepEqual(exposed(), ['pdp_offer'], 'no exposure for the hidden home hero');
  assert.equal(home.data.askConsent, false, 'the home page under it follows her answer');

  // Back home: a new view of the hero, decided with her consent.
  mp.stack.pop();
  product.onUnload();
  home.onShow();
  hero.triggerPageLifeTime('show');
  await until(() => decisions.length === 4);
  await settled();
  assert.deepEqual(decisions[3], ['home_hero', true, 1]);
  assert.deepEqual(exposed(), ['pdp_offer', 'home_hero']);
  hero.detach();
  app.sync.stop();
});

test('the example mini-program: a page hidden before the engine is there renders its placements when shown again, one closed is not drawn', async () => {
  const brand = makeBrand();
  const mp = launch({ url: DEAD, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = mp.launched();
  const home = mp.open('index');
  const loading = home.onLoad();
  home.onShow();
  home.onHide(); // she tapped a product before the engine was loaded
  await loading;
  assert.deepEqual([home.data.askConsent, home.data.settled], [true, false], 'no placement on a hidden page');
  home.onShow();
  assert.equal(home.data.settled, true, 'rendered when shown');
  // A product page closed before the engine was there is not drawn any more.
  const product = mp.open('product');
  const closing = product.onLoad({ id: 'su-001' });
  product.onUnload();
  await closing;
  assert.deepEqual([product.data.askConsent, product.data.settled], [false, false], 'an unloaded page is not drawn');
  await app.engine();
  app.sync.stop();
});

test('the example mini-program: a withdrawal stores the new install id the engine runs under', async (t) => {
  const brand = makeBrand();
  const server = await brand.serve(1);
  t.after(() => server.stop());
  const mp = launch({ url: server.url, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = mp.launched();
  const engine = await app.engine();
  await app.answerConsent(true);
  const before = mp.storage.get('kairos.install');
  assert.equal(engine.pid, before);
  await app.answerConsent(false);
  const after = mp.storage.get('kairos.install');
  assert.match(after, /^[0-9a-f]{16}$/);
  assert.notEqual(after, before, 'a new id: a launch that finds no stored profile does not take the erased one');
  await app.answerConsent(true);
  assert.equal(engine.pid, after, 'the engine runs under the id the app stored');
  // Declined again before consenting: nothing erased, the id stays.
  await app.answerConsent(false);
  const third = mp.storage.get('kairos.install');
  await app.answerConsent(false);
  assert.equal(mp.storage.get('kairos.install'), third);
  app.sync.stop();
});

test('the example mini-program: the id of a withdrawal comes from wx.getRandomValues, drawn ahead', async (t) => {
  const brand = makeBrand();
  const server = await brand.serve(1);
  t.after(() => server.stop());
  let n = 0;
  // As WeChat answers: later, with an ArrayBuffer. (The package's own draw ahead, 64 bytes at a
  // time for the ids it draws itself, is answered apart: the example passes its own ids.)
  const random = ({ length, success }) => {
    if (length !== 8) return setTimeout(() => success({ randomValues: new Uint8Array(length).buffer }), 0);
    n += 1;
    const b = new Uint8Array(length).fill(0xa0 + n);
    setTimeout(() => success({ randomValues: b.buffer, errMsg: 'getRandomValues:ok' }), 0);
  };
  const mp = launch({ url: server.url, publicKey: brand.publicKey, bundled: brand.snapshot(1), random });
  const app = mp.launched();
  const engine = await app.engine();
  // The first launch's id: drawn at launch, there before the engine (which loads asynchronously).
  assert.equal(mp.storage.get('kairos.install'), 'a1'.repeat(8));
  await app.answerConsent(true);
  assert.equal(engine.pid, 'a1'.repeat(8));
  await new Promise((r) => setTimeout(r, 5));
  await app.answerConsent(false);
  assert.equal(mp.storage.get('kairos.install'), 'a2'.repeat(8), 'drawn ahead once the first was taken');
  await app.answerConsent(true);
  assert.equal(engine.pid, 'a2'.repeat(8));
  await new Promise((r) => setTimeout(r, 5));
  await app.answerConsent(false);
  assert.equal(mp.storage.get('kairos.install'), 'a3'.repeat(8));
  assert.equal(n, 4, 'one draw per id taken and one ahead, none while one is on its way or ready');
  app.sync.stop();
});

/** A wx.setStorageSync that throws as WeChat does once the mini-program's storage passes `quota` characters. */
function quotaStorage(storage, quota) {
  const failed = [];
  const size = () => [...storage].reduce((n, [k, v]) => n + k.length + v.length, 0);
  const set = (k, v) => {
    assert.equal(typeof v, 'string');
    const after = size() - (storage.has(k) ? k.length + storage.get(k).length : 0) + k.length + v.length;
    if (after > quota) {
      failed.push(k);
      throw new Error('setStorageSync:fail exceed storage max size 10Mb');
    }
    storage.set(k, v);
  };
  return { set, failed };
}

test('the example mini-program: with wx storage full (setStorageSync throws) Kairos still starts, asks once, decides and sends its reports', async (t) => {
  const brand = makeBrand();
  const server = await brand.serve(1);
  t.after(() => server.stop());
  // The host app's own data leaves 10 characters of WeChat's 10 MB.
  const QUOTA = 10 * 1024 * 1024;
  const storage = new Map([['host.cache', 'x'.repeat(QUOTA - 10 - 'host.cache'.length)]]);
  const mp = launch({ url: server.url, publicKey: brand.publicKey, bundled: brand.snapshot(1), storage });
  const quota = quotaStorage(storage, QUOTA);
  mp.ctx.wx.setStorageSync = quota.set;
  const app = mp.launched();
  const engine = await app.engine();
  assert.equal(engine.modelVersion, 1, 'started on the bundled snapshot');
  assert.ok(quota.failed.includes('kairos.install'), 'the install id could not be stored');
  assert.ok(!storage.has('kairos.install'));

  const home = mp.open('index');
  await home.onLoad();
  assert.equal(home.data.askConsent, true);
  await home.onAllow();
  assert.equal(engine.consent, true);
  assert.deepEqual([home.data.askConsent, home.data.settled], [false, true], 'the prompt goes although her answer could not be stored');
  assert.ok(quota.failed.includes('kairos.consentAsked'));
  assert.equal(await app.needsConsent(), false, 'not asked again in this session');
  assert.equal(engine.decide('home_hero', { page: 'home' }).reason, 'chosen');

  // Hidden: the batch goes out; an exposure recorded while it is in flight cannot be stored apart,
  // and is kept in memory for the next flush.
  const pending = plain(engine.outbox());
  const hidden = app.onHide();
  const late = engine.decide('home_hero', { page: 'home' });
  assert.equal(await hidden, true);
  assert.deepEqual(received(server), pending);
  assert.ok(!storage.has('kairos.unsent'));
  assert.equal(await app.flushOutbox(), true);
  assert.deepEqual(received(server).slice(pending.length).map((e) => [e.type, e.decision]), [['exposure', late.id]], 'the late exposure went in the next batch');
  assert.ok(quota.failed.length > 2, `every write failed: ${quota.failed}`);
  app.sync.stop();
});

/**
 * An outbox server that holds the first batch POSTed until `release()`, then takes every batch
 * (each a list of reports, in `batches`); `posted()` resolves once the first has arrived.
 */
async function holdingOutbox(t) {
  const batches = [];
  let release = null;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const answer = () => { batches.push(body.split('\n').filter(Boolean).map((l) => JSON.parse(l))); res.statusCode = 202; res.end('{}'); };
      if (req.method === 'POST' && !release) release = answer;
      else if (req.method === 'POST') answer();
      else { res.statusCode = 404; res.end(); }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    batches,
    async posted() { while (!release) await new Promise((r) => setTimeout(r, 5)); },
    release() { release(); },
  };
}

test('the example mini-program: reports recorded while a batch is in flight are kept when the outbox was full (it drops its oldest)', async (t) => {
  const brand = makeBrand();
  const held = await holdingOutbox(t);
  const { batches } = held;
  const mp = launch({ url: held.url, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = mp.launched();
  const engine = await app.engine();
  await app.answerConsent(true);
  for (let i = 0; i < 300; i++) engine.decide('home_hero', { page: 'home' });
  assert.equal(engine.outbox().length, 256, 'full: the outbox holds the newest 256 reports');
  const flushing = app.flushOutbox();
  await held.posted();
  const late = [1, 2, 3].map(() => engine.decide('home_hero', { page: 'home' }).id);
  assert.equal(engine.outbox().length, 256, 'each late report pushed out one in the batch');
  for (const id of late) assert.ok(engine.outbox().some((e) => e.decision === id), `${id} is in the outbox`);
  held.release();
  assert.equal(await flushing, true);
  assert.equal(batches[0].length, 256);
  const unsent = (mp.storage.get('kairos.unsent') || '').split('\n').filter(Boolean).map((l) => JSON.parse(l).decision);
  assert.deepEqual(unsent, late, 'kept for the next flush');
  assert.equal(await app.flushOutbox(), true);
  assert.deepEqual(batches[1].map((e) => e.decision), late, 'and sent in it');
  app.sync.stop();
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

test('the example mini-program: a withdrawal made with wx storage full is not undone at the next cold start', async () => {
  const brand = makeBrand();
  const dead = 'http://127.0.0.1:9';
  const first = launch({ url: dead, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = first.launched();
  const home = first.open('index');
  await home.onLoad();
  await home.onAllow();
  const engine = await app.engine();
  engine.track({ type: 'purchase', amount: 1299, product: 'qipao-1' });
  app.onHide(); // her profile, consent and purchase stored
  // Then the host app fills WeChat's 10 MB, leaving 10 characters.
  const QUOTA = 10 * 1024 * 1024;
  const used = [...first.storage].reduce((n, [k, v]) => n + k.length + v.length, 0);
  first.storage.set('host.cache', 'x'.repeat(QUOTA - used - 10 - 'host.cache'.length));
  const quota = quotaStorage(first.storage, QUOTA);
  first.ctx.wx.setStorageSync = quota.set;
  await home.onDecline(); // "Stop personalizing": her new state cannot be written where the old one is kept
  assert.ok(quota.failed.some((k) => k.includes('state')), `a state write failed: ${quota.failed}`);
  app.onHide();
  app.sync.stop();

  const second = launch({ url: dead, publicKey: brand.publicKey, bundled: brand.snapshot(1), storage: first.storage });
  const engine2 = await second.launched().engine();
  assert.equal(engine2.consent, false, 'the profile from before the withdrawal is not restored');
  assert.equal(engine2.features(Date.now()).purchases, 0, 'nor her purchase');
  second.launched().sync.stop();
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
  const held = await holdingOutbox(t);
  const { batches, url } = held;
  const mp = launch({ url, publicKey: brand.publicKey, bundled: brand.snapshot(1) });
  const app = mp.launched();
  const engine = await app.engine();
  await app.answerConsent(true);
  engine.track({ type: 'follow', channel: 'wechat_oa' });
  engine.decide('home_hero', { page: 'home' });
  const pid = engine.pid;
  const flushing = app.flushOutbox();
  await held.posted();
  const late = engine.decide('home_hero', { page: 'home' }); // made while the batch is in flight
  assert.notEqual(late.id, '0000000000000000');
  await app.answerConsent(false); // she withdraws before the server answers
  held.release();
  assert.equal(await flushing, true);
  const unsent = (mp.storage.get('kairos.unsent') || '').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(unsent.map((e) => [e.type, e.pid]), [['forgotten', pid]], 'only her erasure request waits');
  assert.equal(await app.flushOutbox(), true);
  const sent = batches[1].map((e) => e.type);
  assert.deepEqual(sent, ['forgotten'], 'the late exposure is not sent after the withdrawal');
  assert.ok(!batches.flat().some((e) => e.decision === late.id));
  app.sync.stop();
});
