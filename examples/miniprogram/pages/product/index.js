// A product page: its load is the product view the model counts (`view` with category, product and
// price). A session often starts here (a product card shared in a chat), so the page asks for
// consent as the home page does, and tracks the view once her answer is known: with a yes the
// view counts, with a no the engine drops it. The view is tracked before the offer placement is
// rendered (`viewed` in the WXML), so the placement's decision sees it. Coming back from the
// background is not a new view.
const products = require('../../catalog.js');
const consent = require('../../consent.js');

Page({
  data: { product: null, viewed: false, askConsent: false, consent: false },
  onLoad(query) {
    const product = products.find((p) => p.id === query.id) || products[0];
    this.setData({ product });
    return consent.watch(this);
  },
  onUnload() {
    consent.unwatch(this);
  },
  consentKnown() {
    if (this.tracked) return undefined; // one view per page load, whatever she answers later
    this.tracked = true;
    const product = this.data.product;
    return getApp().engine().then((engine) => {
      engine.track({ type: 'view', category: product.category, product: product.id, price: product.price });
    }).catch((e) => console.error('kairos', e.code, e.message)).then(() => {
      this.setData({ viewed: true }); // also without the engine: the placement shows its fallback
    });
  },
  onAllow() {
    return consent.answer(true);
  },
  onDecline() {
    return consent.answer(false);
  },
});
