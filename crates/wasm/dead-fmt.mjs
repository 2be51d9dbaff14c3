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
// table, stay), so the next wasm-opt run removes what only they called. They can run only inside
// `core::fmt::write`, with a `Formatter`, which is made over a `&mut dyn fmt::Write`: that
// writer's vtable puts its `fmt::Write` methods (`write_str`, `write_fmt`) in the table, where
// they keep their names even when everything around them is inlined. So the step refuses the
// module when any `fmt::Write` method is in the table, and also, as belt and braces, when the
// module has no names (run wasm-opt `-g` before this step), when `core::fmt::write` or what calls
// it (`format!`, `write!`, `to_string`) is there by name, when an emptied function has a direct
// caller of its own, or when anything else calls a `Formatter`'s methods (wasm-opt's call graph,
// each line of which must read as a call between two of the module's functions).
// tests/js/dead-fmt.test.mjs holds it to each; the suites run on its output.
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
/** A `fmt::Write` method (v0 names `<W as core[..]::fmt::Write>::write_str`, legacy `core::fmt::Write::write_fmt::h..`). */
const WRITER = /as core(\[[0-9a-f]+\])?::fmt::Write>::|(^|::)core(\[[0-9a-f]+\])?::fmt::Write::/;
/**
 * Where formatting runs (`core::fmt::write`, which makes a `Formatter`) and what calls it
 * (`format!`, `write!`, `to_string`): with any of them in the module, formatting can run.
 */
const WRITE = /::fmt::(write|format)\b|::write_fmt\b|\bcore(\[[0-9a-f]+\])?::fmt::Formatter(>::|::)new\b|ToString/;
/** A `Formatter`'s own methods (`pad`, `write_str`, ...), by v0 or legacy names. */
const FORMATTER = /\bcore(\[[0-9a-f]+\])?::fmt::Formatter(>::|::)/;

/**
 * Direct calls in the module at `wasm` as `[caller, callee]`, by wasm-opt's call graph, whose
 * lines are `"caller" -> "callee"; // call` with the names as they are (not escaped): each line is
 * split where both sides are names of `functions`, and one that cannot be read so is refused.
 */
function directCalls(wasmOpt, wasm, functions) {
  const graph = execFileSync(wasmOpt, [wasm, '--all-features', '--print-call-graph', '-o', '/dev/null'],
    { encoding: 'utf8', maxBuffer: 1 << 28 });
  const known = new Set(functions);
  const calls = [];
  for (const line of graph.split('\n')) {
    if (!line.endsWith('; // call')) continue;
    const body = line.trim().slice(0, -'; // call'.length);
    const splits = [];
    for (let at = body.indexOf('" -> "'); at >= 0; at = body.indexOf('" -> "', at + 1)) {
      const [from, to] = [body.slice(1, at), body.slice(at + 6, -1)];
      if (body.startsWith('"') && body.endsWith('"') && known.has(from) && known.has(to)) splits.push([from, to]);
    }
    if (splits.length !== 1) throw new Error(`dead formatting: cannot read the call graph's line ${JSON.stringify(line)}: nothing emptied`);
    calls.push(splits[0]);
  }
  if (calls.length === 0) throw new Error('dead formatting: the call graph has no calls (wasm-opt\'s output changed?): nothing emptied');
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
    const inTable = new Set();
    for (let i = 0; i < module.getNumElementSegments(); i++) {
      for (const name of binaryen.getElementSegmentInfo(module.getElementSegmentByIndex(i)).data) inTable.add(name);
    }
    const writer = [...inTable].find((n) => WRITER.test(n));
    if (writer) throw new Error(`dead formatting: ${writer} is in the function table, so a Formatter can be made: nothing emptied`);
    const write = names.find((n) => WRITE.test(n));
    if (write) throw new Error(`dead formatting: ${write} is in the module, so its formatting functions can run: nothing emptied`);
    const dead = [...inTable].filter((n) => FMT.test(n));
    // Called directly (not only through the table), or a `Formatter` used by anything else: then
    // formatting may run in ways the names do not show.
    const calls = directCalls(wasmOpt, wasm, names);
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
    const debugInfo = binaryen.getDebugInfo();
    let bytes;
    try {
      binaryen.setDebugInfo(keepNames);
      bytes = module.emitBinary();
    } finally {
      binaryen.setDebugInfo(debugInfo);
    }
    writeFileSync(wasm, bytes);
    return dead;
  } finally {
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
