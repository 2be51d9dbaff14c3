//! `kairos diff`: what changed between two models, item by item and field by field, with
//! everything an item refers to compared by name (docs/cli.md).

use std::collections::HashMap;
use std::path::Path;

use kairos::Model;
use serde_json::{json, Value as Json};

use super::load;
use crate::Fail;

/// One field of a named item, named as the model file names it.
struct Field {
    name: String,
    kind: Kind,
}

/// How a field is compared and shown. Keys name what a field refers to (other definitions,
/// contents) rather than their indices, so that moving a definition in the file changes no other
/// item's fields.
enum Kind {
    /// Compared by `key`. `value`, when shown, is the value as the model file would write it
    /// (short values only: never a rule, a content or the salt); `absent` is what JSON's `null`
    /// there means.
    Value { key: String, value: Option<Json>, absent: &'static str },
    /// Named parts in order (variants, weights, dates, a placement's offers): a change names the
    /// parts added, removed or changed, and says when the others were reordered.
    Parts(Vec<Part>),
}

/// One part of a [`Kind::Parts`] field: compared by `key`, shown as `text` when it has one.
struct Part {
    name: String,
    key: String,
    text: Option<String>,
}

/// A named item (offer id, segment name, ...) and its fields.
type Item = (String, Vec<Field>);

/// Milliseconds in an hour, as the model's `_hours` fields count.
const HOUR_MS: f64 = 3_600_000.0;

/// A field compared and shown as `value`, `null` for one left out.
fn shown(name: &str, value: impl Into<Json>) -> Field {
    let value = value.into();
    Field {
        name: name.into(),
        kind: Kind::Value { key: value.to_string(), value: Some(value), absent: "none" },
    }
}

/// A field compared by `key` and never shown.
fn hidden(name: &str, key: impl Into<String>) -> Field {
    Field { name: name.into(), kind: Kind::Value { key: key.into(), value: None, absent: "none" } }
}

/// A field compared by `key` (what is stored, where the value shown rounds it or depends on
/// another setting) and shown as `value`.
fn shown_as(name: &str, key: impl std::fmt::Debug, value: impl Into<Json>) -> Field {
    Field {
        name: name.into(),
        kind: Kind::Value { key: format!("{key:?}"), value: Some(value.into()), absent: "none" },
    }
}

/// A time, compared as the instant and shown in its model's offset.
fn instant(name: &str, ms: Option<i64>, offset_ms: i64) -> Field {
    shown_as(name, ms, ms.map(|ms| time_text(ms, offset_ms)))
}

fn parts(name: &str, parts: Vec<Part>) -> Field {
    Field { name: name.into(), kind: Kind::Parts(parts) }
}

/// A part shown by its name alone.
fn part(name: impl Into<String>, key: String) -> Part {
    Part { name: name.into(), key, text: None }
}

/// A number as the model file writes it: `168`, not `168.0`.
fn number(x: f64) -> Json {
    // INVARIANT: whole and well inside the i64 range, so the cast is exact.
    if x.fract() == 0.0 && x.abs() < 1e15 {
        Json::from(x as i64)
    } else {
        Json::from(x)
    }
}

/// A type or kind as the model file spells it (`string_list`, `logistic`).
fn spelt(v: &impl serde::Serialize) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// Caps as the model file writes them, such as `[{"days":7,"max":2}]` (keys sorted).
fn caps_json(caps: &[kairos::compiled::CapDef]) -> Json {
    caps.iter().map(|c| json!({"max": c.max, "days": c.days})).collect()
}

/// Quiet hours as the model file writes them: `{"from":"23:00","to":"08:00"}`.
fn quiet_json(quiet: Option<(u16, u16)>) -> Json {
    let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    quiet.map_or(Json::Null, |(f, t)| json!({"from": hhmm(f), "to": hhmm(t)}))
}

/// A UTC offset as `meta.utc_offset` writes it: `+08:00`.
fn offset_text(offset_ms: i64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let minutes = offset_ms.unsigned_abs() / 60_000;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A day number as `YYYY-MM-DD`.
fn date_text(day: i32) -> String {
    let (y, m, d) = kairos::time::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A time as RFC 3339 in the model's offset: `2026-11-01T00:00:00+08:00`.
fn time_text(ms: i64, offset_ms: i64) -> String {
    let t = ms.saturating_add(offset_ms).rem_euclid(kairos::time::DAY_MS);
    let frac = if t % 1000 == 0 { String::new() } else { format!(".{:03}", t % 1000) };
    let (h, m, s) = (t / 3_600_000, t / 60_000 % 60, t / 1000 % 60);
    format!(
        "{}T{h:02}:{m:02}:{s:02}{frac}{}",
        date_text(kairos::time::day_of(ms, offset_ms)),
        offset_text(offset_ms)
    )
}

/// One kind of named item, each with its fields. Compiled definitions with more than a name and a
/// rule are destructured whole, so that a field added to the compiled model cannot be left out.
fn items(m: &Model, kind: &str) -> Vec<Item> {
    let content = |i: Option<u32>| format!("{:?}", i.and_then(|i| m.contents.get(i as usize)));
    let rule = |r: &Option<kairos::logic::Rule>, on| format!("{:?}", r.as_ref().map(|r| m.rule_text(r, on)));
    let event = |i: u16| m.events.get(usize::from(i)).map_or("?", |e| e.name.as_str());
    match kind {
        "offers" => offers(m),
        "segments" => m
            .segments
            .iter()
            .map(|s| (s.name.clone(), vec![hidden("rule", m.rule_text(&s.rule, None))]))
            .collect(),
        // Its place too: the first stage whose rule holds is the shopper's.
        "stages" => m
            .stages
            .iter()
            .zip(1..)
            .map(|(s, i): (_, u32)| {
                (s.name.clone(), vec![hidden("when", m.rule_text(&s.rule, None)), shown("order", i)])
            })
            .collect(),
        "features" => m
            .features
            .iter()
            .map(|f| {
                use kairos::profile::window::{Agg, FeatureSpec};
                let kairos::compiled::FeatureDef {
                    name,
                    event: on,
                    spec: FeatureSpec { agg, window_days },
                    of,
                    filter,
                } = f;
                let props = m.events.get(usize::from(*on)).map(|e| &e.props);
                let of = of.map(|p| props.and_then(|x| x.get(usize::from(p))).map_or("?", |x| x.0.as_str()));
                let (agg, max) = match agg {
                    Agg::Count => ("count", None),
                    Agg::Sum => ("sum", None),
                    Agg::First => ("first", None),
                    Agg::Last => ("last", None),
                    Agg::Distinct { max } => ("distinct", Some(*max)),
                };
                let fields = vec![
                    shown("event", event(*on)),
                    shown("agg", agg),
                    shown("of", of),
                    shown("window_days", *window_days),
                    shown("max", max),
                    hidden("where", rule(filter, Some(*on))),
                ];
                (name.clone(), fields)
            })
            .collect(),
        "scores" => m
            .scores
            .iter()
            .map(|c| {
                let kairos::compiled::ScoreDef { name, kind, bias, terms } = c;
                let weights = terms
                    .iter()
                    .map(|&(s, w)| Part {
                        name: m.slot_text(s, None),
                        key: w.to_string(),
                        text: Some(w.to_string()),
                    })
                    .collect();
                (
                    name.clone(),
                    vec![shown("kind", spelt(kind)), shown("bias", number(*bias)), parts("weights", weights)],
                )
            })
            .collect(),
        // The offers that fill it, in the order it tries them (which decides between offers of
        // one priority).
        "placements" => m
            .placements
            .iter()
            .map(|p| {
                let kairos::compiled::PlacementDef { name, max_items, fallback, offers } = p;
                let offers = offers
                    .iter()
                    .map(|&o| part(m.offers.get(o as usize).map_or("?", |d| d.id.as_str()), String::new()));
                let fields = vec![
                    shown("max_items", *max_items),
                    hidden("fallback", content(*fallback)),
                    parts("offers", offers.collect()),
                ];
                (name.clone(), fields)
            })
            .collect(),
        "calendars" => m
            .calendars
            .iter()
            .map(|(n, days)| {
                let range = |&(a, b)| {
                    if a == b {
                        date_text(a)
                    } else {
                        format!("{} to {}", date_text(a), date_text(b))
                    }
                };
                (
                    n.clone(),
                    vec![parts("dates", days.iter().map(|d| part(range(d), String::new())).collect())],
                )
            })
            .collect(),
        // Its properties by name: their order in the file only moves indices.
        "events" => m
            .events
            .iter()
            .map(|e| {
                // What reads it (features, offers' conversions) is their own definition.
                let kairos::compiled::EventDef { name, props, features: _, converts: _ } = e;
                (name.clone(), props.iter().map(|(p, t)| shown(p, spelt(t))).collect())
            })
            .collect(),
        "context" => m.context.iter().map(|(n, t)| (n.clone(), vec![shown("type", spelt(t))])).collect(),
        "traits" => m.traits.iter().map(|(n, t)| (n.clone(), vec![shown("type", spelt(t))])).collect(),
        // The model's own settings, one entry each, its field named as in the model file.
        "settings" => vec![
            ("meta.name".into(), vec![shown("name", m.name.as_str())]),
            ("time zone".into(), vec![shown_as("utc_offset", m.offset_ms, offset_text(m.offset_ms))]),
            ("id_salt".into(), vec![hidden("id_salt", m.id_salt.as_str())]),
            ("global caps".into(), vec![shown("caps", caps_json(&m.caps))]),
            ("global quiet hours".into(), vec![shown("quiet_hours", quiet_json(m.quiet))]),
        ],
        _ => Vec::new(),
    }
}

/// The offers with their fields, in the order of the model file's table (docs/model.md).
fn offers(m: &Model) -> Vec<Item> {
    let content = |i: Option<u32>| format!("{:?}", i.and_then(|i| m.contents.get(i as usize)));
    let event = |i: u16| m.events.get(usize::from(i)).map_or("?", |e| e.name.as_str());
    // Where each shows: moved to another placement, the offer changed.
    let mut shown_in: Vec<Vec<&str>> = vec![Vec::new(); m.offers.len()];
    for p in &m.placements {
        for &o in &p.offers {
            if let Some(list) = shown_in.get_mut(o as usize) {
                list.push(p.name.as_str());
            }
        }
    }
    let offers = m.offers.iter().zip(shown_in).map(|(o, mut placements)| {
        let kairos::compiled::OfferDef {
            id,
            audience,
            stages,
            start,
            end,
            quiet,
            priority,
            rank_by,
            caps,
            min_gap_ms,
            global_caps,
            control_bp,
            variants,
            content: own,
            requires_consent,
            conversion,
        } = o;
        // By name: placements or stages written in another order are no change of the offer.
        placements.sort_unstable();
        let stages = stages.map(|bits| {
            let set = m.stages.iter().enumerate().filter(|(k, _)| *k < 64 && bits >> k & 1 == 1);
            let mut names: Vec<&str> = set.map(|(_, s)| s.name.as_str()).collect();
            names.sort_unstable();
            names
        });
        let rank_by = rank_by.map(|c| m.scores.get(usize::from(c)).map_or("?", |c| c.name.as_str()));
        let variants =
            variants.iter().map(|v| part(v.id.as_str(), format!("{} {}", v.weight, content(v.content))));
        let conversion_key = conversion.map(|(e, ms)| (event(e), ms));
        let conversion =
            conversion.map(|(e, ms)| json!({"event": event(e), "within_hours": number(ms as f64 / HOUR_MS)}));
        // Left out, the offer shows in any stage.
        let stages = Json::from(stages);
        let stages = Field {
            name: "stages".into(),
            kind: Kind::Value { key: stages.to_string(), value: Some(stages), absent: "any" },
        };
        let fields = vec![
            shown("placements", placements),
            hidden("audience", format!("{:?}", audience.as_ref().map(|r| m.rule_text(r, None)))),
            stages,
            instant("start", *start, m.offset_ms),
            instant("end", *end, m.offset_ms),
            shown("quiet_hours", quiet_json(*quiet)),
            shown("priority", *priority),
            shown("rank_by", rank_by),
            shown("caps", caps_json(caps)),
            shown_as("min_gap_hours", min_gap_ms, min_gap_ms.map(|ms| number(ms as f64 / HOUR_MS))),
            shown("global_caps", *global_caps),
            shown("control", number(f64::from(*control_bp) / 10_000.0)),
            parts("variants", variants.collect()),
            hidden("content", content(*own)),
            shown("requires_consent", *requires_consent),
            shown_as("conversion", conversion_key, conversion),
        ];
        (id.clone(), fields)
    });
    offers.collect()
}

/// What changed in one field of an item. Values are `None` where they are not shown.
enum Change<'a> {
    /// A value, before and after, and what `null` means there.
    Value(Option<&'a Json>, Option<&'a Json>, &'static str),
    /// A field only the second model has (an event's property), with its value.
    Added(Option<&'a Json>),
    /// A field only the first model has, with its value.
    Removed(Option<&'a Json>),
    /// Named parts: those removed, added and changed (with their texts before and after when
    /// shown), and whether the others are in another order.
    Parts {
        removed: Vec<&'a str>,
        added: Vec<&'a str>,
        changed: Vec<(&'a str, Option<(&'a str, &'a str)>)>,
        reordered: bool,
    },
}

/// The fields that differ between an item in `a` and the same item in `b`, in `a`'s order and
/// then those only `b` has.
fn changes<'a>(a: &'a [Field], b: &'a [Field]) -> Vec<(&'a str, Change<'a>)> {
    let value = |f: &'a Field| match &f.kind {
        Kind::Value { value, .. } => value.as_ref(),
        Kind::Parts(_) => None,
    };
    let mut out = Vec::new();
    for fa in a {
        let Some(fb) = b.iter().find(|f| f.name == fa.name) else {
            out.push((fa.name.as_str(), Change::Removed(value(fa))));
            continue;
        };
        let change = match (&fa.kind, &fb.kind) {
            (Kind::Value { key: ka, value: va, absent }, Kind::Value { key: kb, value: vb, .. }) => {
                (ka != kb).then_some(Change::Value(va.as_ref(), vb.as_ref(), absent))
            }
            (Kind::Parts(pa), Kind::Parts(pb)) => part_changes(pa, pb),
            // A field has one kind in every model.
            _ => Some(Change::Value(None, None, "")),
        };
        out.extend(change.map(|c| (fa.name.as_str(), c)));
    }
    for fb in b.iter().filter(|fb| !a.iter().any(|f| f.name == fb.name)) {
        out.push((fb.name.as_str(), Change::Added(value(fb))));
    }
    out
}

/// How two lists of named parts differ, if they do.
fn part_changes<'a>(a: &'a [Part], b: &'a [Part]) -> Option<Change<'a>> {
    let index = |x: &'a [Part]| by_name(x.iter().map(|p| (p.name.as_str(), p)));
    let (ia, ib) = (index(a), index(b));
    let removed: Vec<&str> = a.iter().map(|p| p.name.as_str()).filter(|n| !ib.contains_key(n)).collect();
    let added: Vec<&str> = b.iter().map(|p| p.name.as_str()).filter(|n| !ia.contains_key(n)).collect();
    let changed: Vec<_> = a
        .iter()
        .filter_map(|p| {
            let q = ib.get(p.name.as_str())?;
            (p.key != q.key).then(|| (p.name.as_str(), p.text.as_deref().zip(q.text.as_deref())))
        })
        .collect();
    let common = |x: &'a [Part], other: &HashMap<&str, &Part>| {
        x.iter().map(|p| p.name.as_str()).filter(|n| other.contains_key(n)).collect::<Vec<_>>()
    };
    let reordered = common(a, &ib) != common(b, &ia);
    let same = removed.is_empty() && added.is_empty() && changed.is_empty() && !reordered;
    (!same).then_some(Change::Parts { removed, added, changed, reordered })
}

/// Entries by name; of a name given twice, the first.
fn by_name<'a, T>(entries: impl Iterator<Item = (&'a str, T)>) -> HashMap<&'a str, T> {
    let mut out = HashMap::new();
    for (n, v) in entries {
        out.entry(n).or_insert(v);
    }
    out
}

/// A shown value in a line of text: a string without its quotes, `null` as `absent`.
fn value_text(v: &Json, absent: &str) -> String {
    match v {
        Json::Null => absent.into(),
        Json::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// A field's change as `kairos diff` prints it: `control 0.1 -> 0.2`, `coupon added (string)`,
/// `variants (new_season removed, autumn added)`, `audience`.
fn change_text(field: &str, change: &Change<'_>) -> String {
    let with = |v: Option<&Json>| v.map(|v| format!(" ({})", value_text(v, "none"))).unwrap_or_default();
    match change {
        Change::Value(Some(a), Some(b), absent) => {
            format!("{field} {} -> {}", value_text(a, absent), value_text(b, absent))
        }
        Change::Value(..) => field.to_string(),
        Change::Added(v) => format!("{field} added{}", with(*v)),
        Change::Removed(v) => format!("{field} removed{}", with(*v)),
        Change::Parts { removed, added, changed, reordered } => {
            let mut said: Vec<String> = removed.iter().map(|p| format!("{p} removed")).collect();
            said.extend(added.iter().map(|p| format!("{p} added")));
            said.extend(changed.iter().map(|(p, v)| match v {
                Some((a, b)) => format!("{p} {a} -> {b}"),
                None => format!("{p} changed"),
            }));
            if *reordered {
                said.push("reordered".into());
            }
            format!("{field} ({})", said.join(", "))
        }
    }
}

/// A field's change in `--json`'s `details`: `from` and `to` (`null` on the side a field is
/// absent from, no key for a value not shown), or the parts.
fn change_json(change: &Change<'_>) -> Json {
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, v: Option<&Json>| {
        out.insert(k.into(), v.cloned().unwrap_or(Json::Null));
    };
    match change {
        Change::Value(Some(a), Some(b), _) => {
            put("from", Some(a));
            put("to", Some(b));
        }
        Change::Value(..) => {}
        Change::Added(v) => {
            put("from", None);
            if v.is_some() {
                put("to", *v);
            }
        }
        Change::Removed(v) => {
            if v.is_some() {
                put("from", *v);
            }
            put("to", None);
        }
        Change::Parts { removed, added, changed, reordered } => {
            let names: Vec<&str> = changed.iter().map(|(p, _)| *p).collect();
            return json!({"added": added, "removed": removed, "changed": names, "reordered": reordered});
        }
    }
    Json::Object(out)
}

/// What every device running `a` will make of `b`, when it is more than a change of definitions.
fn diff_warnings(a: &Model, b: &Model, differ: bool) -> Vec<String> {
    let mut out = Vec::new();
    // The same model twice is no release.
    if b.version < a.version || (b.version == a.version && differ) {
        out.push(format!(
            "version {} is not newer than {}: devices running the first refuse the second as a rollback; raise meta.version",
            b.version, a.version
        ));
    }
    if a.id_salt != b.id_salt {
        out.push(
            "meta.id_salt changed: devices keep the pids they made with the old salt, while the backend \
             (`kairos token --model`) and shoppers identified from now on use the new one: one person can have \
             two pids, and trait tokens made for the new pid are refused by a device that keeps the old"
                .into(),
        );
    }
    out
}

/// What `kairos diff` compares, by name within each.
const KINDS: [&str; 11] = [
    "offers",
    "segments",
    "stages",
    "features",
    "scores",
    "placements",
    "calendars",
    "events",
    "context",
    "traits",
    "settings",
];

/// `kairos diff`: what was added, removed or changed between two snapshots or model files, and
/// which fields of each changed item; then the model's settings, and warnings about what devices
/// will make of the change.
pub fn diff(a: &Path, b: &Path, json_out: bool) -> Result<bool, Fail> {
    let ma = load(a)?;
    let mb = load(b)?;
    let mut report = serde_json::Map::new();
    let mut any = false;
    if !json_out {
        say!("version {} -> {}", ma.version, mb.version);
    }
    let mut warnings = Vec::new();
    for kind in KINDS {
        let ia = items(&ma, kind);
        let ib = items(&mb, kind);
        let (in_a, in_b) = (
            by_name(ia.iter().map(|(n, f)| (n.as_str(), f.as_slice()))),
            by_name(ib.iter().map(|(n, f)| (n.as_str(), f.as_slice()))),
        );
        let added: Vec<&str> = ib.iter().map(|(n, _)| n.as_str()).filter(|n| !in_a.contains_key(n)).collect();
        let removed: Vec<&str> =
            ia.iter().map(|(n, _)| n.as_str()).filter(|n| !in_b.contains_key(n)).collect();
        let changed: Vec<(&str, Vec<(&str, Change<'_>)>)> = ia
            .iter()
            .filter_map(|(n, fa)| {
                let c = changes(fa, in_b.get(n.as_str())?);
                (!c.is_empty()).then_some((n.as_str(), c))
            })
            .collect();
        any |= !(added.is_empty() && removed.is_empty() && changed.is_empty());
        if json_out {
            let names: Vec<&str> = changed.iter().map(|(n, _)| *n).collect();
            let fields: serde_json::Map<String, Json> = changed
                .iter()
                .map(|(n, c)| (n.to_string(), json!(c.iter().map(|(f, _)| f).collect::<Vec<_>>())))
                .collect();
            let details: serde_json::Map<String, Json> = changed
                .iter()
                .map(|(n, c)| {
                    (n.to_string(), c.iter().map(|(f, c)| (f.to_string(), change_json(c))).collect())
                })
                .collect();
            report.insert(
                kind.into(),
                json!({"added": added, "removed": removed, "changed": names, "fields": fields, "details": details}),
            );
        } else {
            let what = kind.trim_end_matches('s');
            for n in &added {
                say!("+ {what} {n}");
            }
            for n in &removed {
                say!("- {what} {n}");
            }
            for (n, c) in &changed {
                let said: Vec<String> = c.iter().map(|(f, c)| change_text(f, c)).collect();
                say!("~ {what} {n}: {}", said.join("; "));
            }
        }
    }
    // What the listing cannot name (the order of definitions in the file, which only moves
    // indices): the compiled models, the version aside.
    let unnamed = !any && Model { version: ma.version, ..mb.clone() } != ma;
    if unnamed && !json_out {
        say!("~ the models differ only in what is not listed by name: the order of definitions in the file");
    }
    warnings.extend(diff_warnings(&ma, &mb, any || unnamed));
    if json_out {
        report.insert("version".into(), json!([ma.version, mb.version]));
        report.insert("unnamed".into(), json!(unnamed));
        report.insert("warnings".into(), json!(warnings));
        say!("{}", Json::Object(report));
    } else {
        if !any && !unnamed {
            say!("no definition or setting differs");
        }
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(any || unnamed)
}
