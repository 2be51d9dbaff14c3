// Client sync against the real `kairos serve`, directly and through a proxy that fails (500,
// connection reset), stalls, serves garbage, a snapshot signed by another key or an older one,
// then recovers. Timers and randomness are injected: the tests fire timers themselves and assert
// what sync does and which delays it chose, never how long anything took.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import { Engine, initSync } from './load.mjs';
import { sync, fetchTransport, wxTransport, backoffDelay, isKairosError } from '../../pkg/index.js';
import { SafeStore, localStorageBackend } from '../../pkg/storage.js';
import { makeBrand } from './brand.mjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './paths.mjs';

const NOW = Date.parse('2026-11-20T14:20:00+08:00');
const brand = makeBrand();
const v1 = brand.snapshot(1);

/** Timers that only run when the test fires them. */
export function manualTimers() {
  const pending = new Map();
  let id = 0;
  return {
    setTimeout(fn, ms) { pending.set(++id, { fn, ms }); return id; },
    clearTimeout(handle) { pending.delete(handle); },
    /** The delays of the timers set and not yet fired or cleared. */
    delays: () => [...pending.values()].map((t) => t.ms).sort((a, b) => a - b),
    /** Runs the pending timer of `ms`. */
    fire(ms) {
      const entry = [...pending].find(([, t]) => t.ms === ms);
      assert.ok(entry, `a timer of ${ms} ms is pending (pending: ${[...pending.values()].map((t) => t.ms)})`);
      pending.delete(entry[0]);
      entry[1].fn();
    },
  };
}

function memoryStore() {
  const map = new Map();
  return new SafeStore({ get: (k) => map.get(k) ?? null, set: (k, v) => map.set(k, v) });
}

/** An HTTP proxy to `upstream` whose `mode` decides what each request gets. */
async function faultyProxy(upstream) {
  // `only`: the requests the fault applies to; the others pass.
  const proxy = { mode: 'pass', only: /^/, body: null, seen: [], stalled: [], waiting: [] };
  const server = createServer((req, res) => {
    proxy.seen.push({ path: req.url, ifNoneMatch: req.headers['if-none-match'] ?? null });
    for (const w of proxy.waiting.splice(0)) w();
    switch (proxy.only.test(req.url) ? proxy.mode : 'pass') {
      case '500': res.writeHead(500).end('internal error'); break;
      case 'reset': req.socket.destroy(); break;
      case 'stall': proxy.stalled.push(res); break;
      case 'bytes': res.writeHead(200, { 'content-type': 'application/vnd.kairos.snapshot', etag: '"bad"' }).end(proxy.body); break;
      default: {
        const headers = req.headers['if-none-match'] ? { 'if-none-match': req.headers['if-none-match'] } : {};
        httpRequest(`${upstream}${req.url}`, { headers }, (up) => {
          res.writeHead(up.statusCode, up.headers);
          up.pipe(res);
        }).on('error', () => req.socket.destroy()).end();
      }
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${server.address().port}`;
  proxy.nextRequest = () => new Promise((r) => proxy.waiting.push(r));
  proxy.close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
  return proxy;
}

/** A URL where nothing listens. */
async function deadUrl() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${s.address().port}`;
  await new Promise((r) => s.close(r));
  return url;
}

const BACKOFF = { baseMs: 1000, maxMs: 8000 };

test('through failures, stalls, garbage, forgeries and rollbacks the last good model keeps running; then it updates', async (t) => {
  const upstream = await brand.serve(2);
  const proxy = await faultyProxy(upstream.url);
  const timers = manualTimers();
  const draws = [0.5, 0.5, 0.9, 0.1, 0.999, 0.3];
  const random = () => draws.shift();
  const store = memoryStore();
  const events = [];
  proxy.mode = '500';
  const s = sync({
    url: proxy.url, publicKey: brand.publicKey, bundled: v1, store, transport: fetchTransport(), push: 'none',
    timers, random, now: () => NOW, intervalMs: 60_000, timeoutMs: 5_000, backoff: BACKOFF, installId: '00000000000000b2',
    onEvent: (e) => events.push(e),
  });
  t.after(async () => { s.stop(); await proxy.close(); await upstream.stop(); });

  // Usable at once, before any network answer.
  assert.equal(s.engine.modelVersion, 1);
  assert.deepEqual({ source: s.status.source, state: s.status.state, rejected: s.status.rejected }, { source: 'bundled', state: 'none', rejected: [] });
  s.engine.setConsent(true);
  s.engine.track({ type: 'follow', channel: 'wechat_oa' }, NOW);
  assert.equal(s.saveState(), true);
  assert.deepEqual(timers.delays(), [0], 'the first revalidation is queued, not run inside sync()');

  const keepsV1 = (what) => {
    assert.equal(s.engine.modelVersion, 1, what);
    assert.equal(s.engine.decide('home_hero', { page: 'home' }, NOW + 1000).reason, 'chosen', what);
    assert.equal(Engine.snapshotVersion(store.loadSnapshot()), 1, `${what}: the stored snapshot`);
  };
  const delays = [];
  let last304 = null;
  const failed = (outcome, attempt, what) => {
    const cap = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** attempt);
    assert.ok(outcome.retryInMs >= BACKOFF.baseMs && outcome.retryInMs <= cap, `${what}: ${outcome.retryInMs} ms within [1000, ${cap}]`);
    assert.deepEqual(timers.delays(), [outcome.retryInMs], `${what}: the next check waits the backoff delay`);
    assert.equal(s.status.failures, attempt);
    delays.push(outcome.retryInMs);
    keepsV1(what);
  };

  await t.test('HTTP 500', async () => {
    const o = await s.check();
    assert.deepEqual([o.type, o.reason, o.status, o.attempt], ['failure', 'http', 500, 1]);
    failed(o, 1, '500');
  });
  await t.test('connection reset', async () => {
    proxy.mode = 'reset';
    const o = await s.check();
    assert.deepEqual([o.type, o.reason, o.attempt], ['failure', 'network', 2]);
    failed(o, 2, 'reset');
  });
  await t.test('a server that never answers times out', async () => {
    proxy.mode = 'stall';
    const arrived = proxy.nextRequest();
    const pending = s.check();
    await arrived;
    assert.deepEqual(timers.delays(), [5_000], 'only the request timeout is pending');
    timers.fire(5_000);
    const o = await pending;
    assert.deepEqual([o.type, o.reason, o.attempt], ['failure', 'timeout', 3]);
    failed(o, 3, 'stall');
  });
  await t.test('garbage bytes are refused as corrupt', async () => {
    proxy.mode = 'bytes';
    proxy.body = Buffer.from('<html>502 Bad Gateway</html>');
    const o = await s.check();
    assert.deepEqual([o.type, o.code], ['rejected', 'SNAPSHOT_CORRUPT']);
    failed(o, 4, 'garbage');
  });
  await t.test("a snapshot signed by another key is refused", async () => {
    proxy.body = brand.snapshot(9, 'other');
    const o = await s.check();
    assert.deepEqual([o.type, o.code, o.version], ['rejected', 'SNAPSHOT_SIGNATURE', 9]);
    failed(o, 5, 'forged');
  });
  await t.test('backoff grows with jitter, capped', () => {
    assert.deepEqual(delays, [1500, 2500, 7300, 1700, 7993], 'base + random·(min(max, base·2^n) − base)');
    assert.deepEqual(delays, [1, 2, 3, 4, 5].map((n, i) => backoffDelay(n, () => [0.5, 0.5, 0.9, 0.1, 0.999][i], 1000, 8000)));
  });
  await t.test('the server recovers: the new version is applied, stored, and the backoff resets', async () => {
    proxy.mode = 'pass';
    assert.equal(store.records('state').length, 1);
    const o = await s.check();
    assert.deepEqual(o, { type: 'update', version: 2, previous: 1, source: 'server', stored: true }, 'the outcome has the fields sync.d.ts gives it');
    const states = store.records('state');
    // Stored by setConsent (1), saveState (2), then beside the new model (3).
    assert.deepEqual(states.map((r) => r.seq), [3], 'the profile was stored beside the new model, over the older copy once it read back');
    assert.equal(s.engine.modelVersion, 2);
    assert.equal(s.engine.stage(), 'window', 'the profile carried over to the new model');
    assert.deepEqual(timers.delays(), [60_000], 'back to the interval');
    assert.deepEqual({ failures: s.status.failures, lastError: s.status.lastError, source: s.status.source, updatedAt: s.status.updatedAt },
      { failures: 0, lastError: null, source: 'server', updatedAt: NOW });
    assert.equal(Engine.snapshotVersion(store.loadSnapshot()), 2);
    assert.deepEqual(events.filter((e) => e.type === 'update'), [{ type: 'update', version: 2, previous: 1, source: 'server', stored: true }]);
  });
  await t.test('revalidation is conditional: 304 when nothing changed', async () => {
    const o = await s.check();
    assert.deepEqual(o, { type: 'current', version: 2 });
    const last = proxy.seen.at(-1);
    assert.match(last.ifNoneMatch, /^"[0-9a-f]{64}"$/);
    last304 = last.ifNoneMatch;
    assert.equal(last.path, '/v1/channels/model/latest');
  });
  await t.test('an older version (rollback) is refused', async () => {
    proxy.mode = 'bytes';
    proxy.body = v1;
    const o = await s.check();
    assert.deepEqual([o.type, o.code, o.version], ['rejected', 'SNAPSHOT_NOT_NEWER', 1]);
    assert.equal(s.engine.modelVersion, 2);
    assert.equal(s.status.failures, 1, 'the backoff started over after the success');
    assert.ok(o.retryInMs >= 1000 && o.retryInMs <= 2000, `${o.retryInMs} ms: a first retry`);
    assert.equal(Engine.snapshotVersion(store.loadSnapshot()), 2);
  });
  await t.test('a restart with the server gone starts from the stored snapshot and profile', async () => {
    s.saveState();
    s.stop();
    assert.deepEqual(timers.delays(), [], 'stop() cleared every timer');
    const again = sync({ url: await deadUrl(), publicKey: brand.publicKey, bundled: v1, store, push: 'none',
      timers: manualTimers(), random: () => 0.5, backoff: BACKOFF });
    assert.deepEqual([again.engine.modelVersion, again.status.source, again.status.state], [2, 'stored', 'restored']);
    assert.equal(again.engine.stage(), 'window');
    const o = await again.check();
    assert.deepEqual([o.type, o.reason], ['failure', 'network']);
    assert.equal(again.engine.modelVersion, 2, 'offline, the stored model keeps running');
    assert.equal(again.status.reachable, false);
    again.stop();
    proxy.mode = 'pass';
    const online = sync({ url: proxy.url, publicKey: brand.publicKey, store, push: 'none', timers: manualTimers() });
    assert.deepEqual(await online.check(), { type: 'current', version: 2 });
    assert.equal(proxy.seen.at(-1).ifNoneMatch, last304, 'the first check after a restart sends the stored ETag');
    online.stop();
  });
});

test('long-poll push: a newly published version arrives without a reload', async (t) => {
  const server = await brand.serve(2);
  const store = memoryStore();
  const updates = [];
  let announced;
  const third = new Promise((r) => { announced = r; });
  const s = sync({ url: server.url, publicKey: brand.publicKey, bundled: v1, store, push: 'poll', pollWaitMs: 2_000,
    onEvent: (e) => { if (e.type === 'update') { updates.push(e.version); if (e.version === 3) announced(); } } });
  t.after(async () => { s.stop(); await server.stop(); });
  assert.equal(s.status.push, 'poll');
  assert.equal(s.engine.modelVersion, 1);
  assert.equal((await s.ready).modelVersion, 1);
  while (s.engine.modelVersion < 2) await new Promise((r) => s.on((e) => e.type === 'update' && r()));
  server.publish(3);
  await third;
  assert.deepEqual(updates, [2, 3]);
  assert.equal(Engine.snapshotVersion(store.loadSnapshot()), 3);
});

/** Resolves with the next event `pick` accepts. */
const next = (s, pick) => new Promise((resolve) => { const off = s.on((e) => { if (pick(e)) { off(); resolve(e); } }); });

/** Waits until the server publishes `version` (it looks at its model folder every 50 ms). */
async function published(server, version) {
  while ((await (await fetch(`${server.url}/v1/channels/model/meta`)).json()).version !== version) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('SSE push: an announced version is fetched; a stream that closed for good reopens after a backoff', async (t) => {
  const server = await brand.serve(2);
  const timers = manualTimers();
  const streams = [];
  class FakeEventSource {
    constructor(url) { Object.assign(this, { url, readyState: 0, listeners: {}, closed: false }); streams.push(this); }
    addEventListener(type, f) { (this.listeners[type] ??= []).push(f); }
    close() { this.readyState = 2; this.closed = true; }
    emit(type, data) { for (const f of this.listeners[type] ?? []) f({ data }); }
  }
  const s = sync({ url: server.url, publicKey: brand.publicKey, bundled: v1, store: memoryStore(), EventSource: FakeEventSource,
    timers, random: () => 0, backoff: BACKOFF, intervalMs: 60_000 });
  t.after(async () => { s.stop(); await server.stop(); });
  assert.equal(s.status.push, 'sse');
  assert.deepEqual(await s.check(), { type: 'update', version: 2, previous: 1, source: 'server', stored: true });
  timers.fire(0);
  assert.deepEqual(streams.map((e) => e.url), [`${server.url}/v1/channels/model/events`]);
  server.publish(3);
  await published(server, 3);
  const updated = next(s, (e) => e.type === 'update');
  streams[0].emit('snapshot', JSON.stringify({ channel: 'model', version: 3 }));
  assert.deepEqual(await updated, { type: 'update', version: 3, previous: 2, source: 'server', stored: true });
  streams[0].emit('error');
  assert.deepEqual(timers.delays(), [60_000], 'while the browser reconnects by itself, nothing more');
  const failed = next(s, (e) => e.type === 'failure');
  streams[0].readyState = 2;
  streams[0].emit('error');
  const f = await failed;
  assert.deepEqual([f.during, f.attempt, f.retryInMs], ['push', 1, 1000]);
  assert.equal(streams[0].closed, true);
  timers.fire(1000);
  assert.equal(streams.length, 2, 'reopened');
  s.stop();
  assert.equal(streams[1].closed, true);
});

test('long-poll push backs off on failure, resets on success, and stops polling on stop()', async (t) => {
  const upstream = await brand.serve(1);
  const proxy = await faultyProxy(upstream.url);
  const timers = manualTimers();
  const s = sync({ url: proxy.url, publicKey: brand.publicKey, bundled: v1, store: null, push: 'poll', pollWaitMs: 1_000,
    timers, random: () => 0.5, backoff: BACKOFF, intervalMs: 60_000 });
  t.after(async () => { s.stop(); await proxy.close(); await upstream.stop(); });
  proxy.only = /\/poll/;
  proxy.mode = '500';
  assert.deepEqual(await s.check(), { type: 'current', version: 1 });
  const pollFailure = () => next(s, (e) => e.type === 'failure' && e.during === 'push');
  let failed = pollFailure();
  timers.fire(0);
  assert.deepEqual(await failed.then((e) => [e.status, e.attempt, e.retryInMs]), [500, 1, 1500]);
  failed = pollFailure();
  timers.fire(1500);
  assert.deepEqual(await failed.then((e) => [e.attempt, e.retryInMs]), [2, 2500], 'the delay grows');
  proxy.mode = 'pass';
  upstream.publish(2);
  await published(upstream, 2);
  const updated = next(s, (e) => e.type === 'update');
  timers.fire(2500);
  assert.equal((await updated).version, 2, 'the poll announced v2 and the check fetched it');
  assert.match(proxy.seen.find((r) => r.path.includes('/poll') && r.path.includes('after=1')).path, /wait_ms=1000/);
  proxy.mode = '500';
  failed = pollFailure();
  timers.fire(0);
  assert.equal((await failed).attempt, 1, 'a success reset the push backoff');
  s.stop();
  assert.deepEqual(timers.delays(), []);
});

test('an injected transport: a long-poll answered at once with 204 does not turn into a tight loop', async () => {
  const timers = manualTimers();
  const asked = [];
  const transport = {
    get(req) {
      asked.push([new URL(req.url).pathname, req.responseType]);
      return Promise.resolve(req.url.includes('/poll') ? { status: 204, headers: {}, body: '' } : { status: 304, headers: {}, body: '' });
    },
  };
  const s = sync({ url: 'https://kairos.test/', publicKey: brand.publicKey, bundled: v1, store: null, transport, push: 'poll',
    timers, random: () => 0, backoff: BACKOFF, intervalMs: 60_000, now: () => NOW });
  timers.fire(0);
  timers.fire(0);
  await next(s, (e) => e.type === 'current');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(asked, [['/v1/channels/model/latest', 'arraybuffer'], ['/v1/channels/model/poll', 'text']]);
  assert.deepEqual(timers.delays(), [1_000, 60_000], 'the next poll waits a backoff delay (here its least, the base); the next check the interval');
  s.stop();
});

test('with nothing on hand, the engine comes with the first answer', async (t) => {
  const server = await brand.serve(4);
  const s = sync({ url: server.url, publicKey: brand.publicKey, store: null, push: 'none', timers: manualTimers() });
  t.after(async () => { s.stop(); await server.stop(); });
  assert.equal(s.engine, null);
  assert.equal(s.status.source, 'none');
  const o = await s.check();
  assert.deepEqual(o, { type: 'update', version: 4, previous: null, source: 'server', stored: false }, 'no store: nothing stored');
  assert.equal((await s.ready).modelVersion, 4);
  assert.equal(s.status.source, 'server');
  assert.throws(() => s.apply(v1), (e) => isKairosError(e) && e.code === 'SNAPSHOT_NOT_NEWER');
  assert.equal(s.engine.modelVersion, 4);
});

test('front-end review: ready rejects with SYNC_STOPPED when stop() comes before any snapshot verified, and stays as it was after', async () => {
  const offline = { get: () => Promise.reject(new Error('offline')) };
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, store: null, push: 'none', transport: offline, timers: manualTimers() });
  assert.equal(s.engine, null);
  s.stop();
  await assert.rejects(s.ready, (e) => isKairosError(e) && e.code === 'SYNC_STOPPED' && /before any snapshot verified/.test(e.message));
  // With an engine, stop() leaves ready resolved with it; one never awaited does not reject.
  const started = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, push: 'none', transport: offline, timers: manualTimers() });
  started.stop();
  assert.equal((await started.ready).modelVersion, 1);
  sync({ url: 'https://kairos.test', publicKey: brand.publicKey, store: null, push: 'none', transport: offline, timers: manualTimers() }).stop();
});

test('stop() abandons a request in flight', async (t) => {
  const proxy = await faultyProxy('http://127.0.0.1:9');
  proxy.mode = 'stall';
  t.after(() => proxy.close());
  const timers = manualTimers();
  const s = sync({ url: proxy.url, publicKey: brand.publicKey, bundled: v1, store: null, push: 'none', timers });
  const arrived = proxy.nextRequest();
  const pending = s.check();
  await arrived;
  s.stop();
  assert.deepEqual(await pending, { type: 'stopped' });
  assert.deepEqual(timers.delays(), []);
  assert.equal(s.engine.modelVersion, 1);
});

test('bad options are KairosErrors with a stable code', () => {
  const transport = fetchTransport();
  for (const [options, code] of [
    [{ url: '', publicKey: 'not a key' }, 'KEY_INVALID'],
    [{ url: '', publicKey: [] }, 'ARGUMENT_INVALID'],
    [{ url: 3, publicKey: brand.publicKey }, 'ARGUMENT_INVALID'],
    [{ url: '', publicKey: brand.publicKey, push: 'websocket' }, 'ARGUMENT_INVALID'],
    [{ url: '', publicKey: brand.publicKey, intervalMs: -1 }, 'ARGUMENT_INVALID'],
    [{ url: '', publicKey: brand.publicKey, push: 'sse' }, 'ARGUMENT_INVALID'], // Node 20 has no EventSource
    // Refused at once (a review: it was every snapshot refused with this code, and `ready` never resolved).
    [{ url: '', publicKey: brand.publicKey, installId: 'nothex' }, 'ARGUMENT_INVALID'],
    [{ url: '', publicKey: brand.publicKey, installId: 178 }, 'ARGUMENT_INVALID'],
    [{ url: '', publicKey: brand.publicKey, store: { getItem() {}, setItem() {} } }, 'ARGUMENT_INVALID'], // localStorage itself, say: a TypeError before
  ]) {
    assert.throws(() => sync({ transport, store: null, ...options }).stop(),
      (e) => isKairosError(e) && e.code === code, JSON.stringify(options));
  }
});

test('sync engines take traits only as tokens unless allowUnsignedTraits, also after reset()', async () => {
  const dead = await deadUrl();
  const hipo = (e) => e.segments({}, NOW).includes('hipo');
  const strict = sync({ url: dead, publicKey: brand.publicKey, bundled: v1, store: null, push: 'none', timers: manualTimers() });
  const engine = await strict.ready;
  engine.setConsent(true);
  assert.throws(() => engine.setTraits({ hipo: true }), (e) => isKairosError(e) && e.code === 'TRAITS_UNSIGNED');
  const fresh = strict.reset();
  fresh.setConsent(true);
  assert.throws(() => fresh.setTraits({ hipo: true }), (e) => e.code === 'TRAITS_UNSIGNED', 'reset keeps the trust');
  strict.stop();

  const dev = sync({ url: dead, publicKey: brand.publicKey, bundled: v1, store: null, push: 'none', timers: manualTimers(),
    allowUnsignedTraits: true });
  const devEngine = await dev.ready;
  devEngine.setConsent(true);
  devEngine.setTraits({ hipo: true });
  assert.ok(hipo(devEngine));
  const again = dev.reset();
  again.setConsent(true);
  again.setTraits({ hipo: true });
  assert.ok(hipo(again), 'reset keeps the development option');
  dev.stop();
});

// ---- Faults found in review (session 8): each test names the repro it pins. ----

/** A transport that answers `answer(request)` at once; `asked` lists the URLs. */
function answering(answer) {
  const asked = [];
  return { asked, get: (req) => { asked.push(req.url); return Promise.resolve(answer(req)); } };
}
const NOT_MODIFIED = { status: 304, headers: {}, body: '' };
const settled = () => new Promise((r) => setImmediate(r));

test('r6: a long-poll answered at once with a 200 that announces nothing new is paced like an early 204', async () => {
  for (const body of ['<html>Please log in to the hotel Wi-Fi</html>', '{"version":1}', '']) {
    const timers = manualTimers();
    const transport = answering((req) => (req.url.includes('/poll') ? { status: 200, headers: {}, body } : NOT_MODIFIED));
    const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport, push: 'poll',
      timers, random: () => 0, backoff: BACKOFF, intervalMs: 60_000, now: () => NOW });
    timers.fire(0);
    timers.fire(0);
    await next(s, (e) => e.type === 'current');
    await settled();
    assert.deepEqual(timers.delays(), [1_000, 60_000], `${JSON.stringify(body)}: the next poll waits a backoff delay (here the base)`);
    s.stop();
  }
});

test('intervalMs, pollWaitMs and backoff.baseMs of 0 do not spin: each is at least 1 s', async () => {
  const timers = manualTimers();
  const transport = answering((req) => (req.url.includes('/poll') ? { status: 204, headers: {}, body: '' } : NOT_MODIFIED));
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport, push: 'poll',
    timers, backoff: { baseMs: 0, maxMs: 0 }, intervalMs: 0, pollWaitMs: 0, now: () => NOW });
  timers.fire(0);
  timers.fire(0);
  await next(s, (e) => e.type === 'current');
  await settled();
  assert.deepEqual(timers.delays(), [1_000, 1_000], 'the next poll and the next check');
  assert.match(transport.asked.find((u) => u.includes('/poll')), /wait_ms=1000$/);
  s.stop();
});

test('r10: an answer larger than any snapshot is refused before it reaches Wasm memory; the model keeps running', async () => {
  const MAX = 48 + 16 * 1024 * 1024 + 64; // header + body limit + signature (docs/snapshot-format.md)
  const memory = () => initSync().memory.buffer.byteLength;
  const huge = new Uint8Array(MAX + 1);
  huge.set(v1.subarray(0, 48)); // a snapshot's header, so nothing refuses it by its first bytes
  const before = memory();
  const refused = (o, what) => {
    assert.deepEqual([o.type, o.code, o.version], ['rejected', 'SNAPSHOT_CORRUPT', null], what);
    assert.match(o.message, new RegExp(`more than a snapshot can be \\(${MAX}\\)`), what);
  };
  for (const [what, res] of [
    ['a body of MAX + 1 bytes', { status: 200, headers: {}, body: huge }],
    ['a Content-Length of MAX + 1 (the body not read)', { status: 200, headers: { 'Content-Length': String(MAX + 1) }, body: new Uint8Array(0) }],
  ]) {
    const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport: answering(() => res),
      push: 'none', timers: manualTimers() });
    refused(await s.check(), what);
    assert.equal(s.engine.modelVersion, 1);
    assert.throws(() => s.apply(huge), (e) => isKairosError(e) && e.code === 'SNAPSHOT_CORRUPT', 'apply() too');
    s.stop();
  }
  const grown = memory() - before;
  assert.ok(grown < MAX / 4, `the Wasm memory grew by ${grown} bytes, not by the body's size`);

  // fetchTransport does not even read a body whose Content-Length is too large.
  let read = false;
  let signal = null;
  const fetchFn = (url, init) => {
    signal = init.signal;
    return Promise.resolve({
      status: 200,
      headers: new Headers({ 'content-length': String(MAX + 1) }),
      arrayBuffer: () => { read = true; return Promise.resolve(huge.buffer); },
      text: () => { read = true; return Promise.resolve(''); },
    });
  };
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport: fetchTransport(fetchFn),
    push: 'none', timers: manualTimers() });
  refused(await s.check(), 'through fetchTransport');
  assert.deepEqual([read, signal.aborted], [false, true], 'the body was not read, the request was aborted');
  s.stop();

  // wxTransport aborts the download once the headers declare too large a body.
  let task = null;
  const wx = {
    request(opts) {
      task = {
        aborted: false,
        abort() { this.aborted = true; opts.fail({ errMsg: 'request:fail abort' }); },
        onHeadersReceived(f) { this.headers = f; },
      };
      return task;
    },
  };
  const w = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport: wxTransport(wx),
    push: 'none', timers: manualTimers() });
  const checked = w.check();
  task.headers({ header: { 'Content-Length': String(MAX + 1) }, statusCode: 200 });
  refused(await checked, 'through wxTransport');
  assert.equal(task.aborted, true, 'the download was aborted at the headers');
  w.stop();

  // Nor does it buffer an endless body that declares no Content-Length: it stops past the largest snapshot.
  let pulled = 0;
  let cancelled = false;
  const endless = (url, init) => {
    signal = init.signal;
    const body = new ReadableStream({
      pull(c) { pulled++; c.enqueue(new Uint8Array(1 << 20)); },
      cancel() { cancelled = true; },
    });
    return Promise.resolve({ status: 200, headers: new Headers({}), body, arrayBuffer: () => { read = true; return Promise.resolve(huge.buffer); } });
  };
  const t = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport: fetchTransport(endless),
    push: 'none', timers: manualTimers() });
  refused(await t.check(), 'an endless body through fetchTransport');
  assert.equal(t.engine.modelVersion, 1);
  assert.ok(pulled <= MAX / (1 << 20) + 3, `read ${pulled} MiB of an endless body`);
  assert.deepEqual([read, cancelled, signal.aborted], [false, true, true], 'read as a stream, then cancelled and aborted');
  t.stop();
});

test('r12: a transport that resolves with no response is a failed request: checks and polls go on', async () => {
  for (const bad of [undefined, null, 'OK', 204]) {
    const timers = manualTimers();
    let latest = 0;
    const transport = answering((req) => (req.url.includes('/poll') || latest++ === 0 ? bad : NOT_MODIFIED));
    const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport, push: 'poll',
      timers, random: () => 0, backoff: BACKOFF, intervalMs: 60_000 });
    const failures = [];
    s.on((e) => { if (e.type === 'failure') failures.push([e.during, e.reason, e.retryInMs]); });
    const o = await s.check();
    assert.deepEqual([o.type, o.reason, o.attempt, o.retryInMs], ['failure', 'network', 1, 1000], String(bad));
    assert.deepEqual(timers.delays(), [0, 1000], `${bad}: the push timer and the retry`);
    timers.fire(1000);
    assert.deepEqual(await next(s, (e) => e.type === 'current'), { type: 'current', version: 1 }, 'the retry ran');
    timers.fire(0);
    await settled();
    assert.deepEqual(failures, [['check', 'network', 1000], ['push', 'network', 1000]]);
    assert.deepEqual(timers.delays(), [1000, 60_000], `${bad}: the poll is retried after a backoff`);
    s.stop();
  }
});

test('r8: the default store keeps channels and servers apart; the default channel reads what earlier releases stored', async (t) => {
  const data = new Map();
  globalThis.localStorage = { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)) };
  t.after(() => { delete globalThis.localStorage; });
  const [v2, v3, v5] = [2, 3, 5].map((v) => brand.snapshot(v));
  const start = (url, channel, bytes) => sync({ url, channel, publicKey: brand.publicKey, push: 'none', timers: manualTimers(),
    transport: answering(() => ({ status: 200, headers: { etag: `"${channel}"` }, body: bytes })) });

  const zh = start('https://kairos.test', 'model-zh', v5);
  assert.equal((await zh.check()).version, 5);
  zh.stop();
  const en = start('https://kairos.test', 'model-en', v3);
  assert.equal(en.engine, null, "channel model-zh's copy is not model-en's");
  assert.deepEqual(await en.check(), { type: 'update', version: 3, previous: null, source: 'server', stored: true }, 'no rollback');
  en.stop();
  const staging = start('https://staging.kairos.test/', 'model-zh', v2);
  assert.equal(staging.engine, null, "nor another server's");
  staging.stop();
  for (const [channel, version] of [['model-zh', 5], ['model-en', 3]]) {
    const again = start('https://kairos.test', channel, null);
    assert.deepEqual([again.engine.modelVersion, again.status.source], [version, 'stored'], channel);
    again.stop();
  }
  assert.ok(data.has('kairos:kairos.test/model-zh.snapshot.a') && data.has('kairos:kairos.test/model-en.snapshot.a'), [...data.keys()].join());

  // An earlier release stored everything under `kairos.*`: the default channel starts from it.
  const old = new SafeStore(localStorageBackend(globalThis.localStorage));
  const e = Engine.fromSignedSnapshot(v2, brand.publicKey, '00000000000000b2');
  e.setConsent(true);
  e.track({ type: 'follow', channel: 'wechat_oa' }, NOW);
  old.saveSnapshot(v2);
  old.saveState(e.exportState());
  const s = start('https://kairos.test', undefined, v3);
  assert.deepEqual([s.engine.modelVersion, s.status.source, s.status.state, s.engine.stage()], [2, 'stored', 'restored', 'window']);
  assert.equal((await s.check()).version, 3);
  s.stop();
  const later = start('https://kairos.test', 'model', null);
  assert.deepEqual([later.engine.modelVersion, later.status.state, later.engine.stage()], [3, 'restored', 'window']);
  later.stop();
  assert.deepEqual([old.loadSnapshot(), old.loadState()], [null, null], 'the old copies were cleared once the new ones were written');
  assert.equal(start('https://kairos.test', 'model-zh', null).engine.modelVersion, 5, 'other channels never read them');
});

test('an update whose copy cannot be stored says so (stored: false), and a store that throws does not turn it into a refusal', async (t) => {
  const full = new SafeStore({ get: () => null, set: () => { throw new Error('QuotaExceededError'); } });
  const throwing = memoryStore();
  throwing.saveSnapshot = () => { throw new Error('a host store'); };
  throwing.saveState = () => { throw new Error('a host store'); };
  const v2 = brand.snapshot(2);
  for (const [what, store] of [['quota', full], ['throws', throwing]]) {
    const s = sync({ url: 'https://kairos.test/', publicKey: brand.publicKey, bundled: v1, store, push: 'none', timers: manualTimers(),
      transport: answering(() => ({ status: 200, headers: { etag: '"2"' }, body: v2 })) });
    t.after(() => s.stop());
    const events = [];
    s.on((e) => events.push(e.type));
    assert.deepEqual(await s.check(), { type: 'update', version: 2, previous: 1, source: 'server', stored: false }, what);
    assert.equal(s.engine.modelVersion, 2, `${what}: the new model runs`);
    assert.deepEqual(events, ['update'], `${what}: no rejection reported`);
  }
  const ok = memoryStore();
  const s = sync({ url: 'https://kairos.test/', publicKey: brand.publicKey, bundled: v1, store: ok, push: 'none', timers: manualTimers(),
    transport: answering(() => ({ status: 200, headers: { etag: '"2"' }, body: v2 })) });
  t.after(() => s.stop());
  assert.equal((await s.check()).stored, true);
});

test('an erasure under sync lasts: forget() and a withdrawn consent are stored at once, the next start restores neither the old profile nor loses the forgotten report', async () => {
  const dead = await deadUrl();
  for (const erase of [(e) => e.forget(undefined, NOW + 1000), (e) => e.setConsent(false)]) {
    const store = memoryStore();
    const options = { url: dead, publicKey: brand.publicKey, bundled: v1, store, push: 'none', timers: manualTimers() };
    const first = sync(options);
    const e = first.engine;
    e.setConsent(true);
    e.track({ type: 'view', category: 'qipao', price: 399 }, NOW);
    e.drainOutbox();
    assert.equal(first.saveState(), true);
    erase(e); // the host does not save again
    first.stop();
    const next = sync(options); // the next page load
    assert.equal(next.status.state, 'restored');
    assert.equal(next.engine.consent, false, 'consent as the erasure left it');
    assert.equal(next.engine.features(NOW).views_7d, 0, 'the views are gone');
    next.stop();
  }
  // The forgotten report is in the stored outbox, for the next send.
  const store = memoryStore();
  const options = { url: dead, publicKey: brand.publicKey, bundled: v1, store, push: 'none', timers: manualTimers() };
  const first = sync(options);
  first.engine.setConsent(true);
  first.engine.drainOutbox();
  first.engine.forget(undefined, NOW);
  first.stop();
  const next = sync(options);
  assert.deepEqual(next.engine.drainOutbox().map((ev) => ev.type), ['forgotten']);
  next.stop();
});

test('an erasure that cannot be stored (storage full) erases the stored profile: the next start never restores it', async () => {
  const dead = await deadUrl();
  for (const [what, erase] of [['forget', (e) => e.forget(undefined, NOW + 1000)], ['a withdrawal', (e) => e.setConsent(false)]]) {
    for (const room of ['room once the old copies go', 'no room at all']) {
      // Storage with a quota, as wx storage and localStorage have: a write that grows the total past it
      // throws (one that shrinks a value never does).
      const map = new Map();
      let quota = Infinity;
      const used = () => [...map.values()].reduce((n, v) => n + v.length, 0);
      const backend = {
        get: (k) => map.get(k) ?? null,
        set: (k, v) => {
          const was = map.get(k)?.length ?? 0;
          if (v.length > was && used() - was + v.length > quota) throw new Error('setStorageSync:fail exceed storage max size 10Mb');
          map.set(k, v);
        },
      };
      const options = { url: dead, publicKey: brand.publicKey, bundled: v1, store: new SafeStore(backend), push: 'none', timers: manualTimers() };
      const first = sync(options);
      const e = first.engine;
      e.setConsent(true);
      for (let i = 0; i < 5; i++) e.track({ type: 'view', category: 'qipao', price: 399 }, NOW + i);
      e.drainOutbox();
      assert.equal(first.saveState(), true);
      quota = room === 'no room at all' ? 0 : used(); // the host app filled the rest
      erase(e);
      first.stop();
      const next = sync({ ...options, store: new SafeStore(backend) });
      const at = `${what}, ${room}`;
      assert.notEqual(next.engine.consent, true, `${at}: consent does not come back`);
      assert.equal(next.engine.features(NOW + 10).views_7d, 0, `${at}: the views do not come back`);
      if (room === 'no room at all') {
        assert.equal(next.status.state, 'none', `${at}: no profile stored`);
      } else {
        assert.equal(next.status.state, 'restored', `${at}: the erased profile was stored once there was room`);
        assert.deepEqual(next.engine.drainOutbox().map((ev) => ev.type), ['forgotten'], `${at}: with its erasure request`);
      }
      next.stop();
    }
  }
  // Not an erasure, so the stored copy stays when the write fails: a withdrawal without consent
  // given (review: it erased the copy, losing the install id and an unsent erasure request), and
  // a consent given. (`reset()` keeps the last good copy too: storage.test.mjs, review r9.)
  for (const [what, act] of [
    ['setConsent(false) without consent given', (s) => s.engine.setConsent(false)],
    ['setConsent(true)', (s) => s.engine.setConsent(true)],
  ]) {
    const map = new Map();
    let full = false;
    const backend = {
      get: (k) => map.get(k) ?? null,
      set: (k, v) => {
        if (full && v.length > (map.get(k)?.length ?? 0)) throw new Error('QuotaExceededError');
        map.set(k, v);
      },
    };
    const options = { url: dead, publicKey: brand.publicKey, bundled: v1, store: new SafeStore(backend), push: 'none', timers: manualTimers() };
    const first = sync(options);
    assert.equal(first.saveState(), true);
    const before = first.engine.exportState();
    full = true;
    act(first);
    first.stop();
    const next = sync({ ...options, store: new SafeStore(backend) });
    assert.equal(next.status.state, 'restored', `${what}: the stored copy stays`);
    assert.deepEqual(next.engine.exportState(), before, `${what}: as it was`);
    next.stop();
  }
});

test('a bundled copy refused at start is reported as a rejected event after sync() returns; a key that does not parse throws at once; a .pub file text is a key', async () => {
  const dead = await deadUrl();
  const unsigned = new Uint8Array(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
  const html = new TextEncoder().encode('<!doctype html><title>404</title>');
  for (const [bundled, code] of [[unsigned, 'SNAPSHOT_SIGNATURE'], [html, 'SNAPSHOT_CORRUPT'], [brand.snapshot(2, 'other'), 'SNAPSHOT_SIGNATURE']]) {
    const heard = [];
    const s = sync({ url: dead, publicKey: brand.publicKey, bundled, store: null, push: 'none', timers: manualTimers() });
    s.on((ev) => heard.push(ev));
    assert.equal(s.engine, null);
    await Promise.resolve();
    assert.deepEqual(heard.map((ev) => [ev.type, ev.from, ev.code]), [['rejected', 'bundled', code]]);
    assert.equal(typeof heard[0].message, 'string');
    assert.deepEqual(s.status.rejected.map((r) => r.code), [code]);
    s.stop();
  }
  // A key whose text has the prefix but not a key after it: thrown by sync(), not every snapshot refused later.
  for (const publicKey of ['kairos-ed25519-public:typo', [brand.publicKey, 'kairos-ed25519-public:AAAA'], 'ed25519:xyz']) {
    assert.throws(() => sync({ url: dead, publicKey, bundled: v1, store: null, push: 'none', timers: manualTimers() }),
      (e) => isKairosError(e) && e.code === 'KEY_INVALID' && e.message.startsWith('sync: '), JSON.stringify(publicKey));
  }
  // The whole .pub file as `kairos keygen` writes it (a comment line, then the key).
  const pub = readFileSync(join(brand.dir, 'brand.pub'), 'utf8');
  assert.ok(pub.startsWith('#'), pub);
  const s = sync({ url: dead, publicKey: pub, bundled: v1, store: null, push: 'none', timers: manualTimers() });
  assert.equal(s.engine.modelVersion, 1);
  s.stop();
});

// ---- Faults found in the review of serve and sync (/tmp/review-serve.md §3 to §6). ----

/** An EventSource that the test drives: `emit('snapshot', json)` is a message of the server. */
class FakeEventSource {
  constructor(url) { Object.assign(this, { url, readyState: 0, listeners: {} }); }
  addEventListener(type, f) { (this.listeners[type] ??= []).push(f); }
  close() { this.readyState = 2; }
  emit(type, data) { for (const f of this.listeners[type] ?? []) f({ data }); }
}
const meta = (version) => JSON.stringify({ channel: 'model', version });

test('§3: a re-announced version (each SSE reconnect sends it) does not skip the backoff that its refusal scheduled', async () => {
  const timers = manualTimers();
  const forged = brand.snapshot(2, 'other');
  const held = []; // answers of /latest the test releases itself, while `hold`
  let hold = false;
  const asked = [];
  const transport = {
    get(req) {
      asked.push(req.url);
      const answer = { status: 200, headers: {}, body: forged };
      return hold ? new Promise((r) => held.push(() => r(answer))) : Promise.resolve(answer);
    },
  };
  let stream = null;
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport,
    EventSource: class extends FakeEventSource { constructor(url) { super(url); stream = this; } },
    timers, random: () => 0.5, backoff: BACKOFF, intervalMs: 60_000 });
  const events = [];
  s.on((e) => events.push(e.type));
  const o = await s.check();
  assert.deepEqual([o.type, o.code, o.retryInMs], ['rejected', 'SNAPSHOT_SIGNATURE', 1500]);
  timers.fire(0); // the event stream opens and announces the refused v2: new to push, so checked at once
  stream.emit('snapshot', meta(2));
  await settled();
  assert.equal(asked.length, 2);
  assert.deepEqual(timers.delays(), [2500], 'the second refusal backed off further');
  for (let i = 0; i < 5; i++) {
    stream.emit('snapshot', meta(2)); // the stream reconnects, the server sends the current meta again
    await settled();
  }
  assert.equal(asked.length, 2, 'no download per reconnect');
  assert.deepEqual(timers.delays(), [2500], 'the backoff holds');
  assert.equal(s.status.failures, 2);

  // A higher version announced while a check is in flight that then fails is news: checked once
  // more at once (final review: it waited for the backoff), and then the backoff holds again.
  hold = true;
  timers.fire(2500);
  stream.emit('snapshot', meta(3));
  held.shift()();
  await settled();
  assert.equal(asked.length, 4, 'checked once more at once');
  held.shift()();
  await settled();
  assert.deepEqual([asked.length, s.status.failures, timers.delays()], [4, 4, [4500]], 'then the backoff holds');
  stream.emit('snapshot', meta(3));
  await settled();
  assert.equal(asked.length, 4, 'a re-announcement still waits');
  assert.deepEqual(events, ['rejected', 'rejected', 'rejected', 'rejected']);
  s.stop();
});

test('§5: a version announced before /latest serves it (an instance or edge behind) is asked for again on the backoff schedule, not an interval later', async () => {
  const timers = manualTimers();
  let served = 2;
  const transport = answering(() => (served === 2 ? NOT_MODIFIED : { status: 200, headers: { etag: `"${served}"` }, body: brand.snapshot(served) }));
  let stream = null;
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: brand.snapshot(2), store: null, transport,
    EventSource: class extends FakeEventSource { constructor(url) { super(url); stream = this; } },
    timers, random: () => 0.5, backoff: BACKOFF, intervalMs: 60_000 });
  const events = [];
  s.on((e) => events.push(e.type));
  assert.deepEqual(await s.check(), { type: 'current', version: 2 });
  timers.fire(0);
  assert.deepEqual(timers.delays(), [60_000]);
  stream.emit('snapshot', meta(3));
  await settled();
  const delays = [];
  for (let i = 0; i < 4; i++) {
    [delays[i]] = timers.delays();
    timers.fire(delays[i]);
    await settled();
  }
  assert.deepEqual(delays, [1500, 2500, 4500, 4500], 'growing with jitter, capped at maxMs');
  assert.deepEqual([s.engine.modelVersion, s.status.failures, s.status.lastError], [2, 0, null], 'no failure made up');
  assert.deepEqual(new Set(events), new Set(['current']), 'each check reported what it found');
  served = 3;
  timers.fire(4500);
  await settled();
  assert.deepEqual([s.engine.modelVersion, timers.delays()], [3, [60_000]], 'once it is there, back to the interval');
  stream.emit('snapshot', meta(4));
  await settled();
  assert.deepEqual(timers.delays(), [1500], 'the backoff started over');
  // A version that is never served (final review: asked on the backoff for the page's life): six
  // tries, then the interval.
  const tries = [];
  for (let i = 0; i < 7; i++) {
    [tries[i]] = timers.delays();
    timers.fire(tries[i]);
    await settled();
  }
  assert.deepEqual(tries, [1500, 2500, 4500, 4500, 4500, 4500, 60_000]);
  assert.equal(s.engine.modelVersion, 3);
  s.stop();
});

test('§4: a long-poll answer longer than 64 KiB is not read past that and is a push failure, through fetch, wx and any transport', async () => {
  const CAP = 64 * 1024;
  const run = async (transport, release = () => {}) => {
    const timers = manualTimers();
    const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport, push: 'poll',
      timers, random: () => 0, backoff: BACKOFF, intervalMs: 60_000 });
    const failures = [];
    s.on((e) => { if (e.type === 'failure') failures.push([e.during, e.reason, e.status, e.attempt, e.retryInMs]); });
    timers.fire(0);
    timers.fire(0);
    await settled();
    release();
    for (let i = 0; i < 20 && !failures.length; i++) await settled();
    s.stop();
    return failures;
  };
  const failed = [['push', 'http', 200, 1, 1000]];
  // fetch: a body of 1 MiB with no Content-Length (a captive portal's, a broken proxy's).
  let pulled = 0;
  let cancelled = false;
  let signal = null;
  const chunked = (url, init) => {
    if (url.endsWith('/latest')) return Promise.resolve(new Response(null, { status: 304 }));
    signal = init.signal;
    return Promise.resolve(new Response(new ReadableStream({
      pull(c) { if (++pulled > 64) c.close(); else c.enqueue(new Uint8Array(16 * 1024).fill(32)); },
      cancel() { cancelled = true; },
    }), { status: 200 }));
  };
  assert.deepEqual(await run(fetchTransport(chunked)), failed, 'fetch, no Content-Length');
  assert.ok(pulled <= CAP / (16 * 1024) + 3, `read ${pulled} chunks of 16 KiB`);
  assert.deepEqual([cancelled, signal.aborted], [true, true]);
  // fetch: a Content-Length over the cap: not read at all.
  let read = false;
  const declared = (url) => Promise.resolve(url.endsWith('/latest') ? new Response(null, { status: 304 }) : {
    status: 200, headers: new Headers({ 'content-length': String(CAP + 1) }),
    text: () => { read = true; return Promise.resolve(''); }, arrayBuffer: () => { read = true; return Promise.resolve(new ArrayBuffer(0)); },
  });
  assert.deepEqual(await run(fetchTransport(declared)), failed, 'fetch, Content-Length');
  assert.equal(read, false);
  // wx: the headers declare more than the cap; the download is aborted.
  let task = null;
  const wx = {
    request(opts) {
      if (opts.url.endsWith('/latest')) { setImmediate(() => opts.success({ statusCode: 304, header: {}, data: new ArrayBuffer(0) })); return {}; }
      task = { aborted: false, abort() { this.aborted = true; opts.fail({ errMsg: 'request:fail abort' }); }, onHeadersReceived(f) { this.headers = f; } };
      task.success = () => opts.success({ statusCode: 200, header: {}, data: '' });
      return task;
    },
  };
  assert.deepEqual(await run(wxTransport(wx), () => {
    task.headers({ header: { 'Content-Length': String(CAP + 1) }, statusCode: 200 });
    if (!task.aborted) task.success();
  }), failed, 'wx');
  assert.equal(task.aborted, true, 'aborted at the headers');
  // Any transport that hands over a longer text.
  const long = answering((req) => (req.url.endsWith('/latest') ? NOT_MODIFIED : { status: 200, headers: {}, body: ' '.repeat(CAP + 1) }));
  assert.deepEqual(await run(long), failed, 'a long string');
});

test('§6: long-polls answered at once back off with jitter, growing with each, until one is held or announces something new', async () => {
  const timers = manualTimers();
  let clock = NOW;
  let answer = () => ({ status: 204, headers: {}, body: '' });
  let latest = NOT_MODIFIED;
  const transport = answering((req) => (req.url.includes('/poll') ? answer() : latest));
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport, push: 'poll',
    timers, random: () => 0.5, backoff: BACKOFF, intervalMs: 60_000, now: () => clock });
  const pollDelay = () => timers.delays().filter((d) => d !== 60_000)[0];
  const nextPoll = async () => {
    const d = pollDelay();
    timers.fire(d);
    await settled();
    return pollDelay();
  };
  timers.fire(0);
  timers.fire(0);
  await settled();
  const delays = [pollDelay()];
  for (let i = 0; i < 3; i++) delays.push(await nextPoll());
  assert.deepEqual(delays, [1500, 2500, 4500, 4500], 'backoffDelay over the early answers, capped at maxMs');
  answer = () => { clock += 25_000; return { status: 204, headers: {}, body: '' }; }; // held the whole wait
  assert.equal(await nextPoll(), 0, 'a held poll: the next one at once');
  answer = () => ({ status: 204, headers: {}, body: '' });
  assert.equal(await nextPoll(), 1500, 'the backoff started over');
  assert.equal(await nextPoll(), 2500);
  answer = () => ({ status: 200, headers: {}, body: meta(1) });
  assert.equal(await nextPoll(), 4500, 'the version that runs is nothing new');
  answer = () => ({ status: 200, headers: {}, body: meta(2) });
  latest = { status: 200, headers: {}, body: brand.snapshot(2) };
  assert.equal(await nextPoll(), 0, 'a new version: the next poll at once');
  assert.deepEqual([s.engine.modelVersion, timers.delays()], [2, [0, 60_000]], 'and checked');
  answer = () => ({ status: 204, headers: {}, body: '' });
  assert.equal(await nextPoll(), 1500, 'the backoff started over');
  assert.match(transport.asked.at(-1), /after=2&/);
  s.stop();
});

test('a timeoutMs of 0 does not time every request out at once: at least 1 s, like the other delays', async () => {
  const timers = manualTimers();
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, push: 'none',
    transport: { get: () => new Promise(() => {}) }, timers, timeoutMs: 0 });
  const pending = s.check();
  await settled();
  assert.deepEqual(timers.delays(), [1000], 'the request times out after 1 s');
  s.stop();
  assert.deepEqual(await pending, { type: 'stopped' });
});

test('a first visit (nothing on hand) asks at once, without waiting for a timer: a timer waits for the page to render', async (t) => {
  const upstream = await brand.serve(1);
  const proxy = await faultyProxy(upstream.url);
  const timers = manualTimers();
  const asked = proxy.nextRequest();
  const s = sync({ url: proxy.url, publicKey: brand.publicKey, store: memoryStore(), push: 'none', timers, installId: '00000000000000b2' });
  t.after(async () => { s.stop(); await proxy.close(); await upstream.stop(); });
  assert.equal(s.engine, null);
  assert.deepEqual(proxy.seen, [], 'sync() returns before any request');
  assert.deepEqual(timers.delays(), [], 'no timer stands between sync() and the first request');
  assert.equal(s.status.nextCheckInMs, 0);
  await asked;
  assert.deepEqual(proxy.seen.map((r) => r.path), ['/v1/channels/model/latest']);
  assert.equal((await s.ready).modelVersion, 1);
  // With a model on hand the first revalidation is a timer's, as before.
  const later = manualTimers();
  const again = sync({ url: proxy.url, publicKey: brand.publicKey, bundled: v1, push: 'none', timers: later, installId: '00000000000000b2' });
  t.after(() => again.stop());
  assert.equal(again.engine.modelVersion, 1);
  assert.deepEqual(later.delays(), [0]);
});

test("a host's store that throws when the ETag is saved does not end the checks (review)", async (t) => {
  const upstream = await brand.serve(1);
  const timers = manualTimers();
  class Throwing extends SafeStore {
    save(key, bytes, keep) {
      if (key === 'etag') throw new Error('quota exceeded');
      return super.save(key, bytes, keep);
    }
  }
  const map = new Map();
  const store = new Throwing({ get: (k) => map.get(k) ?? null, set: (k, v) => map.set(k, v) });
  const s = sync({ url: upstream.url, publicKey: brand.publicKey, store, push: 'none', timers, intervalMs: 60_000, installId: '00000000000000b2' });
  t.after(async () => { s.stop(); await upstream.stop(); });
  assert.equal((await s.ready).modelVersion, 1);
  await s.check();
  assert.equal(s.engine.modelVersion, 1);
  assert.deepEqual(timers.delays(), [60_000], 'the next check is scheduled');
  assert.equal(Engine.snapshotVersion(store.loadSnapshot()), 1, 'the snapshot was stored all the same');
});

// Mini-program review: `kairos serve` answers a long-poll over --max-push with 503 and
// `Retry-After: 30`, and sync came back after 1 to 2 s. A failed check or poll now waits at least
// what Retry-After asks (seconds, in any header case), at most the longest backoff.
test('a 503 with Retry-After is retried no sooner than it asks, and no later than the longest backoff', async () => {
  for (const [header, value, want] of [['Retry-After', '30', 30_000], ['retry-after', '3600', 300_000], ['Retry-After', 'soon', 1_000]]) {
    const timers = manualTimers();
    const busy = { status: 503, headers: { [header]: value }, body: '' };
    const transport = answering(() => busy);
    const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, transport, push: 'poll',
      timers, random: () => 0, backoff: { baseMs: 1000, maxMs: 300_000 }, intervalMs: 60_000, now: () => NOW });
    const failures = [];
    s.on((e) => { if (e.type === 'failure') failures.push([e.during, e.status, e.retryInMs]); });
    timers.fire(0);
    timers.fire(0);
    await settled();
    await settled();
    assert.deepEqual(failures.sort(), [['check', 503, want], ['push', 503, want]], `${header}: ${value}`);
    assert.deepEqual(timers.delays(), [want, want]);
    s.stop();
  }
});

// Hostile-input review: a 200,000-character ETag (a proxy's, a captive portal's) was stored, and every
// later start threw a RangeError (the record was spread into String.fromCharCode). An ETag no
// server writes is neither sent back nor stored; a long stored record is no ETag.
test('an ETag longer than 256 characters is neither kept nor stored, and a long stored one does not stop a start', async () => {
  const store = memoryStore();
  const v2 = brand.snapshot(2);
  const transport = answering(() => ({ status: 200, headers: { ETag: `"${'x'.repeat(200_000)}"` }, body: v2 }));
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store, push: 'none', transport, timers: manualTimers() });
  assert.equal((await s.check()).type, 'update');
  assert.equal(store.load('etag'), null, 'not stored');
  assert.deepEqual(transport.asked.length, 1);
  await s.check();
  s.stop();
  store.save('etag', Uint8Array.from(`2 "${'y'.repeat(200_000)}"`, (c) => c.charCodeAt(0)));
  const again = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, store, push: 'none', transport, timers: manualTimers() });
  assert.equal(again.engine.modelVersion, 2, 'started from the stored snapshot');
  again.stop();
});

// Hostile-input review: options were read through the prototype chain, so a page whose
// Object.prototype was polluted (`allowUnsigned: true`) took unsigned snapshots and traits.
test("a polluted Object.prototype switches no signature check off; a class's getters and methods still count", async () => {
  const unsigned = new Uint8Array(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
  Object.prototype.allowUnsigned = true;
  Object.prototype.allowUnsignedTraits = true;
  Object.prototype.installId = '00000000000000ee'; // would be every new install's id
  try {
    const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: unsigned, store: null, push: 'none',
      transport: answering(() => NOT_MODIFIED), timers: manualTimers() });
    assert.equal(s.engine, null, 'the unsigned bundled snapshot is refused');
    assert.deepEqual(s.status.rejected.map((r) => r.code), ['SNAPSHOT_SIGNATURE']);
    s.stop();
    const signedSync = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, push: 'none',
      transport: answering(() => NOT_MODIFIED), timers: manualTimers() });
    assert.notEqual(signedSync.engine.pid, '00000000000000ee', "the prototype's installId is not taken");
    signedSync.stop();
    // Review of the fix: the prototype of another realm (an iframe's), a chain of proxies without
    // end, and a class with private fields.
    const { runInNewContext } = await import('node:vm');
    const foreign = runInNewContext('Object.prototype.allowUnsigned = true; ({})');
    assert.throws(() => Engine.fromSignedSnapshot(unsigned, brand.publicKey, '00000000000000b2', foreign), { code: 'SNAPSHOT_SIGNATURE' });
    const endless = new Proxy({}, { getPrototypeOf: () => endless });
    assert.throws(() => Engine.fromSignedSnapshot(unsigned, brand.publicKey, '00000000000000b2', endless), { code: 'SNAPSHOT_SIGNATURE' });
    class Private {
      #on = true;
      get allowUnsigned() { return this.#on; }
    }
    assert.equal(Engine.fromSignedSnapshot(unsigned, brand.publicKey, '00000000000000b2', new Private()).modelVersion, 1);
    // A subclass's instance: the getter two steps up its chain counts too (mutation audit).
    class DevConfig extends Private {}
    class LocalConfig extends DevConfig {}
    assert.equal(Engine.fromSignedSnapshot(unsigned, brand.publicKey, '00000000000000b2', new LocalConfig()).modelVersion, 1);
    // Third review: options that throw while read were used as they were (the prototype's flags
    // counted again), and `backoff`'s fields came from the prototype.
    const throwing = { get allowUnsignedTraits() { throw new Error('no'); } };
    assert.throws(() => Engine.fromSignedSnapshot(unsigned, brand.publicKey, '00000000000000b2', throwing), { code: 'ARGUMENT_INVALID' });
    assert.throws(() => sync({ url: 'https://kairos.test', publicKey: brand.publicKey, get installId() { throw new Error('no'); } }), { code: 'ARGUMENT_INVALID' });
    Object.prototype.baseMs = 1e9;
    const timers = manualTimers();
    const slow = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, push: 'none', backoff: {},
      transport: answering(() => ({ status: 500, headers: {}, body: '' })), timers, random: () => 0 });
    await slow.check();
    assert.deepEqual(timers.delays(), [1000], "the backoff's base is the default, not the prototype's");
    slow.stop();
    assert.throws(() => Engine.fromSignedSnapshot(unsigned, brand.publicKey, '00000000000000b2', {}), { code: 'SNAPSHOT_SIGNATURE' });
    const signed = Engine.fromSignedSnapshot(v1, brand.publicKey, '00000000000000b2', {});
    signed.setConsent(true);
    assert.throws(() => signed.setTraits({ tier: 'gold' }), { code: 'TRAITS_UNSIGNED' });
  } finally {
    delete Object.prototype.allowUnsigned;
    delete Object.prototype.allowUnsignedTraits;
    delete Object.prototype.installId;
    delete Object.prototype.baseMs;
  }
  // Given as own properties, or by the host's class, they count.
  assert.equal(Engine.fromSignedSnapshot(unsigned, brand.publicKey, '00000000000000b2', { allowUnsigned: true }).modelVersion, 1);
  // Diff review: options copied as own properties lost a class's getters and methods (`installId`
  // replaced by a drawn one, `onEvent` dropped).
  const events = [];
  class Config {
    constructor() { Object.assign(this, { url: 'https://kairos.test', publicKey: brand.publicKey, bundled: unsigned, store: null, push: 'none', transport: answering(() => NOT_MODIFIED), timers: manualTimers() }); }
    get installId() { return '00000000000000c7'; }
    get allowUnsigned() { return true; }
    onEvent(e) { events.push(e.type); }
  }
  const s = sync(new Config());
  assert.deepEqual([s.engine.pid, s.engine.modelVersion], ['00000000000000c7', 1]);
  assert.throws(() => s.apply(unsigned), { code: 'SNAPSHOT_NOT_NEWER' });
  assert.deepEqual(events, ['rejected'], 'onEvent heard');
  s.stop();
});

// Hostile-input review: `apply` threw plain TypeErrors for bytes it could not copy, with no event.
test('sync().apply of bytes that cannot be read is ARGUMENT_INVALID, with a rejected event', () => {
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store: null, push: 'none',
    transport: answering(() => NOT_MODIFIED), timers: manualTimers() });
  const events = [];
  s.on((e) => events.push(`${e.type}:${e.code}`));
  const detached = new Uint8Array(16);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  const trap = new Proxy(new Uint8Array(4), { get() { throw new Error('trap'); } });
  for (const bad of [detached, detached.buffer, trap, 'text']) {
    assert.throws(() => s.apply(bad), (e) => isKairosError(e) && e.code === 'ARGUMENT_INVALID');
  }
  assert.deepEqual(events, Array(4).fill('rejected:ARGUMENT_INVALID'));
  assert.equal(s.engine.modelVersion, 1);
  s.stop();
});

// Diff review: reset() called the broken engine (ENGINE_BROKEN) and threw for ever. It now lets
// it go without a call and takes the erasure requests from the stored copy.
test('reset() replaces an engine the module left borrowed (ENGINE_BROKEN), keeping the stored erasure requests', () => {
  const store = memoryStore();
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, bundled: v1, store, push: 'none',
    transport: answering(() => NOT_MODIFIED), timers: manualTimers() });
  const old = s.engine;
  old.setConsent(true, NOW);
  old.forget('00000000000000d1', NOW);
  s.saveState();
  new Uint32Array(initSync().memory.buffer)[old.__wbg_ptr / 4] = 0xffffffff; // as an overflow inside a call leaves it
  assert.throws(() => old.consent, (e) => !isKairosError(e));
  assert.throws(() => old.consent, { code: 'ENGINE_BROKEN' });
  const fresh = s.reset('00000000000000d2');
  assert.notEqual(fresh, old);
  assert.deepEqual(fresh.outbox().map((e) => e.type), ['forgotten'], 'the erasure request outlived the reset');
  assert.equal(fresh.consent, false);
  assert.equal(fresh.pid, '00000000000000d2');
  assert.throws(() => old.consent, { code: 'ENGINE_FREED' });
  s.stop();
});

// Mutation audit: wxTransport's request was checked only through sync's outcomes, which did not
// tell whether it sent sync's headers (If-None-Match: without it no 304), its timeout, or read the
// answer's headers as sync reads them (lower case), or whether stopping aborts the request.
test('wxTransport asks wx.request for what sync asks, reads the answer as sync reads it, and aborts it when told', async () => {
  const asked = [];
  let aborted = 0;
  const wx = {
    request(opts) {
      asked.push(opts);
      setImmediate(() => opts.success({ statusCode: 304, header: { ETag: '"v7"', 'Content-Length': '0', 'X-Other': 'x' }, data: new ArrayBuffer(0) }));
      return { abort() { aborted += 1; } };
    },
  };
  const control = new AbortController();
  const req = { url: 'https://kairos.test/v1/main/latest', headers: { 'If-None-Match': '"v7"', Accept: 'application/x-kairos-snapshot' },
    timeoutMs: 12_345, responseType: 'arraybuffer', signal: control.signal };
  const res = await wxTransport(wx).get(req);
  assert.equal(asked.length, 1);
  const [opts] = asked;
  assert.deepEqual([opts.url, opts.method, opts.header, opts.timeout, opts.responseType, opts.dataType],
    [req.url, 'GET', req.headers, 12_345, 'arraybuffer', 'other']);
  assert.deepEqual([res.status, res.headers], [304, { etag: '"v7"', 'content-length': '0', 'x-other': 'x' }]);
  control.abort();
  assert.equal(aborted, 1, 'stop() aborts the request in flight');
  // A failure is an Error with wx's message.
  const failing = { request(o) { setImmediate(() => o.fail({ errMsg: 'request:fail timeout' })); return {}; } };
  await assert.rejects(wxTransport(failing).get({ ...req, signal: new AbortController().signal }), /request:fail timeout/);
});
