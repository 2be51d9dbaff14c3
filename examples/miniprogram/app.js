// Loads Kairos once for the whole mini-program and keeps it on the brand's latest signed snapshot:
// it starts at once from the last good snapshot in wx storage (or the one bundled in the code
// package), then long-polls `kairos serve` over wx.request for new versions. Pages call
// `getApp().engine()`, which resolves with the engine once it is there.
const kairos = require('./kairos/index.js');
const config = require('./kairos/config.js'); // url and publicKey, written by make miniprogram-example
const KEY_INSTALL = 'kairos.install';
const KEY_ASKED = 'kairos.consentAsked'; // '1' once the shopper answered the consent prompt
const KEY_UNSENT = 'kairos.unsent'; // outbox events drained while a batch was in flight (NDJSON)

// wx storage is 10 MB shared with the rest of the host app, and WeChat throws when it is full (or
// on a read it cannot do). Kairos runs without it: what cannot be written is kept in memory for
// this launch, and the profile (SafeStore) is simply not stored.
function read(key) {
  try {
    return wx.getStorageSync(key);
  } catch (e) {
    console.warn('kairos: cannot read', key, e && e.message);
    return '';
  }
}

/** Whether `value` was written. */
function write(key, value) {
  try {
    wx.setStorageSync(key, value);
    return true;
  } catch (e) {
    console.warn('kairos: cannot store', key, e && e.message);
    return false;
  }
}

function installId() {
  const id = read(KEY_INSTALL);
  return typeof id === 'string' && /^[0-9a-f]{16}$/.test(id) ? id : newInstallId();
}

/**
 * The next new install id, drawn ahead from wx.getRandomValues (cryptographic; base library
 * 2.15.0), which answers asynchronously: `null` until it has.
 */
let readyId = null;
let drawing = false;
function drawAhead() {
  if (drawing || readyId !== null || typeof wx.getRandomValues !== 'function') return;
  drawing = true;
  try {
    wx.getRandomValues({
      length: 8,
      success(res) {
        drawing = false;
        const b = new Uint8Array(res.randomValues);
        let id = '';
        for (let i = 0; i < b.length; i++) id += (b[i] | 256).toString(16).slice(1);
        if (id.length === 16) readyId = id;
      },
      fail() {
        drawing = false;
      },
    });
  } catch (e) {
    drawing = false;
    console.warn('kairos: no random values', e && e.message);
  }
}

/**
 * A new random install id, stored: the one drawn ahead from wx.getRandomValues, else one from
 * Math.random, whose generator a few of its outputs give away (the first launch's id, or where
 * wx.getRandomValues is missing). Not stored (storage full): this launch still uses it, and the
 * old one is removed, so the next launch draws another rather than take an erased shopper's.
 */
function newInstallId() {
  let id = readyId;
  readyId = null;
  drawAhead();
  if (!id) {
    id = '';
    for (let i = 0; i < 16; i++) id += Math.floor(Math.random() * 16).toString(16);
  }
  if (!write(KEY_INSTALL, id)) {
    try {
      wx.removeStorageSync(KEY_INSTALL);
    } catch (e) {
      console.warn('kairos: cannot remove', KEY_INSTALL, e && e.message);
    }
  }
  return id;
}

/** The page on screen (WeChat's page stack), or undefined where there is no stack. */
function topPage() {
  if (typeof getCurrentPages !== 'function') return undefined;
  const pages = getCurrentPages();
  return pages[pages.length - 1];
}

/**
 * The snapshot bundled in the code package, or undefined. It is a generated `.js` module (base64),
 * because WeChat uploads only whitelisted suffixes: a `.kairos` file works in DevTools and is
 * missing on phones. Without it sync starts from storage, or from the server.
 */
function bundledSnapshot() {
  try {
    const bytes = kairos.fromBase64(require('./kairos/model.js'));
    if (!bytes) throw new Error('kairos/model.js is not base64');
    return bytes;
  } catch (e) {
    console.warn('kairos: no bundled snapshot', e && e.message);
    return undefined;
  }
}

App({
  onLaunch() {
    // The id of an erasure (a withdrawal, a forget) must not be told from the erased one.
    drawAhead();
    // A failure here rejects `ready`, so every `engine()` caller gets it in its catch rather than a
    // TypeError: no WXWebAssembly (base library below 2.13), or one that cannot load a `.wasm.br`
    // (below 2.14).
    this.ready = Promise.resolve().then(() => kairos.init('/kairos/kairos_wasm.wasm.br')).then(() => {
      // A store with its own key prefix: sync's default one includes the server's address, so a
      // new `config.url` (a CDN domain) would start every shopper afresh.
      const store = new kairos.SafeStore(kairos.wxStorageBackend(wx), 'tos');
      this.sync = kairos.sync({ url: config.url, publicKey: config.publicKey, bundled: bundledSnapshot(), store, installId: installId() });
      if (typeof wx.onNetworkStatusChange === 'function') {
        wx.onNetworkStatusChange((r) => { if (r.isConnected && this.sync) this.sync.check(); });
      }
      return new Promise((resolve, reject) => {
        // `ready` rejects (SYNC_STOPPED) when sync is stopped before a snapshot verified.
        this.sync.ready.then(resolve, reject);
        // Nothing on hand verified: wait for the server, and fail if it cannot be reached, so
        // pages show their fallback instead of waiting for ever (sync goes on retrying).
        const off = this.sync.on((e) => {
          if (e.type === 'rejected' || e.type === 'failure') {
            console.warn('kairos sync', e.type, e.message);
            if (!this.sync.engine) reject(Object.assign(new Error(`kairos: no snapshot yet: ${e.message}`), { code: 'NO_SNAPSHOT' }));
          }
        });
        this.sync.ready.then(off, off);
      });
    });
    // Consent as the engine restored it: asked for in the page only when there is no answer yet.
    // The engine stores the answer in its state, and nothing is profiled before a yes.
  },
  /** The engine on the running snapshot (the same object across model updates). */
  engine() {
    // After a failed start, a snapshot that came from the server since then is used.
    return this.ready.catch((e) => {
      if (!(this.sync && this.sync.engine)) throw e;
    }).then(() => this.sync.engine);
  },
  /** Whether the shopper still has to answer the consent prompt. */
  needsConsent() {
    // Answered in this session, on whichever page came first: not asked again, even when storage
    // could not keep that she was asked.
    return this.engine().then(() => !this.answered && (read(KEY_ASKED) !== '1' || this.sync.status.state !== 'restored'));
  },
  /**
   * Calls `listener(consent)` after each answer, a withdrawal too, in the order listeners were
   * added, each after the promise the one before returned (`answerConsent` resolves after the
   * last); returns the function that stops it.
   */
  onConsent(listener) {
    const listeners = this.consentListeners || (this.consentListeners = []);
    listeners.push(listener);
    return () => {
      const i = listeners.indexOf(listener);
      if (i >= 0) listeners.splice(i, 1);
    };
  },
  /** Records the shopper's answer (also a later withdrawal) and stores it at once. */
  answerConsent(consent) {
    return this.engine().then((engine) => {
      // Withdrawing consent she gave starts a new install id (as a forget does), kept here too: a
      // launch that finds no stored profile (storage full) must not bring back her pid.
      if (!consent && engine.consent) engine.setConsent(false, undefined, newInstallId());
      else engine.setConsent(consent);
      // A withdrawal erases her reports not sent yet, here too: only erasure requests stay.
      if (!consent) this.erase();
      this.sync.saveState();
      this.answered = true;
      write(KEY_ASKED, '1');
      // Pages and placements on screen were drawn with the old answer: they follow it at once, one
      // after the other in the order they started listening, so a page's own work (a product page
      // tracks its view) is done before its placements decide again. A copy of the list, because a
      // listener may stop listening.
      return (this.consentListeners || []).slice().reduce((done, listener) => done.then(() => listener(consent)).catch((e) => console.error('kairos: a consent listener failed', e)), Promise.resolve());
    }).then(() => undefined);
  },
  /** After a withdrawal (or a forget): the unsent events go, but for erasure requests. */
  erase() {
    const erasure = (line) => { try { return JSON.parse(line).type === 'forgotten'; } catch { return false; } };
    this.keepUnsent(this.unsent().filter(erasure));
  },
  /** Events drained from the engine but not sent yet, as NDJSON lines. */
  unsent() {
    return this.unsentLines || String(read(KEY_UNSENT) || '').split('\n').filter(Boolean);
  },
  keepUnsent(lines) {
    // Kept in memory too: with storage full they are still sent at the next flush of this launch.
    this.unsentLines = lines;
    write(KEY_UNSENT, lines.join('\n'));
  },
  /**
   * Sends what the engine recorded (exposures, stage changes) to the brand's pipeline. The outbox is
   * only read here and drained after the server's 202: a failed or refused batch stays in the
   * outbox (and in the stored state) for the next flush. Resolves with whether it was accepted.
   */
  flushOutbox() {
    const engine = this.sync && this.sync.engine;
    if (!engine || this.sending) return Promise.resolve(false);
    const batch = engine.outbox().map((e) => JSON.stringify(e));
    const lines = this.unsent().concat(batch);
    if (lines.length === 0) return Promise.resolve(true);
    this.sending = true;
    return new Promise((resolve) => {
      wx.request({
        url: `${config.url}/v1/outbox`,
        method: 'POST',
        header: { 'content-type': 'application/x-ndjson' },
        data: lines.join('\n'),
        // wx.request calls `success` for every HTTP answer, 4xx and 5xx too.
        success: (res) => {
          if (res.statusCode !== 202) console.warn('kairos outbox: HTTP', res.statusCode, res.data);
          resolve(res.statusCode === 202);
        },
        fail: (e) => {
          console.warn('kairos outbox', e.errMsg);
          resolve(false);
        },
      });
    }).then((accepted) => {
      this.sending = false;
      if (!accepted) return false;
      // Events recorded while the batch was in flight were not in it: kept for the next flush. They
      // are told apart by content, not by count: the outbox keeps only the newest 256 reports, so
      // when it was full each new one pushed out one that was sent. (A withdrawal meanwhile left the
      // engine only erasure requests, none of them in the batch.) A later report equal to a sent one
      // would be a duplicate anyway: the backend tells reports apart by these fields.
      const sent = new Set(batch);
      const later = engine.drainOutbox().map((e) => JSON.stringify(e)).filter((line) => !sent.has(line));
      this.keepUnsent(later);
      this.sync.saveState();
      return true;
    });
  },
  /** A mark taken when a page is hidden, for `sameView` when it is shown again. */
  viewMark() {
    return this.returns || 0;
  },
  /**
   * Whether a page shown again (hidden at `mark`) only went to the background with the app and came
   * back (a chat, a payment sheet, the share panel): the same view, which keeps its offers. A
   * navigation back to it is a new view, also when the app went to the background on the other page.
   * WeChat hides the page before the app, and shows the app before the page.
   */
  sameView(mark) {
    return (this.returns || 0) !== mark && this.hiddenOn === topPage();
  },
  onShow() {
    this.returns = (this.returns || 0) + 1;
    // Back from the background, where WeChat suspends timers and requests: revalidate at once (a
    // check in flight, as at launch, is joined, not repeated).
    return this.sync ? this.sync.check() : null;
  },
  onHide() {
    this.hiddenOn = topPage();
    // Stored first, outbox included: if WeChat ends the app before the answer, the events are sent
    // at the next hide (a 202 that got lost makes a duplicate, with the same decision id).
    if (this.sync) this.sync.saveState();
    return this.flushOutbox();
  },
});
