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

/**
 * A module whose table holds two formatting functions (both calling `pad`) and another function,
 * with `run(i, x)` calling entry `i`; `extra(m)` adds to it. Written with its names.
 */
function module(extra = () => {}) {
  const m = new binaryen.Module();
  try {
    const ii = binaryen.createType([i32, i32]);
    const args = () => [m.local.get(0, i32), m.local.get(1, i32)];
    m.addFunction(PAD, ii, i32, [], m.i32.add(m.local.get(0, i32), m.i32.const(100)));
    m.addFunction(U32, ii, i32, [], m.call(PAD, args(), i32));
    m.addFunction(DEBUG, ii, i32, [], m.call(PAD, args(), i32));
    m.addFunction(OTHER, ii, i32, [], m.i32.const(7));
    m.addTable('t', 3, 3);
    m.addActiveElementSegment('t', 'e', [U32, DEBUG, OTHER], m.i32.const(0));
    m.addFunction('run', ii, i32, [], m.call_indirect('t', m.local.get(0, i32), [m.local.get(1, i32), m.local.get(1, i32)], ii, i32));
    m.addFunctionExport('run', 'run');
    extra(m);
    assert.ok(m.validate());
    binaryen.setDebugInfo(true);
    return m.emitBinary();
  } finally {
    binaryen.setDebugInfo(false);
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

const functions = (bytes) => {
  const m = binaryen.readBinary(bytes);
  try {
    return m.getNumFunctions();
  } finally {
    m.dispose();
  }
};

test('the table\'s formatting functions are emptied, and what only they called goes', () => withFile(module(), (wasm) => {
  assert.deepEqual(deadFormatting({ binaryen, wasmOpt, wasm }).sort(), [DEBUG, U32].sort());
  const run = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm))).exports.run;
  assert.equal(run(2, 5), 7, 'the other entry of the table runs as before');
  for (const i of [0, 1]) assert.throws(() => run(i, 5), (e) => e instanceof WebAssembly.RuntimeError && /unreachable/.test(e.message));
  // Before: pad, the two formatting functions, the other one and run. Unused functions removed
  // (as the next wasm-opt run does, among its passes), pad goes: nothing calls it now.
  execFileSync(wasmOpt, [wasm, '--remove-unused-module-elements', '-o', wasm]);
  assert.equal(functions(readFileSync(wasm)), 4);
}));

test('with keepNames (make size-report) the names stay', () => withFile(module(), (wasm) => {
  deadFormatting({ binaryen, wasmOpt, wasm, keepNames: true });
  const m = binaryen.readBinary(readFileSync(wasm));
  try {
    const names = [];
    for (let i = 0; i < m.getNumFunctions(); i++) names.push(binaryen.getFunctionInfo(m.getFunctionByIndex(i)).name);
    assert.deepEqual(names.sort(), [DEBUG, OTHER, PAD, U32, 'run'].sort());
  } finally {
    m.dispose();
  }
}));

test('without the step, pad stays (the test above measures the step)', () => withFile(module(), (wasm) => {
  execFileSync(wasmOpt, [wasm, '--remove-unused-module-elements', '-o', wasm]);
  assert.equal(functions(readFileSync(wasm)), 5);
  const run = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm))).exports.run;
  assert.equal(run(0, 5), 105);
}));

test('a formatting function called directly is refused, and the module left as it was', () => {
  const bytes = module((m) => {
    m.addFunction('kairos::caller::h0123456789abcdef', binaryen.none, i32, [], m.call(U32, [m.i32.const(1), m.i32.const(2)], i32));
    m.addFunctionExport('kairos::caller::h0123456789abcdef', 'caller');
  });
  withFile(bytes, (wasm) => {
    assert.throws(() => deadFormatting({ binaryen, wasmOpt, wasm }),
      new RegExp(`${U32.replace(/[[\]<>:]/g, '\\$&')} is called by kairos::caller::h0123456789abcdef: nothing emptied`));
    assert.deepEqual(readFileSync(wasm), Buffer.from(bytes));
  });
});

test('a Formatter used by another function is refused (formatting code the names do not show)', () => {
  const bytes = module((m) => {
    m.addFunction('kairos::inlined_write::h0123456789abcdef', binaryen.none, i32, [], m.call(PAD, [m.i32.const(1), m.i32.const(2)], i32));
    m.addFunctionExport('kairos::inlined_write::h0123456789abcdef', 'w');
  });
  withFile(bytes, (wasm) => {
    assert.throws(() => deadFormatting({ binaryen, wasmOpt, wasm }),
      /kairos::inlined_write::h0123456789abcdef uses a Formatter \(<core\[0123abcd\]::fmt::Formatter>::pad\): nothing emptied/);
    assert.deepEqual(readFileSync(wasm), Buffer.from(bytes));
  });
});

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

test('a module with core::fmt::write is refused: formatting can run there', () => {
  const bytes = module((m) => {
    m.addFunction('core[0123abcd]::fmt::write', binaryen.none, binaryen.none, [], m.nop());
    m.addFunctionExport('core[0123abcd]::fmt::write', 'write');
  });
  withFile(bytes, (wasm) => {
    assert.throws(() => deadFormatting({ binaryen, wasmOpt, wasm }), /core\[0123abcd\]::fmt::write is in the module/);
    assert.deepEqual(readFileSync(wasm), Buffer.from(bytes));
  });
});

test('a module without its names is refused', () => withFile(module(), (wasm) => {
  execFileSync(wasmOpt, [wasm, '-o', wasm]); // no -g: the names go
  assert.throws(() => deadFormatting({ binaryen, wasmOpt, wasm }), /has no function names \(run wasm-opt with -g/);
}));
