// The home page: the hero is a <kairos-placement>, which decides by itself. A home show is not a
// product view (in the Taste of Su model `view` is one: it counts toward `indecisive` and the
// scores), so this page tracks nothing; product pages do. It asks for consent until the shopper
// answers, and keeps her answer (also a withdrawal) through restarts. The hero is rendered once the
// answer is known (`settled`), so that it decides with her consent rather than show the fallback
// of a no-consent decision until the next show.
const products = require('../../catalog.js');

Page({
  data: { askConsent: false, consent: false, settled: false, products },
  onLoad() {
    const app = getApp();
    return app.needsConsent().then((ask) => app.engine().then((engine) => {
      this.setData({ askConsent: ask, consent: engine.consent, settled: !ask });
    })).catch((e) => {
      console.error('kairos', e.code, e.message);
      this.setData({ settled: true }); // the hero shows nothing, as with no engine
    });
  },
  answer(consent) {
    return getApp().answerConsent(consent).then(() => {
      this.setData({ askConsent: false, consent, settled: true });
    }).catch((e) => console.error('kairos', e.code, e.message));
  },
  onAllow() {
    return this.answer(true);
  },
  onDecline() {
    return this.answer(false);
  },
  openProduct(e) {
    wx.navigateTo({ url: `/pages/product/index?id=${e.currentTarget.dataset.id}` });
  },
});
