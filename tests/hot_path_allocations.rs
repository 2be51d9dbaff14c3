//! The hot path allocates nothing once warm: `decide_into`, `track` and `segments_each` on a
//! shopper whose profile already holds today's cells, the strings her events carry and a full
//! outbox reuse what they hold. (A new day, a new distinct value or a first exposure of an offer
//! may allocate: they add to what the profile keeps.) Counted by dhat's heap profiler in its
//! testing mode, the file's only test, so no other thread allocates meanwhile.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]

use kairos::engine::input;
use kairos::{synth, Decision, Engine, Model, Value};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// 2026-11-20T12:00:00+08:00.
const T0: i64 = 1_795_147_200_000;

/// Allocations `f` makes (blocks, reallocations counted as one each).
fn allocations(f: impl FnOnce()) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    f();
    dhat::HeapStats::get().total_blocks - before
}

/// A shopper with a month of history and consent, as `benches/engine.rs` warms one.
fn warm(model: &Model) -> Engine {
    let mut e = Engine::new(model.clone(), 0xfeed);
    e.set_consent(true);
    e.set_traits_json(&json!({"tier": "silver", "hipo": true}), None).unwrap();
    for (ev, t) in synth::shopper_events(7, 30, 12, T0 - 30 * 86_400_000) {
        let _ = e.track_json(&ev, t);
    }
    e
}

/// What a page view gives the engine: a view event and the home page's context.
struct Page {
    view: usize,
    props: Vec<Value>,
    ctx: Vec<Value>,
}

/// One page view after another, a second apart, all within one day: `track` a view, `decide`
/// every placement, `segments`. Returns how many decisions showed an offer (so the run is known to
/// do real work).
fn page_views(
    e: &mut Engine,
    page: &Page,
    placements: usize,
    from: i64,
    views: i64,
    d: &mut Decision,
) -> usize {
    let mut shown = 0;
    for i in 0..views {
        let t = from + i * 1_000;
        e.track(page.view, &page.props, t);
        for p in 0..placements {
            e.decide_into(p, &page.ctx, t, d);
            shown += usize::from(!d.items.is_empty());
        }
        let mut n = 0usize;
        e.segments_each(&page.ctx, t, |_| n += 1);
        assert!(n > 0, "she is in some segment");
    }
    shown
}

/// Warms a shopper on `model`, then counts the allocations of 200 page views (none allowed);
/// returns how many decisions of those showed an offer.
fn check(model: &Model, view: &serde_json::Value, ctx: &serde_json::Value) -> usize {
    let mut e = warm(model);
    let (view, props) = input::event(model, view).unwrap();
    let page = Page { view, props, ctx: input::context(model, ctx).unwrap() };
    let placements = model.placements.len();
    let mut d = Decision::empty();
    // Warm: the day's cells, the exposures held for conversions, the outbox filled to capacity.
    let start = T0 + 3_600_000;
    page_views(&mut e, &page, placements, start, 400, &mut d);
    let mut shown = 0;
    let n = allocations(|| shown = page_views(&mut e, &page, placements, start + 400_000, 200, &mut d));
    assert_eq!(n, 0, "{}: {n} allocations in 200 warm page views", model.name);
    shown
}

#[test]
fn decide_track_and_segments_allocate_nothing_once_warm() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let example = kairos::compile_str(include_str!("../examples/taste-of-su/model.json")).unwrap().model;
    let view = json!({"type": "view", "category": "qipao", "product": "su-001", "price": 1299});
    let shown = check(&example, &view, &json!({"page": "home"}));
    // Offers shown: exposures recorded, held for conversions and reported (the outbox full).
    assert!(shown > 0, "no decision showed an offer: the run did no real work");
    let large = kairos::compile_str(&synth::large_model().to_string()).unwrap().model;
    let view = json!({"type": "view", "category": "qipao", "product": "p7", "price": 500});
    // Its frequency caps are spent in the warm-up: the run is the capped path, with every page
    // view's 200 segment rules and 20 filtered features.
    check(&large, &view, &json!({"page": "home", "category": "qipao"}));
}
