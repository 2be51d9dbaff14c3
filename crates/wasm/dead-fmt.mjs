// Empties the formatting functions that core's panic paths leave in the module's function table.
//
// The `no_std` build formats nothing: the panic handler traps without reading its message, and no
// `format!` or `to_string` is left, so `core::fmt::write` (where a `Formatter` is made) is not in
// the module. But core's precompiled panic paths (a bounds check, a `RefCell` borrowed twice)
// still build their messages' `fmt::Arguments` as data, with pointers to `Display::fmt` of `u32`
// and of the borrow errors; those pointers put the functions in the table, and wasm-opt cannot
// remove what the table holds. They keep `Formatter::pad` and the integer formatter with them:
// 2.2 KB of code, 1.1 KB gzip, that can never run (a `fmt` function needs a `Formatter`).
//
// This step gives each such function the body `unreachable` (its type, and its place in the
// table, stay), so the next wasm-opt run removes what only they called. It refuses rather than
// guess: the module must have its names (wasm-opt `-g` before this step), `core::fmt::write` and
// what calls it (`format!`, `write!`, `to_string`) must be absent, no emptied function may have a
// direct caller of its own, and no other function may call a `Formatter`'s methods (wasm-opt's
// call graph).
// tests/js/dead-fmt.test.mjs holds it to that on small modules; the suites run on its output.
//
// Usage: node crates/wasm/dead-fmt.mjs [--keep-names] <binaryen package dir> <wasm-opt> <module.wasm>
//   rewrites <module.wasm> in place, without its names (the next step strips them anyway) unless
//   --keep-names (`make size-report`, which groups code by name).
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** `Trait::fmt` of a core formatting trait, by the names rustc gives core's functions. */
const FMT = /^<.+ as core(\[[0-9a-f]+\])?::fmt::[A-Za-z]+>::fmt(::h[0-9a-f]{16})?$/;
/**
 * Where formatting runs (`core::fmt::write`, which makes a `Formatter`) and what calls it
 * (`format!`, `write!`, `to_string`): with any of them in the module, formatting can run.
 */
const WRITE = /::fmt::(write|format)\b|::write_fmt\b|::fmt::Formatter(\[[0-9a-f]+\])?>::new\b|ToString/;
/** A `Formatter`'s own methods (`pad`, `write_str`, ...). */
const FORMATTER = /::fmt::Formatter(\[[0-9a-f]+\])?>::/;

/** Direct calls in the module at `wasm` as `[caller, callee]`, by wasm-opt's call graph. */
function directCalls(wasmOpt, wasm) {
  const graph = execFileSync(wasmOpt, [wasm, '--all-features', '--print-call-graph', '-o', '/dev/null'],
    { encoding: 'utf8', maxBuffer: 1 << 28 });
  const calls = [];
  for (const m of graph.matchAll(/^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"; \/\/ call$/gm)) calls.push([m[1], m[2]]);
  return calls;
}

/**
 * Empties the table's formatting functions of the module at `wasm` (see above), in place, with
 * its names when `keepNames`; `binaryen` is the binaryen.js module. Returns the names of the
 * functions emptied.
 */
export function deadFormatting({ binaryen, wasmOpt, wasm, keepNames = false }) {
  const module = binaryen.readBinary(readFileSync(wasm));
  try {
    const names = [];
    for (let i = 0; i < module.getNumFunctions(); i++) names.push(binaryen.getFunctionInfo(module.getFunctionByIndex(i)).name);
    // Without a name section binaryen names functions by number (imports `fimport$N`).
    if (names.every((n) => /^(fimport\$)?\d+$/.test(n))) {
      throw new Error('dead formatting: the module has no function names (run wasm-opt with -g before this step)');
    }
    const write = names.find((n) => WRITE.test(n));
    if (write) throw new Error(`dead formatting: ${write} is in the module, so its formatting functions can run: nothing emptied`);
    const inTable = new Set();
    for (let i = 0; i < module.getNumElementSegments(); i++) {
      for (const name of binaryen.getElementSegmentInfo(module.getElementSegmentByIndex(i)).data) inTable.add(name);
    }
    const dead = [...inTable].filter((n) => FMT.test(n));
    // Called directly (not only through the table), or a `Formatter` used by anything else: then
    // formatting may run in ways the names do not show (`core::fmt::write` inlined, say).
    const calls = directCalls(wasmOpt, wasm);
    const called = calls.find(([from, to]) => dead.includes(to) && !dead.includes(from));
    if (called) throw new Error(`dead formatting: ${called[1]} is called by ${called[0]}: nothing emptied`);
    const user = calls.find(([from, to]) => FORMATTER.test(to) && !FORMATTER.test(from) && !dead.includes(from));
    if (user) throw new Error(`dead formatting: ${user[0]} uses a Formatter (${user[1]}): nothing emptied`);
    for (const name of dead) {
      const f = binaryen.getFunctionInfo(module.getFunction(name));
      module.removeFunction(name);
      module.addFunction(name, f.params, f.results, [], module.unreachable());
    }
    if (!module.validate()) throw new Error('dead formatting: the rewritten module does not validate');
    binaryen.setDebugInfo(keepNames);
    writeFileSync(wasm, module.emitBinary());
    return dead;
  } finally {
    binaryen.setDebugInfo(false);
    module.dispose();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const keepNames = args[0] === '--keep-names';
  const [dir, wasmOpt, wasm] = keepNames ? args.slice(1) : args;
  if (!dir || !wasmOpt || !wasm) throw new Error('usage: node dead-fmt.mjs [--keep-names] <binaryen package dir> <wasm-opt> <module.wasm>');
  const { default: binaryen } = await import(pathToFileURL(join(dir, 'index.js')).href);
  const before = readFileSync(wasm).length;
  const dead = deadFormatting({ binaryen, wasmOpt, wasm, keepNames });
  console.log(`dead formatting: ${wasm}: ${dead.length} functions emptied (${dead.join(', ') || 'none'}); ${before} → ${readFileSync(wasm).length} B`);
}
