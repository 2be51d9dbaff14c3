// The export section of a Wasm module: read (`exportsOf`), filtered by kind (`withoutExports`) and
// renamed (`withExportsRenamed`). binaryen has no pass that drops an export by kind, and the
// mini-program build must not export a Global (iOS WeChat cannot), so the section is rewritten
// here; short-names.mjs gives the memory its name back after binaryen shortened every name. Every
// other section is copied byte for byte.

const KINDS = ['function', 'table', 'memory', 'global', 'tag'];
const EXPORT_SECTION = 7;

/** Reads an unsigned LEB128 at `at`; `[value, next offset]`. */
function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= bytes.length || shift > 28) throw new Error(`wasm: bad LEB128 at byte ${at}`);
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, at];
    shift += 7;
  }
}

function encodeLeb(value) {
  const out = [];
  do {
    let b = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) b |= 0x80;
    out.push(b);
  } while (value > 0);
  return out;
}

/** The module's sections: `{ id, start, end }` (the content, after the id and size). */
function sections(bytes) {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new Error('wasm: not a Wasm module');
  }
  const out = [];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, start] = leb(bytes, at + 1);
    if (start + size > bytes.length) throw new Error(`wasm: section ${id} runs past the end`);
    out.push({ id, head: at, start, end: start + size });
    at = start + size;
  }
  return out;
}

/** The exports as `{ name, kind, raw }`, `raw` being the entry's bytes. */
function entries(bytes, section) {
  const out = [];
  let [count, at] = leb(bytes, section.start);
  const decoder = new TextDecoder();
  while (count-- > 0) {
    const from = at;
    const [len, nameAt] = leb(bytes, at);
    const name = decoder.decode(bytes.subarray(nameAt, nameAt + len));
    const kind = KINDS[bytes[nameAt + len]] ?? `kind ${bytes[nameAt + len]}`;
    [, at] = leb(bytes, nameAt + len + 1);
    out.push({ name, kind, raw: bytes.subarray(from, at) });
  }
  if (at !== section.end) throw new Error('wasm: the export section has bytes after its entries');
  return out;
}

/** Every export of the module, `{ name, kind }`. */
export function exportsOf(bytes) {
  const section = sections(bytes).find((s) => s.id === EXPORT_SECTION);
  return section ? entries(bytes, section).map(({ name, kind }) => ({ name, kind })) : [];
}

/** The module with its export section's entries made by `f` from the entries read. */
function rewritten(bytes, f) {
  const parts = [bytes.subarray(0, 8)];
  for (const s of sections(bytes)) {
    if (s.id !== EXPORT_SECTION) {
      parts.push(bytes.subarray(s.head, s.end));
      continue;
    }
    const kept = f(entries(bytes, s));
    const body = [...encodeLeb(kept.length), ...kept.flatMap((e) => [...e.raw])];
    parts.push(Uint8Array.from([EXPORT_SECTION, ...encodeLeb(body.length), ...body]));
  }
  return Buffer.concat(parts);
}

/** The module without its exports of the given kinds (`'global'`, ...). */
export function withoutExports(bytes, kinds) {
  return rewritten(bytes, (all) => all.filter((e) => !kinds.includes(e.kind)));
}

/** The module with the exports named in `names` (a Map, old name to new) renamed. */
export function withExportsRenamed(bytes, names) {
  const encoder = new TextEncoder();
  return rewritten(bytes, (all) => all.map((e) => {
    if (!names.has(e.name)) return e;
    const name = encoder.encode(names.get(e.name));
    const [len, at] = leb(e.raw, 0);
    return { ...e, raw: Uint8Array.from([...encodeLeb(name.length), ...name, ...e.raw.subarray(at + len)]) };
  }));
}
