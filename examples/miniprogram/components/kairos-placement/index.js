// One placement of the brand's model, decided on the shopper's device:
//   <kairos-placement placement="home_hero" page="home" />
// It decides when it enters the page and again each time the page is shown after being hidden, and
// shows the chosen offer's content, or the placement's fallback (also for a control-group shopper).
// A decision is an exposure (it counts against the offer's caps), so it never decides twice for one
// view: base libraries differ on whether `pageLifetimes.show` fires on a page's first show, so the
// first decision comes from `attached` and `show` decides only after a `hide`.
Component({
  properties: {
    placement: { type: String, value: '' },
    page: { type: String, value: '' },
  },
  data: { title: '', body: '', offer: '', reason: '' },
  lifetimes: {
    attached() {
      this.hidden = false;
      this.decide();
    },
  },
  pageLifetimes: {
    hide() {
      this.hidden = true;
    },
    show() {
      if (!this.hidden) return;
      this.hidden = false;
      this.decide();
    },
  },
  methods: {
    decide() {
      return getApp().engine().then((engine) => {
        const d = engine.decide(this.data.placement, { page: this.data.page });
        const item = d.items[0];
        const content = (item && !item.control ? item.content : d.fallback) || {};
        this.setData({
          title: content.title || '',
          body: content.body || '',
          offer: item ? item.offer : '',
          reason: d.reason,
        });
      }).catch((e) => console.error('kairos', this.data.placement, e.code, e.message));
    },
  },
});
