// Kairos for WeChat mini-programs (CommonJS). Copy this folder into the code package, then:
//   const kairos = require('./kairos/index.js');
//   await kairos.init('/kairos/kairos_wasm.wasm.br');   // a path inside the code package
//   const engine = new kairos.Engine(snapshotBytes, installId);
// The glue needs no TextEncoder, TextDecoder, fetch or WebAssembly global: it loads through
// WXWebAssembly.instantiate (base library 2.13.0 or later).
var glue = require('./kairos_wasm.js');
var storage = require('./storage.js');

module.exports = {
  init: glue.initWx,
  Engine: glue.Engine,
  murmur3: glue.murmur3,
  SafeStore: storage.SafeStore,
  wxStorageBackend: storage.wxStorageBackend,
  isKairosError: function (e) {
    return e instanceof Error && e.name === 'KairosError' && typeof e.code === 'string';
  },
};
