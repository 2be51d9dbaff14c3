// Loads Kairos once for the whole mini-program; pages await `getApp().kairos`.
const kairos = require('./kairos/index.js');
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
    this.store = new kairos.SafeStore(kairos.wxStorageBackend(wx));
    this.kairos = kairos.init('/kairos/kairos_wasm.wasm.br').then(() => {
      // The last good snapshot from storage, else the one bundled in the code package.
      const bundled = new Uint8Array(wx.getFileSystemManager().readFileSync('/kairos/model.kairos'));
      const snapshot = this.store.loadSnapshot(kairos.Engine.snapshotVersion) || bundled;
      const engine = new kairos.Engine(snapshot, installId());
      const state = this.store.loadState();
      if (state) {
        try { engine.importState(state); } catch (e) { console.warn('kairos: stored state rejected', e.code); }
      }
      this.engine = engine;
      return engine;
    });
  },
  onHide() {
    if (this.engine) this.store.saveState(this.engine.exportState());
  },
});
