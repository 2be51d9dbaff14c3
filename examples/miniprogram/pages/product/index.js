// A product page: its load is the product view the model counts (`view` with category, product and
// price). A session often starts here (a product card shared in a chat), so the page asks for
// consent as the home page does. The view is tracked once her answer is known: at load when she
// answered before, else when she answers here or on another page (with a no the engine drops it).
// Its offer placement renders as soon as the engine is there (`settled`): after the view when her
// answer is known, so the decision sees it; before her answer with what the model shows without
// consent, and her yes tracks the view and then repaints the placement with it (consent.js calls
// the page before the placements). Coming back from the background is not a new view.
const products = require('../../catalog.js');
const consent = require('../../consent.js');

Page({
  data: { product: null, settled: false, askConsent: false, consent: false },
  onLoad(query) {
    const product = products.find((p) => p.id === query.id) || products[0];
    this.setData({ product });
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
  consentKnown() {
    if (this.tracked) return undefined; // one view per page load, whatever she answers later
    this.tracked = true;
    const product = this.data.product;
    return getApp().engine().then((engine) => {
      engine.track({ type: 'view', category: product.category, product: product.id, price: product.price });
    }).catch((e) => console.error('kairos', e.code, e.message));
  },
  onAllow() {
    return consent.answer(true);
  },
  onDecline() {
    return consent.answer(false);
  },
});
