// With a lib that has `Disposable` (ESNext here), `using` frees the engine at the end of the block.
import { Engine } from '../../../pkg/index.js';

export function scoped(snapshot: Uint8Array): number {
  using engine = new Engine(snapshot);
  return engine.modelVersion;
}
