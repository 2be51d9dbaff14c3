// Privacy promises of the package, from a privacy review: withdrawing consent erases the reports
// not yet drained and asks the backend to erase the rest; forget() never keeps the install id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshot, Engine } from './load.mjs';

const NOW = Date.parse('2026-11-20T14:20:00+08:00');
const code = (f) => { try { f(); } catch (e) { return e.code; } return 'no error'; };

function shopper(id = '00000000000000d1') {
  const e = new Engine(snapshot(), id);
  e.setConsent(true);
  e.identify('phone', '13800138000');
  e.track({ type: 'signup' }, NOW);
  e.decide('home_hero', { page: 'home' }, NOW + 1);
  return e;
}

test('withdrawing consent drops the reports not sent yet and queues a forgotten request for her pid', () => {
  const e = shopper();
  const pid = e.pid;
  assert.ok(e.outbox().some((ev) => ev.type === 'exposure'));
  e.setConsent(false, NOW + 2);
  assert.deepEqual(e.drainOutbox(), [{ type: 'forgotten', pid, at: NOW + 2 }]);
  assert.equal(e.consent, false);
  // Declining again, or before ever consenting, asks nothing more.
  e.setConsent(false, NOW + 3);
  assert.deepEqual(e.outbox(), []);
  const fresh = new Engine(snapshot(), '00000000000000d2');
  fresh.setConsent(false);
  assert.deepEqual(fresh.outbox(), []);
  assert.equal(code(() => fresh.setConsent(false, 'now')), 'TIME_INVALID');
  assert.equal(code(() => fresh.setConsent(true, 'now')), 'TIME_INVALID', 'now is checked whatever is asked');
  assert.equal(fresh.consent, false);
});

test('forget() refuses the current install id (her pid and decision ids would carry on) and draws a new one by default', () => {
  const e = shopper('00000000000000d3');
  const before = e.pid;
  assert.equal(code(() => e.forget('00000000000000d3', NOW + 2)), 'ARGUMENT_INVALID');
  assert.equal(e.pid, before, 'nothing was forgotten by the refused call');
  e.forget(undefined, NOW + 3);
  assert.notEqual(e.pid, before);
  assert.deepEqual(e.drainOutbox().map((ev) => ev.type), ['forgotten']);
});
