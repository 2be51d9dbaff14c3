// The home page: every view is tracked; the hero is a <kairos-placement>, which decides by itself.
Page({
  onShow() {
    getApp().engine().then((engine) => {
      engine.track({ type: 'view', category: 'home' });
    }).catch((e) => console.error('kairos', e.code, e.message));
  },
});
