// The method numbers of `__call` live in two places: crates/wasm/src/methods.rs (the Rust
// constants, each documented with its JavaScript name) and pkg/fast.js (the METHODS and GETTERS
// tables that rebuild the class). This checks that both say the same, so a renumbering on one side
// fails here, by name, rather than as every other test misbehaving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './paths.mjs';

/** number → JavaScript name, from the doc comment above each `pub const NAME: u32 = N;`. */
function rustTable() {
  const text = readFileSync(join(root, 'crates', 'wasm', 'src', 'methods.rs'), 'utf8');
  const block = text.slice(text.indexOf('pub mod method {'), text.indexOf('\n}', text.indexOf('pub mod method {')));
  const table = new Map();
  let name = null;
  for (const line of block.split('\n')) {
    const doc = /^\s*\/\/\/ (?:The getter )?`([A-Za-z_]+)/.exec(line);
    if (doc && name === null) name = doc[1];
    const constant = /^\s*pub const [A-Z_]+: u32 = (\d+);/.exec(line);
    if (constant) {
      assert.ok(name, `methods.rs: constant ${constant[0].trim()} has no \`name\` in its doc comment`);
      assert.ok(!table.has(Number(constant[1])), `methods.rs: number ${constant[1]} is used twice`);
      table.set(Number(constant[1]), name);
      name = null;
    }
  }
  return table;
}

/** The string list `const NAME = [...]` of pkg/fast.js. */
function jsList(text, name) {
  const m = new RegExp(`const ${name} = \\[([^\\]]*)\\]`).exec(text);
  assert.ok(m, `fast.js: no ${name} table`);
  return [...m[1].matchAll(/'([^']*)'/g)].map((x) => x[1]);
}

test('fast.js numbers the methods and getters as methods.rs does', () => {
  const rust = rustTable();
  const fast = readFileSync(join(root, 'pkg', 'fast.js'), 'utf8');
  const js = [...jsList(fast, 'METHODS'), ...jsList(fast, 'GETTERS')];
  assert.ok(js.length >= 20, `fast.js lists only ${js.length} methods and getters`);
  assert.equal(rust.size, js.length, `methods.rs numbers ${rust.size} methods and getters, fast.js ${js.length}`);
  js.forEach((name, i) => assert.equal(rust.get(i), name, `number ${i}: methods.rs says ${rust.get(i)}, fast.js ${name}`));
});

test('every numbered method and getter is on Engine', async () => {
  const { Engine } = await import(join(root, 'pkg', 'index.js'));
  const fast = readFileSync(join(root, 'pkg', 'fast.js'), 'utf8');
  for (const name of jsList(fast, 'METHODS')) assert.equal(typeof Engine.prototype[name], 'function', name);
  for (const name of jsList(fast, 'GETTERS')) {
    assert.equal(typeof Object.getOwnPropertyDescriptor(Engine.prototype, name)?.get, 'function', name);
  }
});
