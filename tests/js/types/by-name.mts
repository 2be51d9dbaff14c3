// The package as an app imports it, by name (checked in a folder where node_modules/kairos-engine
// holds pkg/'s package.json and typings): under `moduleResolution` node10 through
// `typesVersions`, under NodeNext and bundler through `exports` (front-end review of 2026-11-25:
// `kairos-engine/min` did not resolve under node10).
import { Engine, isKairosError } from 'kairos-engine';
import { sync } from 'kairos-engine/sync';
import { SafeStore } from 'kairos-engine/storage';
import { Engine as MinEngine, sync as minSync, SafeStore as MinStore } from 'kairos-engine/min';

export const names: [typeof Engine, typeof isKairosError, typeof sync, typeof SafeStore, typeof MinEngine, typeof minSync, typeof MinStore] =
  [Engine, isKairosError, sync, SafeStore, MinEngine, minSync, MinStore];
export const engine = (e: Engine): number => e.modelVersion;
