// The home page: the hero is a <kairos-placement>, which decides by itself. A home show is not a
// product view (in the Taste of Su model `view` is one: it counts toward `indecisive` and the
// scores), so this page tracks nothing; product pages do. It asks for consent until the shopper
// answers (here or on a product page: see consent.js), and keeps her answer (also a withdrawal)
// through restarts. The hero renders as soon as the engine is there (`settled`): before her answer
// it shows what the model shows without consent and records nothing, and her answer repaints it
// (the placement follows consent by itself).
const products = require('../../catalog.js');
const consent = require('../../consent.js');

Page({
  data: { askConsent: false, consent: false, settled: false, products },
  onLoad() {
    return consent.watch(this);
  },
  onShow() {
    consent.shown(this);
  },
  onHide() {
    consent.hidden(this);
  },
  onUnload() {
    consent.unwatch(this);
  },
  onAllow() {
    return consent.answer(true);
  },
  onDecline() {
    return consent.answer(false);
  },
  openProduct(e) {
    wx.navigateTo({ url: `/pages/product/index?id=${e.currentTarget.dataset.id}` });
  },
});
