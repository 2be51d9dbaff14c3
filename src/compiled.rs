//! The compiled model: names resolved to indices, rules in their flat form, contents as JSON text.
//! Built by [`crate::compile()`], carried in snapshots, read by the [`crate::Engine`].
//!
//! Everything here may come from untrusted bytes: [`Model::validate`] checks every index and
//! bound that evaluation relies on, so the engine can index without panicking.

use alloc::borrow::Cow;
use alloc::{string::String, vec::Vec};

use crate::codec::{push_uint, wire_enum, wire_struct};
use crate::logic::{Ref, Rule};
use crate::model::{ScoreKind, TraitType, ValueType};
use crate::profile::window::FeatureSpec;

/// Limits on model sizes, checked when compiling and when decoding.
pub mod limits {
    /// Event types.
    pub const EVENTS: usize = 256;
    /// Properties per event type, context fields, traits.
    pub const FIELDS: usize = 256;
    /// Features.
    pub const FEATURES: usize = 256;
    /// Scores.
    pub const SCORES: usize = 256;
    /// Lifecycle stages (a 64-bit mask holds an offer's stage list).
    pub const STAGES: usize = 64;
    /// Segments.
    pub const SEGMENTS: usize = 4096;
    /// Placements.
    pub const PLACEMENTS: usize = 256;
    /// Offers.
    pub const OFFERS: usize = 20_000;
    /// Variants per offer.
    pub const VARIANTS: usize = 64;
    /// Items per placement.
    pub const MAX_ITEMS: u8 = 16;
    /// Inputs of one score.
    pub const SCORE_TERMS: usize = 1024;
    /// Caps per offer, and global caps.
    pub const CAPS: usize = 8;
    /// Longest window or cap period, in days.
    pub const DAYS: u16 = 400;
    /// Calendars and entries per calendar.
    pub const CALENDARS: usize = 256;
    /// Entries in one calendar.
    pub const CALENDAR_ENTRIES: usize = 4096;
    /// Values a `distinct` feature keeps (also what bounds checking stored state for duplicates).
    pub const DISTINCT: u16 = 256;
}

/// Namespaces of rule variable slots: `slot = namespace << 24 | index`.
pub mod slot {
    /// `features.<name>`.
    pub const FEATURE: u32 = 0;
    /// `traits.<name>`.
    pub const TRAIT: u32 = 1;
    /// `scores.<name>`.
    pub const SCORE: u32 = 2;
    /// `context.<name>`.
    pub const CONTEXT: u32 = 3;
    /// `segments.<name>`.
    pub const SEGMENT: u32 = 4;
    /// `event.<property>`, in feature filters.
    pub const EVENT: u32 = 5;
    /// Specials, below.
    pub const SPECIAL: u32 = 6;
    /// `stage`: the current stage's name.
    pub const STAGE: u32 = 0;
    /// `now`: ms since the epoch.
    pub const NOW: u32 = 1;
    /// `targetingKey`: the shopper's bucketing key.
    pub const TARGETING_KEY: u32 = 2;
    /// `hours_in_stage`.
    pub const HOURS_IN_STAGE: u32 = 3;
    /// `consent`: whether the shopper consented.
    pub const CONSENT: u32 = 4;

    /// Packs a slot.
    pub const fn pack(ns: u32, index: usize) -> u32 {
        (ns << 24) | (index as u32 & 0x00ff_ffff)
    }
    /// Unpacks a slot into namespace and index.
    pub const fn unpack(slot: u32) -> (u32, usize) {
        (slot >> 24, (slot & 0x00ff_ffff) as usize)
    }
}

/// Host operator codes, as compiled into rules.
pub mod op {
    /// `{"segment": "name"}`: imm = segment.
    pub const SEGMENT: u16 = 1;
    /// `{"score": "name"}`: imm = score.
    pub const SCORE: u16 = 2;
    /// `hours_since` of an event type's last (imm = event) occurrence.
    pub const HOURS_SINCE_EVENT_LAST: u16 = 3;
    /// `hours_since` of an event type's first occurrence.
    pub const HOURS_SINCE_EVENT_FIRST: u16 = 4;
    /// `hours_since` a timestamp argument.
    pub const HOURS_SINCE_VALUE: u16 = 5;
    /// `days_since` of an event type's last occurrence.
    pub const DAYS_SINCE_EVENT_LAST: u16 = 6;
    /// `days_since` of an event type's first occurrence.
    pub const DAYS_SINCE_EVENT_FIRST: u16 = 7;
    /// `days_since` a timestamp or date argument.
    pub const DAYS_SINCE_VALUE: u16 = 8;
    /// `days_to_anniversary` of a date argument.
    pub const DAYS_TO_ANNIVERSARY: u16 = 9;
    /// `in_calendar`: imm = calendar, today.
    pub const IN_CALENDAR_TODAY: u16 = 10;
    /// `in_calendar`: imm = calendar, a date argument.
    pub const IN_CALENDAR_VALUE: u16 = 11;
    /// `hours_since` of a feature's value (a time).
    pub const HOURS_SINCE_FEATURE: u16 = 12;
    /// `days_since` of a feature's value (a time).
    pub const DAYS_SINCE_FEATURE: u16 = 13;
}

/// A compiled model.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct Model {
    /// Human name.
    pub name: String,
    /// Version.
    pub version: u32,
    /// UTC offset in ms.
    pub offset_ms: i64,
    /// Salt for pseudonymous ids.
    pub id_salt: String,
    /// Event types.
    pub events: Vec<EventDef>,
    /// Context fields.
    pub context: Vec<(String, ValueType)>,
    /// Traits.
    pub traits: Vec<(String, TraitType)>,
    /// Features.
    pub features: Vec<FeatureDef>,
    /// Scores.
    pub scores: Vec<ScoreDef>,
    /// Lifecycle stages in order.
    pub stages: Vec<Named>,
    /// Segments.
    pub segments: Vec<Named>,
    /// Calendars: sorted, merged inclusive day ranges.
    pub calendars: Vec<(String, Vec<(i32, i32)>)>,
    /// Placements.
    pub placements: Vec<PlacementDef>,
    /// Offers.
    pub offers: Vec<OfferDef>,
    /// Content payloads as JSON text, shared by offers, variants and fallbacks.
    pub contents: Vec<String>,
    /// Global caps.
    pub caps: Vec<CapDef>,
    /// Global quiet hours, minutes of the day `[from, to)`.
    pub quiet: Option<(u16, u16)>,
}

/// An event type.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct EventDef {
    /// Name.
    pub name: String,
    /// Properties.
    pub props: Vec<(String, ValueType)>,
    /// Features fed by it.
    pub features: Vec<u16>,
    /// Offers converted by it.
    pub converts: Vec<u32>,
}

/// A feature.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct FeatureDef {
    /// Name.
    pub name: String,
    /// Event type.
    pub event: u16,
    /// Aggregation.
    pub spec: FeatureSpec,
    /// Property summed or counted distinct.
    pub of: Option<u16>,
    /// Filter on the event.
    pub filter: Option<Rule>,
}

/// A score.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct ScoreDef {
    /// Name.
    pub name: String,
    /// Linear or logistic.
    pub kind: ScoreKind,
    /// Constant term.
    pub bias: f64,
    /// Inputs (slots) and weights.
    pub terms: Vec<(u32, f64)>,
}

/// A named rule (stage or segment).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct Named {
    /// Name.
    pub name: String,
    /// Rule.
    pub rule: Rule,
}

/// A placement.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct PlacementDef {
    /// Name.
    pub name: String,
    /// Items it shows.
    pub max_items: u8,
    /// Fallback content.
    pub fallback: Option<u32>,
    /// Offers that may fill it, best first: priority descending, then model order.
    pub offers: Vec<u32>,
}

/// A cap: at most `max` in `days` natural days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct CapDef {
    /// Most exposures.
    pub max: u32,
    /// Days, today included.
    pub days: u16,
}

/// An offer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct OfferDef {
    /// Id.
    pub id: String,
    /// Audience rule; everyone when absent.
    pub audience: Option<Rule>,
    /// Allowed stages as a bit mask; all when absent.
    pub stages: Option<u64>,
    /// Not before, ms.
    pub start: Option<i64>,
    /// Not after, ms (exclusive).
    pub end: Option<i64>,
    /// Quiet hours, minutes `[from, to)`.
    pub quiet: Option<(u16, u16)>,
    /// Priority, higher first.
    pub priority: i32,
    /// Score ranking ties within a priority.
    pub rank_by: Option<u16>,
    /// Caps.
    pub caps: Vec<CapDef>,
    /// Minimum gap between exposures, ms.
    pub min_gap_ms: Option<i64>,
    /// Counts against the global caps.
    pub global_caps: bool,
    /// Control share in basis points (0 to 5,000).
    pub control_bp: u16,
    /// Variants.
    pub variants: Vec<VariantDef>,
    /// Content.
    pub content: Option<u32>,
    /// Shown only with consent.
    pub requires_consent: bool,
    /// Converting event and window in ms.
    pub conversion: Option<(u16, i64)>,
}

/// A variant.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct VariantDef {
    /// Id.
    pub id: String,
    /// Weight.
    pub weight: u32,
    /// Content.
    pub content: Option<u32>,
}

// The snapshot body (docs/snapshot-format.md): every struct is its fields in declaration order.
wire_struct!(Model[
    name, version, offset_ms, id_salt, events, context, traits, features, scores, stages, segments,
    calendars, placements, offers, contents, caps, quiet,
]);
wire_struct!(EventDef[name, props, features, converts]);
wire_struct!(FeatureDef[name, event, spec, of, filter]);
wire_struct!(ScoreDef[name, kind, bias, terms]);
wire_struct!(Named[name, rule]);
wire_struct!(PlacementDef[name, max_items, fallback, offers]);
wire_struct!(CapDef[max, days]);
wire_struct!(OfferDef[
    id, audience, stages, start, end, quiet, priority, rank_by, caps, min_gap_ms, global_caps, control_bp,
    variants, content, requires_consent, conversion,
]);
wire_struct!(VariantDef[id, weight, content]);
wire_enum!(ValueType[String, Number, Bool, StringList]);
wire_enum!(TraitType[String, Number, Bool, StringList, Timestamp, Date, Anniversary]);
wire_enum!(ScoreKind[Linear, Logistic]);

/// Rules and slots as text with names instead of indices, for comparing models (`kairos diff`).
#[cfg(feature = "std")]
impl Model {
    /// A variable slot by name (`features.views_7d`, `event.category` of event type `event`).
    pub fn slot_text(&self, s: u32, event: Option<u16>) -> String {
        let (ns, i) = slot::unpack(s);
        let named =
            |what: &str, name: Option<&String>| format!("{what}.{}", name.map_or("?", String::as_str));
        match ns {
            slot::FEATURE => named("features", self.features.get(i).map(|f| &f.name)),
            slot::TRAIT => named("traits", self.traits.get(i).map(|t| &t.0)),
            slot::SCORE => named("scores", self.scores.get(i).map(|c| &c.name)),
            slot::CONTEXT => named("context", self.context.get(i).map(|c| &c.0)),
            slot::SEGMENT => named("segments", self.segments.get(i).map(|g| &g.name)),
            slot::EVENT => {
                let props = event.and_then(|e| self.events.get(usize::from(e))).map(|e| &e.props);
                named("event", props.and_then(|p| p.get(i)).map(|p| &p.0))
            }
            // The specials (`stage`, `now`, ...) are fixed numbers.
            _ => format!("{ns}:{i}"),
        }
    }

    /// A rule as text with its references by name (see [`Rule::text_with`]); `event`, the event
    /// type a feature's `where` reads.
    pub fn rule_text(&self, rule: &Rule, event: Option<u16>) -> String {
        let host = |code: u16, imm: u32| {
            let i = imm as usize;
            let name = match code {
                op::SEGMENT => self.segments.get(i).map(|g| &g.name),
                op::SCORE => self.scores.get(i).map(|c| &c.name),
                op::HOURS_SINCE_EVENT_LAST
                | op::HOURS_SINCE_EVENT_FIRST
                | op::DAYS_SINCE_EVENT_LAST
                | op::DAYS_SINCE_EVENT_FIRST => self.events.get(i).map(|e| &e.name),
                op::HOURS_SINCE_FEATURE | op::DAYS_SINCE_FEATURE => self.features.get(i).map(|f| &f.name),
                op::IN_CALENDAR_TODAY | op::IN_CALENDAR_VALUE => self.calendars.get(i).map(|c| &c.0),
                // The others' operand is no index.
                _ => return format!("{code}:{imm}"),
            };
            format!("{code}:{}", name.map_or("?", String::as_str))
        };
        rule.text_with(&|s| self.slot_text(s, event), &host)
    }
}

impl Model {
    /// Index of a placement by name.
    pub fn placement(&self, name: &str) -> Option<usize> {
        self.placements.iter().position(|p| p.name == name)
    }
    /// Index of an offer by id.
    pub fn offer(&self, id: &str) -> Option<usize> {
        self.offers.iter().position(|o| o.id == id)
    }
    /// Index of an event type by name.
    pub fn event(&self, name: &str) -> Option<usize> {
        self.events.iter().position(|e| e.name == name)
    }

    /// Checks every index and bound of a model that came from untrusted bytes, and that its
    /// rules refer only to what the model has (each rule checked itself when decoded).
    pub fn validate(&self) -> Result<(), String> {
        self.check_all().map_err(Cow::into_owned)
    }

    // Most failures are static messages: borrowed until the end, so that each of the many checks
    // does not carry its own allocation.
    fn check_all(&self) -> Result<(), Cow<'static, str>> {
        use limits as l;
        let check = |ok: bool, what: &'static str| if ok { Ok(()) } else { Err(Cow::Borrowed(what)) };
        check(self.events.len() <= l::EVENTS, "too many event types")?;
        check(self.context.len() <= l::FIELDS, "too many context fields")?;
        check(self.traits.len() <= l::FIELDS, "too many traits")?;
        check(self.features.len() <= l::FEATURES, "too many features")?;
        check(self.scores.len() <= l::SCORES, "too many scores")?;
        check(self.stages.len() <= l::STAGES, "too many stages")?;
        check(self.segments.len() <= l::SEGMENTS, "too many segments")?;
        check(self.placements.len() <= l::PLACEMENTS, "too many placements")?;
        check(self.offers.len() <= l::OFFERS, "too many offers")?;
        check(self.calendars.len() <= l::CALENDARS, "too many calendars")?;
        check(self.caps.len() <= l::CAPS, "too many global caps")?;
        check(self.offset_ms.abs() <= 14 * crate::time::HOUR_MS, "utc offset out of range")?;
        check(self.caps.iter().all(|c| matches!(c.days, 1..=l::DAYS) && c.max > 0), "global cap")?;
        check(self.quiet.is_none_or(|q| q.0 < 1440 && q.1 < 1440), "global quiet hours")?;
        check(
            self.contents.iter().all(|c| crate::codec::json_check::is_json(c)),
            "content that is not JSON nested at most 128 deep",
        )?;
        let n_contents = self.contents.len();
        let content_ok = |c: Option<u32>| c.is_none_or(|c| (c as usize) < n_contents);
        for e in &self.events {
            check(e.props.len() <= l::FIELDS, "too many event properties")?;
            check(e.features.iter().all(|&f| (f as usize) < self.features.len()), "event feature index")?;
            check(e.converts.iter().all(|&o| (o as usize) < self.offers.len()), "event offer index")?;
        }
        for f in &self.features {
            let ev = self.events.get(f.event as usize).ok_or("feature event index")?;
            check(f.of.is_none_or(|p| (p as usize) < ev.props.len()), "feature property index")?;
            check(f.spec.window_days.is_none_or(|d| matches!(d, 1..=l::DAYS)), "feature window")?;
            let distinct_ok = match f.spec.agg {
                crate::profile::window::Agg::Distinct { max } => matches!(max, 1..=l::DISTINCT),
                _ => true,
            };
            check(distinct_ok, "feature distinct max")?;
            if let Some(r) = &f.filter {
                self.validate_rule(r, Some(ev.props.len()))?;
            }
        }
        for s in &self.scores {
            check(s.terms.len() <= l::SCORE_TERMS, "too many score terms")?;
            check(s.bias.is_finite() && s.terms.iter().all(|t| t.1.is_finite()), "score weight")?;
            for (slot_id, _) in &s.terms {
                self.validate_slot(*slot_id, None)?;
                // As the compiler writes them: features, traits and segments.
                let ns = slot::unpack(*slot_id).0;
                check(matches!(ns, slot::FEATURE | slot::TRAIT | slot::SEGMENT), "score input")?;
            }
        }
        for n in self.stages.iter().chain(&self.segments) {
            self.validate_rule(&n.rule, None)?;
        }
        for (_, ranges) in &self.calendars {
            check(ranges.len() <= l::CALENDAR_ENTRIES, "too many calendar entries")?;
            check(ranges.iter().all(|r| r.0 <= r.1), "calendar range")?;
            check(
                ranges.windows(2).all(|w| w.first().map(|a| a.1) < w.get(1).map(|b| b.0)),
                "calendar order",
            )?;
        }
        for p in &self.placements {
            check(matches!(p.max_items, 1..=l::MAX_ITEMS), "placement items")?;
            check(content_ok(p.fallback), "placement fallback index")?;
            check(p.offers.iter().all(|&o| (o as usize) < self.offers.len()), "placement offer index")?;
        }
        for o in &self.offers {
            if let Some(r) = &o.audience {
                self.validate_rule(r, None)?;
            }
            check(o.rank_by.is_none_or(|s| (s as usize) < self.scores.len()), "offer rank_by index")?;
            check(o.caps.len() <= l::CAPS, "too many offer caps")?;
            check(o.caps.iter().all(|c| matches!(c.days, 1..=l::DAYS) && c.max > 0), "offer cap")?;
            check(o.control_bp <= 5_000, "control share")?;
            check(o.variants.len() <= l::VARIANTS, "too many variants")?;
            check(o.variants.iter().all(|v| v.weight > 0 && content_ok(v.content)), "variant")?;
            check(content_ok(o.content), "offer content index")?;
            check(o.min_gap_ms.is_none_or(|g| g >= 0), "offer gap")?;
            check(
                o.conversion.is_none_or(|(e, w)| (e as usize) < self.events.len() && w >= 0),
                "conversion",
            )?;
            check(o.quiet.is_none_or(|q| q.0 < 1440 && q.1 < 1440), "quiet hours")?;
        }
        Ok(())
    }

    // The rule's own invariants were checked when it was parsed or decoded; what is left is
    // whether its slots and host operands point into this model.
    fn validate_rule(&self, rule: &Rule, event_props: Option<usize>) -> Result<(), String> {
        for r in rule.refs() {
            match r {
                Ref::Slot(s) => self.validate_slot(s, event_props)?,
                Ref::Host(op, imm) => self.validate_host(op, imm)?,
            }
        }
        Ok(())
    }

    fn validate_host(&self, op: u16, imm: u32) -> Result<(), String> {
        let ok = match op {
            op::SEGMENT => (imm as usize) < self.segments.len(),
            op::SCORE => (imm as usize) < self.scores.len(),
            op::HOURS_SINCE_EVENT_LAST
            | op::HOURS_SINCE_EVENT_FIRST
            | op::DAYS_SINCE_EVENT_LAST
            | op::DAYS_SINCE_EVENT_FIRST => (imm as usize) < self.events.len(),
            op::HOURS_SINCE_FEATURE | op::DAYS_SINCE_FEATURE => (imm as usize) < self.features.len(),
            op::IN_CALENDAR_TODAY | op::IN_CALENDAR_VALUE => (imm as usize) < self.calendars.len(),
            op::HOURS_SINCE_VALUE | op::DAYS_SINCE_VALUE | op::DAYS_TO_ANNIVERSARY => true,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            let mut m = String::from("host operator ");
            push_uint(&mut m, u64::from(op));
            m.push_str(" with operand ");
            push_uint(&mut m, u64::from(imm));
            m.push_str(" is out of range");
            Err(m)
        }
    }

    fn validate_slot(&self, s: u32, event_props: Option<usize>) -> Result<(), String> {
        let (ns, i) = slot::unpack(s);
        let ok = match ns {
            slot::FEATURE => i < self.features.len(),
            slot::TRAIT => i < self.traits.len(),
            slot::SCORE => i < self.scores.len(),
            slot::CONTEXT => i < self.context.len(),
            slot::SEGMENT => i < self.segments.len(),
            slot::EVENT => event_props.is_some_and(|n| i < n),
            slot::SPECIAL => i <= slot::CONSENT as usize,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            let mut m = String::from("variable slot ");
            push_uint(&mut m, u64::from(ns));
            m.push(':');
            push_uint(&mut m, i as u64);
            m.push_str(" is out of range");
            Err(m)
        }
    }
}
