// The Taste of Su storefront (www/) on the real package and the real `kairos serve`, in headless
// Chromium: what a shopper sees. Screenshots go to target/artifacts/ (not committed). The server
// runs with --demo-tokens, as `make demo` does: journeys get their traits as signed tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, cpSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize, extname } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, launchContext } from './chromium.mjs';
import { root } from './paths.mjs';
import { KAIROS, serve } from './brand.mjs';

const ARTIFACTS = join(root, 'target/artifacts');

function serveShop(models, key, www) {
  return serve(['--models', models, '--key', key, '--poll-ms', '100', '--outbox', join(models, 'outbox.ndjson'),
    '--www', www, '--pkg', join(root, 'pkg'), '--fixtures', join(root, 'tests/fixtures'), '--demo-tokens']);
}

// What is left when the snapshot server is down: the page's own files, and nothing under /v1.
function staticOnly(port, www) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const m = path.match(/^\/(www|pkg)\/(.+)$/);
    if (!m) { res.writeHead(503).end(); return; }
    const file = normalize(join(m[1] === 'www' ? www : join(root, 'pkg'), m[2]));
    try {
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(await readFile(file));
    } catch { res.writeHead(404).end(); }
  });
  return new Promise((r) => server.listen(port, '127.0.0.1', () => r(server)));
}

/** When the pages' clocks start: a weekday afternoon in China. */
const START = Date.parse('2026-11-20T14:20:00+08:00');

test('the storefront personalizes on the real package and server', async (t) => {
  assert.ok(existsSync(KAIROS), 'target/release/kairos (make cli builds it)');
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'kairos-www-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const models = join(dir, 'models');
  mkdirSync(models);
  const model = JSON.parse(readFileSync(join(root, 'examples/taste-of-su/model.json'), 'utf8'));
  writeFileSync(join(models, 'model.json'), JSON.stringify(model));
  execFileSync(KAIROS, ['keygen', '-o', join(dir, 'brand')]);
  // The storefront's files with the brand's public key beside them, as `make demo` does.
  const www = join(dir, 'www');
  cpSync(join(root, 'www'), www, { recursive: true });
  cpSync(join(dir, 'brand.pub'), join(www, 'brand.pub'));
  let server = await serveShop(models, join(dir, 'brand.key'), www);
  const port = new URL(server.url).port;
  const ctx = await launchContext(join(dir, 'profile'), { viewport: { width: 1280, height: 900 } });
  // The page's clock starts at a fixed afternoon in China (UTC+8) and runs from there: outside the
  // model's quiet hours and festival dates, so what the page shows does not depend on when the
  // test runs (the journeys set the page's own clock outright).
  await ctx.clock.install({ time: START });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const errors = [];
  let offline = false;
  const requested = [];
  page.on('request', (r) => requested.push(new URL(r.url()).pathname + (r.headers()['if-none-match'] ? ' (conditional)' : '')));
  // Every trait token the page asked for: what it sent and what it got.
  const tokens = [];
  let tokenOff = false;
  page.on('response', (r) => {
    if (new URL(r.url()).pathname === '/demo/token') tokens.push({ request: r.request().postDataJSON(), status: r.status(),
      body: r.text().catch((e) => `(no body: ${e.message})`) });
  });
  const journey = (name) => JSON.parse(readFileSync(join(root, `tests/fixtures/journeys/${name}.json`), 'utf8'));
  const traitsStep = (name) => journey(name).steps.find((s) => s.do === 'traits');
  const pid = () => page.evaluate(() => window.kairosDemo.client.pid);
  const segments = () => page.$$eval('#segments span', (s) => s.map((x) => x.textContent));
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // With the server down, the browser itself logs the failed snapshot fetch: expected then.
    // Chromium warns about a preload the page did not use (a mismatched request fetches twice).
    if (m.type() === 'warning' && /preload/i.test(m.text())) errors.push(m.text());
    // A token request refused on purpose (below) is logged by the browser too.
    const expected = (offline && /Failed to load resource|EventSource/.test(m.text())) || (tokenOff && /Failed to load resource/.test(m.text()));
    if (m.type() === 'error' && !expected) errors.push(m.text());
  });
  const hero = () => page.textContent('[data-placement="home_hero"]');
  const offersIn = (placement) => page.$$eval(`[data-placement="${placement}"] [data-offer]`, (cards) => cards.map((c) => c.dataset.offer));
  const engine = (fn, arg) => page.evaluate(fn, arg);
  const feature = (name) => engine((n) => Object.fromEntries(window.kairosDemo.client.features(window.kairosDemo.clock.now()))[n], name);
  const outboxLength = () => engine(() => window.kairosDemo.client.outbox().length);
  const stage = () => page.textContent('#stages .current');
  // One step at a time, each finished (a traits step waits for its token) before the next.
  const next = async (n) => {
    for (let i = 0; i < n; i++) {
      await page.click('#journey-next');
      await page.waitForFunction(() => document.querySelector('#journey-note').textContent.startsWith(`${window.kairosDemo.state.step}/`));
    }
  };
  const open = async () => {
    await page.goto(`${server.url}/www/index.html`);
    await page.waitForFunction(() => window.kairosReady === true || document.body.dataset.error, null, { timeout: 15000 });
    assert.equal(await page.evaluate(() => document.body.dataset.error), undefined);
  };
  try {
    await t.test('a first visit with the server failing says so, retries, and personalizes once it answers', async () => {
      // A browser of its own: nothing stored, as on a first visit.
      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
      try {
        const first = await browser.newPage();
        await first.clock.install({ time: START });
        const failures = [];
        first.on('pageerror', (e) => failures.push(e.message));
        await first.route('**/v1/**', (r) => r.fulfill({ status: 503, body: 'down for maintenance' }));
        await first.goto(`${server.url}/www/index.html`);
        await first.waitForFunction(() => document.body.dataset.waiting);
        assert.equal(await first.isVisible('#status'), true, 'the page says why it is not personalized');
        assert.match(await first.textContent('#status'), /could not be loaded \(.*HTTP 503.*\); retrying in \d+ s\. Is `kairos serve` running/);
        // Demo review: the shop itself waited for personalization (no catalogue, dead buttons).
        assert.ok((await first.$$('#grid [data-product]')).length > 0, 'the catalogue is there meanwhile');
        await first.click('#grid [data-product="su-002"]');
        assert.equal(await first.isVisible('#page-product'), true, 'and works');
        await first.click('#add-to-cart');
        assert.equal(await first.textContent('#cart-count'), '1');
        await first.click('a.brand');
        await first.unroute('**/v1/**');
        await first.waitForFunction(() => window.kairosReady === true, null, { timeout: 60000 });
        assert.equal(await first.isVisible('#status'), false);
        assert.ok((await first.$$('#page-home [data-placement="home_hero"] > *')).length > 0, 'the hero is filled');
        assert.deepEqual(failures, []);
      } finally {
        await browser.close();
      }
    });

    await open();

    await t.test('the page preloads the module, the key and (nothing stored) the snapshot, and fetches each once', () => {
      const count = (path) => requested.filter((p) => p === path).length;
      assert.equal(count('/pkg/kairos_wasm_bg.wasm'), 1, requested.join(' '));
      assert.equal(count('/www/brand.pub'), 1, requested.join(' '));
      // sync's first request was answered by the preload: the snapshot was fetched once.
      assert.equal(count('/v1/channels/model/latest'), 1, requested.join(' '));
      assert.ok(requested.indexOf('/pkg/kairos_wasm_bg.wasm') < requested.indexOf('/www/app.js'), requested.join(' '));
    });

    await t.test('no slot shows default content before its decision', async () => {
      // Every slot is filled by one pass of `decide`; the first render counter is 1 and every
      // visible slot has its decision's content.
      const filled = await page.$$eval('#page-home [data-placement]', (slots) => slots.map((s) => s.children.length > 0));
      assert.deepEqual(filled, [true, true]);
    });

    await t.test('"Not now" keeps the consent banner away for the session; "Allow" profiles', async () => {
      assert.equal(await page.isVisible('#consent'), true, 'a first visit asks');
      await page.click('#consent-no');
      assert.equal(await page.isVisible('#consent'), false);
      await page.click('#grid [data-product="su-002"]');
      await page.waitForFunction(() => window.kairosDemo.state.page === 'product');
      assert.equal(await page.isVisible('#consent'), false, 'not asked again on the next page');
      await page.click('[data-jump="3600000"]');
      assert.equal(await page.isVisible('#consent'), false, 'nor on a clock jump');
      assert.equal(await engine(() => window.kairosDemo.client.consent), false);
      assert.equal(await feature('views_7d'), 0, 'nothing profiled without consent');
      await page.click('#reset');
      assert.equal(await page.isVisible('#consent'), true, 'a reset is a new shopper: asked again');
      const before = await engine(() => window.kairosDemo.client.outbox().filter((e) => e.type === 'exposure').length);
      await page.click('#consent-yes');
      assert.equal(await page.isVisible('#consent'), false);
      assert.equal(await engine(() => window.kairosDemo.client.consent), true);
      // What the page shows was decided before consent, so not recorded: it is recorded now,
      // once (the re-render decides it again rather than keeping the unrecorded decision).
      const shown = await engine(() => window.kairosDemo.state.decisions.home_hero);
      assert.notEqual(shown.id, '0000000000000000');
      const after = await engine(() => window.kairosDemo.client.outbox().filter((e) => e.type === 'exposure').length);
      assert.equal(after - before, shown.items.length + (await engine(() => window.kairosDemo.state.decisions.home_offers.items.length)));
    });

    // Demo review: the page offered no way to withdraw or be forgotten, and "Not now" could not
    // be taken back.
    await t.test('consent can be withdrawn, given again and the shopper forgotten from the page', async () => {
      const client = (f) => engine(f);
      assert.equal(await page.isVisible('#privacy-stop'), true, 'with consent: a way to stop');
      assert.equal(await page.isVisible('#privacy-allow'), false);
      const pid = await client(() => window.kairosDemo.client.pid);
      await page.click('#privacy-stop');
      assert.equal(await client(() => window.kairosDemo.client.consent), false);
      const asked = await client(() => window.kairosDemo.client.outbox().filter((e) => e.type === 'forgotten').map((e) => e.pid));
      assert.deepEqual(asked, [pid], 'the backend is asked to erase what it holds');
      assert.equal(await page.isVisible('#consent'), false, 'not asked again at once');
      assert.equal(await page.isVisible('#privacy-allow'), true, 'but it can be given again');
      await page.click('#privacy-allow');
      assert.equal(await client(() => window.kairosDemo.client.consent), true);
      await page.click('#privacy-forget');
      assert.equal(await client(() => window.kairosDemo.client.consent), false);
      assert.notEqual(await client(() => window.kairosDemo.client.pid), pid, 'a new random id');
      await page.click('#privacy-allow');
      assert.equal(await client(() => window.kairosDemo.client.consent), true);
    });

    // Demo review: each click opened the home page again, so the offers on screen were exposed
    // again at every click, their caps used up, and the one being read went away.
    await t.test('the buttons on a page record their event, not another view of the page', async () => {
      await page.click('a.brand');
      const exposures = () => engine(() => window.kairosDemo.client.outbox().filter((e) => e.type === 'exposure').length);
      await page.click('#refer');
      const once = await exposures();
      const ids = await engine(() => Object.values(window.kairosDemo.state.decisions).map((d) => d.id));
      await page.click('#refer');
      await page.click('#refer');
      assert.equal(await exposures(), once, 'the same offers on screen: no new exposure');
      assert.deepEqual(await engine(() => Object.values(window.kairosDemo.state.decisions).map((d) => d.id)), ids);
    });

    await t.test('clock jumps and re-renders do not count as product views', async () => {
      await page.click('#grid [data-product="su-001"]');
      await page.waitForFunction(() => window.kairosDemo.state.product?.id === 'su-001');
      assert.equal(await feature('views_7d'), 1);
      for (let i = 0; i < 3; i++) await page.click('[data-jump="3600000"]');
      await engine(() => window.kairosDemo.render());
      assert.equal(await feature('views_7d'), 1, 'one view: the one the shopper made');
      assert.equal(await feature('qipao_views_7d'), 1);
      // A re-render that shows what is shown already records no exposure (peek, then decide only
      // what changes); opening the page again is a new view, and records one per item shown.
      const exposures = () => engine(() => window.kairosDemo.client.outbox().filter((e) => e.type === 'exposure').length);
      await engine(() => window.kairosDemo.navigate('home'));
      const items = () => engine(() => ['home_hero', 'home_offers'].map((p) => window.kairosDemo.state.decisions[p].items.map((i) => i.offer).join()));
      const shown = await items();
      assert.ok(shown.join('').length > 0, `the home page shows offers: ${shown}`);
      const before = await exposures();
      for (let i = 0; i < 3; i++) await engine(() => window.kairosDemo.render());
      assert.deepEqual(await items(), shown);
      assert.equal(await exposures(), before, 're-renders of the same content');
      await engine(() => window.kairosDemo.navigate('home'));
      assert.ok(await exposures() > before, 'a new view is recorded');
    });

    await t.test('Send removes the events only once the server took them', async () => {
      const before = await outboxLength();
      assert.ok(before > 0, 'the shopper has events to send');
      tokenOff = true; // the browser logs the refused POST
      await page.route('**/v1/outbox', (r) => r.fulfill({ status: 500, body: 'disk full' }));
      try {
        await page.click('#drain');
        await page.waitForFunction(() => document.querySelector('#outbox-note').textContent.startsWith('not sent'));
        assert.match(await page.textContent('#outbox-note'), /not sent: HTTP 500: disk full; the events stay/);
        assert.equal(await outboxLength(), before, 'the events stay');
      } finally {
        await page.unroute('**/v1/outbox');
        tokenOff = false;
      }
      await page.click('#drain');
      await page.waitForFunction(() => document.querySelector('#outbox-note').textContent.startsWith('sent'));
      assert.equal(await outboxLength(), 0);
      const posted = readFileSync(join(models, 'outbox.ndjson'), 'utf8').trim().split('\n');
      assert.equal(posted.length, before, 'each event posted once');
    });

    await t.test('a forget while a Send is in flight: none of her events are sent afterwards, only her erasure request', async () => {
      await engine(() => window.kairosDemo.navigate('home')); // events to send
      const pidBefore = await engine(() => window.kairosDemo.client.pid);
      let open;
      const gate = new Promise((r) => { open = r; });
      await page.route('**/v1/outbox', async (r) => { await gate; await r.fulfill({ status: 202, body: '{}' }); });
      try {
        await page.click('#drain');
        await engine(() => window.kairosDemo.navigate('home')); // an exposure made while it is in flight
        await engine(() => window.kairosDemo.client.forget(window.kairosDemo.clock.now()));
        open();
        await page.waitForFunction(() => document.querySelector('#outbox-note').textContent.startsWith('sent'));
      } finally {
        await page.unroute('**/v1/outbox');
      }
      const waiting = await engine(() => window.kairosDemo.client.outbox());
      assert.deepEqual(waiting.map((e) => [e.type, e.pid]), [['forgotten', pidBefore]], 'only the erasure request waits');
      await engine(() => window.kairosDemo.client.setConsent(true));
    });

    // Demo review: the reports posted were removed by count, and with the outbox full (each new
    // report pushing out one that was posted) the ones recorded during the POST were lost.
    await t.test('a Send with the outbox full keeps the reports recorded while it was in flight', async () => {
      const inEngine = () => engine(() => window.kairosDemo.client.sync.engine.outbox().map((e) => JSON.stringify(e)));
      // Views across days, so that the caps let offers be shown (and reported) again.
      await engine(() => {
        const d = window.kairosDemo;
        for (let i = 0; i < 400 && d.client.sync.engine.outbox().length < 256; i++) {
          d.clock.jump(86_400_000);
          d.navigate('home');
        }
      });
      assert.equal((await inEngine()).length, 256, 'the outbox is full');
      let open;
      let arrived;
      const gate = new Promise((r) => { open = r; });
      const inFlight = new Promise((r) => { arrived = r; });
      await page.route('**/v1/outbox', async (r) => { arrived(); await gate; await r.fulfill({ status: 202, body: '{}' }); });
      let meanwhile;
      try {
        await page.click('#drain');
        // The upload has left the page: what it sends is fixed (a view before that would be in it:
        // the test failed now and then on a loaded machine).
        await inFlight;
        const posted = await inEngine();
        await engine(() => window.kairosDemo.navigate('home'));
        meanwhile = (await inEngine()).filter((e) => !posted.includes(e));
        assert.ok(meanwhile.length > 0);
        open();
        await page.waitForFunction(() => document.querySelector('#outbox-note').textContent.startsWith('sent'));
      } finally {
        await page.unroute('**/v1/outbox');
      }
      const waiting = await engine(() => window.kairosDemo.client.outbox().map((e) => JSON.stringify(e)));
      assert.deepEqual(waiting, meanwhile, 'what was recorded meanwhile waits for the next Send, and only that');
    });

    await t.test("Nancy's journey on the page matches the fixture, step by step", async () => {
      const nancy = journey('nancy');
      await page.click('[data-journey="nancy"]');
      await page.waitForFunction(() => !document.querySelector('#journey-next').disabled);
      assert.equal(await pid(), await engine(() => window.kairosDemo.client.sync.engine.pid));
      for (const [i, step] of nancy.steps.entries()) {
        await next(1);
        const at = `step ${i + 1} (${step.do} ${step.placement ?? ''} at ${step.at})`;
        const expect = step.expect ?? {};
        if (step.do === 'decide') {
          assert.deepEqual(await offersIn(step.placement), expect.items, at);
          if (expect.reason) assert.equal(await engine((p) => window.kairosDemo.state.decisions[p].reason, step.placement), expect.reason, at);
        }
        if (expect.stage) assert.equal(await stage(), expect.stage.replace('_', ' '), at);
        if (expect.segments) assert.deepEqual(await segments(), expect.segments, at);
        if (step.do === 'track' && step.event.type === 'purchase') {
          // Times in the panel are the brand's (UTC+8), as the clock shows them.
          assert.match(await page.textContent('#features'), /first_purchase2026\/11\/20 14:10:00 UTC\+8/, at);
        }
      }
      assert.equal(await page.isDisabled('#journey-next'), true, 'the journey is over');
      assert.equal(await pid(), await engine(() => window.kairosDemo.client.sync.engine.pid));
    });

    await t.test('the birthday journey brings the coupon in her birthday week; after its forget step the slots are empty, and Reset stops the journey with a new pid', async () => {
      const birthday = journey('birthday');
      await page.click('[data-journey="birthday"]');
      await page.waitForFunction(() => !document.querySelector('#journey-next').disabled);
      const forgotten = await pid();
      const at = birthday.steps.findIndex((s) => s.do === 'forget') + 1;
      // Every step before the forget as the fixture expects (its traits came as a signed token:
      // one with the birthday's year would be refused, and the coupon not shown).
      for (const [i, step] of birthday.steps.slice(0, at - 1).entries()) {
        await next(1);
        const where = `step ${i + 1} (${step.do} at ${step.at})`;
        assert.doesNotMatch(await page.textContent('#journey-note'), /not set|failed/, where);
        const expect = step.expect ?? {};
        if (step.do === 'decide') assert.deepEqual(await offersIn(step.placement), expect.items, where);
        if (expect.segments) assert.deepEqual(await segments(), expect.segments, where);
      }
      assert.deepEqual(await offersIn('home_hero'), birthday.steps[at - 2].expect.items, 'the member\'s content before');
      await next(1);
      assert.equal(await page.$$eval('[data-placement] > *', (n) => n.length), 0, 'nothing of the forgotten shopper shows');
      await next(1);
      assert.equal(await engine(() => window.kairosDemo.state.decisions.home_offers.reason), birthday.steps[at].expect.reason);
      await page.click('#reset');
      assert.equal(await page.isDisabled('#journey-next'), true, 'the journey stopped');
      assert.notEqual(await pid(), forgotten, 'Reset does not bring back the forgotten pid');
    });

    await t.test("Nancy goes from window to first-time shopper and sees the thank-you", async () => {
      const asked = tokens.length;
      await page.click('[data-journey="nancy"]');
      await page.waitForFunction(() => !document.querySelector('#journey-next').disabled);
      await next(4);
      assert.equal(await stage(), 'window');
      await next(2);
      // The identified shopper's traits came as a token signed for her pid, issued at the step's time.
      const step = traitsStep('nancy');
      assert.equal(tokens.length, asked + 1);
      // With its channel, whose model the server checks the traits against.
      assert.deepEqual(tokens[asked].request, { user: await pid(), traits: step.traits, now: Date.parse(step.at), channel: 'model' });
      const answer = await tokens[asked].body;
      assert.equal(tokens[asked].status, 200, answer);
      assert.match(JSON.parse(answer).token, /^kt1\./);
      assert.deepEqual(await segments(), ['member', 'hipo']);
      await next(1);
      assert.equal(await stage(), 'first time');
      await next(1);
      assert.match(await hero(), /Thank you for your first order/);
      await page.screenshot({ path: join(ARTIFACTS, 'storefront-desktop.png') });
    });

    await t.test('Lizzy gets the welcome within 24 hours, and not again once its cap is reached', async () => {
      const asked = tokens.length;
      await page.click('[data-journey="lizzy"]');
      await page.waitForFunction(() => document.querySelector('#journey-note').textContent.startsWith('Lizzy'));
      await next(3);
      assert.doesNotMatch(await hero(), /story of the Qipao/, 'not yet known to be high-potential');
      await next(1);
      // A token valid until the step's `expires`: the welcome depends on its `hipo`.
      const step = traitsStep('lizzy');
      assert.equal(tokens.length, asked + 1);
      assert.deepEqual(tokens[asked].request, { user: await pid(), traits: step.traits, now: Date.parse(step.at),
        channel: 'model', ttl: `${(Date.parse(step.expires) - Date.parse(step.at)) / 1000}s` });
      const answer = await tokens[asked].body;
      assert.equal(tokens[asked].status, 200, answer);
      assert.equal(JSON.parse(answer).exp, Date.parse(step.expires));
      assert.deepEqual(await segments(), step.expect.segments);
      await next(1);
      assert.match(await hero(), /The story of the Qipao/);
      await next(1);
      assert.match(await hero(), /The story of the Qipao/);
      await next(1);
      assert.match(await hero(), /Tailored in Suzhou/, 'capped at 2 in 7 days');
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: join(ARTIFACTS, 'storefront-phone.png') });
      await page.setViewportSize({ width: 1280, height: 900 });
    });

    await t.test('after a reload the profile is still there', async () => {
      const unconditional = () => requested.filter((p) => p === '/v1/channels/model/latest').length;
      const before = unconditional();
      await page.reload();
      await page.waitForFunction(() => window.kairosReady === true);
      assert.equal(unconditional(), before, 'a stored snapshot: no preload, the check is conditional');
      assert.equal(await stage(), 'window');
      const shown = await segments();
      assert.ok(shown.includes('hipo'), shown.join());
      const status = await page.evaluate(() => window.kairosDemo.client.sync.status);
      assert.deepEqual([status.source, status.state, status.push], ['stored', 'restored', 'sse'], 'started from storage; push over SSE');
    });

    await t.test('a journey started while a token is on its way owns the page', async () => {
      let release;
      const held = new Promise((r) => { release = r; });
      await page.route('**/demo/token', async (r) => { await held; await r.continue(); });
      try {
        await page.click('[data-journey="lizzy"]');
        await page.waitForFunction(() => document.querySelector('#journey-note').textContent.startsWith('Lizzy'));
        await next(3);
        await page.click('#journey-next'); // the traits step: its token is held
        await page.waitForFunction(() => document.querySelector('#journey-next').disabled);
        await page.click('[data-journey="nancy"]');
        await page.waitForFunction(() => document.querySelector('#journey-note').textContent.startsWith('Nancy'));
        const dropped = page.waitForEvent('console', (m) => m.text().includes('the shopper changed while the token was fetched'));
        release();
        await dropped;
        assert.match(await page.textContent('#journey-note'), /^Nancy/, "the old step did not write over Nancy's journey");
        assert.ok(!(await segments()).includes('hipo'), "Lizzy's token did not reach Nancy");
        assert.equal(await page.isDisabled('#journey-next'), false);
        await next(1);
        assert.match(await page.textContent('#journey-note'), /^1\//, "Nancy's journey starts at its first step");
      } finally {
        await page.unroute('**/demo/token');
      }
    });

    await t.test('a traits step without a token leaves the traits unset and says why', async () => {
      // As if the server ran without --demo-tokens.
      tokenOff = true;
      await page.route('**/demo/token', (r) => r.fulfill({ status: 404, body: '' }));
      try {
        await page.click('[data-journey="lizzy"]');
        await page.waitForFunction(() => document.querySelector('#journey-note').textContent.startsWith('Lizzy'));
        await next(4);
        assert.match(await page.textContent('#journey-note'), /^4\/\d+ · traits · .* · traits not set: trait token: \/demo\/token is off \(start `kairos serve` with --demo-tokens/);
        assert.deepEqual(await segments(), ['follower', 'new_follower']);
        assert.equal(await page.isDisabled('#journey-next'), false, 'the journey goes on');
      } finally {
        await page.unroute('**/demo/token');
        tokenOff = false;
      }
    });

    await t.test('a pushed model shows its new offer without a reload', async () => {
      const v2 = structuredClone(model);
      v2.meta.version = 2;
      v2.offers.unshift({ id: 'flash_sale', placements: ['home_hero'], priority: 1000, requires_consent: false,
        global_caps: false, content: { title: 'Flash sale: silk week', body: 'Today only.' } });
      writeFileSync(join(models, 'model.json'), JSON.stringify(v2));
      await page.waitForFunction(() => document.querySelector('[data-placement="home_hero"]').textContent.includes('Flash sale'),
        null, { timeout: 5000 });
      assert.equal(await page.textContent('#snapshot-version'), 'model v2');
    });

    await t.test('a model push that removes a shown offer: the page goes on and the profile is still stored', async () => {
      await page.click('#reset');
      // An afternoon in Shanghai: outside the model's quiet hours, whatever the time of the run.
      await engine(() => window.kairosDemo.clock.set(Date.parse('2026-11-25T15:00:00+08:00')));
      await page.click('#consent-yes');
      await page.click('#grid [data-product="su-003"]');
      await page.waitForFunction(() => window.kairosDemo.state.page === 'product');
      await page.click('#add-to-cart');
      await page.click('a.brand');
      const shown = await engine(() => Object.values(window.kairosDemo.state.decisions).flatMap((d) => d.items.map((i) => i.offer)));
      assert.ok(shown.includes('join_discount'), shown.join());
      const v3 = structuredClone(model);
      v3.meta.version = 3;
      v3.offers = v3.offers.filter((o) => o.id !== 'join_discount');
      v3.offers.unshift({ id: 'flash_sale', placements: ['home_hero'], priority: 1000, requires_consent: false,
        global_caps: false, content: { title: 'Flash sale: silk week', body: 'Today only.' } });
      // Demo review: a placement the page has, renamed away by the marketer, threw at every paint
      // (the panel stale, the profile not saved, the cart page broken).
      delete v3.placements.cart_banner;
      v3.offers = v3.offers.filter((o) => !o.placements.includes('cart_banner'));
      await page.click('#nav-cart, [data-nav="cart"]');
      writeFileSync(join(models, 'model.json'), JSON.stringify(v3));
      await page.waitForFunction(() => document.querySelector('#snapshot-version').textContent === 'model v3', null, { timeout: 5000 });
      assert.equal(await page.$$eval('#page-cart [data-placement="cart_banner"] > *', (x) => x.length), 0, 'that slot is empty');
      await page.click('a.brand');
      await page.click('[data-nav="cart"]');
      await page.click('a.brand');
      await page.click('#follow');
      assert.equal(await stage(), 'window');
      await page.reload();
      await page.waitForFunction(() => window.kairosReady === true);
      assert.equal(await stage(), 'window', 'the follow was stored');
      assert.deepEqual(errors.filter((e) => e.startsWith('pageerror')), []);
    });

    await t.test("a second tab does not write its older profile over the first tab's reset", async () => {
      const other = await ctx.newPage();
      try {
        await other.goto(`${server.url}/www/index.html`);
        await other.waitForFunction(() => window.kairosReady === true);
        assert.equal(await other.textContent('#stages .current'), 'window');
        await page.click('#reset');
        // The other tab takes the stored profile, then the shopper goes on there.
        await other.waitForFunction(() => window.kairosDemo.client.consent === false);
        // Demo review: its slots went on showing the shopper from before the reset.
        assert.equal(await other.evaluate(() => window.kairosDemo.state.decisions.home_hero.id), '0000000000000000',
          'the other tab painted its slots again, for a shopper without consent');
        await other.click('#grid [data-product="su-004"]');
        await other.waitForFunction(() => window.kairosDemo.state.page === 'product');
        await page.reload();
        await page.waitForFunction(() => window.kairosReady === true);
        assert.equal(await engine(() => window.kairosDemo.client.consent), false, 'the reset holds');
        assert.equal(await engine(() => window.kairosDemo.client.stage()), undefined);
      } finally {
        await other.close();
      }
      // As the tests below expect: a consenting follower.
      await page.click('#consent-yes');
      await page.click('#follow');
      assert.equal(await stage(), 'window');
    });

    await t.test('a snapshot signed by another key is refused and the running model stays', async () => {
      execFileSync(KAIROS, ['keygen', '-o', join(dir, 'intruder')]);
      const forged = join(dir, 'forged.kairos');
      const v9 = structuredClone(model);
      v9.meta.version = 9;
      writeFileSync(join(dir, 'v9.json'), JSON.stringify(v9));
      execFileSync(KAIROS, ['compile', join(dir, 'v9.json'), '-o', forged, '--key', join(dir, 'intruder.key')]);
      const code = await page.evaluate(async (bytes) => {
        try { window.kairosDemo.client.apply(new Uint8Array(bytes)); return 'accepted'; } catch (e) { return e.code; }
      }, [...readFileSync(forged)]);
      assert.equal(code, 'SNAPSHOT_SIGNATURE');
      assert.equal(await page.textContent('#snapshot-version'), 'model v3');
    });

    await t.test('with the server killed, the page still personalizes from the stored snapshot', async () => {
      // From the kill on, the browser logs the cut event stream (ERR_INCOMPLETE_CHUNKED_ENCODING)
      // and failed requests: expected then, so mark offline first.
      offline = true;
      await server.stop();
      const files = await staticOnly(Number(port), www);
      try {
        await page.reload();
        await page.waitForFunction(() => window.kairosReady === true, null, { timeout: 15000 });
        assert.match(await hero(), /Flash sale/);
        assert.equal(await stage(), 'window');
        const status = await page.evaluate(() => window.kairosDemo.client.sync.status);
        assert.deepEqual([status.source, status.version], ['stored', 3]);
      } finally {
        await new Promise((r) => files.close(r));
      }
    });

    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await ctx.close();
    server.child.kill();
  }
});
