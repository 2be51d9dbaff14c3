// Loads Kairos once for the whole mini-program and keeps it on the brand's latest signed snapshot:
// it starts at once from the last good snapshot in wx storage (or the one bundled in the code
// package), then long-polls `kairos serve` over wx.request for new versions. Pages call
// `getApp().engine()`, which resolves with the engine once it is there.
const kairos = require('./kairos/index.js');
const config = require('./kairos/config.js'); // url and publicKey, written by make miniprogram-example
const KEY_INSTALL = 'kairos.install';

function installId() {
  let id = wx.getStorageSync(KEY_INSTALL);
  if (typeof id !== 'string' || !/^[0-9a-f]{16}$/.test(id)) {
    id = '';
    for (let i = 0; i < 16; i++) id += Math.floor(Math.random() * 16).toString(16);
    wx.setStorageSync(KEY_INSTALL, id);
  }
  return id;
}

App({
  onLaunch() {
    this.ready = kairos.init('/kairos/kairos_wasm.wasm.br').then(() => {
      const bundled = new Uint8Array(wx.getFileSystemManager().readFileSync('/kairos/model.kairos'));
      this.sync = kairos.sync({ url: config.url, publicKey: config.publicKey, bundled, installId: installId() });
      this.sync.on((e) => {
        if (e.type === 'rejected' || e.type === 'failure') console.warn('kairos sync', e.type, e.message);
      });
      return this.sync.ready;
    }).then(() => {
      // Here the shopper has agreed; a real store asks first (PIPL) and keeps her answer: the
      // engine stores consent in its state, and nothing is profiled before it.
      this.sync.engine.setConsent(true);
    });
  },
  /** The engine on the running snapshot (the same object across model updates). */
  engine() {
    return this.ready.then(() => this.sync.engine);
  },
  /** Sends what the engine recorded (exposures, stage changes) to the brand's pipeline. */
  flushOutbox() {
    const events = this.sync && this.sync.engine ? this.sync.engine.drainOutbox() : [];
    if (events.length === 0) return;
    wx.request({
      url: `${config.url}/v1/outbox`,
      method: 'POST',
      header: { 'content-type': 'application/x-ndjson' },
      data: events.map((e) => JSON.stringify(e)).join('\n'),
      // Lost events are not retried here; a real app may keep them for the next flush.
      fail: (e) => console.warn('kairos outbox', e.errMsg),
    });
  },
  onHide() {
    if (this.sync) this.sync.saveState();
    this.flushOutbox();
  },
});
