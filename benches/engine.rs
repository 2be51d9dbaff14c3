//! Speed of the hot path and of loading: `cargo bench --bench engine` (or `make bench`).
//! Example model = examples/taste-of-su; large = `kairos::synth::large_model()` (200 segments,
//! 1,000 offers over 10 placements, 30 features).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, reason = "benchmark harness")]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use kairos::engine::input;
use kairos::{snapshot, synth, Engine, Model};
use serde_json::json;

/// 2026-11-20T12:00:00+08:00.
const T0: i64 = 1_795_147_200_000;
const EXAMPLE: &str = include_str!("../examples/taste-of-su/model.json");

fn warm(model: Model, days: i64) -> Engine {
    let mut e = Engine::new(model, 0xfeed);
    e.set_consent(true);
    e.set_traits_json(&json!({"tier": "silver", "hipo": true}), None).ok();
    for (ev, t) in synth::shopper_events(7, days, 12, T0 - days * 86_400_000) {
        let _ = e.track_json(&ev, t);
    }
    e.drain_outbox();
    e
}

fn example(c: &mut Criterion) {
    let model = kairos::compile_str(EXAMPLE).unwrap().model;
    let mut e = warm(model.clone(), 30);
    let hero = input::placement_index(&model, "home_hero").unwrap();
    let offers = input::placement_index(&model, "home_offers").unwrap();
    let ctx = input::context(&model, &json!({"page": "home"})).unwrap();
    let mut d = kairos::Decision::empty();
    let mut t = T0;
    c.bench_function("example/decide home_hero", |b| {
        b.iter(|| {
            t += 1;
            e.decide_into(black_box(hero), black_box(&ctx), t, &mut d);
        })
    });
    c.bench_function("example/decide home_offers (2 items)", |b| {
        b.iter(|| {
            t += 1;
            e.decide_into(black_box(offers), black_box(&ctx), t, &mut d);
        })
    });
    let (view, props) = input::event(
        &model,
        &json!({"type": "view", "category": "qipao", "product": "su-001", "price": 1299}),
    )
    .unwrap();
    c.bench_function("example/track view", |b| {
        b.iter(|| {
            t += 1;
            e.track(black_box(view), black_box(&props), t)
        })
    });
    c.bench_function("example/page view: track view, then decide home_hero", |b| {
        b.iter(|| {
            t += 1;
            e.track(black_box(view), black_box(&props), t);
            e.decide_into(black_box(hero), black_box(&ctx), t, &mut d);
        })
    });
    c.bench_function("example/segments (8 rules)", |b| {
        b.iter(|| {
            t += 1;
            let mut n = 0usize;
            e.segments_each(black_box(&ctx), t, |_| n += 1);
            n
        })
    });
    let bytes = snapshot::encode(&model);
    c.bench_function("example/snapshot decode", |b| b.iter(|| snapshot::decode(black_box(&bytes)).unwrap()));
    c.bench_function("example/compile", |b| b.iter(|| kairos::compile_str(black_box(EXAMPLE)).unwrap()));
}

fn large(c: &mut Criterion) {
    let text = synth::large_model().to_string();
    let model = kairos::compile_str(&text).unwrap().model;
    let mut e = warm(model.clone(), 60);
    let ctx = input::context(&model, &json!({"page": "home", "category": "qipao"})).unwrap();
    let mut d = kairos::Decision::empty();
    let mut t = T0;
    let mut p = 0usize;
    c.bench_function("large/decide (10 placements in turn)", |b| {
        b.iter(|| {
            t += 1;
            p = (p + 1) % 10;
            e.decide_into(black_box(p), black_box(&ctx), t, &mut d);
        })
    });
    let (view, props) =
        input::event(&model, &json!({"type": "view", "category": "qipao", "product": "p1", "price": 10}))
            .unwrap();
    c.bench_function("large/track view (20 filtered features)", |b| {
        b.iter(|| {
            t += 1;
            e.track(black_box(view), black_box(&props), t)
        })
    });
    c.bench_function("large/segments (200 rules)", |b| {
        b.iter(|| {
            t += 1;
            let mut n = 0usize;
            e.segments_each(black_box(&ctx), t, |_| n += 1);
            n
        })
    });
    let bytes = snapshot::encode(&model);
    println!("large snapshot: {} bytes", bytes.len());
    c.bench_function("large/snapshot decode", |b| b.iter(|| snapshot::decode(black_box(&bytes)).unwrap()));
    let mut group = c.benchmark_group("large");
    group.sample_size(20);
    group.bench_function("compile", |b| b.iter(|| kairos::compile_str(black_box(&text)).unwrap()));
    group.finish();
}

criterion_group!(benches, example, large);
criterion_main!(benches);
