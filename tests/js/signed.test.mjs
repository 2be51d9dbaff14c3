// Signed snapshots and trait tokens verified inside Wasm (mini-programs have no WebCrypto): keys,
// snapshots and tokens are made by the real `kairos` command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, root } from './load.mjs';
import { KAIROS, makeBrand, modelAt } from './brand.mjs';

const brand = makeBrand();
const { dir, publicKey: pub, otherPublicKey: otherPub } = brand;
const run = (...args) => execFileSync(KAIROS, args, { cwd: root }).toString();
const signed = (version, key = 'brand') => brand.snapshot(version, key);
const code = (f) => { try { f(); } catch (e) { return e.code; } return 'no error'; };
const message = (f) => { try { f(); } catch (e) { return e.message; } return 'no error'; };

test('a snapshot signed by the brand loads; others are refused and the old model keeps running', () => {
  const engine = Engine.fromSignedSnapshot(signed(1), pub, '00000000000000a1');
  assert.equal(engine.modelVersion, 1);
  assert.equal(code(() => Engine.fromSignedSnapshot(signed(1, 'other'), pub)), 'SNAPSHOT_SIGNATURE');
  assert.equal(code(() => engine.applySignedSnapshot(signed(2, 'other'))), 'SNAPSHOT_SIGNATURE');
  const v2 = signed(2);
  const tampered = v2.slice();
  tampered[60] ^= 1;
  assert.notEqual(code(() => engine.applySignedSnapshot(tampered)), 'no error');
  assert.equal(code(() => engine.applySignedSnapshot(signed(1))), 'SNAPSHOT_NOT_NEWER');
  assert.equal(engine.modelVersion, 1, 'every rejection kept the running model');
  engine.applySignedSnapshot(v2);
  assert.equal(engine.modelVersion, 2);
  assert.equal(Engine.fromSignedSnapshot(signed(3), [otherPub, pub]).modelVersion, 3, 'key rotation: any trusted key');
  assert.equal(code(() => Engine.fromSignedSnapshot(signed(1), 'not a key')), 'KEY_INVALID');
  // Keys are required: none (or null) is refused, never taken for an engine that checks nothing.
  for (const none of [undefined, null, []]) {
    assert.equal(code(() => Engine.fromSignedSnapshot(signed(1), none)), 'KEY_INVALID', String(none));
    assert.equal(code(() => Engine.fromSignedSnapshot(new Uint8Array([1, 2, 3]), none)), 'KEY_INVALID');
  }
  // The plain constructor checks no signature: a signed or unsigned snapshot loads alike.
  assert.equal(new Engine(signed(1, 'other')).modelVersion, 1);
  // Options are read only with keys; a signed engine's options are checked.
  assert.equal(code(() => Engine.fromSignedSnapshot(signed(1), pub, undefined, { allowUnsigned: 'yes' })), 'ARGUMENT_INVALID');
  // At most 16 trusted keys (mutation audit: the bound could go unnoticed).
  assert.equal(Engine.fromSignedSnapshot(signed(1), Array(16).fill(pub)).modelVersion, 1);
  assert.throws(() => Engine.fromSignedSnapshot(signed(1), Array(17).fill(pub)),
    (e) => e.code === 'KEY_INVALID' && e.message === 'at most 16 public keys');
  // Options that are not an object are refused, not read as none (mutation audit).
  for (const options of ['yes', 7, true]) {
    assert.throws(() => Engine.fromSignedSnapshot(signed(1), pub, undefined, options),
      (e) => e.code === 'ARGUMENT_INVALID' && /^options must be an object like \{ allow\w+: true \}, got /.test(e.message), String(options));
  }
});

test('trait tokens count only when signed for this shopper and not expired', () => {
  const engine = Engine.fromSignedSnapshot(signed(1), pub, '00000000000000b2');
  const traits = join(dir, 'traits.json');
  writeFileSync(traits, JSON.stringify({ hipo: true }));
  const now = Date.parse('2026-11-20T14:21:00+08:00');
  const token = (user, key = 'brand') => run('token', '--key', join(dir, `${key}.key`), '--user', user, '--traits', traits,
    '--ttl', '7d', '--now', String(now)).trim();
  assert.equal(code(() => engine.setTraitsToken(token(engine.pid), now)), 'NO_CONSENT');
  engine.setConsent(true);
  engine.track({ type: 'follow', channel: 'wechat_oa' }, now);
  assert.equal(code(() => engine.setTraitsToken(token('00000000000000ff'), now)), 'TOKEN_INVALID', "another shopper's token");
  assert.equal(code(() => engine.setTraitsToken(token(engine.pid, 'other'), now)), 'TOKEN_INVALID');
  assert.equal(code(() => engine.setTraitsToken(token(engine.pid), now + 8 * 86_400_000)), 'TOKEN_INVALID');
  assert.ok(!engine.segments({}, now).includes('hipo'), 'no rejected token granted anything');
  engine.setTraitsToken(token(engine.pid), now);
  assert.ok(engine.segments({}, now).includes('hipo'));
  assert.equal(engine.decide('home_hero', { page: 'home' }, now + 3_600_000).items[0].offer, 'welcome_story');
});

test('an engine that trusts token keys takes traits only as tokens, also from stored state', () => {
  const now = Date.parse('2026-11-20T14:21:00+08:00');
  const traitsFile = join(dir, 'hipo.json');
  writeFileSync(traitsFile, JSON.stringify({ hipo: true }));
  const token = (user) => run('token', '--key', join(dir, 'brand.key'), '--user', user, '--traits', traitsFile,
    '--ttl', '7d', '--now', String(now)).trim();
  const hipo = (e) => e.segments({}, now).includes('hipo');
  const install = '00000000000000c3';

  const engine = Engine.fromSignedSnapshot(signed(1), pub, install);
  engine.setConsent(true);
  assert.equal(code(() => engine.setTraits({ hipo: true })), 'TRAITS_UNSIGNED');
  assert.match(message(() => engine.setTraits({ hipo: true })), /setTraitsToken.*allowUnsignedTraits/);
  assert.ok(!hipo(engine));
  assert.equal(engine.traitsTokenExpiresMs, null, 'no token yet');
  engine.setTraitsToken(token(engine.pid), now);
  assert.equal(engine.traitsTokenExpiresMs, now + 7 * 86_400_000);
  const state = engine.exportState();
  const copy = Engine.fromSignedSnapshot(signed(1), pub);
  copy.importState(state);
  assert.ok(hipo(copy), 'a stored token proves the traits again');
  assert.equal(copy.traitsTokenExpiresMs, now + 7 * 86_400_000);

  // What an edit of the device's storage can write: plain traits, here from an engine without keys.
  const plain = new Engine(signed(1), install);
  plain.setConsent(true);
  plain.setTraits({ hipo: true });
  const forged = plain.exportState();
  const target = Engine.fromSignedSnapshot(signed(1), pub, install);
  target.importState(forged);
  assert.ok(target.consent, 'the rest of the state is restored');
  assert.ok(!hipo(target), 'stored unsigned traits granted nothing');
  assert.equal(target.traitsTokenExpiresMs, null);
  // A rotated key: the stored token no longer counts, and the host can tell.
  const rotated = Engine.fromSignedSnapshot(signed(1, 'other'), otherPub);
  rotated.importState(state);
  assert.ok(rotated.consent && !hipo(rotated));
  assert.equal(rotated.traitsTokenExpiresMs, null, 'time to fetch a fresh token');
  // The first identifier makes a new pid: the token named the old one.
  copy.identify('phone', '13800138000');
  assert.equal(copy.traitsTokenExpiresMs, null);

  // Development, explicitly.
  const dev = Engine.fromSignedSnapshot(signed(1), pub, install, { allowUnsignedTraits: true });
  dev.setConsent(true);
  dev.setTraits({ hipo: true });
  assert.ok(hipo(dev));
  dev.importState(forged);
  assert.ok(hipo(dev));
  assert.equal(code(() => Engine.fromSignedSnapshot(signed(1), pub, install, true)), 'ARGUMENT_INVALID');
  assert.equal(code(() => Engine.fromSignedSnapshot(signed(1), pub, install, { allowUnsignedTraits: 'yes' })), 'ARGUMENT_INVALID');
  assert.equal(Engine.fromSignedSnapshot(signed(1), pub, install, {}).modelVersion, 1);
});

test('applySnapshot on an engine that trusts keys checks the signature too', () => {
  const file = join(dir, 'v99-unsigned.json');
  writeFileSync(file, JSON.stringify(modelAt(99)));
  run('compile', file, '-o', `${file}.kairos`);
  const unsigned = new Uint8Array(readFileSync(`${file}.kairos`));
  const engine = Engine.fromSignedSnapshot(signed(1), pub);
  assert.equal(code(() => engine.applySnapshot(unsigned)), 'SNAPSHOT_SIGNATURE');
  assert.equal(code(() => engine.applySnapshot(signed(99, 'other'))), 'SNAPSHOT_SIGNATURE');
  assert.equal(engine.modelVersion, 1, 'the signed model keeps running');
  engine.applySnapshot(signed(2));
  assert.equal(engine.modelVersion, 2);
  const dev = Engine.fromSignedSnapshot(signed(1), pub, undefined, { allowUnsigned: true });
  dev.applySnapshot(unsigned);
  assert.equal(dev.modelVersion, 99, 'development: allowed explicitly');
  const plain = new Engine(signed(1));
  plain.applySnapshot(unsigned);
  assert.equal(plain.modelVersion, 99, 'an engine without keys applies what its host gives it');
});

test('an engine that trusts no keys says so when asked to check a signature, and the consent message names the JS method', () => {
  const plain = new Engine(signed(1), '00000000000000b3');
  assert.equal(code(() => plain.applySignedSnapshot(signed(2))), 'SNAPSHOT_SIGNATURE');
  assert.match(message(() => plain.applySignedSnapshot(signed(2))), /this engine trusts no keys.*fromSignedSnapshot/);
  plain.setConsent(true);
  const traits = join(dir, 'traits-plain.json');
  writeFileSync(traits, JSON.stringify({ hipo: true }));
  const token = run('token', '--key', join(dir, 'brand.key'), '--user', plain.pid, '--traits', traits, '--ttl', '7d',
    '--now', String(Date.parse('2026-11-20T14:20:00+08:00'))).trim();
  assert.equal(code(() => plain.setTraitsToken(token, Date.parse('2026-11-20T14:21:00+08:00'))), 'TOKEN_INVALID');
  assert.match(message(() => plain.setTraitsToken(token, Date.parse('2026-11-20T14:21:00+08:00'))), /trusts no keys/);
  const fresh = new Engine(signed(1));
  assert.equal(message(() => fresh.identify('phone', '13800138000')), "identify needs the shopper's consent first: setConsent(true)");
  assert.equal(message(() => fresh.setTraits({ hipo: true })), "setTraits needs the shopper's consent first: setConsent(true)");
});
