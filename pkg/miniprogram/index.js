// Kairos for WeChat mini-programs (CommonJS). Copy this folder into the code package, then:
//   const kairos = require('./kairos/index.js');
//   await kairos.init('/kairos/kairos_wasm.wasm.br');   // a path inside the code package
//   const engine = new kairos.Engine(snapshotBytes, installId);
// or keep one on the brand's latest signed snapshot (long-poll over wx.request, wx storage):
//   const s = kairos.sync({ url: 'https://…', publicKey, bundled: snapshotBytes });
// The glue needs no TextEncoder, TextDecoder, fetch or WebAssembly global: it loads through
// WXWebAssembly.instantiate (base library 2.14.0 or later: the first to load a .wasm.br).
var glue = require('./kairos_wasm.js');
var fast = require('./fast.js');
fast.install(glue.Engine);
// The install ids of erasures (forget, a withdrawn consent) and of engines made without one,
// drawn ahead from wx.getRandomValues (cryptographic; base library 2.15.0, answers
// asynchronously). Where it is missing, or until it answers, the module draws with Math.random.
var drawing = false;
fast.drawAhead(function () {
  if (drawing || typeof wx !== 'object' || !wx || typeof wx.getRandomValues !== 'function') return;
  drawing = true;
  try {
    wx.getRandomValues({
      length: 64,
      success: function (res) {
        drawing = false;
        // The bytes asked for, as an ArrayBuffer: anything else would give ids of zeros.
        var b = res && res.randomValues;
        if (Object.prototype.toString.call(b) === '[object ArrayBuffer]' && b.byteLength === 64) fast.aheadFrom(new Uint8Array(b));
      },
      fail: function () {
        drawing = false; // tried again at the next id drawn
      },
    });
  } catch (e) {
    drawing = false; // none drawn: Math.random until a later try answers
  }
});
var storage = require('./storage.js');
var sync = require('./sync.js');

module.exports = {
  init: function (path) {
    return glue.initWx(path).then(fast.markLoaded);
  },
  Engine: fast.guarded(glue.Engine),
  murmur3: fast.checkedHash(glue.murmur3),
  SafeStore: storage.SafeStore,
  fromBase64: storage.fromBase64,
  wxStorageBackend: storage.wxStorageBackend,
  sync: sync.sync,
  wxTransport: sync.wxTransport,
  isKairosError: fast.isKairosError,
};
