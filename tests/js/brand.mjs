// A brand for tests, made by the real `kairos` command (make cli builds target/release/kairos):
// its key pair and another brand's, snapshots of the Taste of Su model signed by either at any
// version, and `kairos serve` on a free loopback port.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './paths.mjs';

export const KAIROS = join(root, 'target/release/kairos');
export const MODEL = JSON.parse(readFileSync(join(root, 'examples/taste-of-su/model.json'), 'utf8'));

/** The model at `version`; `edit` may change the copy. */
export function modelAt(version, edit = (m) => m) {
  return edit({ ...structuredClone(MODEL), meta: { ...MODEL.meta, version } });
}

export function makeBrand() {
  const dir = mkdtempSync(join(tmpdir(), 'kairos-brand-'));
  // Its secret keys go with the suite's process.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const kairos = (...args) => execFileSync(KAIROS, args, { cwd: root }).toString();
  const publicKey = (name) => readFileSync(join(dir, `${name}.pub`), 'utf8').split('\n')
    .find((l) => l.startsWith('kairos-ed25519-public:'));
  kairos('keygen', '-o', join(dir, 'brand'));
  kairos('keygen', '-o', join(dir, 'other'));
  return {
    dir,
    key: join(dir, 'brand.key'),
    publicKey: publicKey('brand'),
    otherPublicKey: publicKey('other'),
    /** The model at `version` compiled and signed by `signer` ('brand' or 'other'). */
    snapshot(version, signer = 'brand') {
      const file = join(dir, `v${version}-${signer}.json`);
      writeFileSync(file, JSON.stringify(modelAt(version)));
      kairos('compile', file, '-o', `${file}.kairos`, '--key', join(dir, `${signer}.key`));
      return new Uint8Array(readFileSync(`${file}.kairos`));
    },
    /**
     * `kairos serve` of the model at `version` as channel `model`, signed by the brand; `publish(v,
     * edit?)` raises it (`edit` changes the model first); `outbox` is the file accepted outbox batches go to.
     */
    async serve(version) {
      const models = mkdtempSync(join(dir, 'models-'));
      const publish = (v, edit) => writeFileSync(join(models, 'model.json'), JSON.stringify(modelAt(v, edit)));
      publish(version);
      const server = await serve(['--models', models, '--key', join(dir, 'brand.key'), '--poll-ms', '50',
        '--outbox', join(models, 'outbox.ndjson')]);
      return { ...server, publish, outbox: join(models, 'outbox.ndjson') };
    },
  };
}

/** Starts `kairos serve ARGS` (with `--addr 127.0.0.1:0` unless given); resolves once it listens. */
export function serve(args) {
  const all = args.includes('--addr') ? args : [...args, '--addr', '127.0.0.1:0'];
  const child = spawn(KAIROS, ['serve', ...all], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.:]+)/);
      const stop = () => new Promise((r) => {
        if (child.exitCode !== null || child.signalCode !== null) { r(); return; }
        child.once('exit', r);
        child.kill();
      });
      if (m) resolve({ child, url: m[1], stop });
    });
    child.on('exit', (code) => reject(new Error(`kairos serve exited with ${code}`)));
  });
}
