// The package README's quickstart, run as written: the browser one in headless Chromium (the
// package named `kairos-engine` by an import map), the Node one (its first lines in place of the
// browser's three) in a child process that imports the package by name from node_modules. Only
// what the README leaves to the app is given: BRAND_KEY (the brand's public key), `show`, and a
// network that is down (the snapshot comes bundled; the background check fails and backs off).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { root } from './paths.mjs';
import { makeBrand } from './brand.mjs';
import { launchContext } from './chromium.mjs';

const README = readFileSync(join(root, 'pkg/README.md'), 'utf8');

/** The first ```js block after `heading` in the README, as lines. */
function block(after) {
  const at = README.indexOf(after);
  assert.ok(at >= 0, `pkg/README.md has "${after}"`);
  const m = README.slice(at).match(/```js\n([\s\S]*?)```/);
  assert.ok(m, `a js block after "${after}"`);
  return m[1].trimEnd().split('\n');
}

const browser = block('## Quickstart (browser)');
const node = block('In Node (server-side rendering');
// The Node block stands for the browser's first three lines of code: its import, `init` and the
// fetch of the snapshot.
const code = browser.map((l, i) => [l, i]).filter(([l]) => l.trim() !== '');
assert.match(code[0][0], /^import init, \{[^}]*\} from 'kairos-engine';$/);
assert.match(code[1][0], /^await init\(\);/);
assert.match(code[2][0], /^const bundled = .*fetch\('\/model\.kairos'\)/);
const rest = browser.slice(code[2][1] + 1);
assert.ok(browser.length <= 20, `the quickstart is ${browser.length} lines`);
const brand = makeBrand();
const snapshot = brand.snapshot(1);

test('the README quickstart runs as written in a real page', async () => {
  const page = `<!doctype html><meta charset="utf-8">
<script type="importmap">{"imports": {"kairos-engine": "/pkg/index.js"}}</script>
<script>
  window.BRAND_KEY = ${JSON.stringify(brand.publicKey)};
  window.shown = [];
  window.warned = [];
  window.show = (content) => window.shown.push(content);
  console.warn = (...args) => window.warned.push(args.map(String).join(' '));
</script>
<script type="module" src="/quickstart.js"></script>`;
  const script = `${browser.join('\n')}\nwindow.quickstartDone = true;\n`;
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const send = (type, body) => res.writeHead(200, { 'content-type': type }).end(body);
    if (path === '/') return send('text/html', page);
    if (path === '/quickstart.js') return send('text/javascript', script);
    if (path === '/model.kairos') return send('application/octet-stream', snapshot);
    const file = normalize(join(root, path));
    if (!file.startsWith(join(root, 'pkg/')) || !existsSync(file)) return res.writeHead(404).end();
    return send(path.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const ctx = await launchContext();
  try {
    // The network is down: the sync server in the quickstart is never reached.
    await ctx.route('https://kairos.example.com/**', (r) => r.abort('internetdisconnected'));
    const p = ctx.pages()[0] ?? await ctx.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(e));
    await p.goto(`http://127.0.0.1:${server.address().port}/`);
    await p.waitForFunction(() => window.quickstartDone === true, null, { timeout: 20000 });
    const r = await p.evaluate(() => ({ shown: window.shown, warned: window.warned, stored: Object.keys(localStorage) }));
    assert.equal(r.shown.length, 1, JSON.stringify(r.shown));
    assert.equal(typeof r.shown[0].title, 'string', JSON.stringify(r.shown));
    assert.deepEqual(r.warned, ['EVENT_INVALID']);
    // `saveState()` stored the profile, and sync stored the bundled snapshot.
    assert.ok(r.stored.some((k) => k.includes('.state.')), r.stored.join());
    assert.ok(r.stored.some((k) => k.includes('.snapshot.')), r.stored.join());
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
    server.close();
  }
});

test('the README quickstart runs as written in Node, with its Node lines', async (t) => {
  // An app folder: the package installed by name (node_modules/kairos-engine is pkg/), the
  // snapshot beside the script, which runs from there.
  const app = mkdtempSync(join(tmpdir(), 'kairos-readme-'));
  t.after(() => rmSync(app, { recursive: true, force: true }));
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(join(root, 'pkg'), join(app, 'node_modules', 'kairos-engine'), 'dir');
  writeFileSync(join(app, 'model.kairos'), snapshot);
  writeFileSync(join(app, 'given.mjs'), [
    `globalThis.BRAND_KEY = ${JSON.stringify(brand.publicKey)};`,
    "globalThis.show = (content) => console.log('SHOW ' + JSON.stringify(content));",
    "console.warn = (...args) => console.log('WARN ' + args.join(' '));",
    "globalThis.fetch = async () => { throw new TypeError('the network is down'); };",
  ].join('\n'));
  writeFileSync(join(app, 'quickstart.mjs'), `${[...node, ...rest].join('\n')}\nconsole.log('END');\n`);
  // sync keeps checking in the background: the process is ended once the quickstart has run.
  const child = spawn(process.execPath, ['--import', './given.mjs', 'quickstart.mjs'], { cwd: app });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill(); reject(new Error(`no END in 20 s: ${out}${err}`)); }, 20000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('END\n')) { clearTimeout(timer); child.kill(); resolve(); }
    });
    child.on('exit', (code) => { if (!out.includes('END\n')) { clearTimeout(timer); reject(new Error(`exit ${code}: ${out}${err}`)); } });
  });
  const lines = out.trim().split('\n');
  assert.deepEqual(lines.map((l) => l.split(' ')[0]), ['SHOW', 'WARN', 'END'], out + err);
  assert.equal(typeof JSON.parse(lines[0].slice(5)).title, 'string', lines[0]);
  assert.equal(lines[1], 'WARN EVENT_INVALID');
});
