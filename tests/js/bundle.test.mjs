// pkg/kairos.min.js, the minified single-file build the size gate measures, is the same package:
// it exports what the main entry and `kairos-engine/storage` export (but the WeChat adapters: it is
// the browser build), and its engine decides exactly as the readable modules do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, snapshot, Engine } from './load.mjs';
import * as main from '../../pkg/index.js';
import * as storage from '../../pkg/storage.js';
import * as min from '../../pkg/kairos.min.js';

test('the minified build exports the API of the main entry and storage, but the WeChat adapters', () => {
  const wechat = ['wxStorageBackend', 'wxTransport'];
  const expected = [...new Set([...Object.keys(main), ...Object.keys(storage)])].filter((k) => !wechat.includes(k)).sort();
  assert.deepEqual(Object.keys(min).sort(), expected);
  assert.ok(wechat.every((k) => k in main || k in storage), 'the readable modules export them');
  // Browsers have no `wx`: the browser build neither carries the adapters nor looks for `wx`.
  const src = readFileSync(join(root, 'pkg', 'kairos.min.js'), 'utf8');
  assert.doesNotMatch(src, /typeof wx\b|getStorageSync|\.request\(/);
});

test('the minified build decides as the readable modules do', () => {
  min.initSync({ module: readFileSync(join(root, 'pkg', 'kairos_wasm_bg.wasm')) });
  const now = Date.parse('2026-11-20T14:20:00+08:00');
  const engines = [new Engine(snapshot(), '00000000000000b1'), new min.Engine(snapshot(), '00000000000000b1')];
  const runs = engines.map((e) => {
    e.setConsent(true, now);
    for (let i = 0; i < 12; i++) e.track({ type: 'view', category: 'qipao', product: `p${i % 4}`, price: 199 + i }, now + i);
    return ['home_hero', 'home_offers', 'pdp_offer'].map((p) => e.decide(p, { page: 'home', channel: 'miniprogram' }, now + 100));
  });
  assert.deepEqual(runs[1], runs[0]);
  assert.ok(runs[0].some((d) => d.items.length > 0), 'some placement chose an offer');
  assert.equal(min.isKairosError(catchError(() => engines[1].track({ type: 'nope' }, now))), true);
});

function catchError(f) {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

// Front-end review: pkg/README.md linked to ../docs/sync.md, which the published package does not
// hold. Every relative link in the package's documents names a file it ships (package.json's
// `files`, and README.md and package.json, which npm always packs) and, with `#`, a heading there.
test("the package's documents link only to files and headings it ships", () => {
  const pkg = join(root, 'pkg');
  const files = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).files;
  const shipped = (path) => ['README.md', 'package.json'].includes(path)
    || files.some((f) => (f.endsWith('/') ? path.startsWith(f) : path === f));
  const slug = (heading) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
  const anchors = (path) => readFileSync(join(pkg, path), 'utf8').split('\n')
    .filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, '')));
  const docs = ['README.md', ...files.filter((f) => f.endsWith('.md'))];
  let links = 0;
  for (const doc of docs) {
    for (const [, target] of readFileSync(join(pkg, doc), 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue;
      links++;
      const [path, anchor] = target.split('#');
      const file = path || doc;
      assert.ok(shipped(file), `${doc}: the link ${target} names ${file}, which the package does not ship`);
      if (anchor) assert.ok(anchors(file).includes(anchor), `${doc}: no heading #${anchor} in ${file}`);
    }
  }
  assert.ok(links >= 3, `relative links checked: ${links}`);
});
