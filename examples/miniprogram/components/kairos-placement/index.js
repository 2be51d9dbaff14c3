// One placement of the brand's model, decided on the shopper's device:
//   <kairos-placement placement="home_hero" page="home" />
// It shows the chosen offer's content, or the placement's fallback (also for a control-group
// shopper, and when the engine is not there). A decision is an exposure (it counts against the
// offer's caps), so it decides only for a new view: when it enters the page, and when the shopper
// navigates back to the page. Base libraries differ on whether `pageLifetimes.show` fires on a
// page's first show, so the first decision comes from `attached`, and `show` acts only after a
// `hide`. Anything else paints the view on screen again with `refresh`, which keeps its offers
// with no new exposure and decides anew only what must change:
// - the page shown again because the app came back from the background (a chat, a payment sheet):
//   the same view;
// - a model pushed by sync while the page is visible: the same offers with the new model's content;
// - a consent answer while the page is visible: a decision made before consent, or before it was
//   withdrawn, is decided anew.
// A page that tracks its view renders the placement after tracking (`wx:if`) once the shopper's
// consent answer is known, so the decision sees the view; before her answer the placement shows
// at once, and her answer repaints it after the page has tracked the view (app.js calls the page
// before its placements).

/** The app, or null outside one (a component rendered on its own, as in a test). */
function currentApp() {
  try {
    return getApp() || null;
  } catch (e) {
    return null;
  }
}

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
      this.offs = [];
      this.decide().then(() => {
        const app = currentApp();
        if (this.gone || !app || !app.sync) return;
        // A pushed model, or a consent answer, shows at once on a visible page; a hidden one
        // decides or refreshes when shown.
        const repaint = () => (this.hidden ? undefined : this.decide(true));
        this.offs = [app.sync.on((e) => { if (e.type === 'update') repaint(); }), app.onConsent(repaint)];
      });
    },
    detached() {
      this.gone = true;
      for (const off of this.offs) off();
      this.offs = [];
    },
  },
  pageLifetimes: {
    hide() {
      this.hidden = true;
      const app = currentApp();
      this.mark = app && app.viewMark();
    },
    show() {
      if (!this.hidden) return;
      this.hidden = false;
      const app = currentApp();
      this.decide(Boolean(app && app.sameView(this.mark)));
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
      const app = currentApp();
      if (!app) return Promise.resolve();
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
