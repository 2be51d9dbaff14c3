// The consent prompt, on whichever page a session starts: the home page, or a product page opened
// from a card shared in a chat (the usual way in). Every page that loads before the shopper has
// answered shows it; her answer, on any of them, reaches them all, a page under the current one
// too. A page keeps `askConsent`, `consent` and `settled` in its data, and may have a
// `consentKnown()`, which runs once her answer is known (at load, when she answered before) and
// again after each later answer, before the page's placements follow it.
//
// `settled` is when the page renders its placements: once the engine is there, with or without
// her answer (a placement decided before her answer shows what the model shows without consent,
// and records nothing; her answer repaints it), and only while the page is on screen, so that a
// page hidden while the engine loaded does not record an exposure nobody saw. Pages call
// `shown`/`hidden` from their onShow/onHide.

/** Sets `settled` now, or when the page is next shown if it is hidden. */
function settle(page) {
  if (page.offScreen) page.settleOnShow = true;
  else page.setData({ settled: true });
}

function known(page) {
  return typeof page.consentKnown === 'function' ? page.consentKnown() : undefined;
}

/** Shows the prompt on `page` while she has not answered; resolves once the page is settled. */
function watch(page) {
  const app = getApp();
  page.offConsent = app.onConsent((consent) => {
    page.setData({ askConsent: false, consent });
    return known(page);
  });
  // A page closed before the engine was there (she went back at once) is not drawn any more; a
  // product page still counts the view she had.
  return app.needsConsent().then((ask) => app.engine().then((engine) => {
    if (page.offConsent) page.setData({ askConsent: ask, consent: engine.consent });
    return ask ? undefined : known(page);
  })).catch((e) => {
    console.error('kairos', e.code, e.message);
    return known(page); // no engine: its placements show their fallback
  }).then(() => {
    if (page.offConsent) settle(page);
  });
}

/** For the page's onUnload: an unloaded page follows no more answers. */
function unwatch(page) {
  if (page.offConsent) page.offConsent();
  page.offConsent = null;
}

/** For the page's onHide. */
function hidden(page) {
  page.offScreen = true;
}

/** For the page's onShow: a page that settled while hidden renders its placements now. */
function shown(page) {
  page.offScreen = false;
  if (page.settleOnShow) {
    page.settleOnShow = false;
    page.setData({ settled: true });
  }
}

/** Records her answer (also a withdrawal); resolves once every watching page has followed it. */
function answer(consent) {
  return getApp().answerConsent(consent).catch((e) => console.error('kairos', e.code, e.message));
}

module.exports = { watch, unwatch, hidden, shown, answer };
