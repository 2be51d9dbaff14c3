// Loads the built package from pkg/ the way Node users do: initSync with the .wasm bytes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { initSync, Engine } from '../../pkg/index.js';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
initSync({ module: readFileSync(join(root, 'pkg', 'kairos_wasm_bg.wasm')) });

/** The Taste of Su snapshot compiled by `make js` (kairos compile). */
export const snapshot = () => new Uint8Array(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
export { Engine, initSync };
