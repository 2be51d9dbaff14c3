// `node --import ./tests/js/min-register.mjs`: the suites against pkg/kairos.min.js (min-hooks.mjs).
import { register } from 'node:module';

register('./min-hooks.mjs', import.meta.url);
