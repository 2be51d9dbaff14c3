// A product page: its load is the product view the model counts (`view` with category, product and
// price). The view is tracked before the offer placement is rendered (`viewed` in the WXML), so
// the placement's decision sees it. Coming back from the background is not a new view.
const products = require('../../catalog.js');

Page({
  data: { product: null, viewed: false },
  onLoad(query) {
    const product = products.find((p) => p.id === query.id) || products[0];
    this.setData({ product });
    return getApp().engine().then((engine) => {
      engine.track({ type: 'view', category: product.category, product: product.id, price: product.price });
    }).catch((e) => console.error('kairos', e.code, e.message)).then(() => {
      this.setData({ viewed: true }); // also without the engine: the placement shows its fallback
    });
  },
});
