// The home page: every view is tracked and the hero placement decided.
Page({
  data: { title: '', body: '', reason: '' },
  onShow() {
    const app = getApp();
    app.engine().then((engine) => {
      engine.setConsent(true); // in a real store, after the shopper agreed (PIPL)
      engine.track({ type: 'view', category: 'home' });
      const d = engine.decide('home_hero', { page: 'home' });
      const item = d.items[0];
      const content = item && !item.control ? item.content : d.fallback;
      this.setData({
        title: (content && content.title) || '',
        body: (content && content.body) || '',
        reason: d.reason,
      });
      app.flushOutbox();
    }).catch((e) => console.error('kairos', e.code, e.message));
  },
});
