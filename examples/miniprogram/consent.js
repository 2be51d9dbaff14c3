// The consent prompt, on whichever page a session starts: the home page, or a product page opened
// from a card shared in a chat (the usual way in). Every page that loads before the shopper has
// answered shows it; her answer, on any of them, reaches them all, a page under the current one
// too. A page keeps `askConsent` and `consent` in its data and has a `consentKnown()`, which runs
// once her answer is known (at load, when she answered before) and again after each later answer.

/** Shows the prompt on `page` while she has not answered; resolves once the page is settled. */
function watch(page) {
  const app = getApp();
  page.offConsent = app.onConsent((consent) => {
    page.setData({ askConsent: false, consent });
    return page.consentKnown();
  });
  return app.needsConsent().then((ask) => app.engine().then((engine) => {
    page.setData({ askConsent: ask, consent: engine.consent });
    return ask ? undefined : page.consentKnown();
  })).catch((e) => {
    console.error('kairos', e.code, e.message);
    return page.consentKnown(); // no engine: its placements show nothing
  });
}

/** For the page's onUnload: an unloaded page follows no more answers. */
function unwatch(page) {
  if (page.offConsent) page.offConsent();
  page.offConsent = null;
}

/** Records her answer (also a withdrawal); resolves once every watching page has followed it. */
function answer(consent) {
  return getApp().answerConsent(consent).catch((e) => console.error('kairos', e.code, e.message));
}

module.exports = { watch, unwatch, answer };
