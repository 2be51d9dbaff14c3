// The build step that empties the formatting functions core's panic paths leave in the function
// table (crates/wasm/dead-fmt.mjs), on small modules built here with binaryen.js: what it empties,
// that the next wasm-opt run then removes what only they called, and that it refuses a module
// where they could run (a direct caller, `core::fmt::write`) or cannot be told (no names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import binaryen from 'binaryen';
import { root } from './paths.mjs';
import { deadFormatting } from '../../crates/wasm/dead-fmt.mjs';

const wasmOpt = join(root, 'tests', 'js', 'node_modules', '.bin', 'wasm-opt');
const { i32 } = binaryen;
const PAD = '<core[0123abcd]::fmt::Formatter>::pad';
const U32 = '<u32 as core[0123abcd]::fmt::Display>::fmt';
const DEBUG = '<kairos::Thing as core::fmt::Debug>::fmt';
const OTHER = 'kairos::other::h0123456789abcdef';
// Table entries whose names mention formatting without being a core trait's `fmt`: they stay.
const OWN_FMT = ['<kairos::Thing as kairos::fmt::Display>::fmt::h0123456789abcdef', 'kairos::codec::fmt_u32::h0123456789abcdef'];

/**
 * A module whose table holds two formatting functions (both calling `pad`, named `pad`) and
 * other functions, with `run(i, x)` calling entry `i`; `extra(m, ii)` adds to it, and returns
 * the names of functions to put in the table too. Written with its names.
 */
function module(extra = () => {}, pad = PAD) {
  const m = new binaryen.Module();
  try {
    const ii = binaryen.createType([i32, i32]);
    const args = () => [m.local.get(0, i32), m.local.get(1, i32)];
    m.addFunction(pad, ii, i32, [], m.i32.add(m.local.get(0, i32), m.i32.const(100)));
    m.addFunction(U32, ii, i32, [], m.call(pad, args(), i32));
    m.addFunction(DEBUG, ii, i32, [], m.call(pad, args(), i32));
    m.addFunction(OTHER, ii, i32, [], m.i32.const(7));
    for (const name of OWN_FMT) m.addFunction(name, ii, i32, [], m.i32.const(8));
    const entries = [U32, DEBUG, OTHER, ...OWN_FMT, ...(extra(m, ii) ?? [])];
    m.addTable('t', entries.length, entries.length);
    m.addActiveElementSegment('t', 'e', entries, m.i32.const(0));
    m.addFunction('run', ii, i32, [], m.call_indirect('t', m.local.get(0, i32), [m.local.get(1, i32), m.local.get(1, i32)], ii, i32));
    m.addFunctionExport('run', 'run');
    assert.ok(m.validate());
    const debugInfo = binaryen.getDebugInfo();
    binaryen.setDebugInfo(true);
    try {
      return m.emitBinary();
    } finally {
      binaryen.setDebugInfo(debugInfo);
    }
  } finally {
    m.dispose();
  }
}

function withFile(bytes, f) {
  const dir = mkdtempSync(join(tmpdir(), 'kairos-dead-fmt-'));
  try {
    const wasm = join(dir, 'm.wasm');
    writeFileSync(wasm, bytes);
    return f(wasm);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const functionNames = (bytes) => {
  const m = binaryen.readBinary(bytes);
  try {
    const names = [];
    for (let i = 0; i < m.getNumFunctions(); i++) names.push(binaryen.getFunctionInfo(m.getFunctionByIndex(i)).name);
    return names;
  } finally {
    m.dispose();
  }
};
const functions = (bytes) => functionNames(bytes).length;

/** `module()` with `caller` calling `callee` directly, exported. */
const withCaller = (caller, callee, pad = PAD) => module((m) => {
  m.addFunction(caller, binaryen.none, i32, [], m.call(callee, [m.i32.const(1), m.i32.const(2)], i32));
  m.addFunctionExport(caller, 'caller');
}, pad);

/** Runs the step on `bytes`, which it must refuse with `message`, leaving the file as it was. */
const refused = (bytes, message) => withFile(bytes, (wasm) => {
  assert.throws(() => deadFormatting({ binaryen, wasmOpt, wasm }), message);
  assert.deepEqual(readFileSync(wasm), Buffer.from(bytes));
});

test('the table\'s formatting functions are emptied, and what only they called goes', () => withFile(module(), (wasm) => {
  const debugInfo = binaryen.getDebugInfo();
  assert.deepEqual(deadFormatting({ binaryen, wasmOpt, wasm }).sort(), [DEBUG, U32].sort());
  assert.equal(binaryen.getDebugInfo(), debugInfo, "binaryen's setting as it was");
  assert.ok(functionNames(readFileSync(wasm)).every((n) => /^\d+$/.test(n)), 'written without names');
  const run = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm))).exports.run;
  assert.equal(run(2, 5), 7, 'the other entries of the table run as before');
  assert.equal(run(3, 5), 8);
  assert.equal(run(4, 5), 8);
  for (const i of [0, 1]) assert.throws(() => run(i, 5), (e) => e instanceof WebAssembly.RuntimeError && /unreachable/.test(e.message));
  // Before: pad, the two formatting functions, the three others and run. Unused functions
  // removed (as the next wasm-opt run does, among its passes), pad goes: nothing calls it now.
  execFileSync(wasmOpt, [wasm, '--remove-unused-module-elements', '-o', wasm]);
  assert.equal(functions(readFileSync(wasm)), 6);
}));

test('with keepNames (make size-report) the names stay', () => withFile(module(), (wasm) => {
  deadFormatting({ binaryen, wasmOpt, wasm, keepNames: true });
  const m = binaryen.readBinary(readFileSync(wasm));
  try {
    const names = [];
    for (let i = 0; i < m.getNumFunctions(); i++) names.push(binaryen.getFunctionInfo(m.getFunctionByIndex(i)).name);
    assert.deepEqual(names.sort(), [DEBUG, OTHER, PAD, U32, 'run', ...OWN_FMT].sort());
  } finally {
    m.dispose();
  }
}));

test('without the step, pad stays (the test above measures the step)', () => withFile(module(), (wasm) => {
  execFileSync(wasmOpt, [wasm, '--remove-unused-module-elements', '-o', wasm]);
  assert.equal(functions(readFileSync(wasm)), 7);
  const run = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm))).exports.run;
  assert.equal(run(0, 5), 105);
}));

test('a formatting function called directly is refused, and the module left as it was', () => refused(
  withCaller('kairos::caller::h0123456789abcdef', U32),
  new RegExp(`${U32.replace(/[[\]<>:]/g, '\\$&')} is called by kairos::caller::h0123456789abcdef: nothing emptied`),
));

test('a Formatter used by another function is refused (formatting code the names do not show)', () => refused(
  withCaller('kairos::inlined_write::h0123456789abcdef', PAD),
  /kairos::inlined_write::h0123456789abcdef uses a Formatter \(<core\[0123abcd\]::fmt::Formatter>::pad\): nothing emptied/,
));

for (const name of ['alloc[0123abcd]::fmt::format::format_inner', '<alloc::string::String as core::fmt::Write>::write_fmt',
  '<T as alloc::string::ToString>::to_string::h0123456789abcdef']) {
  test(`a module with ${name} is refused: formatting can run there`, () => {
    const bytes = module((m) => {
      m.addFunction(name, binaryen.none, binaryen.none, [], m.nop());
      m.addFunctionExport(name, 'f');
    });
    withFile(bytes, (wasm) => assert.throws(() => deadFormatting({ binaryen, wasmOpt, wasm }), /is in the module/));
  });
}

test('a module with core::fmt::write is refused: formatting can run there', () => refused(module((m) => {
  m.addFunction('core[0123abcd]::fmt::write', binaryen.none, binaryen.none, [], m.nop());
  m.addFunctionExport('core[0123abcd]::fmt::write', 'write');
}), /core\[0123abcd\]::fmt::write is in the module/));

test('a module without its names is refused', () => withFile(module(), (wasm) => {
  execFileSync(wasmOpt, [wasm, '-o', wasm]); // no -g: the names go
  assert.throws(() => deadFormatting({ binaryen, wasmOpt, wasm }), /has no function names \(run wasm-opt with -g/);
}));

// wasm-opt's call graph prints names as they are: a caller whose name holds a quote or ends in a
// backslash was not read, and the function it calls was emptied (review of the step).
for (const caller of ['kairos::f<"x">::h0123456789abcdef', 'kairos::back\\', 'a" -> "b']) {
  test(`a direct caller named ${JSON.stringify(caller)} is seen`, () => refused(withCaller(caller, U32), /is called by/));
}

test('a Formatter used by another function is refused by its legacy name too', () => {
  const legacy = 'core::fmt::Formatter::pad::h0123456789abcdef';
  refused(withCaller('kairos::inlined::h0123456789abcdef', legacy, legacy), /kairos::inlined::h0123456789abcdef uses a Formatter/);
});

// A Formatter is made over a `&mut dyn fmt::Write`, whose methods the table then holds by name
// however much is inlined (review: with rustc 1.95, `to_string` left no other name).
for (const writer of ['<alloc[0123abcd]::string::String as core[0123abcd]::fmt::Write>::write_str',
  'core::fmt::Write::write_fmt::h0123456789abcdef']) {
  test(`a table holding ${writer} is refused`, () => refused(module((m, ii) => {
    m.addFunction(writer, ii, i32, [], m.i32.const(0));
    return [writer];
  }), /is in the function table, so a Formatter can be made/));
}
