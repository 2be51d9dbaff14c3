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

// Fills every slot of the visible page in one pass, then swaps them in together: no slot is
// painted with default content first and changed after.
function renderSlots() {
  const page = document.getElementById(`page-${state.page}`);
  const slots = [...page.querySelectorAll('[data-placement]')];
  const ctx = context();
  const filled = slots.map((slot) => {
    const placement = slot.dataset.placement;
    const d = client.decide(placement, ctx, clock.now());
    state.decisions[placement] = d;
    const nodes = d.items.map((item) => card(item.content, item));
    if (nodes.length === 0) {
      nodes.push(d.fallback ? card(d.fallback, { fallback: true }) : el('div', { class: 'none', 'data-reason': d.reason }));
    }
    return [slot, nodes];
  });
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
    li.addEventListener('click', () => show('product', p));
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

function show(page, product = null) {
  state.page = page;
  state.product = product;
  for (const p of ['home', 'product', 'cart']) document.getElementById(`page-${p}`).hidden = p !== page;
  if (product) {
    $('#pdp-name').textContent = product.name;
    $('#pdp-desc').textContent = product.desc;
    $('#pdp-price').textContent = `${product.price} RMB`;
    $('#pdp-swatch').style.background = product.color;
    track({ type: 'view', category: product.category, product: product.id, price: product.price });
  }
  renderSlots();
  renderPanel();
}

function track(event) {
  try {
    client.track(event, clock.now());
  } catch (e) {
    console.warn(`kairos: ${e.code}: ${e.message}`);
  }
}

function renderPanel() {
  const now = clock.now();
  $('#clock').textContent = new Date(now).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false });
  $('#snapshot-version').textContent = `model v${client.version}`;
  const stage = client.stage();
  $('#stages').replaceChildren(...client.stageNames.map((s) => el('li', { class: s === stage ? 'current' : undefined, 'data-stage': s }, s.replace('_', ' '))));
  $('#segments').replaceChildren(...client.segments(context(), now).map((s) => el('span', { 'data-segment': s }, s)));
  const kv = (target, pairs) => $(target).replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  kv('#scores', client.scores(context(), now).map(([k, v]) => [k, v.toFixed(3)]));
  kv('#features', client.features(now).map(([k, v]) => [k, v === null ? '—' : (k.startsWith('first') || k.startsWith('last') ? new Date(v).toISOString().slice(0, 16) : String(v))]));
  $('#decisions').replaceChildren(...Object.entries(state.decisions).map(([placement, d]) => {
    const box = el('div', { class: 'decision', 'data-decision': placement },
      el('strong', {}, placement), ` → ${d.items.map((i) => i.control ? `${i.offer} (control)` : (i.variant ? `${i.offer}/${i.variant}` : i.offer)).join(', ') || 'fallback'}`,
      el('div', { class: 'why' }, `reason: ${d.reason}`));
    const top = d.items[0];
    if (top) {
      const x = client.explain(top.offer, context(), now);
      if (x) box.append(el('div', { class: 'why' }, x.checks.filter((c) => c.name === 'audience').map((c) => `audience: ${c.detail}`).join('')));
    }
    return box;
  }));
  $('#outbox').replaceChildren(...client.outbox().slice(-30).map((e) => el('li', {}, `${e.type} ${e.offer || e.to || ''}${e.control ? ' (control)' : ''}`)));
  $('#consent').hidden = client.consent;
  client.save();
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
  const j = state.journey;
  if (!j || state.step >= j.steps.length) return;
  const step = j.steps[state.step++];
  const run = state.run;
  // A traits step waits for its token: no second step starts meanwhile.
  $('#journey-next').disabled = true;
  clock.set(Date.parse(step.at));
  let problem = '';
  switch (step.do) {
    case 'consent': client.setConsent(step.value); break;
    case 'identify': try { client.identify(step.kind, step.value); } catch (e) { console.warn(e.message); } break;
    case 'traits':
      problem = await signedTraits(step);
      if (run !== state.run) return; // another journey started meanwhile: it owns the page now
      break;
    case 'track': track(step.event); break;
    case 'forget': client.forget(clock.now()); break;
    case 'decide': break;
    default: break;
  }
  if (step.do === 'decide') {
    const page = { home_hero: 'home', home_offers: 'home', pdp_offer: 'product', cart_banner: 'cart' }[step.placement] || 'home';
    show(page, page === 'product' ? PRODUCTS[0] : null);
  } else {
    renderPanel();
  }
  $('#journey-note').textContent = `${state.step}/${j.steps.length} · ${step.do}${step.note ? ` · ${step.note}` : ''}${problem}`;
  $('#journey-next').disabled = state.step >= j.steps.length;
}

async function startJourney(name) {
  const res = await fetch(`/fixtures/journeys/${name}.json`);
  state.journey = await res.json();
  state.run += 1;
  state.step = 0;
  client.reset();
  state.decisions = {};
  state.cart = [];
  renderCart();
  $('#journey-next').disabled = false;
  $('#journey-note').textContent = state.journey.description;
}

function wire() {
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.addEventListener('click', (e) => { e.preventDefault(); show(a.dataset.nav); });
  }
  $('#consent-yes').addEventListener('click', () => { client.setConsent(true); show(state.page, state.product); });
  $('#consent-no').addEventListener('click', () => { $('#consent').hidden = true; });
  $('#follow').addEventListener('click', () => { track({ type: 'follow', channel: 'web' }); show('home'); });
  $('#signup').addEventListener('click', () => { track({ type: 'signup', channel: 'web' }); show('home'); });
  $('#refer').addEventListener('click', () => { track({ type: 'referral', channel: 'web' }); show('home'); });
  $('#add-to-cart').addEventListener('click', () => {
    const p = state.product;
    state.cart.push(p.id);
    track({ type: 'cart', product: p.id, price: p.price });
    renderCart();
    show('cart');
  });
  $('#buy').addEventListener('click', () => {
    if (state.cart.length === 0) return;
    const amount = state.cart.reduce((s, id) => s + PRODUCTS.find((x) => x.id === id).price, 0);
    track({ type: 'purchase', order: `web-${Date.now()}`, amount });
    state.cart = [];
    renderCart();
    show('home');
  });
  for (const b of document.querySelectorAll('[data-jump]')) {
    b.addEventListener('click', () => { clock.jump(Number(b.dataset.jump)); show(state.page, state.product); });
  }
  for (const b of document.querySelectorAll('[data-journey]')) b.addEventListener('click', () => startJourney(b.dataset.journey));
  $('#journey-next').addEventListener('click', playStep);
  $('#reset').addEventListener('click', () => { client.reset(); clock.set(Date.now()); state.cart = []; state.decisions = {}; renderCart(); show('home'); });
  $('#drain').addEventListener('click', () => { client.drainOutbox(); renderPanel(); });
}

async function main() {
  client = await openClient({ clock, onModel: () => show(state.page, state.product) });
  window.kairosDemo = { client, clock, state, show, playStep, startJourney };
  renderGrid();
  renderCart();
  wire();
  show('home');
  window.kairosReady = true;
}

main().catch((e) => {
  console.error(e);
  document.body.dataset.error = e.message;
});
