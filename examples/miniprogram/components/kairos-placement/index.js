// One placement of the brand's model, decided on the shopper's device:
//   <kairos-placement placement="home_hero" page="home" />
// It decides when it enters the page and again each time the page is shown after being hidden,
// and shows the chosen offer's content, or the placement's fallback (also for a control-group
// shopper, and when the engine is not there). A decision is an exposure (it counts against the
// offer's caps), so it never decides twice for one view: base libraries differ on whether
// `pageLifetimes.show` fires on a page's first show, so the first decision comes from `attached`
// and `show` decides only after a `hide`. When sync brings a new model while the page is visible,
// the view is painted again with `refresh`: the same offers show the new model's content with no
// second exposure, and only a change of offer is decided (and recorded). A page that tracks its
// view renders the placement after tracking (`wx:if`), so the decision sees the view.
Component({
  properties: {
    placement: { type: String, value: '' },
    page: { type: String, value: '' },
    product: { type: String, value: '' },
    category: { type: String, value: '' },
  },
  data: { title: '', body: '', offer: '', reason: '' },
  lifetimes: {
    attached() {
      this.hidden = false;
      this.gone = false;
      this.decide().then(() => {
        const app = getApp();
        if (this.gone || !app.sync) return;
        // A pushed model shows at once on a visible page.
        this.off = app.sync.on((e) => { if (e.type === 'update' && !this.hidden) this.decide(true); });
      });
    },
    detached() {
      this.gone = true;
      if (this.off) this.off();
      this.off = null;
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
    context() {
      const c = { page: this.data.page };
      if (this.data.product) c.product = this.data.product;
      if (this.data.category) c.category = this.data.category;
      return c;
    },
    paint(content, offer, reason) {
      if (this.gone) return;
      this.setData({ title: content.title || '', body: content.body || '', offer, reason });
    },
    /** Decides the placement for a new view, or with `again` paints the view shown again. */
    decide(again) {
      let app;
      try {
        app = getApp();
      } catch (e) {
        return Promise.resolve();
      }
      return Promise.resolve().then(() => app.engine()).then((engine) => {
        if (this.gone) return;
        const shown = this.shown;
        const d = again && shown ? engine.refresh(shown, this.context()) : engine.decide(this.data.placement, this.context());
        this.shown = d;
        if (d === shown) return;
        const item = d.items[0];
        this.paint((item && !item.control ? item.content : d.fallback) || {}, item ? item.offer : '', d.reason);
      }).catch((e) => {
        console.error('kairos', this.data.placement, e && e.code, e && e.message);
        this.paint({}, '', 'unavailable');
      });
    },
  },
});
