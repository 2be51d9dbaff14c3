// The WeChat side, type-checked against miniprogram-api-typings (no DOM): the storage adapter
// takes the real `wx`.
import { SafeStore, wxStorageBackend } from '../../../pkg/storage.js';

export function restore(): Uint8Array | null {
  const store = new SafeStore(wxStorageBackend(wx), 'kairos');
  const state = store.loadState();
  if (state) store.saveState(state);
  return store.loadSnapshot();
}
