// The journey fixtures of tests/fixtures/journeys, run against pkg/ and compared step by step with
// the Rust runner (`kairos simulate --json`): stage, segments, items, reason, outbox events (all
// fields) and error messages must be identical, and every expectation of the fixture must hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, basename, dirname } from 'node:path';
import { root, Engine } from './load.mjs';

const dir = join(root, 'tests', 'fixtures', 'journeys');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const kairos = join(root, 'target', 'release', 'kairos');

/** A journey's model path -> the snapshot `make js` compiled from it. */
const snapshotFor = (model) => new Uint8Array(readFileSync(join(root, 'target', `${basename(dirname(model))}.kairos`)));

function label(item) {
  if (item.control) return `${item.offer} (control)`;
  return item.variant === null ? item.offer : `${item.offer}/${item.variant}`;
}

/** The install id of a journey's `n`th erasure, as `next_install` in src/journey.rs gives it. */
const nextInstall = (n) => (0x5eed + n).toString(16).padStart(16, '0');

/** Mirrors `run_step` in src/journey.rs; `erasures` counts the erasures so far (`{ n }`). */
function runStep(engine, step, erasures) {
  const now = Date.parse(step.at);
  let items, reason, error, context = null;
  try {
    switch (step.do) {
      // A withdrawal of the consent she gave starts a new install id: the one the Rust runner gives.
      case 'consent': engine.setConsent(step.value, now, !step.value && engine.consent ? nextInstall(erasures.n++) : undefined); break;
      case 'identify': engine.identify(step.kind, step.value); break;
      case 'traits': engine.setTraits(step.traits, step.expires ? Date.parse(step.expires) : undefined); break;
      case 'track': engine.track(step.event, now); break;
      case 'decide': {
        const d = engine.decide(step.placement, step.context ?? null, now);
        items = d.items.map(label);
        reason = d.reason;
        context = step.context ?? null;
        break;
      }
      case 'check': break;
      case 'forget': engine.forget(nextInstall(erasures.n++), now); break;
      default: throw new Error(`unknown step ${step.do}`);
    }
  } catch (e) {
    assert.ok(e instanceof Error, 'failures are Error objects');
    assert.equal(typeof e.code, 'string', 'failures carry a code');
    error = e.message;
  }
  const stage = engine.stage() ?? null;
  const segments = engine.segments(context, now);
  const outbox = engine.drainOutbox();
  return { stage, segments, items, reason, outbox, error };
}

assert.ok(files.length >= 6, `journey fixtures found: ${files.length}`);

for (const file of files) {
  test(`journey ${file}: same results as the Rust runner`, () => {
    const journey = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const rust = execFileSync(kairos, ['simulate', '--journey', join(dir, file), '--json'], { encoding: 'utf8' })
      .trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rust.length, journey.steps.length);
    const engine = new Engine(snapshotFor(journey.model), journey.install_id);
    const erasures = { n: 0 };
    journey.steps.forEach((step, i) => {
      const js = runStep(engine, step, erasures);
      const r = rust[i];
      const at = `${file} step ${i} (${step.do})`;
      assert.deepEqual(r.mismatches, [], `${at}: the Rust runner itself passes`);
      assert.equal(js.stage, r.stage, `${at}: stage`);
      assert.deepEqual(js.segments, r.segments, `${at}: segments`);
      assert.deepEqual(js.items, r.items, `${at}: items`);
      assert.equal(js.reason, r.reason, `${at}: reason`);
      assert.deepEqual(js.outbox, r.outbox, `${at}: outbox`);
      assert.equal(js.error, r.error, `${at}: error`);
      const x = step.expect ?? {};
      if ('stage' in x) assert.equal(js.stage, x.stage, `${at}: expected stage`);
      if (x.segments) assert.deepEqual(js.segments, x.segments, `${at}: expected segments`);
      if (x.items) assert.deepEqual(js.items, x.items, `${at}: expected items`);
      if (x.reason) assert.equal(js.reason, x.reason, `${at}: expected reason`);
      if (x.outbox) assert.deepEqual(js.outbox.map((e) => e.type), x.outbox, `${at}: expected outbox`);
      if (x.error) assert.ok(js.error?.includes(x.error), `${at}: expected error containing ${x.error}, got ${js.error}`);
      else assert.equal(js.error, undefined, `${at}: unexpected error`);
    });
  });
}
