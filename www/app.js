// The Taste of Su storefront: every slot is filled by Kairos `decide` on every view, on the
// shopper's device. The side panel shows what a marketer or developer wants to see.
import { PRODUCTS } from './catalog.js';
import { openClient } from './kairos-client.js';

const $ = (sel) => document.querySelector(sel);

// A simulated clock: real time plus the jumps the panel asks for (journeys set it outright).
const clock = {
  offset: Number(localStorage.getItem('tos.clockOffset') || 0),
  now() { return Date.now() + this.offset; },
  set(ms) { this.offset = ms - Date.now(); this.save(); },
  jump(ms) { this.offset += ms; this.save(); },
  save() { localStorage.setItem('tos.clockOffset', String(this.offset)); },
};

const state = { page: 'home', product: null, cart: JSON.parse(localStorage.getItem('tos.cart') || '[]'), decisions: {}, journey: null, step: 0, run: 0 };
// "Not now" on the consent banner holds for this browser session.
const DECLINED_KEY = 'tos.consentDeclined';
let client;

function context() {
  const p = state.product;
  return { page: state.page, category: p ? p.category : undefined, product: p ? p.id : undefined, channel: 'web' };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function card(content, { offer, variant, control, fallback }) {
  const c = content || {};
  const classes = ['card'];
  if (c.voucher) classes.push('voucher');
  if (fallback) classes.push('fallback');
  const node = el('article', { class: classes.join(' '), 'data-offer': offer, 'data-variant': variant, 'data-control': control ? 'true' : undefined });
  if (c.title) node.append(el('h3', {}, c.title));
  if (c.body) node.append(el('p', {}, c.body));
  if (c.voucher) node.append(el('span', { class: 'tag' }, `Code ${c.voucher}`));
  return node;
}

// A slot's cards for a decision: its items, else its fallback, else an empty marker with the reason.
function slotNodes(d) {
  const nodes = d.items.map((item) => card(item.content, item));
  if (nodes.length === 0) {
    nodes.push(d.fallback ? card(d.fallback, { fallback: true }) : el('div', { class: 'none', 'data-reason': d.reason }));
  }
  return nodes;
}

// Fills every slot of the visible page in one pass, then swaps them in together: no slot is
// painted with default content first and changed after. `view`: the shopper opened the page, so
// every slot is shown anew and `decide` records it. A re-render (a clock jump, a model update, a
// consent change) paints the same view again with `refresh`: a slot keeps its decision (the same
// object: nothing to repaint, nothing recorded) while it shows the same offers, even where this
// view's own exposure filled their cap, and only a slot whose offers change is decided anew.
function renderSlots(view) {
  paintedFor = owner();
  const page = document.getElementById(`page-${state.page}`);
  const slots = [...page.querySelectorAll('[data-placement]')];
  const ctx = context();
  const filled = [];
  for (const slot of slots) {
    const placement = slot.dataset.placement;
    const shown = state.decisions[placement];
    let d;
    try {
      d = !view && shown ? client.refresh(shown, ctx, clock.now()) : client.decide(placement, ctx, clock.now());
    } catch (e) {
      // A placement the running model does not have (a marketer renamed it): this slot stays
      // empty, and the others, the panel and the save go on.
      console.warn(`kairos: ${placement}: ${e.code || 'error'}: ${e.message}`);
      delete state.decisions[placement];
      filled.push([slot, []]);
      continue;
    }
    if (d === shown) continue;
    state.decisions[placement] = d;
    filled.push([slot, slotNodes(d)]);
  }
  for (const [slot, nodes] of filled) slot.replaceChildren(...nodes);
  const rendered = Number(document.body.dataset.rendered || 0) + 1;
  document.body.dataset.rendered = String(rendered);
  if (rendered === 1) performance.mark('kairos-first-render');
}

function renderGrid() {
  $('#grid').replaceChildren(...PRODUCTS.map((p) => {
    const li = el('li', { 'data-product': p.id },
      el('div', { class: 'swatch', style: `background:${p.color}` }),
      el('div', { class: 'meta' }, el('strong', {}, p.name), el('br'), `${p.price} RMB`));
    li.addEventListener('click', () => navigate('product', p));
    return li;
  }));
}

function renderCart() {
  $('#cart-count').textContent = String(state.cart.length);
  $('#cart-lines').replaceChildren(...state.cart.map((id) => {
    const p = PRODUCTS.find((x) => x.id === id);
    return el('li', {}, `${p.name}, ${p.price} RMB`);
  }));
  $('#cart-total').textContent = String(state.cart.reduce((s, id) => s + PRODUCTS.find((x) => x.id === id).price, 0));
  localStorage.setItem('tos.cart', JSON.stringify(state.cart));
}

// Shows a page without deciding or tracking anything.
function showPage(page, product = null) {
  state.page = page;
  state.product = product;
  for (const p of ['home', 'product', 'cart']) document.getElementById(`page-${p}`).hidden = p !== page;
  if (product) {
    $('#pdp-name').textContent = product.name;
    $('#pdp-desc').textContent = product.desc;
    $('#pdp-price').textContent = `${product.price} RMB`;
    $('#pdp-swatch').style.background = product.color;
  }
}

// Decides the visible page's slots again and repaints: for a clock jump, a model update or a
// consent change. Nothing is tracked: the shopper did not view anything new.
function render() {
  if (!client) return; // not loaded yet: the shop works, its slots wait
  renderSlots(false);
  renderPanel();
}

// The shopper opens a page: a product page is a product view, tracked before the slots decide.
function navigate(page, product = null) {
  showPage(page, product);
  if (!client) return;
  if (product) track({ type: 'view', category: product.category, product: product.id, price: product.price });
  renderSlots(true);
  renderPanel();
}

function track(event) {
  try {
    client.track(event, clock.now());
  } catch (e) {
    console.warn(`kairos: ${e.code}: ${e.message}`);
  }
}

const SHANGHAI = { timeZone: 'Asia/Shanghai', hour12: false };
// The model's times are the brand's (China, UTC+8), as the clock shows them.
const shanghai = (ms) => `${new Date(ms).toLocaleString('zh-CN', SHANGHAI)} UTC+8`;

// Why the panel's top offer was chosen; an offer the running model no longer has explains nothing.
function why(offer, now) {
  try {
    const x = client.explain(offer, context(), now);
    return x.checks.filter((c) => c.name === 'audience').map((c) => `audience: ${c.detail}`).join('');
  } catch (e) {
    return `${e.code || 'error'}: ${e.message}`;
  }
}

function consentBanner() {
  $('#privacy').hidden = false;
  $('#consent').hidden = client.consent || sessionStorage.getItem(DECLINED_KEY) === '1';
  // Withdrawing is as easy as allowing, and "Not now" can be taken back.
  $('#privacy-allow').hidden = client.consent || !$('#consent').hidden;
  $('#privacy-stop').hidden = !client.consent;
}

// The profile is stored whatever the panel's painting does.
function renderPanel() {
  try {
    paintPanel();
  } finally {
    client.save();
  }
}

// Whose profile, and with what consent, the slots were last painted for (see the `storage` handler).
let paintedFor = '';
const owner = () => `${client.pid} ${client.consent}`;

function paintPanel() {
  consentBanner();
  const now = clock.now();
  $('#clock').textContent = new Date(now).toLocaleString('zh-CN', SHANGHAI);
  $('#snapshot-version').textContent = `model v${client.version}`;
  const stage = client.stage();
  $('#stages').replaceChildren(...client.stageNames.map((s) => el('li', { class: s === stage ? 'current' : undefined, 'data-stage': s }, s.replace('_', ' '))));
  $('#segments').replaceChildren(...client.segments(context(), now).map((s) => el('span', { 'data-segment': s }, s)));
  const kv = (target, pairs) => $(target).replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  kv('#scores', client.scores(context(), now).map(([k, v]) => [k, v.toFixed(3)]));
  kv('#features', client.features(now).map(([k, v]) => [k, v === null ? '—' : (k.startsWith('first') || k.startsWith('last') ? shanghai(v) : String(v))]));
  $('#decisions').replaceChildren(...Object.entries(state.decisions).map(([placement, d]) => {
    const box = el('div', { class: 'decision', 'data-decision': placement },
      el('strong', {}, placement), ` → ${d.items.map((i) => i.control ? `${i.offer} (control)` : (i.variant ? `${i.offer}/${i.variant}` : i.offer)).join(', ') || 'fallback'}`,
      el('div', { class: 'why' }, `reason: ${d.reason}`));
    const top = d.items[0];
    if (top) box.append(el('div', { class: 'why' }, why(top.offer, now)));
    return box;
  }));
  $('#outbox').replaceChildren(...client.outbox().slice(-30).map((e) => el('li', {}, `${e.type} ${e.offer || e.to || ''}${e.control ? ' (control)' : ''}`)));
}

// The brand's server sends the step's traits as a token signed for this shopper, issued at the
// step's time; a refused or failed token leaves the traits as they were, and the note says why.
async function signedTraits(step) {
  const expires = step.expires ? Date.parse(step.expires) : undefined;
  try {
    await client.setSignedTraits(step.traits, { issued: Date.parse(step.at), expires }, clock.now());
    return '';
  } catch (e) {
    console.warn(`kairos: ${e.code ? `${e.code}: ` : ''}${e.message}`);
    return ` · traits not set: ${e.message}`;
  }
}

async function playStep() {
  if (!client) return;
  const j = state.journey;
  if (!j || state.step >= j.steps.length) return;
  const step = j.steps[state.step++];
  const run = state.run;
  // A traits step waits for its token: no second step starts meanwhile.
  $('#journey-next').disabled = true;
  clock.set(Date.parse(step.at));
  let problem = '';
  try {
    switch (step.do) {
      case 'consent': client.setConsent(step.value, clock.now()); break;
      case 'identify':
        try { client.identify(step.kind, step.value); } catch (e) { console.warn(e.message); problem = ` · not identified: ${e.message}`; }
        break;
      case 'traits':
        problem = await signedTraits(step);
        if (run !== state.run) return; // another journey started meanwhile: it owns the page now
        break;
      case 'track': track(step.event); break;
      case 'forget': client.forget(clock.now()); break;
      default: break;
    }
    if (step.do === 'decide') {
      decideStep(step);
    } else {
      // After a forget the slots showed the forgotten shopper's content: they empty until the
      // journey's next decide (deciding them here would record exposures the fixture has not).
      if (step.do === 'forget') clearSlots();
      renderPanel();
    }
  } catch (e) {
    console.warn(e);
    problem += ` · failed: ${e.message}`;
  }
  $('#journey-note').textContent = `${state.step}/${j.steps.length} · ${step.do}${step.note ? ` · ${step.note}` : ''}${problem}`;
  $('#journey-next').disabled = state.step >= j.steps.length;
}

function clearSlots() {
  state.decisions = {};
  for (const slot of document.querySelectorAll('[data-placement]')) slot.replaceChildren();
}

// A journey's decide step decides only its placement, with its context, as the fixture and
// `kairos simulate` do: the page switches to where that slot is, and its other slots stay as they were.
function decideStep(step) {
  const page = { home_hero: 'home', home_offers: 'home', pdp_offer: 'product', cart_banner: 'cart' }[step.placement] || 'home';
  const ctx = step.context || {};
  const product = PRODUCTS.find((p) => p.id === ctx.product) || (page === 'product' ? PRODUCTS[0] : null);
  showPage(page, product);
  const d = client.decide(step.placement, ctx, clock.now());
  state.decisions[step.placement] = d;
  const slot = document.querySelector(`#page-${page} [data-placement="${step.placement}"]`);
  if (slot) slot.replaceChildren(...slotNodes(d));
  renderPanel();
}

function stopJourney() {
  state.journey = null;
  state.run += 1;
  state.step = 0;
  $('#journey-next').disabled = true;
}

// Starts a journey on a fresh engine with the fixture's install id (its control-group buckets and
// pid), so the page shows what the fixture expects.
async function startJourney(name) {
  if (!client) return;
  stopJourney();
  const run = state.run;
  let journey;
  try {
    const res = await fetch(`/fixtures/journeys/${name}.json`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    journey = await res.json();
  } catch (e) {
    $('#journey-note').textContent = `journey ${name} could not be loaded: ${e.message}`;
    return;
  }
  if (run !== state.run) return; // another journey or a reset meanwhile
  state.journey = journey;
  client.reset(journey.install_id);
  state.cart = [];
  renderCart();
  clearSlots();
  showPage('home');
  renderPanel();
  $('#journey-next').disabled = false;
  $('#journey-note').textContent = journey.description;
}

function wire() {
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.addEventListener('click', (e) => { e.preventDefault(); navigate(a.dataset.nav); });
  }
  $('#consent-yes').addEventListener('click', () => { client.setConsent(true); render(); });
  $('#consent-no').addEventListener('click', () => { sessionStorage.setItem(DECLINED_KEY, '1'); consentBanner(); });
  $('#privacy-allow').addEventListener('click', () => {
    sessionStorage.removeItem(DECLINED_KEY);
    client.setConsent(true);
    render();
  });
  // Both erase the profile here and queue a `forgotten` request for the backend (sync stores the
  // erasure at once), and both draw a new random install id (a withdrawal when consent was given).
  $('#privacy-stop').addEventListener('click', () => {
    sessionStorage.setItem(DECLINED_KEY, '1');
    client.setConsent(false, clock.now());
    render();
  });
  $('#privacy-forget').addEventListener('click', () => {
    sessionStorage.setItem(DECLINED_KEY, '1');
    client.forget(clock.now());
    render();
  });
  // The shopper stays on the page: it is painted again with `refresh` (a slot whose offers the
  // event changes is decided anew), not opened again (every slot a new exposure, caps used up).
  $('#follow').addEventListener('click', () => { track({ type: 'follow', channel: 'web' }); render(); });
  $('#signup').addEventListener('click', () => { track({ type: 'signup', channel: 'web' }); render(); });
  $('#refer').addEventListener('click', () => { track({ type: 'referral', channel: 'web' }); render(); });
  $('#add-to-cart').addEventListener('click', () => {
    const p = state.product;
    state.cart.push(p.id);
    track({ type: 'cart', product: p.id, price: p.price });
    renderCart();
    navigate('cart');
  });
  $('#buy').addEventListener('click', () => {
    if (state.cart.length === 0) return;
    const amount = state.cart.reduce((s, id) => s + PRODUCTS.find((x) => x.id === id).price, 0);
    track({ type: 'purchase', order: `web-${Date.now()}`, amount });
    state.cart = [];
    renderCart();
    navigate('home');
  });
  for (const b of document.querySelectorAll('[data-jump]')) {
    b.addEventListener('click', () => { clock.jump(Number(b.dataset.jump)); render(); });
  }
  for (const b of document.querySelectorAll('[data-journey]')) b.addEventListener('click', () => startJourney(b.dataset.journey));
  $('#journey-next').addEventListener('click', playStep);
  $('#reset').addEventListener('click', () => {
    if (!client) return;
    stopJourney();
    $('#journey-note').textContent = '';
    client.reset();
    sessionStorage.removeItem(DECLINED_KEY);
    clock.set(Date.now());
    state.cart = [];
    state.decisions = {};
    renderCart();
    navigate('home');
  });
  $('#drain').addEventListener('click', async () => {
    const button = $('#drain');
    button.disabled = true;
    try {
      const n = await client.send();
      $('#outbox-note').textContent = n ? `sent ${n} event${n === 1 ? '' : 's'}` : 'nothing to send';
    } catch (e) {
      $('#outbox-note').textContent = `not sent: ${e.message}`;
    } finally {
      button.disabled = false;
      renderPanel();
    }
  });
  // Another tab stored the profile (every change is saved). sync's own listener has taken it if
  // it erased the profile or changed consent there (a reset, a forget, a withdrawal), so this tab
  // does not write its older copy back; a copy of the same consented profile it leaves, so this
  // tab keeps its own events and unsent reports. For the same shopper only the panel repaints:
  // deciding again would record exposures and save, and the other tab would answer in kind.
  window.addEventListener('storage', (e) => {
    if (!client || !client.isStateKey(e.key)) return;
    // sync took another tab's reset, forget or consent change: the slots showed the shopper
    // before it, so they are painted again (a slot whose offers change decided anew).
    if (owner() !== paintedFor) render();
    else paintPanel();
  });
}

// A visible line for what keeps the page from personalizing, with what to do about it.
function status(text) {
  const line = $('#status');
  line.textContent = text;
  line.hidden = !text;
}

async function main() {
  // A pushed model paints the page again: `refresh` keeps each slot's view where its offers are
  // still chosen (the new model's content, no second exposure) and decides the others.
  const onModel = () => render();
  const onWaiting = (e) => {
    const retry = e.retryInMs ? `; retrying in ${Math.ceil(e.retryInMs / 1000)} s` : '';
    status(`The shop's model could not be loaded (${e.message})${retry}. Is \`kairos serve\` running (\`make demo\`)?`);
    document.body.dataset.waiting = e.message;
  };
  // The shop first: its catalogue, cart and pages work before, and without, personalization
  // (a first visit offline, a server down, a browser that cannot load the module).
  renderGrid();
  renderCart();
  wire();
  showPage('home');
  client = await openClient({ clock, onModel, onWaiting });
  status('');
  delete document.body.dataset.waiting;
  window.kairosDemo = { client, clock, state, navigate, render, playStep, startJourney };
  // The page the shopper is on now, opened as a view (a product page tracks its product).
  navigate(state.page, state.product);
  window.kairosReady = true;
}

main().catch((e) => {
  console.error(e);
  document.body.dataset.error = e.message;
  status(`The shop cannot personalize: ${e.message}. Run \`make demo\`, which writes www/brand.pub and starts \`kairos serve\`.`);
});
