//! Deterministic synthetic models and shoppers for benchmarks and stress tests.

use serde_json::{json, Map, Value as Json};

/// A small deterministic generator (xorshift64*), so the core stays free of randomness crates.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// One of `items`, uniformly.
    pub fn pick<T: Clone + Default>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).cloned().unwrap_or_default()
    }
}

/// Product categories of the synthetic shop.
pub const CATEGORIES: [&str; 10] =
    ["qipao", "cheongsam", "jackets", "skirts", "shoes", "bags", "scarves", "jewelry", "gifts", "sale"];

/// The large benchmark model: 30 features, 200 segments, 1,000 offers over 10 placements,
/// 7 stages, 5 scores.
pub fn large_model() -> Json {
    let mut rng = Rng::new(0x6b61_6972_6f73);
    let mut features = Map::new();
    for c in CATEGORIES {
        features.insert(
            format!("views_{c}_7d"),
            json!({"event": "view", "agg": "count", "window_days": 7, "where": {"==": [{"var": "event.category"}, c]}}),
        );
        features.insert(
            format!("views_{c}_30d"),
            json!({"event": "view", "agg": "count", "window_days": 30, "where": {"==": [{"var": "event.category"}, c]}}),
        );
    }
    let more = [
        ("views_7d", json!({"event": "view", "agg": "count", "window_days": 7})),
        ("views_90d", json!({"event": "view", "agg": "count", "window_days": 90})),
        ("carts_7d", json!({"event": "cart", "agg": "count", "window_days": 7})),
        ("carts_30d", json!({"event": "cart", "agg": "count", "window_days": 30})),
        ("purchases", json!({"event": "purchase", "agg": "count"})),
        ("purchases_365d", json!({"event": "purchase", "agg": "count", "window_days": 365})),
        ("spend_365d", json!({"event": "purchase", "agg": "sum", "of": "amount", "window_days": 365})),
        ("last_purchase", json!({"event": "purchase", "agg": "last"})),
        ("first_view", json!({"event": "view", "agg": "first"})),
        (
            "products_30d",
            json!({"event": "view", "agg": "distinct", "of": "product", "window_days": 30, "max": 64}),
        ),
    ];
    for (k, v) in more {
        features.insert(k.to_string(), v);
    }
    let feature_names: Vec<String> = features
        .keys()
        .filter(|k| k.as_str() != "last_purchase" && k.as_str() != "first_view")
        .cloned()
        .collect();

    let mut scores = Map::new();
    for s in 0..5 {
        let mut w = Map::new();
        for _ in 0..4 {
            let f = rng.pick(&feature_names);
            w.insert(format!("features.{f}"), json!(rng.below(20) as f64 / 10.0));
        }
        w.insert("traits.hipo".into(), json!(1.0));
        scores.insert(format!("score_{s}"), json!({"kind": "logistic", "bias": -2.0, "weights": w}));
    }

    let mut segments = Map::new();
    for s in 0..200u64 {
        let mut terms = Vec::new();
        for _ in 0..(2 + rng.below(2)) {
            let f = rng.pick(&feature_names);
            terms.push(json!({">=": [{"var": format!("features.{f}")}, 1 + rng.below(5)]}));
        }
        match rng.below(4) {
            0 => terms.push(json!({"in": [{"var": "traits.tier"}, ["gold", "platinum"]]})),
            1 => terms.push(json!({"==": [{"var": "context.category"}, rng.pick(&CATEGORIES)]})),
            2 if s > 10 => terms.push(json!({"segment": format!("seg_{}", rng.below(s))})),
            _ => terms.push(json!({">": [{"score": format!("score_{}", rng.below(5))}, 0.3]})),
        }
        let rule = if rng.below(3) == 0 { json!({"or": terms}) } else { json!({"and": terms}) };
        segments.insert(format!("seg_{s}"), rule);
    }

    let placements: Map<String, Json> = (0..10)
        .map(|p| {
            (
                format!("slot_{p}"),
                json!({"max_items": 1 + (p % 3), "fallback": {"title": format!("default {p}")}}),
            )
        })
        .collect();
    let stage_names = ["lapsed", "loyal", "repeat", "first_time", "indecisive", "window", "anonymous"];
    let mut offers = Vec::new();
    for o in 0..1000u64 {
        let mut audience = vec![json!({"segment": format!("seg_{}", rng.below(200))})];
        if rng.below(2) == 0 {
            let f = rng.pick(&feature_names);
            audience.push(json!({">=": [{"var": format!("features.{f}")}, rng.below(3)]}));
        }
        let mut offer = json!({
            "id": format!("offer_{o}"),
            "placements": [format!("slot_{}", o % 10)],
            "audience": {"and": audience},
            "priority": rng.below(20),
            "caps": [{"max": 1 + rng.below(5), "days": 1 + rng.below(14)}],
            "content": {"title": format!("Offer {o}"), "body": "Synthetic content for the benchmark.", "n": o}
        });
        if rng.below(4) == 0 {
            if let Some(o) = offer.as_object_mut() {
                o.insert("rank_by".into(), json!(format!("score_{}", rng.below(5))));
            }
        }
        if rng.below(5) == 0 {
            if let Some(o) = offer.as_object_mut() {
                o.insert("stages".into(), json!([rng.pick(&stage_names)]));
            }
        }
        offers.push(offer);
    }
    json!({
        "meta": {"name": "large synthetic", "version": 1},
        "events": {
            "view": {"category": "string", "product": "string", "price": "number"},
            "cart": {"product": "string", "price": "number"},
            "purchase": {"amount": "number"},
            "follow": {}
        },
        "context": {"page": "string", "category": "string"},
        "traits": {"tier": "string", "hipo": "bool"},
        "features": features,
        "scores": scores,
        "lifecycle": [
            {"stage": "lapsed", "when": {"and": [{">=": [{"var": "features.purchases"}, 1]}, {">=": [{"days_since": "purchase"}, 180]}]}},
            {"stage": "loyal", "when": {">=": [{"var": "features.purchases_365d"}, 4]}},
            {"stage": "repeat", "when": {">=": [{"var": "features.purchases"}, 2]}},
            {"stage": "first_time", "when": {"==": [{"var": "features.purchases"}, 1]}},
            {"stage": "indecisive", "when": {">=": [{"var": "features.carts_30d"}, 2]}},
            {"stage": "window", "when": {"!=": [{"days_since": "follow"}, null]}},
            {"stage": "anonymous", "when": true}
        ],
        "segments": segments,
        "placements": placements,
        "offers": offers,
        "caps": [{"max": 40, "days": 5}, {"max": 20, "days": 1}]
    })
}

/// Events of an active shopper over `days` days, as JSON, with their times, starting at `start`.
pub fn shopper_events(seed: u64, days: i64, per_day: i64, start: i64) -> Vec<(Json, i64)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for d in 0..days {
        for k in 0..per_day {
            let t = start + d * 86_400_000 + k * 600_000;
            let c = rng.pick(&CATEGORIES);
            let product = format!("p{}", rng.below(300));
            let e = match rng.below(20) {
                0 => json!({"type": "purchase", "amount": 100 + rng.below(2000)}),
                1..=3 => json!({"type": "cart", "product": product, "price": 500}),
                _ => json!({"type": "view", "category": c, "product": product, "price": 500}),
            };
            out.push((e, t));
        }
    }
    out
}
